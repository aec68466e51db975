#!/usr/bin/env bash
# hybrec serve under load and its freshness (BENCHMARKS.md "Serving and
# real-time"). For each catalogue size: a synthetic dataset, two standalone
# `hybrec ps` shards, a short training run against them, and `hybrec serve`
# on their live rows, rebuilding its item matrix every REFRESH_S seconds
# during the load (so swaps happen under it). Then, over HTTP and over the
# Thrift port:
#   - closed loop: 1, 4 and 16 clients, single requests, and 4 clients
#     sending client-side batches of 16 (the maximum QPS at each);
#   - open loop at half the highest single-request maximum (p99 against the
#     20 ms target);
#   - freshness (the first size only): FRESH_EVENTS events at FRESH_RATE/s
#     through the server's stream (file log).
# Failed requests are counted in every line. The synthetic generator costs
# users x items (every user's taste is a softmax over the catalogue), so the
# number of users shrinks as the catalogue grows (20,000 users at 100k items,
# 2,000 at 1M); the load asks for those users. INDEX="exact faiss-ivf" runs
# each size with each candidate index (default: exact only). Each load runs
# REPEATS times (default 3); benchmarks/serving/load_table.py OUT_DIR prints
# the medians (KEEP_DATA=1 reuses the synthetic datasets already there). Usage:
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
index_list=${INDEX:-exact}
repeats=${REPEATS:-3}
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

# Closed loops over 1, 4, 16 clients and batches of 16, then the open loop
# at half the single-request maximum (the best median over the client
# counts), over one protocol; each load REPEATS times (TAG-LOAD-rN.txt), so
# load_table.py can quote medians.
load_runs() {
  local protocol=$1 address=$2 tag=$3 users=$4
  local rep clients max half
  for rep in $(seq "$repeats"); do
    for clients in 1 4 16; do
      "$bench_dir/bench_serving_load" --protocol "$protocol" --serve "$address" \
        --clients "$clients" --seconds "$seconds" --users "$users" | tee "$tag-c$clients-r$rep.txt"
    done
    "$bench_dir/bench_serving_load" --protocol "$protocol" --serve "$address" --clients 4 \
      --batch 16 --seconds "$seconds" --users "$users" | tee "$tag-c4b16-r$rep.txt"
  done
  max=$(for clients in 1 4 16; do
          cat "$tag-c$clients"-r*.txt | awk '/qps/ {for (i = 1; i <= NF; i++) if ($i == "qps") print $(i + 1)}' |
            sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
        done | sort -g | tail -1)
  half=$(awk -v m="$max" 'BEGIN { printf "%.0f", m / 2 }')
  for rep in $(seq "$repeats"); do
    "$bench_dir/bench_serving_load" --protocol "$protocol" --serve "$address" --clients 8 \
      --rate "$half" --seconds "$seconds" --users "$users" | tee "$tag-open-r$rep.txt"
  done
}

first=1
for items in $items_list; do
  dir="$out/items-$items"
  users=$(( items >= 1000000 ? 2000 : 20000 ))
  echo "== $items items, $users users"
  # The dataset takes minutes to generate (6 at 100k, 11+ at 1M on 2 cores):
  # KEEP_DATA=1 reuses one a previous run left in OUT_DIR.
  if [ "${KEEP_DATA:-0}" = 1 ] && [ -f "$dir/synth.h5" ]; then
    find "$dir" -mindepth 1 -maxdepth 1 ! -name synth.h5 -exec rm -rf {} +
  else
    rm -rf "$dir"
    mkdir -p "$dir"
    "$bin" data synth --out "$dir/synth.h5" --users "$users" --items "$items" \
      --events-per-user 20 > /dev/null
  fi
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
  for index in $index_list; do
    : > "$dir/events.jsonl"
    log="$dir/serve-$index.log"
    "$bin" serve --run "$dir/run" --ps "$servers" --http-port 0 --port 0 --index "$index" \
      --refresh-s "$refresh" --stream "file:$dir/events.jsonl" --threads 16 > "$log" 2>&1 &
    serve_pid=$!
    pids+=($serve_pid)
    for _ in $(seq 1200); do
      grep -q "hybrec serve: thrift" "$log" && break
      kill -0 "$serve_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
      sleep 0.1
    done
    http=$(grep -m1 "hybrec serve: http" "$log" | sed -E 's#.*http://([^/]+)/.*#\1#')
    thrift=$(grep -m1 "hybrec serve: thrift" "$log" | sed -E 's#.*thrift ([^ ]+).*#\1#')
    echo "serve ($index index) at http $http, thrift $thrift; item matrix rebuilt every ${refresh}s"
    load_runs http "$http" "$dir/load-$index-http" "$users"
    load_runs thrift "$thrift" "$dir/load-$index-thrift" "$users"
    if [ "$first" = 1 ]; then
      "$bench_dir/bench_serving_freshness" --serve "$http" --stream "file:$dir/events.jsonl" \
        --events "$fresh_events" --rate "$fresh_rate" --users "$users" | tee "$dir/freshness.txt"
      first=0
    fi
    curl -s "http://$http/health"; echo
    kill "$serve_pid"
    wait "$serve_pid" 2>/dev/null || true
  done
  cleanup
  pids=()
done
benchmarks/serving/load_table.py "$out"
