#!/usr/bin/env bash
# The ml-latest-small comparison of the README's results table: hybrec's
# hybrid, CF-only and text-only models and the PyTorch peer's hybrid, each
# trained with seeds 1, 2, 3 on the same file (one rank, 1 compute thread
# each), then HR@10 / NDCG@10 on warm and cold test items, mean over seeds.
#   benchmarks/peers/movielens.sh [MOVIELENS_DIR] [OUT_DIR]
# Needs a built hybrec (scripts/test.sh or scripts/demo.sh) and installs the
# peer's venv (benchmarks/peers/setup.sh). Takes about 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
source_dir=${1:-../shared/datasets/ml-latest-small}
out=${2:-runs/movielens}
bin=build/bin/hybrec
config=launch/configs/movielens.toml
mkdir -p "$out"
"$bin" data import movielens "$source_dir" --out "$out/ml.h5"
for seed in 1 2 3; do
  # The PyTorch peer trains a fixed number of epochs with no model
  # selection, so hybrec does the same here (the config selects on validation).
  common=(--data "$out/ml.h5" --set train.seed=$seed --set train.threads=1
          --set train.eval_every=1000000 --set train.patience=0)
  "$bin" train "$config" --out "$out/hybrid-s$seed" "${common[@]}" > /dev/null
  "$bin" train "$config" --out "$out/cf-s$seed" "${common[@]}" \
    --set model.use_text=false --set model.use_text_score=false > /dev/null
  "$bin" train "$config" --out "$out/text-s$seed" "${common[@]}" --set model.use_id=false > /dev/null
  benchmarks/peers/run.sh --config "$config" --data "$out/ml.h5" --set train.seed=$seed \
    --threads 1 --out "$out/pytorch-s$seed" > /dev/null
done
python3 benchmarks/peers/mean_table.py "$out" hybrid cf text pytorch
