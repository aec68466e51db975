#!/usr/bin/env bash
# What a language-model text encoder brings on ml-latest-small: the hybrid
# and the text-only model trained on the hashing encoder's 64-dim item
# vectors and on all-MiniLM-L6-v2's 384-dim ones (hybrec embed), seeds 1-3,
# one rank and one thread each; mean test HR@10 / NDCG@10, warm and cold.
#   benchmarks/text/movielens_encoders.sh [MOVIELENS_DIR] [OUT_DIR]
# Needs a built hybrec and the model (scripts/get-minilm.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
source_dir=${1:-../shared/datasets/ml-latest-small}
out=${2:-runs/movielens-encoders}
bin=build/bin/hybrec
config=launch/configs/movielens.toml
mkdir -p "$out"
scripts/get-minilm.sh > /dev/null
"$bin" data import movielens "$source_dir" --out "$out/ml-hashing.h5" > /dev/null
cp "$out/ml-hashing.h5" "$out/ml-minilm.h5"
"$bin" embed --model models/all-MiniLM-L6-v2 --data "$out/ml-minilm.h5"
for seed in 1 2 3; do
  for encoder in hashing minilm; do
    common=(--data "$out/ml-$encoder.h5" --set train.seed=$seed --set train.threads=1)
    "$bin" train "$config" --out "$out/hybrid-$encoder-s$seed" "${common[@]}" > /dev/null &
    "$bin" train "$config" --out "$out/text-$encoder-s$seed" "${common[@]}" \
      --set model.use_id=false > /dev/null &
    wait
  done
done
python3 benchmarks/peers/mean_table.py "$out" hybrid-hashing hybrid-minilm text-hashing text-minilm
