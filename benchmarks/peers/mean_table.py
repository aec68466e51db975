#!/usr/bin/env python3
"""Mean (and min-max) over seeds of test HR@10 / NDCG@10, warm and cold, per
model, from OUT/<model>-s<seed>/metrics.jsonl (hybrec or the PyTorch peer)."""
import json
import pathlib
import statistics
import sys


def final_eval(path):
    found = {}
    for line in open(path):
        e = json.loads(line)
        if e.get("event") == "eval" and e.get("split") == "test" and e.get("source") is None:
            found[e["subset"]] = e
    return found


def main():
    out = pathlib.Path(sys.argv[1])
    print(f"{'model':<9} {'seeds':>5} {'warm HR@10':>17} {'warm NDCG@10':>13} "
          f"{'cold HR@10':>17} {'cold NDCG@10':>13}")
    for model in sys.argv[2:]:
        runs = sorted(out.glob(f"{model}-s*/metrics.jsonl"))
        evals = [final_eval(r) for r in runs]
        def col(subset, key):
            return [e[subset][key] for e in evals if subset in e]
        wh, wn, ch, cn = col("warm", "hr@10"), col("warm", "ndcg@10"), col("cold", "hr@10"), col("cold", "ndcg@10")
        span = lambda v: f"{statistics.mean(v):.4f} ({min(v):.3f}-{max(v):.3f})"
        print(f"{model:<9} {len(evals):>5} {span(wh):>17} {statistics.mean(wn):>13.4f} "
              f"{span(ch):>17} {statistics.mean(cn):>13.4f}")


if __name__ == "__main__":
    main()
