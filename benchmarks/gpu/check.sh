#!/usr/bin/env bash
# The GPU check, run on a lent GPU machine from the repository root after
# benchmarks/gpu/bundle.sh has built .gpu-bundle/ on the build machine:
#   1. the gpu-labelled tests (CUDA vs the CPU backend),
#   2. the GPU kernel benchmarks with the device limits measured in the same
#      run (device-to-device copy, cuBLAS sgemm),
#   3. one table: op, shape, time, GB/s or TFLOP/s, fraction of peak and the
#      ratio to the PyTorch equivalent when torch is importable,
#   4. training (benchmarks/gpu/train.sh): samples/s and test HR@10 of
#      `hybrec train --device cuda` on the synthetic default and on a 1M-user,
#      200k-item shape, the row cache off and on (with its hit rates),
#      against the PyTorch peer on the same GPU and one CPU rank of hybrec.
# Writes tests.log, bench.json, table.md and train.md under $OUT (or
# ./gpu-check-out). Budget: parts 1-3 took 113 s on an H200; part 4 is
# capped at 330 s.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-gpu-check-out}
mkdir -p "$out"
[ -f .gpu-bundle/payload.tar.gz ] || {
  echo "check.sh: no .gpu-bundle/payload.tar.gz: run benchmarks/gpu/bundle.sh first and carry .gpu-bundle" >&2
  exit 2; }
bundle=$(mktemp -d)  # unpacked binaries and libraries
tar -C "$bundle" -xzf .gpu-bundle/payload.tar.gz

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader \
  | tee "$out/device.txt"
# cuBLAS comes from the GPU machine: the toolkit's, else PyTorch's wheel.
cublas_dir=$(dirname "$(ls /usr/local/cuda/lib64/libcublas.so.13 /usr/local/cuda*/lib64/libcublas.so.13 \
  2>/dev/null | head -1)" 2>/dev/null)
if [ -z "$cublas_dir" ] || [ "$cublas_dir" = . ]; then
  cublas_dir=$(python3 - <<'PY' 2>/dev/null
import glob, os, site
for d in site.getsitepackages():
    hits = glob.glob(os.path.join(d, "nvidia", "**", "libcublas.so.13"), recursive=True)
    if hits:
        print(os.path.dirname(hits[0])); break
PY
)
fi
export LD_LIBRARY_PATH="$bundle/lib:${cublas_dir}:${LD_LIBRARY_PATH:-}"
echo "commit $(cat $bundle/COMMIT 2>/dev/null), cuBLAS from ${cublas_dir:-?}"

status=0
: > "$out/tests.log"
for t in "$bundle"/bin/test_*_gpu; do
  if timeout 120 "$t" --gtest_brief=1 >> "$out/tests.log" 2>&1; then
    echo "PASS $(basename "$t")"
  else
    echo "FAIL $(basename "$t") (rc=$?)"; status=1
  fi
done
grep -E '^\[  (FAILED|SKIPPED) |Failure|error' "$out/tests.log" | head -40

timeout 300 "$bundle/bin/bench_kernels_gpu" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true --benchmark_min_time=0.05 \
  --benchmark_out="$out/bench.json" --benchmark_out_format=json > "$out/bench.txt" 2>&1 || {
  echo "bench_kernels_gpu failed (rc=$?):"; tail -20 "$out/bench.txt"; status=1; }

if [ -s "$out/bench.json" ]; then
  timeout 150 python3 benchmarks/gpu/table.py "$out/bench.json" | tee "$out/table.md"
fi
HYBREC="$bundle/bin/hybrec" OUT="$out" timeout 330 benchmarks/gpu/train.sh || {
  echo "train.sh failed (rc=$?)"; status=1; }
exit $status
