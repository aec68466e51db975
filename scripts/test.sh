#!/usr/bin/env bash
# The README's test command: install packages, configure (CUDA compiled
# whenever nvcc is found), build, and run every test except the `gpu` label.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
cmake --preset release
cmake --build --preset release -j "$(nproc)"
ctest --preset release --output-on-failure -j "$(nproc)"
