#!/usr/bin/env python3
"""Mean of `hybrec report` tables over several runs, before and after a change.

usage: demo_table_diff.py --before R1 R2 R3 --after R1 R2 R3

Each R is a file holding what `hybrec report` prints; its first table is
read (model, warm, cold and cold_all HR@10 and NDCG@10, samples/s, ranks; a
table from before cold_all was reported has only warm and cold). Prints, per
model and metric, the mean before, the mean after and the difference, and
the largest absolute difference of an HR@10 or NDCG@10 mean. A metric shown
as "-" (a baseline's samples/s), or a model missing from some table, is left
out.
"""
import argparse
import statistics

COLUMNS = ["warm HR@10", "warm NDCG@10", "cold HR@10", "cold NDCG@10",
           "cold_all HR@10", "cold_all NDCG@10", "samples/s"]
OLD_COLUMNS = COLUMNS[:4] + ["samples/s"]  # tables from before cold_all


def read(path):
    """{model: {column: value}} from the first table in the file."""
    rows = {}
    in_table = False
    for line in open(path):
        parts = line.split()
        if not parts:
            if in_table:
                break  # the blank line after the first table
            continue
        if parts[0] == "model":
            in_table = True
            continue
        if not in_table:
            continue
        columns = {9: COLUMNS, 7: OLD_COLUMNS}.get(len(parts))
        if columns:
            rows[parts[0]] = {c: float(v) for c, v in zip(columns, parts[1:]) if v != "-"}
    return rows


def means(paths):
    tables = [read(p) for p in paths]
    out = {}
    for model in tables[0]:
        if not all(model in t for t in tables):
            continue
        out[model] = {c: statistics.mean(t[model][c] for t in tables)
                      for c in COLUMNS if all(c in t[model] for t in tables)}
    return out


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
        for name in COLUMNS:
            if model not in after or name not in before[model] or name not in after[model]:
                continue
            b, a = before[model][name], after[model][name]
            fmt = "{:.0f}" if name == "samples/s" else "{:.4f}"
            diff = ("{:+.0f}" if name == "samples/s" else "{:+.4f}").format(a - b)
            print(f"| {model} | {name} | {fmt.format(b)} | {fmt.format(a)} | {diff} |")
            if name != "samples/s":
                worst = max(worst, abs(a - b))
    print(f"\nlargest |after - before| of an HR@10 or NDCG@10 mean: {worst:.4f}")


if __name__ == "__main__":
    main()
