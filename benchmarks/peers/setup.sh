#!/usr/bin/env bash
# Create or update the virtual environment for the PyTorch peer benchmark.
# Idempotent: a second run only checks that the packages import and prints versions.
#
#   HYBREC_PEERS_VENV   where the venv lives (default ~/.cache/hybrec/peers-venv; keep it
#                       outside the repository: torch from PyPI is several GB)
#   HYBREC_PEERS_PYTHON interpreter used to create the venv (default python3)
#   HYBREC_PEERS_TORCH  pip requirement for torch (default "torch"); e.g. "torch==2.5.1"
set -euo pipefail

VENV="${HYBREC_PEERS_VENV:-$HOME/.cache/hybrec/peers-venv}"
PY="${HYBREC_PEERS_PYTHON:-python3}"
TORCH_REQ="${HYBREC_PEERS_TORCH:-torch}"

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "peers: creating venv at $VENV" >&2
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV"
fi

if ! "$VENV/bin/python" -c 'import torch, h5py, numpy' >/dev/null 2>&1; then
  echo "peers: installing $TORCH_REQ h5py numpy into $VENV (torch from PyPI pulls CUDA wheels, several GB)" >&2
  start=$(date +%s)
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip >&2
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$TORCH_REQ" h5py numpy >&2
  echo "peers: install took $(( $(date +%s) - start )) s" >&2
fi

"$VENV/bin/python" - <<'PY'
import sys, numpy, h5py, torch
print(f"python {sys.version.split()[0]}  torch {torch.__version__}  numpy {numpy.__version__}  "
      f"h5py {h5py.__version__}  cuda_build {torch.version.cuda}  threads {torch.get_num_threads()}")
PY
