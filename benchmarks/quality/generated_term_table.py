#!/usr/bin/env python3
"""The table of benchmarks/quality/generated_term.sh from OUT/term-s<seed>/:

  generated_term_table.py OUT

Test HR@10 and NDCG@10 on warm and cold without the generated-text term
(lambda = 0: the hybrid's own ranking) and with it (lambda chosen on
validation NDCG@10), means over the seeds with each seed's value in
brackets; the lambda each seed chose with its validation curve; and the
decoder's cost per re-ranked case."""
import json
import pathlib
import statistics
import sys


def read(run):
    evals, term, wall = {}, None, {}
    for line in open(run / "metrics.jsonl"):
        e = json.loads(line)
        if e.get("event") == "eval" and e.get("split") == "test":
            evals[(e["model"], e["subset"])] = e
        elif e.get("event") == "generated_term":
            term = e
    if (run / "wall.json").exists():
        wall = json.load(open(run / "wall.json"))
    return evals, term, wall


def main():
    out = pathlib.Path(sys.argv[1])
    runs = sorted((p for p in out.glob("term-s*") if p.is_dir()), key=lambda p: int(p.name[6:]))
    data = [(r.name[5:], *read(r)) for r in runs]
    if not data:
        sys.exit(f"generated_term_table: no term-s* runs in {out}")
    print(f"ml-latest-small, launch/configs/movielens.toml, seeds {', '.join(d[0][1:] for d in data)}; "
          f"means (per seed in brackets)\n")
    print("| subset | users | metric | without the term | with the term | change |")
    print("|---|---|---|---|---|---|")
    for subset in ("warm", "cold"):
        users = "/".join(str(d[1][("without_generated_term", subset)]["users"]) for d in data)
        for metric in ("hr@10", "ndcg@10"):
            cols = []
            for model in ("without_generated_term", "with_generated_term"):
                vals = [d[1][(model, subset)][metric] for d in data]
                cols.append((statistics.mean(vals), vals))
            each = lambda vals: ", ".join(f"{v:.4f}" for v in vals)
            change = cols[1][0] - cols[0][0]
            print(f"| {subset} | {users} | {metric.upper()} | {cols[0][0]:.4f} ({each(cols[0][1])}) | "
                  f"{cols[1][0]:.4f} ({each(cols[1][1])}) | {change:+.4f} |")
    print("\n| seed | lambda chosen | validation NDCG@10 by lambda | cases re-ranked | s per case | "
          "prompt + title tokens per case | threads | eval wall s | load (1/5/15 min) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for seed, _, t, wall in data:
        curve = ", ".join(f"{lam:g}: {v:.4f}" for lam, v in t["validation_ndcg@10"])
        per = (t["prompt_tokens"] / t["cases"], t["title_tokens"] / t["cases"]) if t["cases"] else (0, 0)
        print(f"| {seed[1:]} | {t['lambda']:g} | {curve} | {t['cases']} | {t['s_per_case']:.2f} | "
              f"{per[0]:.0f} + {per[1]:.0f} | {t['threads']} | {wall.get('wall_s', 0):.0f} | "
              f"{wall.get('load', '-')} |")
    curves = [d[2].get("test_curve", []) for d in data]
    if all(curves):
        print("\nTest by lambda (a diagnostic: lambda is chosen on validation), means over the seeds:\n")
        print("| lambda | validation NDCG@10 | warm HR@10 | warm NDCG@10 | cold HR@10 | cold NDCG@10 |")
        print("|---|---|---|---|---|---|")
        for i, point in enumerate(curves[0]):
            mean = lambda key: statistics.mean(c[i][key] for c in curves)
            valid = statistics.mean(d[2]["validation_ndcg@10"][i][1] for d in data)
            print(f"| {point['lambda']:g} | {valid:.4f} | {mean('warm_hr@10'):.4f} | "
                  f"{mean('warm_ndcg@10'):.4f} | {mean('cold_hr@10'):.4f} | {mean('cold_ndcg@10'):.4f} |")
    t = data[0][2]
    print(f"\nN = {t['rerank_n']} candidates per case, {t['history_titles']} history titles, "
          f"max_users = {t['max_users']}, decoder {t['model_file']}")


if __name__ == "__main__":
    main()
