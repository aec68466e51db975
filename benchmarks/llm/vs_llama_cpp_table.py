#!/usr/bin/env python3
"""The table of benchmarks/llm/vs_llama_cpp.sh from its JSON lines: per job and
thread count, the median over rounds of each engine's prompt and decode
tokens/s (each run's own figure is the median of its reps), the median of the
per-round hybrec/llama.cpp ratios, and for the explanation job the median wall
time; then the range of load averages seen.

    python3 benchmarks/llm/vs_llama_cpp_table.py OUT.jsonl
"""
import collections
import json
import statistics
import sys


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    by = collections.defaultdict(dict)  # (job, threads, round) -> engine -> run
    for r in rows:
        by[(r["job"], r["run"]["threads"], r["round"])][r["engine"]] = r["run"]
    keys = sorted({(job, t) for job, t, _ in by})
    print("| job | threads | metric | hybrec (median) | llama.cpp (median) | hybrec / llama.cpp "
          "(median of per-round ratios) | rounds |")
    print("|---|---|---|---|---|---|---|")
    for job, threads in keys:
        pairs = [v for (j, t, _), v in sorted(by.items()) if (j, t) == (job, threads)
                 and len(v) == 2]
        metrics = [("prompt tokens/s", "prompt_tokens_per_s"),
                   ("decode tokens/s", "decode_tokens_per_s")]
        if job == "explanation":
            metrics.append(("wall s, prefill + decode (ratio < 1: hybrec faster)", "wall_s"))
        for label, key in metrics:
            h = statistics.median(p["hybrec"][key] for p in pairs)
            l = statistics.median(p["llama.cpp"][key] for p in pairs)
            ratio = statistics.median(p["hybrec"][key] / p["llama.cpp"][key] for p in pairs)
            prompt = pairs[0]["hybrec"]["prompt_tokens"]
            decode = pairs[0]["hybrec"]["decode_tokens"]
            name = "%s (%d + %d tokens)" % (job, prompt, decode)
            fmt = "%.3f" if key == "wall_s" else "%.1f"
            print("| %s | %d | %s | %s | %s | %.2fx | %d |" % (
                name, threads, label, fmt % h, fmt % l, ratio, len(pairs)))
    loads = [r["load"] for r in rows]
    print("\nload average (1 min) during the runs: %.1f to %.1f, median %.1f (%d runs)" % (
        min(loads), max(loads), statistics.median(loads), len(loads)))


if __name__ == "__main__":
    main()
