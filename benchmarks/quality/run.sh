#!/usr/bin/env bash
# Recommendation quality as a new user would measure it (issue "quality that
# holds on data we have not tuned on"): each dataset imported with 20% cold
# items, the shipped config of its family, the hybrid and its CF-only and
# text-only ablations with SEEDS seeds, the hybrid trained and ranked
# without text neighbours (model.unseen_item_neighbors = 0: what the
# neighbours bring), the popularity and random baselines, and the hybrid
# re-ranked with each model.new_item_boost in BOOSTS. Prints
# the tables of README "Results" (means over seeds; warm, cold, cold_all;
# beyond-accuracy; training time) and writes them to OUT_DIR/results.md.
#
#   benchmarks/quality/run.sh [OUT_DIR]          (default runs/quality)
#
# Knobs (environment):
#   DATASETS  "ml-latest-small amazon-office" (directories of DATA_ROOT)
#   SEEDS     "1 2 3"       BOOSTS  "0.5 1 2" (empty: none)
#   THREADS   1             DATA_ROOT ../shared/datasets
#   MINILM    models/all-MiniLM-L6-v2: a product dataset's text is embedded
#             with it as products.toml says (scripts/get-minilm.sh fetches
#             it); empty: the importer's hashing vectors
#   HYBREC_BIN build/cpu/bin/hybrec, else build/bin/hybrec
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/quality}
DATASETS=${DATASETS:-"ml-latest-small amazon-office"}
SEEDS=${SEEDS:-"1 2 3"}
BOOSTS=${BOOSTS-"0.5 1 2"}
THREADS=${THREADS:-1}
DATA_ROOT=${DATA_ROOT:-../shared/datasets}
MINILM=${MINILM-models/all-MiniLM-L6-v2}
bin=${HYBREC_BIN:-}
if [[ -z "$bin" ]]; then
  for b in build/cpu/bin/hybrec build/bin/hybrec; do [[ -x $b ]] && { bin=$b; break; }; done
fi
[[ -n "$bin" && -x "$bin" ]] || { echo "quality: no hybrec binary (build it, or set HYBREC_BIN)" >&2; exit 2; }

for ds in $DATASETS; do
  dir=$out/$ds
  mkdir -p "$dir"
  data=$dir/data.h5
  text=hashing
  case "$ds" in
    ml-*)
      config=launch/configs/movielens.toml
      "$bin" data import movielens "$DATA_ROOT/$ds" --out "$data" > "$dir/import.log" ;;
    *)
      config=launch/configs/products.toml
      "$bin" data import recbole "$DATA_ROOT/$ds" --out "$data" > "$dir/import.log"
      if [[ -n "$MINILM" ]]; then
        [[ -f "$MINILM/model.safetensors" ]] ||
          { echo "quality: $MINILM is missing (scripts/get-minilm.sh, or MINILM= for hashing)" >&2; exit 2; }
        "$bin" embed --model "$MINILM" --data "$data" --threads "$THREADS" >> "$dir/import.log"
        text=$(basename "$MINILM")
      fi ;;
  esac
  echo "{\"config\": \"$config\", \"text\": \"$text\"}" > "$dir/setup.json"
  for seed in $SEEDS; do
    for model in hybrid cf text hybrid-neighbors0; do
      case $model in
        hybrid) ablation=() ;;
        hybrid-neighbors0) ablation=(--set model.unseen_item_neighbors=0) ;;
        cf) ablation=(--set model.use_text=false --set model.use_text_score=false) ;;
        text) ablation=(--set model.use_id=false) ;;
      esac
      run=$dir/$model-s$seed
      echo "== $ds $model seed $seed" >&2
      start=$(date +%s%N)
      "$bin" train "$config" --out "$run" --fresh --data "$data" --set train.seed="$seed" \
        --set train.threads="$THREADS" "${ablation[@]}" > "$run.log" 2>&1 ||
        { tail -20 "$run.log" >&2; echo "quality: FAILED: $ds $model seed $seed" >&2; exit 1; }
      echo "{\"wall_s\": $(( ($(date +%s%N) - start) / 1000000 ))e-3}" > "$run/wall.json"
    done
    for boost in $BOOSTS; do
      mkdir -p "$dir/hybrid-boost$boost-s$seed"
      "$bin" eval "$dir/hybrid-s$seed" --out "$dir/hybrid-boost$boost-s$seed" \
        --set model.new_item_boost="$boost" > /dev/null
    done
  done
  for baseline in popularity random; do
    mkdir -p "$dir/$baseline-s1"
    "$bin" eval "$dir/hybrid-s1" --baseline "$baseline" --out "$dir/$baseline-s1" > /dev/null
  done
done
python3 benchmarks/quality/quality_table.py "$out" $DATASETS | tee "$out/results.md"
