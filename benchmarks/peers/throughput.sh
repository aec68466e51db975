#!/usr/bin/env bash
# Training throughput of hybrec against the PyTorch peer on the same data,
# the same model config and the same machine: samples/s (training examples,
# each with 1 + negatives candidates) over a fixed number of steps without
# evaluation, REPS interleaved repetitions, medians.
#   benchmarks/peers/throughput.sh [STEPS] [REPS]
# Cases: hybrec 1 trainer rank x 1 thread (in-process server shard),
# hybrec 2 trainer ranks x 1 thread + 2 server ranks (mpirun MPMD),
# PyTorch 1 thread, PyTorch 2 threads.
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=${1:-400}
reps=${2:-5}
bin=build/bin/hybrec
config=launch/configs/synth.toml
out=runs/throughput
mkdir -p "$out"
[ -f "$out/synth.h5" ] || "$bin" data synth --out "$out/synth.h5" > /dev/null
mpirun=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)
common=(--data "$out/synth.h5" --set train.max_steps="$steps" --set train.eval_every=1000000)
rate() { grep -o '"samples_per_s":[0-9.]*' "$1/metrics.jsonl" | tail -1 | cut -d: -f2; }
peer_rate() { grep '"event": "throughput"' "$1/metrics.jsonl" | grep -o '"samples_per_s": [0-9.]*' | cut -d' ' -f2; }
for rep in $(seq "$reps"); do
  rm -rf "$out"/r1 "$out"/r2 "$out"/p1 "$out"/p2
  "$bin" train "$config" "${common[@]}" --set train.threads=1 --out "$out/r1" > /dev/null 2>&1
  "${mpirun[@]}" -np 2 "$bin" ps --mpi --port 0 --checkpoint-dir "$out/r2/ps" \
    : -np 2 "$bin" train "$config" "${common[@]}" --set train.threads=1 --out "$out/r2" > /dev/null 2>&1
  benchmarks/peers/run.sh --config "$config" --data "$out/synth.h5" --threads 1 --no-eval \
    --set train.max_steps="$steps" --out "$out/p1" > /dev/null 2>&1
  OMP_WAIT_POLICY=passive benchmarks/peers/run.sh --config "$config" --data "$out/synth.h5" \
    --threads 2 --no-eval --set train.max_steps="$steps" --out "$out/p2" > /dev/null 2>&1
  echo "rep $rep: hybrec_1rank $(rate "$out/r1") hybrec_2ranks $(rate "$out/r2")" \
       "pytorch_1thread $(peer_rate "$out/p1") pytorch_2threads $(peer_rate "$out/p2")"
done
