#!/usr/bin/env bash
# Builds, on this (GPU-less) x86-64 machine, everything benchmarks/gpu/check.sh
# runs on a lent GPU machine, and gathers it with the shared libraries it
# needs into .gpu-bundle/payload.tar.gz (git-ignored; carry .gpu-bundle to the
# device: the device tool moves at most 64 MiB, and OpenBLAS alone is 36 MB).
#
# The GPU machine has CUDA, nvcc, CMake and PyTorch but none of the Debian
# packages (GoogleTest, Google Benchmark, OpenBLAS), so the binaries travel
# prebuilt: CUDA runtime linked statically, cuBLAS found there.
set -euo pipefail
cd "$(dirname "$0")/../.."
arch=${HYBREC_BUNDLE_ARCH:-90}   # H100/H200; 80 for A100
build=build/gpu-bundle
scripts/setup-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DHYBREC_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" ${HYBREC_BUNDLE_CMAKE_ARGS:-} >/dev/null
# The gpu tests, the kernel benchmarks, and hybrec itself (the training
# section of check.sh: in-process servers, so Thrift, HDF5 and MPI travel as
# libraries).
targets="$(cd "$build" && cmake --build . --target help | awk '/test_.*_gpu|bench_kernels_gpu/{print $2}') hybrec"
cmake --build "$build" -j "$(nproc)" --target $targets

staging=$build/staging
rm -rf "$staging" .gpu-bundle
mkdir -p "$staging/bin" "$staging/lib" .gpu-bundle
for t in $targets; do cp "$build/bin/$t" "$staging/bin/"; done
# Every non-system shared library the binaries load, except the CUDA driver
# and cuBLAS (the GPU machine has its own, matching its driver).
for bin in "$staging"/bin/*; do
  ldd "$bin" | awk '/=> \//{print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libcuda.so*|libcublas*) ;;
    *) cp -L "$lib" "$staging/lib/" ;;
  esac
done
strip --strip-unneeded "$staging"/bin/* "$staging"/lib/*
git describe --always --dirty > "$staging/COMMIT" 2>/dev/null || true
tar -C "$staging" -czf .gpu-bundle/payload.tar.gz .
du -sh .gpu-bundle
