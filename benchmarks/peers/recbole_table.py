#!/usr/bin/env python3
"""The table of recbole.sh: per dataset and model, means over seeds of HR@10 /
NDCG@10 by hybrec's rule, RecBole's own HR@10 / NDCG@10, epochs trained (and
whether early stopping ended every run), train seconds; then hybrid / best
RecBole. Reads OUT/<dataset>/<model>-s<seed>/result.json (recbole_peer.py)
and OUT/<dataset>/<hybrid|cf>-s<seed>/metrics.jsonl (hybrec train); writes
OUT/results.md and OUT/results.json and prints the table.

    recbole_table.py OUT --datasets D.. --models M.. --hybrec H.. [--epochs N]
"""
import argparse
import json
import pathlib
import statistics
import tomllib

RECBOLE_MODELS = {"SASRec", "BPR", "GRU4Rec", "LightGCN"}


def hybrec_result(run):
    evals, thr, early = {}, None, None
    for line in open(run / "metrics.jsonl"):
        e = json.loads(line)
        if e.get("event") == "eval" and e.get("split") == "test" and e.get("source") is None:
            evals[e["subset"]] = e
        elif e.get("event") == "throughput":
            thr = e
        elif e.get("event") == "early_stop":
            early = e
    cfg = tomllib.load(open(run / "config.toml", "rb")) if (run / "config.toml").exists() else {}
    warm = evals["warm"]
    # The shipped configs select the best checkpoint by validation NDCG@10
    # (train.patience > 0); epochs is then the maximum, not the count run.
    selected = cfg.get("train", {}).get("patience", 0) > 0
    return {"hybrec_hr@10": warm["hr@10"], "hybrec_ndcg@10": warm["ndcg@10"],
            "users": warm.get("users"), "recbole_hr@10": None, "recbole_ndcg@10": None,
            "epochs": cfg.get("train", {}).get("epochs"), "early_stopped": early is not None,
            "converged": None, "selected": selected,
            "train_seconds": thr["seconds"] if thr else None}


def mean(v):
    v = [x for x in v if x is not None]
    return statistics.mean(v) if v else None


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--datasets", nargs="*", default=[])
    ap.add_argument("--models", nargs="*", default=[])
    ap.add_argument("--hybrec", nargs="*", default=[])
    ap.add_argument("--epochs", type=int, default=None)
    a = ap.parse_args()
    out = pathlib.Path(a.out)
    rows, lines = [], []
    header = (f"| {'dataset':<16} | {'model':<13} | seeds | {'HR@10':>6} | {'NDCG@10':>7} | "
              f"{'RB HR@10':>8} | {'RB NDCG':>7} | {'epochs':>11} | {'stopped early':>13} | "
              f"{'train s':>8} | {'s/epoch':>7} |")
    lines += ["HR@10 / NDCG@10: hybrec's rule (all items, train+valid excluded, target kept, "
              "ties at expected rank); RB: RecBole's own evaluator on its best checkpoint.", "",
              header, "|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|"]
    summary = {}
    for ds in a.datasets:
        per_model = {}
        for model in a.models + a.hybrec:
            runs = sorted((out / ds).glob(f"{model}-s*"))
            res = []
            for r in runs:
                if not r.is_dir():
                    continue
                if model in a.hybrec and (r / "metrics.jsonl").exists():
                    res.append(hybrec_result(r))
                elif (r / "result.json").exists():
                    res.append(json.load(open(r / "result.json")))
            if not res:
                continue
            m = {k: mean([x.get(k) for x in res]) for k in
                 ("hybrec_hr@10", "hybrec_ndcg@10", "recbole_hr@10", "recbole_ndcg@10",
                  "train_seconds")}
            eps = [x.get("epochs") for x in res]
            m["epochs"] = eps
            m["seeds"] = len(res)
            m["early_stopped"] = [x.get("early_stopped") for x in res]
            m["converged"] = (all(x.get("converged") for x in res)
                              if model in RECBOLE_MODELS else None)
            m["best_epoch"] = [x.get("best_epoch") for x in res]
            spe = [x["train_seconds"] / x["epochs"] for x in res
                   if x.get("epochs") and x.get("train_seconds") is not None]
            m["seconds_per_epoch"] = mean(spe)
            per_model[model] = m
            name = model if model in RECBOLE_MODELS or model == "Pop" else f"hybrec {model}"
            ep = ",".join(str(e) for e in eps) if len(set(eps)) > 1 else str(eps[0])
            if model in RECBOLE_MODELS:
                fired = sum(bool(x) for x in m["early_stopped"])
                stopped = f"{fired}/{len(res)}" + ("" if m["converged"] else " NOT CONV")
            else:
                selected = all(x.get("selected") for x in res)
                stopped = ("best on valid" if selected else "fixed epochs") if model in a.hybrec else "-"
            lines.append(f"| {ds:<16} | {name:<13} | {len(res):>5} | {fmt(m['hybrec_hr@10'], '.4f'):>6} | "
                         f"{fmt(m['hybrec_ndcg@10'], '.4f'):>7} | {fmt(m['recbole_hr@10'], '.4f'):>8} | "
                         f"{fmt(m['recbole_ndcg@10'], '.4f'):>7} | {ep:>11} | {stopped:>13} | "
                         f"{fmt(m['train_seconds'], '.1f'):>8} | {fmt(m['seconds_per_epoch'], '.2f'):>7} |")
            rows.append({"dataset": ds, "model": model, **m})
        summary[ds] = per_model
    lines.append("")
    for ds, per_model in summary.items():
        peers = {k: v for k, v in per_model.items() if k in RECBOLE_MODELS}
        if "hybrid" not in per_model or not peers:
            continue
        best = max(peers, key=lambda k: peers[k]["hybrec_ndcg@10"])
        b, h = peers[best], per_model["hybrid"]
        unconv = [k for k, v in peers.items() if not v["converged"]]
        missing = sorted(RECBOLE_MODELS - set(peers))
        note = ("" if not unconv else
                f"  not converged ({', '.join(unconv)} stopped at max epochs or the time limit; "
                "ratio not a result)")
        if missing:
            note += f"  [among {', '.join(sorted(peers))} only: {', '.join(missing)} not run]"
        lines.append(f"{ds}: hybrid / best RecBole ({best}, by NDCG@10): "
                     f"HR@10 {h['hybrec_hr@10'] / b['hybrec_hr@10']:.3f}, "
                     f"NDCG@10 {h['hybrec_ndcg@10'] / b['hybrec_ndcg@10']:.3f}{note}")
        for r in rows:
            if r["dataset"] == ds and r["model"] == "hybrid":
                r["ratio_vs_best_recbole"] = {
                    "best": best, "hr@10": h["hybrec_hr@10"] / b["hybrec_hr@10"],
                    "ndcg@10": h["hybrec_ndcg@10"] / b["hybrec_ndcg@10"],
                    "converged": not unconv, "not_converged": unconv, "not_run": missing}
    text = "\n".join(lines)
    print(text)
    (out / "results.md").write_text("# RecBole peer (benchmarks/peers/recbole.sh)\n\n" + text + "\n")
    json.dump(rows, open(out / "results.json", "w"), indent=1)


if __name__ == "__main__":
    main()
