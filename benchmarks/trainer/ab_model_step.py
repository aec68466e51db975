#!/usr/bin/env python3
"""A/B of bench_model_step between two builds, interleaved on one machine.

usage: ab_model_step.py BENCH_A BENCH_B [--rounds N] [--filter REGEX]

Runs A, B, A, B, ... (N rounds, default 5), each run one repetition of every
benchmark matching REGEX, and prints per benchmark the median real time of A
and of B, the median of the per-round ratios B/A, and the ratio of the
fastest runs (the least disturbed by other load). Ratios taken round by
round hold when a shared machine's speed drifts between rounds.
"""
import argparse
import json
import statistics
import subprocess


def run(binary, regex):
    out = subprocess.run([binary, "--benchmark_format=json", "--benchmark_filter=" + regex,
                          "--benchmark_min_time=0.5"],
                         check=True, capture_output=True, text=True).stdout
    return {b["name"]: b["real_time"] for b in json.loads(out)["benchmarks"]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--filter", default=".")
    args = p.parse_args()
    times_a, times_b = {}, {}
    for _ in range(args.rounds):
        for binary, times in ((args.a, times_a), (args.b, times_b)):
            for name, t in run(binary, args.filter).items():
                times.setdefault(name, []).append(t)
    print(f"{'benchmark':48} {'A median':>10} {'B median':>10} {'B/A median':>11} "
          f"{'B/A of mins':>12}")
    for name in times_a:
        ratios = [b / a for a, b in zip(times_a[name], times_b.get(name, []))]
        print(f"{name:48} {statistics.median(times_a[name]):10.1f} "
              f"{statistics.median(times_b[name]):10.1f} {statistics.median(ratios):11.3f} "
              f"{min(times_b[name]) / min(times_a[name]):12.3f}")


if __name__ == "__main__":
    main()
