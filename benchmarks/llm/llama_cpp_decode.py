#!/usr/bin/env python3
"""llama.cpp's side of benchmarks/llm/vs_llama_cpp.sh: the job bench_decode
times, through llama-cpp-python (benchmarks/peers/llama_cpp_setup.sh, native
build), on the same model file:

    ~/.cache/hybrec/peers-venv/bin/python benchmarks/llm/llama_cpp_decode.py \
        [--model FILE] [--prompt 64] [--decode 32] [--threads 1] [--reps 3]

One warm-up run, then `reps` runs of a prefill of `prompt` fixed token ids
(1000, 1001, ...; one batch) and `decode` greedy steps (numpy argmax of the
logits, fed back one token at a time); prints one JSON line with the same
fields as bench_decode: median prompt tokens/s, decode tokens/s, wall time.
n_threads and n_threads_batch are both --threads; flash attention off and an
F16 KV cache, llama-cpp-python's defaults. The Python around each step
(ctypes call, numpy argmax) is timed too, as bench_decode times its argmax.
Run it with OMP_WAIT_POLICY=passive on a shared machine (vs_llama_cpp.sh
does): this llama.cpp is built with OpenMP.
"""
import argparse
import json
import os
import statistics
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "..", "models", "SmolLM2-135M-Instruct.Q4_1.gguf")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=MODEL)
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--decode", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()

    import llama_cpp
    llm = llama_cpp.Llama(model_path=a.model, n_ctx=512, n_batch=512, n_threads=a.threads,
                          n_threads_batch=a.threads, flash_attn=False, verbose=False)
    vocab = llm.n_vocab()
    prompt = [1000 + i for i in range(a.prompt)]

    def logits():
        return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(vocab,))

    prompt_tps, decode_tps, wall = [], [], []
    for rep in range(a.reps + 1):
        llm.reset()
        start = time.perf_counter()
        llm.eval(prompt)
        current = logits()
        prefill_s = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(a.decode):
            llm.eval([int(np.argmax(current))])
            current = logits()
        decode_s = time.perf_counter() - start
        if rep == 0:
            continue  # warm-up
        prompt_tps.append(a.prompt / prefill_s)
        decode_tps.append(a.decode / decode_s)
        wall.append(prefill_s + decode_s)
    print(json.dumps({
        "engine": "llama.cpp", "llama_cpp_python": llama_cpp.__version__,
        "model": os.path.basename(a.model), "threads": a.threads, "prompt_tokens": a.prompt,
        "decode_tokens": a.decode,
        "prompt_tokens_per_s": round(statistics.median(prompt_tps), 1),
        "decode_tokens_per_s": round(statistics.median(decode_tps), 1),
        "wall_s": round(statistics.median(wall), 4), "reps": a.reps}), flush=True)


if __name__ == "__main__":
    main()
