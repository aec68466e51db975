#!/usr/bin/env bash
# The model, text, nn and data rooms build in a configuration without the
# parameter server (-DHYBREC_BUILD_PS=OFF, CPU backend): a fresh configure in
# a temporary directory that never looks for Thrift or MPI (no such entry in
# its CMake cache) and builds those libraries. Usage: no_ps_build_test.sh SOURCE_DIR
set -euo pipefail
src=$1
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHYBREC_BUILD_PS=OFF -DHYBREC_CUDA=OFF \
  -DHYBREC_BUILD_TESTS=OFF -DHYBREC_BUILD_BENCHMARKS=OFF > "$build/configure.log"
if grep -Eiq '^(THRIFT|MPI)[A-Z_]*(:|=)' "$build/CMakeCache.txt"; then
  echo "FAIL: a HYBREC_BUILD_PS=OFF configure looked for Thrift or MPI:" >&2
  grep -Ei '^(THRIFT|MPI)[A-Z_]*(:|=)' "$build/CMakeCache.txt" | head >&2
  exit 1
fi
cmake --build "$build" -j "$(nproc)" --target hybrec_nn hybrec_text hybrec_model hybrec_data \
  > "$build/build.log" || { tail -40 "$build/build.log" >&2; exit 1; }
for lib in nn text model data; do
  [ -f "$build/lib/libhybrec_$lib.a" ] || { echo "FAIL: libhybrec_$lib.a was not built" >&2; exit 1; }
done
echo "model, text, nn and data built with HYBREC_BUILD_PS=OFF"
