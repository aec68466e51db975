#!/usr/bin/env bash
# Training on a GPU machine, part 4 of benchmarks/gpu/check.sh: samples/s of
# `hybrec train --device cuda` (one rank, in-process servers) against the
# PyTorch peer (benchmarks/peers/torch_hybrid.py --device cuda) on the same
# GPU, data and config, and against one CPU rank of hybrec on the same
# machine, for two shapes:
#   - default: the synthetic default (launch/configs/synth.toml), trained to
#     the end, so the test HR@10 of hybrec (cache off and on) and of the peer
#     can be compared;
#   - large: dim 64, history 50, 2 layers, batch 2048, on 1M users and 200k
#     Zipf-popular items (`hybrec data synth --candidates 64`, the sampler
#     that scales), a fixed number of steps (throughput only).
# The row cache runs write-through (train.cache_rows, S = 0). The step
# breakdown is rank 0's host clock per step; "GPU share" is the GPU's time
# by CUDA events over it, an upper bound of how busy it was (README, "GPUs").
# Writes train.md (the table) and train-*.log under $OUT.
# Usage: HYBREC=path/to/hybrec OUT=dir [PYTHON=python3] benchmarks/gpu/train.sh
# (DEVICE=cpu runs the "cuda" rows on the CPU: to try the script on a
# machine without a GPU; LARGE_USERS and LARGE_ITEMS shrink the large shape.)
set -uo pipefail
cd "$(dirname "$0")/../.."
hy=${HYBREC:-build/bin/hybrec}
py=${PYTHON:-python3}
out=${OUT:-gpu-check-out}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
config=launch/configs/synth.toml
dev=${DEVICE:-cuda}

synth() {
  local name=$1; shift
  local t0=$SECONDS
  "$hy" data synth --out "$work/$name.h5" "$@" >> "$out/train-data.log" 2>&1 || {
    echo "train.sh: hybrec data synth ($name) failed:"; tail -5 "$out/train-data.log"; exit 1; }
  echo "data $name: $((SECONDS - t0)) s" >> "$out/train-data.log"
}
synth default
synth large --users "${LARGE_USERS:-1000000}" --items "${LARGE_ITEMS:-200000}" --events-per-user 10 \
  --candidates 64
large=(--set model.dim=64 --set model.history_len=50 --set model.layers=2 --set train.batch_size=2048)

# hybrec NAME DATA STEPS ARGS...: STEPS 0 trains to the end with test
# evaluation, else stops after STEPS (no evaluation). Prints train_row.py's row.
hybrec() {
  local name=$1 data=$2 steps=$3; shift 3
  local limit=()
  [ "$steps" != 0 ] && limit=(--stop-after-steps "$steps" --set train.eval_every=100000000
                             --set train.max_steps=$((steps + 1)))
  if "$hy" train "$config" --data "$data" --out "$work/$name" "${limit[@]}" "$@" \
       > "$out/train-$name.log" 2>&1; then
    "$py" benchmarks/gpu/train_row.py "$work/$name/metrics.jsonl"
  else
    echo "failed - - - - -"; tail -3 "$out/train-$name.log" >&2
  fi
}

# peer NAME DATA STEPS ARGS...: the PyTorch peer on the GPU, the same way.
peer() {
  local name=$1 data=$2 steps=$3; shift 3
  local limit=()
  [ "$steps" != 0 ] && limit=(--no-eval --set train.max_steps="$steps")
  if PYTHONUNBUFFERED=1 "$py" benchmarks/peers/torch_hybrid.py --config "$config" --data "$data" \
       --device "$dev" --out "$work/$name" "${limit[@]}" "$@" > "$out/train-$name.log" 2>&1; then
    "$py" benchmarks/gpu/train_row.py "$work/$name/metrics.jsonl"
  else
    echo "failed - - - - -"; tail -3 "$out/train-$name.log" >&2
  fi
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.1fx", a / b; else print "-" }'; }

{
  echo "| shape | trainer | row cache | samples/s | test HR@10 | cache hit user / item | GPU share | ms per step: pull / batch / to_device / fwd+bwd / all-reduce / optimizer / push / cache sync / total |"
  echo "|---|---|---|---|---|---|---|---|"
  for shape in default large; do
    args=(); steps=0; cpu_steps=30
    [ "$shape" = large ] && { args=("${large[@]}"); steps=60; cpu_steps=6; }
    read -r cpu _ _ _ _ cpu_parts <<< "$(hybrec "$shape-cpu" "$work/$shape.h5" "$cpu_steps" \
      --device cpu --set train.threads=0 "${args[@]}")"
    echo "| $shape | hybrec, 1 CPU rank (all cores) | off | $cpu | - | - | - | $cpu_parts |"
    for cache in 0 200000; do
      read -r sps hr hu hi share parts <<< "$(hybrec "$shape-$dev-$cache" "$work/$shape.h5" "$steps" \
        --device "$dev" --set train.cache_rows=$cache "${args[@]}")"
      label=off; [ "$cache" != 0 ] && label="$cache rows"
      echo "| $shape | hybrec, $dev | $label | $sps | $hr | $hu / $hi | $share | $parts |"
      [ "$cache" = 0 ] && cuda_off=$sps
    done
    read -r torch_sps torch_hr _ _ _ _ <<< "$(peer "$shape-torch" "$work/$shape.h5" "$steps" "${args[@]}")"
    echo "| $shape | PyTorch peer, $dev | - | $torch_sps | $torch_hr | - | - | - |"
    echo "| $shape | **ratios** (cache off) | | hybrec $dev / PyTorch $dev $(ratio "$cuda_off" "$torch_sps"); hybrec $dev / 1 CPU rank $(ratio "$cuda_off" "$cpu") | | | | |"
  done
} | tee "$out/train.md"
