#!/usr/bin/env bash
# Install llama-cpp-python (the llama.cpp reference for the BPE tokenizer parity fixture,
# tests/trainer/text/fixtures/make_bpe_fixtures.py) into the peers venv.
# Idempotent: a second run only checks that llama_cpp imports and prints its version.
# pip builds llama.cpp from source (several minutes on two cores); the build is CPU-only
# and portable (GGML_NATIVE=OFF) and skips llama.cpp's own tests and examples.
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
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF ${CMAKE_ARGS:-}" \
    nice -n 10 "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$REQ" >&2
  echo "llama_cpp: install took $(( $(date +%s) - start )) s" >&2
fi

"$VENV/bin/python" -c 'import llama_cpp; print(f"llama_cpp_python {llama_cpp.__version__}")'
