#!/usr/bin/env bash
# Set up (or reuse) the venv, then run the PyTorch peer with the given args:
#   benchmarks/peers/run.sh --config run.toml --data data.h5 --threads 2 --out runs/peer
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${HYBREC_PEERS_VENV:-$HOME/.cache/hybrec/peers-venv}"
HYBREC_PEERS_VENV="$VENV" "$HERE/setup.sh" >&2
exec "$VENV/bin/python" "$HERE/torch_hybrid.py" "$@"
