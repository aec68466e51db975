#!/usr/bin/env bash
# hybrec's Llama decoder against llama.cpp (llama-cpp-python) on the same GGUF file, the same
# fixed prompt ids and greedy decoding, 1 and 2 threads, in the same run: each round runs
# bench_decode and benchmarks/llm/llama_cpp_decode.py back to back for each thread count (the
# order alternating between rounds), then the explanation-sized job (a 100-token prompt and 20
# decoded tokens, 2 threads) the same way. On a shared machine only paired, interleaved runs
# compare: the table (vs_llama_cpp_table.py) gives medians over the rounds and the median of
# the per-round hybrec/llama.cpp ratios, with the load average seen at each round.
#
# Both engines run with OMP_WAIT_POLICY=passive (unless set): llama-cpp-python's llama.cpp is
# built with OpenMP, and with the runtime's default spinning its 2-thread runs on this busy
# 2-core machine fell to 0.3-0.5 decode tokens/s (hybrec's bench_decode sets passive itself).
#
#   benchmarks/llm/vs_llama_cpp.sh [OUT.jsonl]
#   ROUNDS (default 5), REPS per run (default 3), PROMPT (64), DECODE (32),
#   HYBREC_BUILD (build/cpu), HYBREC_PEERS_VENV (~/.cache/hybrec/peers-venv),
#   MODEL (models/SmolLM2-135M-Instruct.Q4_1.gguf).
# Needs bench_decode built (cmake --build --preset cpu --target bench_decode) and llama-cpp-python
# built native (benchmarks/peers/llama_cpp_setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

OUT="${1:-/tmp/vs_llama_cpp.jsonl}"
ROUNDS="${ROUNDS:-5}"
REPS="${REPS:-3}"
PROMPT="${PROMPT:-64}"
DECODE="${DECODE:-32}"
BENCH="${HYBREC_BUILD:-build/cpu}/bin/bench_decode"
PY="${HYBREC_PEERS_VENV:-$HOME/.cache/hybrec/peers-venv}/bin/python"
MODEL="${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}"

[[ -x "$BENCH" ]] || { echo "vs_llama_cpp: no $BENCH (build the bench_decode target)" >&2; exit 1; }
"$PY" -c 'import llama_cpp' 2>/dev/null ||
  { echo "vs_llama_cpp: llama_cpp does not import in $PY (benchmarks/peers/llama_cpp_setup.sh)" >&2; exit 1; }
[[ -f "$MODEL" ]] || { echo "vs_llama_cpp: no model at $MODEL (scripts/get-smollm2.sh)" >&2; exit 1; }

export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
: > "$OUT"
# One run; its JSON line gets the round, the job name, the engine and the 1-minute load average.
run() {
  local round=$1 job=$2 engine=$3 threads=$4 prompt=$5 decode=$6 line load
  load=$(cut -d' ' -f1 /proc/loadavg)
  if [[ $engine == hybrec ]]; then
    line=$("$BENCH" --model "$MODEL" --threads "$threads" --prompt "$prompt" --decode "$decode" \
      --reps "$REPS")
  else
    line=$("$PY" benchmarks/llm/llama_cpp_decode.py --model "$MODEL" --threads "$threads" \
      --prompt "$prompt" --decode "$decode" --reps "$REPS")
  fi
  echo "{\"round\": $round, \"job\": \"$job\", \"engine\": \"$engine\", \"load\": $load, \"run\": $line}" |
    tee -a "$OUT"
}

for round in $(seq 1 "$ROUNDS"); do
  if (( round % 2 )); then order=(hybrec llama.cpp); else order=(llama.cpp hybrec); fi
  for threads in 1 2; do
    for engine in "${order[@]}"; do run "$round" "decode" "$engine" "$threads" "$PROMPT" "$DECODE"; done
  done
  for engine in "${order[@]}"; do run "$round" "explanation" "$engine" 2 100 20; done
done
python3 benchmarks/llm/vs_llama_cpp_table.py "$OUT"
