#!/usr/bin/env bash
# Install what the text-encoder peers need into the peers venv (created by
# benchmarks/peers/setup.sh when missing): sentence-transformers (PyTorch
# reference + fixture generator), onnxruntime, and onnx + onnxscript for
# torch.onnx.export of the HF BertModel (torch >= 2.9 exports through dynamo,
# which needs onnxscript). Idempotent: a second run only checks imports and
# prints versions.
#
#   HYBREC_PEERS_VENV   the venv (default ~/.cache/hybrec/peers-venv)
#   HYBREC_TEXT_REQS    pip requirements to install (default below); pin here if needed
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${HYBREC_PEERS_VENV:-$HOME/.cache/hybrec/peers-venv}"
export HYBREC_PEERS_VENV="$VENV"
REQS="${HYBREC_TEXT_REQS:-sentence-transformers onnxruntime onnx onnxscript}"

if ! "$VENV/bin/python" -c 'import torch, numpy' >/dev/null 2>&1; then
  bash "$HERE/../peers/setup.sh" >&2
fi

if ! "$VENV/bin/python" -c 'import sentence_transformers, transformers, tokenizers, onnxruntime, onnx, onnxscript' \
     >/dev/null 2>&1; then
  echo "text peers: installing $REQS into $VENV" >&2
  start=$(date +%s)
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q $REQS >&2
  echo "text peers: install took $(( $(date +%s) - start )) s" >&2
fi

"$VENV/bin/python" - <<'PY'
import sys, torch, transformers, tokenizers, sentence_transformers, onnxruntime, onnx, onnxscript
print(f"python {sys.version.split()[0]}  torch {torch.__version__}  transformers {transformers.__version__}  "
      f"tokenizers {tokenizers.__version__}  sentence-transformers {sentence_transformers.__version__}  "
      f"onnxruntime {onnxruntime.__version__}  onnx {onnx.__version__}  onnxscript {onnxscript.__version__}  "
      f"ort_providers {','.join(onnxruntime.get_available_providers())}")
PY
