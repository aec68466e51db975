#!/usr/bin/env bash
# The row cache on the CPU backend: `hybrec train` on the synthetic default
# (launch/configs/synth.toml, one rank, in-process servers), the cache off
# and on (write-through, train.cache_rows = ROWS), ROUNDS interleaved rounds
# of STEPS steps each. Prints one line per run and the medians: samples/s,
# the hit rates, and the step's breakdown (ms per step) from metrics.jsonl.
# Usage: benchmarks/trainer/row_cache.sh [OUT_DIR]   (env: ROUNDS=3 STEPS=300 ROWS=20000
#        HYBREC=build/bin/hybrec EXTRA="--set ...")
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/bench-row-cache}
hy=${HYBREC:-build/bin/hybrec}
rounds=${ROUNDS:-3} steps=${STEPS:-300} rows=${ROWS:-20000}
mkdir -p "$out"
[ -f "$out/synth.h5" ] || "$hy" data synth --out "$out/synth.h5" > /dev/null
: > "$out/runs.jsonl"
for round in $(seq 1 "$rounds"); do
  for cache in 0 "$rows"; do
    dir="$out/r$round-c$cache"
    rm -rf "$dir"
    # shellcheck disable=SC2086
    "$hy" train launch/configs/synth.toml --data "$out/synth.h5" --out "$dir" \
      --stop-after-steps "$steps" --set train.max_steps=$((steps + 1)) \
      --set train.eval_every=100000000 --set train.cache_rows="$cache" ${EXTRA:-} \
      > "$dir.log" 2>&1
    python3 - "$dir/metrics.jsonl" "$cache" "$round" >> "$out/runs.jsonl" <<'PY'
import json, sys
rec = {"cache_rows": int(sys.argv[2]), "round": int(sys.argv[3])}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "throughput":
        rec["samples_per_s"] = e["samples_per_s"]
    if e.get("event") == "train":
        rec["step_ms"] = e.get("step_ms", {})
        for k in ("cache_hit_rate_user", "cache_hit_rate_item"):
            if k in e:
                rec[k] = e[k]
print(json.dumps(rec))
PY
    tail -1 "$out/runs.jsonl"
  done
done
python3 - "$out/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
print("| row cache | samples/s (median) | hit user / item | ms per step: pull / batch / to_device / fwd+bwd / optimizer / push / total |")
print("|---|---|---|---|")
base = None
for cache in sorted({r["cache_rows"] for r in runs}):
    rs = [r for r in runs if r["cache_rows"] == cache]
    sps = statistics.median(r["samples_per_s"] for r in rs)
    med = lambda k: statistics.median(r["step_ms"].get(k, 0) for r in rs)
    hits = (f'{statistics.median(r["cache_hit_rate_user"] for r in rs):.2f} / '
            f'{statistics.median(r["cache_hit_rate_item"] for r in rs):.2f}') if cache else "-"
    parts = " / ".join(f"{med(k):.2f}" for k in
                       ("pull", "batch", "to_device", "forward_backward", "optimizer", "push", "total"))
    ratio = "" if base is None else f" ({sps / base:.2f}x)"
    base = base or sps
    print(f"| {cache or 'off'} | {sps:.0f}{ratio} | {hits} | {parts} |")
PY
