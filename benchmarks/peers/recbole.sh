#!/usr/bin/env bash
# RecBole, the model-quality peer, on exactly hybrec's data and protocol
# (benchmarks/peers/README.md "RecBole"): SASRec, BPR, GRU4Rec and LightGCN
# trained by RecBole on hybrec's events with leave-one-out by time, the split
# checked against hybrec's, the best checkpoint scored with hybrec's rule; and
# hybrec's hybrid and CF-only models on the same file. One table at the end.
#
#   benchmarks/peers/recbole.sh [--h5 DATASET=FILE ...] [OUT_DIR]
#
# --h5 DATASET=FILE uses an existing hybrec dataset (imported with
# --cold-fraction 0) instead of importing DATASET. OUT_DIR defaults to
# runs/recbole; results in OUT_DIR/results.md and results.json.
#
# Knobs (environment):
#   DATASETS  "ml-latest-small amazon-office" (directories of $DATA_ROOT)
#   MODELS    RecBole models, "SASRec BPR GRU4Rec LightGCN"; "Pop" adds exact
#             popularity (train counts, computed here, not RecBole's Pop)
#   HYBREC    hybrec models, "hybrid cf" (empty: none)
#   SEEDS     "1" (e.g. "1 2 3": the table reports means)
#   EPOCHS    RecBole's max epochs, 300 (RecBole's default: in practice early
#             stopping after 10 epochs without a better valid NDCG@10 ends it);
#             a run that reaches EPOCHS did not converge and the table says so
#   TIME_LIMIT seconds of fitting (training and validation) per RecBole run,
#             0 (none): a run past it stops at its next epoch and scores its best checkpoint, and the
#             table marks it NOT CONV (for the sequential models on 2 cores)
#   BATCH     RecBole's train_batch_size, 0: RecBole's default 2048. At
#             2048 a 50k-event dataset is ~20 optimizer steps per epoch, and
#             SASRec/GRU4Rec need hundreds of epochs; 256 converges in far
#             fewer at about the same cost per epoch
#   THREADS   torch / hybrec compute threads per run, 1
#   DATA_ROOT ../shared/datasets        HYBREC_BIN  build/cpu/bin/hybrec
#   HYBREC_CONFIG the shipped config of the dataset's family:
#             launch/configs/movielens.toml for ml-*, else products.toml
#   MINILM    models/all-MiniLM-L6-v2: a product dataset's item text is
#             embedded with it (hybrec embed), as products.toml says;
#             empty, or absent: the importer's hashing vectors
set -euo pipefail
cd "$(dirname "$0")/../.."
here=benchmarks/peers

declare -A given_h5=()
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --h5) given_h5["${2%%=*}"]="${2#*=}"; shift 2 ;;
    --h5=*) v="${1#--h5=}"; given_h5["${v%%=*}"]="${v#*=}"; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) out="$1"; shift ;;
  esac
done
out=${out:-${OUT:-runs/recbole}}
DATASETS=${DATASETS:-"ml-latest-small amazon-office"}
MODELS=${MODELS:-"SASRec BPR GRU4Rec LightGCN"}
HYBREC=${HYBREC-"hybrid cf"}
SEEDS=${SEEDS:-1}
EPOCHS=${EPOCHS:-300}
THREADS=${THREADS:-1}
TIME_LIMIT=${TIME_LIMIT:-0}
BATCH=${BATCH:-0}
DATA_ROOT=${DATA_ROOT:-../shared/datasets}
MINILM=${MINILM-models/all-MiniLM-L6-v2}
config_for() {  # $1 dataset name
  if [[ -n "${HYBREC_CONFIG:-}" ]]; then echo "$HYBREC_CONFIG"
  elif [[ $1 == ml-* ]]; then echo launch/configs/movielens.toml
  else echo launch/configs/products.toml; fi
}
bin=${HYBREC_BIN:-}
if [[ -z "$bin" ]]; then
  for b in build/cpu/bin/hybrec build/bin/hybrec; do [[ -x $b ]] && { bin=$b; break; }; done
fi
[[ -n "$bin" && -x "$bin" ]] || { echo "recbole.sh: no hybrec binary (build it, or set HYBREC_BIN)" >&2; exit 2; }

# The venv: setup.sh's torch/h5py/numpy, then RecBole 1.2.1 by name from PyPI.
# setuptools < 81: ray (a RecBole dependency, imported by recbole.quick_start)
# imports pkg_resources, which setuptools 81 removed.
VENV="${HYBREC_PEERS_VENV:-$HOME/.cache/hybrec/peers-venv}"
HYBREC_PEERS_VENV="$VENV" "$here/setup.sh" >&2
py="$VENV/bin/python"
RECBOLE_REQ=${HYBREC_PEERS_RECBOLE:-recbole==1.2.1}
if ! "$py" -c 'import recbole, ray, pkg_resources, scipy, pandas' >/dev/null 2>&1; then
  echo "recbole.sh: installing $RECBOLE_REQ 'setuptools<81' into $VENV" >&2
  start=$(date +%s)
  "$py" -m pip install --disable-pip-version-check -q "$RECBOLE_REQ" "setuptools<81" >&2
  echo "recbole.sh: install took $(( $(date +%s) - start )) s" >&2
fi
"$py" -c 'import recbole, scipy, pandas, ray, numpy, torch; print(f"recbole {recbole.__version__}  torch {torch.__version__}  numpy {numpy.__version__}  scipy {scipy.__version__}  pandas {pandas.__version__}  ray {ray.__version__}")'
# RecBole checkpoints pickle its Config; torch >= 2.6's torch.load refuses that by default.
export TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1
export OMP_WAIT_POLICY=PASSIVE  # a busy 2-core machine: no spin-waiting workers

mkdir -p "$out"
import_dataset() {  # $1 dataset name, $2 output .h5
  local ds=$1 h5=$2 src="$DATA_ROOT/$1"
  case "$ds" in
    ml-latest-small|ml-100k)
      "$bin" data import movielens "$src" --out "$h5" --cold-fraction 0 ;;  # rating >= 4, as movielens.sh
    *)
      "$bin" data import recbole "$src" --out "$h5" --cold-fraction 0
      if [[ -n "$MINILM" && -f "$MINILM/model.safetensors" ]]; then
        "$bin" embed --model "$MINILM" --data "$h5" --threads "$THREADS"
      fi ;;
  esac
}

for ds in $DATASETS; do
  mkdir -p "$out/$ds"
  h5=${given_h5[$ds]:-}
  if [[ -z "$h5" ]]; then
    h5="$out/$ds/data.h5"
    import_dataset "$ds" "$h5" > "$out/$ds/import.log"
    cat "$out/$ds/import.log"
  fi
  "$py" "$here/recbole_export.py" "$h5" "$out/$ds/atomic" "$ds"
  echo "{\"h5\": \"$h5\"}" > "$out/$ds/dataset.json"
  for seed in $SEEDS; do
    for model in $MODELS; do
      run="$out/$ds/$model-s$seed"
      rm -rf "$run"; mkdir -p "$run"
      echo "== $ds $model seed $seed (max epochs $EPOCHS)" >&2
      if ! "$py" "$here/recbole_peer.py" --h5 "$h5" --atomic "$out/$ds/atomic" --dataset "$ds" \
          --model "$model" --seed "$seed" --epochs "$EPOCHS" --threads "$THREADS" --time-limit "$TIME_LIMIT" \
          --batch-size "$BATCH" --out "$run" \
          > "$run/stdout.log" 2> "$run/stderr.log"; then
        tail -20 "$run/stderr.log" >&2
        grep -h "split check" "$run/stdout.log" >&2 || true
        echo "recbole.sh: FAILED: $ds $model seed $seed (logs in $run)" >&2
        exit 1
      fi
      grep -h "split check" "$run/stdout.log" >&2 || true
      tail -1 "$run/stdout.log" >&2
    done
    for m in $HYBREC; do
      run="$out/$ds/$m-s$seed"
      ablation=()
      [[ $m == cf ]] && ablation=(--set model.use_text=false --set model.use_text_score=false)
      echo "== $ds hybrec $m seed $seed" >&2
      start=$(date +%s%N)
      "$bin" train "$(config_for "$ds")" --out "$run" --fresh --data "$h5" --set train.seed=$seed \
        --set train.threads=$THREADS "${ablation[@]}" > "$run.log" 2>&1 \
        || { tail -20 "$run.log" >&2; echo "recbole.sh: FAILED: hybrec $m on $ds" >&2; exit 1; }
      echo "{\"wall_ms\": $(( ($(date +%s%N) - start) / 1000000 ))}" > "$run/wall.json"
    done
  done
done
"$py" "$here/recbole_table.py" "$out" --datasets $DATASETS --models $MODELS --hybrec $HYBREC \
  --epochs "$EPOCHS"
