#!/usr/bin/env bash
# The README's main command. Until the trainer lands, hybrec's main job is its
# kernels library: build it and run the headline CPU kernel benchmarks
# (embedding bags, all-items top-k, attention) next to the memcpy and sgemm
# limits measured in the same run. Extra arguments go to bench_kernels, e.g.
# --benchmark_filter=-Small for every benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
cmake --preset release
cmake --build --preset release -j "$(nproc)" --target bench_kernels
headline='BM_EmbeddingBagForward/dim:128/len:20/|memcpy_bench/EmbeddingBagForward'
headline+='|BM_AllItemsTopK/1024/100000/64/|sgemm_bench/AllItems_1024x100000x64'
headline+='|BM_AttentionForward/256/200/4/64/0|BM_AttentionEquivalentSgemm/200/4/64'
build/bin/bench_kernels --benchmark_min_time=0.2 --benchmark_filter="$headline" "$@"
