#!/usr/bin/env bash
# Every shipped config in launch/configs trains as given: its keys parse
# (an unknown or misspelt key stops a run), and a short run on a small
# synthetic dataset validates, selects and tests as the file says.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$HYBREC_BIN" data synth --out "$work/small.h5" --users 300 --items 200 --events-per-user 15 \
  > /dev/null
configs=("$root"/launch/configs/*.toml)
[ "${#configs[@]}" -ge 3 ] || fail "expected synth, movielens and products configs, found ${configs[*]}"
for config in "${configs[@]}"; do
  name=$(basename "$config" .toml)
  run=$work/$name
  "$HYBREC_BIN" train "$config" --data "$work/small.h5" --out "$run" --set train.epochs=2 \
    --set train.threads=1 > "$run.log" 2>&1 || { cat "$run.log"; fail "$name did not train"; }
  grep -q '"split":"valid"' "$run/metrics.jsonl" || fail "$name: no validation"
  grep '"split":"test"' "$run/metrics.jsonl" | grep -q '"subset":"cold_all"' ||
    fail "$name: no test cold_all evaluation"
  # The run's own config.toml records the file's model choices.
  for key in $(sed -n 's/^\(unseen_items\|patience\|eval_every\) *= *\(.*\)/\1=\2/p' "$config"); do
    grep -qx "${key%%=*} = ${key#*=}" "$run/config.toml" ||
      fail "$name: $key is not in the run's config.toml"
  done
  echo "   $name: trained, validated and tested"
done
echo "PASS"
