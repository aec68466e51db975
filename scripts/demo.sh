#!/usr/bin/env bash
# The README's main command. Until the trainer lands, hybrec's main job is its
# kernels library and its parameter server:
#   1. the headline CPU kernel benchmarks (embedding bags, all-items top-k,
#      attention) next to the memcpy and sgemm limits measured in the same run;
#   2. two real parameter-server shards on loopback, driven by the operator
#      CLI (health, save, stats, graceful stop: each writes its final
#      checkpoint), and, meanwhile, the pull/push benchmark at 65,536 keys x
#      dim 64 over 2 shards of its own (in-process) next to a bare TCP round
#      trip of the same bytes.
# Extra arguments go to bench_kernels, e.g. --benchmark_filter=-Small.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
cmake --preset release
cmake --build --preset release -j "$(nproc)" --target bench_kernels bench_ps hybrec

echo "== kernels"
headline='BM_EmbeddingBagForward/dim:128/len:20/|memcpy_bench/EmbeddingBagForward'
headline+='|BM_AllItemsTopK/1024/100000/64/|sgemm_bench/AllItems_1024x100000x64'
headline+='|BM_AttentionForward/256/200/4/64/0|BM_AttentionEquivalentSgemm/200/4/64'
build/bin/bench_kernels --benchmark_min_time=0.2 --benchmark_filter="$headline" "$@"

echo "== parameter server: 2 shards on loopback"
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for i in 0 1; do
  build/bin/hybrec ps --port 0 --shard "$i/2" --checkpoint-dir "$work/ckpt" > "$work/shard$i.log" &
  pids+=($!)
done
addresses=""
for i in 0 1; do
  for _ in $(seq 100); do grep -q "serving on" "$work/shard$i.log" && break; sleep 0.1; done
  addresses+="${addresses:+,}$(grep -o '127.0.0.1:[0-9]*' "$work/shard$i.log")"
done
build/bin/hybrec ps-ctl --ps "$addresses" health
build/bin/bench_ps --benchmark_min_time=0.5 \
  --benchmark_filter='(BM_PsPull|BM_PsPush|BM_LoopbackTcp/(pull|push))/dim:64/keys:65536(/shards:2)?/process_time/real_time/threads:1$'
build/bin/hybrec ps-ctl --ps "$addresses" save 1
build/bin/hybrec ps-ctl --ps "$addresses" stats
kill -TERM "${pids[@]}"
wait "${pids[@]}"
cat "$work/shard0.log" "$work/shard1.log"
ls "$work/ckpt/v1" "$work/ckpt/latest"
