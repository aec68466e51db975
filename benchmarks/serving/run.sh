#!/usr/bin/env bash
# hybrec serve under load and its freshness (BENCHMARKS.md "Serving and
# real-time"). For each catalogue size: a synthetic dataset, two standalone
# `hybrec ps` shards, a short training run against them, and `hybrec serve`
# on their live rows, rebuilding its item matrix every REFRESH_S seconds
# during the load (so swaps happen under it). Then:
#   - closed loop: 1, 4 and 16 HTTP clients, single requests, and 4 clients
#     sending client-side batches of 16 (the maximum QPS at each);
#   - open loop at half the highest single-request maximum (p99 against the
#     20 ms target);
#   - freshness (the first size only): FRESH_EVENTS events at FRESH_RATE/s
#     through the server's stream (file log).
# Failed requests are counted in every line. Usage:
#   benchmarks/serving/run.sh [OUT_DIR]   (sizes: ITEMS="100000 1000000")
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${HYBREC_BIN:-build/bin/hybrec}
bench_dir=$(dirname "$bin")
out=${1:-/tmp/hybrec-serving-bench}
items_list=${ITEMS:-"100000 1000000"}
seconds=${SECONDS_PER_RUN:-10}
fresh_events=${FRESH_EVENTS:-1000}
fresh_rate=${FRESH_RATE:-20}
mkdir -p "$out"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# Starts a command in the background, waits for PATTERN in its output, and
# prints the first line that matched.
start() {
  local log=$1 pattern=$2
  shift 2
  "$@" > "$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 600); do
    if grep -q "$pattern" "$log"; then grep -m1 "$pattern" "$log"; return 0; fi
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$log" >&2; return 1; }
    sleep 0.1
  done
  echo "timed out waiting for '$pattern' in $log" >&2
  return 1
}

first=1
for items in $items_list; do
  dir="$out/items-$items"
  rm -rf "$dir"
  mkdir -p "$dir"
  echo "== $items items"
  "$bin" data synth --out "$dir/synth.h5" --users 20000 --items "$items" --events-per-user 20 \
    > /dev/null
  servers=""
  for shard in 0 1; do
    line=$(start "$dir/ps$shard.log" "serving on" "$bin" ps --port 0 --shard "$shard/2" \
      --checkpoint-dir "$dir/ps")
    servers+="${servers:+,}$(sed -E 's/.*serving on ([^ ]+).*/\1/' <<< "$line")"
  done
  printf '[data]\npath = "%s"\n[train]\nbatch_size = 256\nmax_steps = 100\neval_every = 0\nlog_every_s = 60\n' \
    "$dir/synth.h5" > "$dir/train.toml"
  "$bin" train "$dir/train.toml" --out "$dir/run" --ps "$servers" --ps-dir "$dir/ps" \
    --set eval.max_users=100 > "$dir/train.log" 2>&1 || { cat "$dir/train.log"; exit 1; }
  refresh=$(( items >= 1000000 ? 10 : 2 ))
  : > "$dir/events.jsonl"
  line=$(start "$dir/serve.log" "hybrec serve: http" "$bin" serve --run "$dir/run" --ps "$servers" \
    --http-port 0 --refresh-s "$refresh" --stream "file:$dir/events.jsonl" --threads 16)
  address=$(sed -E 's#.*http://([^/]+)/.*#\1#' <<< "$line")
  echo "serve at $address, item matrix rebuilt every ${refresh}s"
  for clients in 1 4 16; do
    "$bench_dir/bench_serving_load" --serve "$address" --clients "$clients" --seconds "$seconds" \
      --users 20000 | tee "$dir/load-c$clients.txt"
  done
  "$bench_dir/bench_serving_load" --serve "$address" --clients 4 --batch 16 --seconds "$seconds" \
    --users 20000 | tee "$dir/load-c4-b16.txt"
  # The maximum single-request throughput over the client counts.
  max=$(cat "$dir"/load-c1.txt "$dir"/load-c4.txt "$dir"/load-c16.txt |
    awk '/qps/ {for (i = 1; i <= NF; i++) if ($i == "qps" && $(i + 1) > m) m = $(i + 1)} END {print m}')
  half=$(awk -v m="$max" 'BEGIN { printf "%.0f", m / 2 }')
  "$bench_dir/bench_serving_load" --serve "$address" --clients 8 --rate "$half" \
    --seconds "$seconds" --users 20000 | tee "$dir/load-open-half.txt"
  if [ "$first" = 1 ]; then
    "$bench_dir/bench_serving_freshness" --serve "$address" --stream "file:$dir/events.jsonl" \
      --events "$fresh_events" --rate "$fresh_rate" --users 20000 | tee "$dir/freshness.txt"
  fi
  curl -s "http://$address/health"; echo
  first=0
  cleanup
  pids=()
done
