#!/usr/bin/env bash
# The README's main command. Until the trainer lands, hybrec's main job is its
# kernels library: build it and run the CPU kernel benchmarks at the
# realistic shapes, next to the memory-bandwidth and sgemm limits.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
cmake --preset release
cmake --build --preset release -j "$(nproc)" --target bench_kernels
build/bin/bench_kernels --benchmark_min_time=0.2 "$@"
