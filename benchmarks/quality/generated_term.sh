#!/usr/bin/env bash
# The generated-text score term on ml-latest-small (issue 16, section 4):
# the hybrid trained with the shipped launch/configs/movielens.toml for
# each seed, then `hybrec eval` with the term: each case's top N items
# re-ranked by z' = (z + lambda y') / sqrt(1 + lambda^2), y' SmolLM2's
# mean log-probability per token of the item's title after the user's
# recent titles; lambda chosen among GRID and 0 on validation NDCG@10, then
# test warm and cold HR@10 / NDCG@10 without (lambda = 0) and with the
# term, on the same seeded sample of MAX_USERS users, and (a diagnostic,
# rerank.test_curve) test at every lambda of the grid. Prints the tables
# (benchmarks/quality/generated_term_table.py) and writes it to
# OUT_DIR/results.md.
#
#   benchmarks/quality/generated_term.sh [OUT_DIR]   (default runs/generated_term)
#
# Knobs (environment):
#   SEEDS "1 2 3"   N 20 (candidates per case)   GRID "0.1,0.25,0.5,1,2,4"
#   MAX_USERS 80 (a seeded sample of the 610 users; the decoder is slow: about
#             10 minutes a seed on one loaded core, the test curve included)
#   HISTORY 10 (titles in the prompt)   THREADS 1 (OMP_NUM_THREADS of eval)
#   MODEL models/SmolLM2-135M-Instruct.Q4_1.gguf   DATA_ROOT ../shared/datasets
#   HYBREC_BIN build/cpu/bin/hybrec, else build/bin/hybrec
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/generated_term}
SEEDS=${SEEDS:-"1 2 3"}
N=${N:-20}
GRID=${GRID:-"0.1,0.25,0.5,1,2,4"}
MAX_USERS=${MAX_USERS:-80}
HISTORY=${HISTORY:-10}
THREADS=${THREADS:-1}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
DATA_ROOT=${DATA_ROOT:-../shared/datasets}
bin=${HYBREC_BIN:-}
if [[ -z "$bin" ]]; then
  for b in build/cpu/bin/hybrec build/bin/hybrec; do [[ -x $b ]] && { bin=$b; break; }; done
fi
[[ -n "$bin" && -x "$bin" ]] || { echo "generated_term: no hybrec binary (build it, or set HYBREC_BIN)" >&2; exit 2; }
[[ -f "$MODEL" ]] || { echo "generated_term: $MODEL is missing (scripts/get-smollm2.sh)" >&2; exit 2; }

mkdir -p "$out"
data=$out/data.h5
[[ -f $data ]] || "$bin" data import movielens "$DATA_ROOT/ml-latest-small" --out "$data" > "$out/import.log"
for seed in $SEEDS; do
  run=$out/hybrid-s$seed
  if [[ ! -e $run/checkpoints/best ]]; then
    echo "== train hybrid seed $seed" >&2
    "$bin" train launch/configs/movielens.toml --out "$run" --fresh --data "$data" \
      --set train.seed="$seed" --set train.threads="$THREADS" > "$run.log" 2>&1 ||
      { tail -20 "$run.log" >&2; echo "generated_term: FAILED training seed $seed" >&2; exit 1; }
  fi
  echo "== eval with the generated term, seed $seed" >&2
  rm -rf "$out/term-s$seed"
  mkdir -p "$out/term-s$seed"
  start=$(date +%s%N)
  OMP_NUM_THREADS=$THREADS "$bin" eval "$run" --out "$out/term-s$seed" \
    --set rerank.generated_n="$N" --set rerank.lambda_grid="$GRID" \
    --set rerank.max_users="$MAX_USERS" --set rerank.history_titles="$HISTORY" \
    --set rerank.model="$MODEL" --set rerank.test_curve=true > "$out/term-s$seed.log" 2>&1 ||
    { tail -20 "$out/term-s$seed.log" >&2; echo "generated_term: FAILED eval seed $seed" >&2; exit 1; }
  echo "{\"wall_s\": $(( ($(date +%s%N) - start) / 1000000 ))e-3, \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" \
    > "$out/term-s$seed/wall.json"
done
python3 benchmarks/quality/generated_term_table.py "$out" | tee "$out/results.md"
