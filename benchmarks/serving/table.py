#!/usr/bin/env python3
"""Turns bench_serving's JSON (--benchmark_out=FILE) into the scoring table.

One line per catalogue size and batch: median queries/s of hybrec's exact
scoring and of FAISS IndexFlatIP, their ratio (hybrec / FAISS, > 1 = hybrec
faster), then per nprobe hybrec's IVF path and FAISS's IVF search with their
recall@10 against exact scoring, and FAISS's IVF search for the 100
candidates hybrec's path re-scores. Medians over the repetitions (the
individual runs, not Google Benchmark's aggregates, so that a table can
also be made from a run without them).

    build/cpu/bin/bench_serving --benchmark_filter='items:(100000|1000000)/' \
        --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true \
        --benchmark_out=serving.json && benchmarks/serving/table.py serving.json
"""
import collections
import json
import re
import statistics
import sys

CASE = re.compile(
    r"^BM_(?P<kind>HybrecExact|FaissFlat|HybrecIvf|FaissIvfCandidates|FaissIvf)/items:(?P<items>\d+)"
    r"/batch:(?P<batch>\d+)(?:/nprobe:(?P<nprobe>\d+))?/real_time$"
)


def main(path):
    with open(path) as f:
        runs = json.load(f)["benchmarks"]
    rate = collections.defaultdict(list)
    recall = {}
    for run in runs:
        if run.get("run_type") != "iteration":
            continue
        m = CASE.match(run["name"])
        if not m:
            continue
        key = (m["kind"], int(m["items"]), int(m["batch"]), int(m["nprobe"] or 0))
        rate[key].append(run["queries/s"])
        recall[key] = run["recall@10"]
    med = {key: statistics.median(values) for key, values in rate.items()}
    nprobes = sorted({key[3] for key in med if key[3]})
    head = ["items", "batch", "hybrec exact q/s", "FAISS flat q/s", "exact / flat"]
    for p in nprobes:
        head += [f"hybrec IVF q/s (nprobe {p})", f"FAISS IVF q/s (nprobe {p})",
                 f"FAISS IVF, 100 candidates, q/s (nprobe {p})",
                 f"recall@10 hybrec / FAISS (nprobe {p})"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for items, batch in sorted({(k[1], k[2]) for k in med}):
        exact = med.get(("HybrecExact", items, batch, 0))
        flat = med.get(("FaissFlat", items, batch, 0))
        row = [f"{items:,}", str(batch), f"{exact:,.0f}", f"{flat:,.0f}", f"{exact / flat:.2f}"]
        for p in nprobes:
            ours, theirs = ("HybrecIvf", items, batch, p), ("FaissIvf", items, batch, p)
            wide = ("FaissIvfCandidates", items, batch, p)
            row += [f"{med[ours]:,.0f}", f"{med[theirs]:,.0f}", f"{med[wide]:,.0f}",
                    f"{recall[ours]:.3f} / {recall[theirs]:.3f}"]
        print("| " + " | ".join(row) + " |")
    reps = sorted({len(v) for v in rate.values()})
    print(f"\n(medians of {'/'.join(map(str, reps))} runs each)")


if __name__ == "__main__":
    main(sys.argv[1])
