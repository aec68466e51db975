#!/usr/bin/env bash
# "Online learning pays": on ml-latest-small, the hybrid model trains
# offline on the events before the 80% time quantile, then the rest arrives
# as a stream. Prequential HR@10 on the streamed events (each event's item
# ranked among all items for its user BEFORE the model trains on it, the
# user's earlier items excluded) for
#   online  the model training on the stream as it goes (stream.learn = true)
#   frozen  the same model (same seed, sync mode: the same offline bits),
#           frozen at the 80% point (stream.learn = false)
# Both see the same events extend the users' histories; only training
# differs. Seeds 1 2 3 (or SEEDS), one rank, one thread; prints each run and
# the medians.
#   benchmarks/stream/online_pays.sh [MOVIELENS_DIR] [OUT_DIR]
# Env: HYBREC_BIN (default build/bin/hybrec), SEEDS, STREAM_BATCH (events
# per micro-batch, default 64).
set -euo pipefail
cd "$(dirname "$0")/../.."
source_dir=${1:-../shared/datasets/ml-latest-small}
out=${2:-runs/online-pays}
bin=${HYBREC_BIN:-build/bin/hybrec}
seeds=${SEEDS:-1 2 3}
batch=${STREAM_BATCH:-64}
config=launch/configs/movielens.toml
mkdir -p "$out"
[ -f "$out/ml.h5" ] || "$bin" data import movielens "$source_dir" --out "$out/ml.h5" > /dev/null
rm -f "$out/stream.jsonl"
"$bin" publish --data "$out/ml.h5" --to "file:$out/stream.jsonl" --from-time-quantile 0.8
for seed in $seeds; do
  for mode in online frozen; do
    learn=true
    [ "$mode" = frozen ] && learn=false
    "$bin" train "$config" --out "$out/$mode-s$seed" --fresh --data "$out/ml.h5" \
      --stream "file:$out/stream.jsonl" --set data.before_time_quantile=0.8 \
      --set train.seed="$seed" --set train.threads=1 --set train.sync=true \
      --set stream.batch="$batch" --set stream.max_wait_ms=0 --set stream.idle_stop_s=2 \
      --set stream.checkpoint_every=0 --set stream.prequential_k=10 \
      --set stream.learn="$learn" > "$out/$mode-s$seed.log" 2>&1 ||
      { cat "$out/$mode-s$seed.log"; exit 1; }
  done
done
python3 - "$out" $seeds <<'PY'
import json, statistics, sys
out, seeds = sys.argv[1], sys.argv[2:]
def end(run):
    last = None
    for line in open(f"{out}/{run}/metrics.jsonl"):
        e = json.loads(line)
        if e.get("event") == "stream_end":
            last = e
    return last
rows = {"online": [], "frozen": []}
print("| seed | events | online HR@10 | frozen HR@10 | online / frozen |")
print("|---|---|---|---|---|")
for s in seeds:
    on, fr = end(f"online-s{s}"), end(f"frozen-s{s}")
    assert on["scored"] == fr["scored"], "the two runs scored different events"
    rows["online"].append(on["prequential_hr"])
    rows["frozen"].append(fr["prequential_hr"])
    print(f"| {s} | {int(on['scored'])} | {on['prequential_hr']:.4f} | {fr['prequential_hr']:.4f} "
          f"| {on['prequential_hr'] / fr['prequential_hr']:.2f} |")
mo, mf = statistics.median(rows["online"]), statistics.median(rows["frozen"])
print(f"| median | | {mo:.4f} | {mf:.4f} | {mo / mf:.2f} |")
PY
