#!/usr/bin/env bash
# Install llama-cpp-python (the llama.cpp reference for the tokenizer and decoder parity
# fixtures, tests/trainer/text/fixtures/make_bpe_fixtures.py and
# tests/trainer/llm/fixtures/make_llama_fixtures.py, and the peer of
# benchmarks/llm/vs_llama_cpp.sh) into the peers venv.
# Idempotent: a second run only checks that llama_cpp imports and prints its version.
# pip builds llama.cpp from source (20-40 minutes on two busy cores); the build is CPU-only
# and native (GGML_NATIVE=ON: AVX2/FMA/F16C for this machine's CPU), and skips llama.cpp's
# own tests and examples and the multimodal library (LLAVA_BUILD=OFF). The speed benchmark
# needs the native build: GGML_NATIVE=OFF gives a portable build whose CPU kernels are
# slower, an unfair peer. The fixtures do not depend on it (same integer dot products).
# A venv built portable before must be removed (or pip-reinstalled) to be rebuilt native.
#
#   HYBREC_PEERS_VENV      where the venv lives (default ~/.cache/hybrec/peers-venv)
#   HYBREC_PEERS_PYTHON    interpreter used to create the venv (default python3)
#   HYBREC_LLAMA_CPP_REQ   pip requirement (default "llama-cpp-python")
set -euo pipefail

VENV="${HYBREC_PEERS_VENV:-$HOME/.cache/hybrec/peers-venv}"
PY="${HYBREC_PEERS_PYTHON:-python3}"
REQ="${HYBREC_LLAMA_CPP_REQ:-llama-cpp-python}"

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "llama_cpp: creating venv at $VENV" >&2
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV"
fi

if ! "$VENV/bin/python" -c 'import llama_cpp' >/dev/null 2>&1; then
  echo "llama_cpp: building $REQ from source into $VENV (several minutes)" >&2
  start=$(date +%s)
  CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAVA_BUILD=OFF ${CMAKE_ARGS:-}" \
    nice -n 10 "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$REQ" >&2
  echo "llama_cpp: install took $(( $(date +%s) - start )) s" >&2
fi

"$VENV/bin/python" -c 'import llama_cpp; print(f"llama_cpp_python {llama_cpp.__version__}"); print(llama_cpp.llama_print_system_info().decode())'
