#!/usr/bin/env bash
# Training samples/s on a GPU machine, part 4 of benchmarks/gpu/check.sh:
# `hybrec train --device cuda` (one rank, in-process servers) on
#   - the synthetic default (launch/configs/synth.toml), and
#   - a larger shape: dim 64, history 50, 2 layers, batch 2048, on 100k
#     users and 10k items (the issue asks 1M users and 200k items, but
#     `hybrec data synth` costs O(users x items): about 50 s for 100k x 10k
#     on one core, hours for 1M x 200k),
# each with the row cache off and on (train.cache_rows, write-through), and
# one CPU rank of the same machine for scale. Every run stops after a fixed
# number of steps (--stop-after-steps: throughput, no test evaluation).
# Writes train.md (the table) and train-*.log under $OUT.
# Usage: HYBREC=path/to/hybrec OUT=dir benchmarks/gpu/train.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
hy=${HYBREC:-build/bin/hybrec}
out=${OUT:-gpu-check-out}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

"$hy" data synth --out "$work/default.h5" > "$out/train-data.log" 2>&1 || {
  echo "train.sh: hybrec data synth failed:"; tail -5 "$out/train-data.log"; exit 1; }
"$hy" data synth --out "$work/large.h5" --users 100000 --items 10000 --events-per-user 8 \
  >> "$out/train-data.log" 2>&1 || {
  echo "train.sh: hybrec data synth (large) failed:"; tail -5 "$out/train-data.log"; exit 1; }
large="--set model.dim=64 --set model.history_len=50 --set model.layers=2 --set train.batch_size=2048"

# run NAME DATA STEPS ARGS...: prints "samples/s hit_user hit_item breakdown"
# or "failed - - -"; breakdown is the last train event's ms per step.
run() {
  local name=$1 data=$2 steps=$3; shift 3
  if "$hy" train launch/configs/synth.toml --data "$data" --out "$work/$name" \
       --stop-after-steps "$steps" --set train.eval_every=100000000 --set train.max_steps=$((steps + 1)) \
       "$@" > "$out/train-$name.log" 2>&1; then
    python3 - "$work/$name/metrics.jsonl" <<'PY'
import json, sys
sps, hu, hi, parts = None, "-", "-", "-"
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "throughput":
        sps = e["samples_per_s"]
    if e.get("event") == "train":
        if "cache_hit_rate_item" in e:
            hu, hi = f'{e["cache_hit_rate_user"]:.2f}', f'{e["cache_hit_rate_item"]:.2f}'
        t = e.get("step_ms")
        if t:
            parts = "/".join(f'{t[k]:.2f}' for k in
                             ("pull", "batch", "to_device", "forward_backward", "allreduce",
                              "optimizer", "push", "cache_sync", "total"))
print(f"{sps:.0f} {hu} {hi} {parts}" if sps else "failed - - -")
PY
  else
    echo "failed - -"; tail -3 "$out/train-$name.log" >&2
  fi
}

{
  echo "| shape | device | row cache | samples/s | cache hit user / item | ms per step: pull / batch / to_device / fwd+bwd / all-reduce / optimizer / push / cache sync / total |"
  echo "|---|---|---|---|---|---|"
  for shape in default large; do
    args=""; steps=300; [ "$shape" = large ] && { args=$large; steps=60; }
    # shellcheck disable=SC2086
    read -r cpu _ _ cpu_parts <<< "$(run "$shape-cpu" "$work/$shape.h5" $((steps / 10)) --device cpu --set train.threads=0 $args)"
    echo "| $shape | 1 CPU rank (all cores) | off | $cpu | - | $cpu_parts |"
    for cache in 0 200000; do
      # shellcheck disable=SC2086
      read -r sps hu hi parts <<< "$(run "$shape-cuda-$cache" "$work/$shape.h5" "$steps" --device cuda --set train.cache_rows=$cache $args)"
      label=off; [ "$cache" != 0 ] && label="$cache rows"
      echo "| $shape | cuda | $label | $sps | $hu / $hi | $parts |"
    done
  done
} | tee "$out/train.md"
