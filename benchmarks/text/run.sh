#!/usr/bin/env bash
# Sentence-encoding throughput of hybrec's BERT encoder against
# sentence-transformers (PyTorch) and onnxruntime, all-MiniLM-L6-v2 on CPU,
# batch 64, the same texts of 16, 64 and 128 tokens, the same thread count;
# ROUNDS interleaved rounds of (peers, hybrec), each a median of 5 passes.
#   benchmarks/text/run.sh [THREADS...]      (default: 1 2)
# Needs a built bench_text_encoder (cmake --build --preset release), the
# model (scripts/get-minilm.sh) and the peers venv (benchmarks/text/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=("$@")
[ $# -gt 0 ] || threads=(1 2)
rounds=${ROUNDS:-2}
python=${HYBREC_PEERS_PYTHON:-$HOME/.cache/hybrec/peers-venv/bin/python}
model=models/all-MiniLM-L6-v2
scripts/get-minilm.sh > /dev/null
bash benchmarks/text/setup.sh > /dev/null
out=runs/text-bench
mkdir -p "$out"
"$python" benchmarks/text/peers.py --model "$model" --texts-only --texts-out "$out/texts.json" > /dev/null
for round in $(seq "$rounds"); do
  for t in "${threads[@]}"; do
    {
      "$python" benchmarks/text/peers.py --model "$model" --threads "$t"
      build/bin/bench_text_encoder --model "$model" --texts "$out/texts.json" --threads "$t"
    } | sed "s/^{/{\"round\":$round,/"  # tag each JSON line with its round
  done
done
