#!/usr/bin/env python3
"""Mean of `hybrec report` tables over several runs, before and after a change.

usage: demo_table_diff.py --before R1 R2 R3 --after R1 R2 R3

Each R is a file holding the table `hybrec report` prints (model, warm HR@10,
NDCG@10, cold HR@10, NDCG@10, samples/s, ranks). Prints, per model and
metric, the mean before, the mean after and the difference, and the largest
absolute difference of an HR@10 or NDCG@10 mean.
"""
import argparse
import statistics

COLUMNS = ["warm HR@10", "warm NDCG@10", "cold HR@10", "cold NDCG@10", "samples/s"]


def read(path):
    rows = {}
    for line in open(path):
        parts = line.split()
        if len(parts) == 7 and parts[0] != "model":
            rows[parts[0]] = [float(v) for v in parts[1:6]]
    return rows


def means(paths):
    tables = [read(p) for p in paths]
    return {m: [statistics.mean(t[m][i] for t in tables) for i in range(5)] for m in tables[0]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--before", nargs="+", required=True)
    p.add_argument("--after", nargs="+", required=True)
    args = p.parse_args()
    before, after = means(args.before), means(args.after)
    print("| model | metric | before (mean) | after (mean) | after - before |")
    print("|---|---|---|---|---|")
    worst = 0.0
    for model in before:
        for i, name in enumerate(COLUMNS):
            b, a = before[model][i], after[model][i]
            fmt = "{:.0f}" if name == "samples/s" else "{:.4f}"
            diff = ("{:+.0f}" if name == "samples/s" else "{:+.4f}").format(a - b)
            print(f"| {model} | {name} | {fmt.format(b)} | {fmt.format(a)} | {diff} |")
            if name != "samples/s":
                worst = max(worst, abs(a - b))
    print(f"\nlargest |after - before| of an HR@10 or NDCG@10 mean: {worst:.4f}")


if __name__ == "__main__":
    main()
