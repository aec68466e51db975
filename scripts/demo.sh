#!/usr/bin/env bash
# The README's main command: install and build what is missing, generate the
# synthetic dataset, and train three models, each as one MPI job of 2
# parameter-server ranks and 2 trainer ranks on this machine (through
# launch/hybrec-launch, which prints the mpirun command):
#   hybrid  ID embeddings + text + attention over history + fused text score
#   cf      CF-only ablation (no text)
#   text    text-only ablation (no ID embeddings)
# then print the report: HR@10 and NDCG@10 on warm, cold and cold_all items,
# the training throughput, and the beyond-accuracy metrics. Each run is left under runs/demo/<model>/ with its
# metrics.jsonl, config.toml and checkpoints. Extra arguments go to every
# `hybrec train` (e.g. --set train.epochs=2).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
cmake --preset release > /dev/null
cmake --build --preset release -j "$(nproc)" --target hybrec
bin=build/bin/hybrec
config=launch/configs/synth.toml
demo=runs/demo
mkdir -p "$demo"

echo "== dataset"
"$bin" data synth --out "$demo/synth.h5"

train() {
  local model=$1
  shift
  echo "== $model"
  rm -rf "${demo:?}/$model"
  HYBREC_BIN=$bin launch/hybrec-launch "$config" --ps 2 --trainers 2 --out "$demo/$model" -- "$@"
}
train hybrid "$@"
train cf --set model.use_text=false --set model.use_text_score=false "$@"
train text --set model.use_id=false "$@"

echo "== results (test split; warm = items seen in training, cold = new items ranked"
echo "   among the cold items, cold_all = the same among all items; samples/s = training"
echo "   examples per second, 2 ranks)"
"$bin" report "$demo/hybrid" "$demo/cf" "$demo/text"
