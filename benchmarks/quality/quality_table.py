#!/usr/bin/env python3
"""The tables of benchmarks/quality/run.sh from OUT/<dataset>/<model>-s<seed>/:

  quality_table.py OUT DATASET...

Per dataset: test HR@10 and NDCG@10 on warm, cold and cold_all, means over
the seeds present (min-max of HR@10 in brackets) for each model, baseline
and boosted re-ranking; the hybrid's ratio to the better of CF-only and
text-only on each subset (the issue's target is >= 1.05 on every one); the
beyond-accuracy metrics of the warm lists (every item ranked, what a user
is shown); and training time per run."""
import json
import pathlib
import re
import statistics
import sys

SUBSETS = ("warm", "cold", "cold_all")
LIST_METRICS = (("coverage@10", "coverage@10", "{:.3f}"), ("gini@10", "Gini@10", "{:.3f}"),
                ("pop_pct@10", "pop. pct@10", "{:.3f}"), ("new_share@10", "new share@10", "{:.3f}"),
                ("ild@10", "ILD@10", "{:.3f}"), ("novelty@10", "novelty@10", "{:.2f}"))
NAMES = {"hybrid": "hybrid", "cf": "CF-only", "text": "text-only",
         "popularity": "popularity (baseline)", "random": "random (baseline)"}


def final_test(path):
    """The last test evaluation of each subset in a metrics.jsonl."""
    found = {}
    for line in open(path):
        e = json.loads(line)
        if e.get("event") == "eval" and e.get("split") == "test":
            found[e["subset"]] = e
    return found


def train_seconds(run):
    for line in open(run / "metrics.jsonl"):
        e = json.loads(line)
        if e.get("event") == "throughput":
            return e["seconds"]
    return None


def models_of(dataset_dir):
    names = {}
    for d in sorted(dataset_dir.iterdir()):
        m = re.fullmatch(r"(.+)-s(\d+)", d.name)
        if m and (d / "metrics.jsonl").exists():
            names.setdefault(m.group(1), []).append(d)
    order = ["hybrid", "cf", "text"]
    for variant in ("hybrid-neighbors", "hybrid-boost"):
        order += sorted((n for n in names if n.startswith(variant)),
                        key=lambda n, v=variant: float(n[len(v):]))
    order += ["popularity", "random"]
    return [(n, names[n]) for n in order if n in names]


def label(name):
    if name.startswith("hybrid-boost"):
        return f"hybrid, new_item_boost {name[len('hybrid-boost'):]}"
    if name.startswith("hybrid-neighbors"):
        return f"hybrid, unseen_item_neighbors {name[len('hybrid-neighbors'):]}"
    return NAMES.get(name, name)


def mean(values):
    return statistics.mean(values) if values else float("nan")


def dataset_tables(out, ds):
    d = out / ds
    setup = json.loads((d / "setup.json").read_text()) if (d / "setup.json").exists() else {}
    models = models_of(d)
    evals = {n: [final_test(r / "metrics.jsonl") for r in runs] for n, runs in models}
    seeds = max((len(runs) for n, runs in models if n == "hybrid"), default=0)
    lines = [f"### {ds}", "",
             f"Config `{setup.get('config', '?')}`, text vectors "
             f"{setup.get('text', 'hashing')}; means of {seeds} seeds (baselines: one run).", "",
             "| model | warm HR@10 | warm NDCG@10 | cold HR@10 | cold NDCG@10 | cold_all HR@10 "
             "| cold_all NDCG@10 |", "|---|---|---|---|---|---|---|"]
    means = {}
    for name, _ in models:
        cells = []
        for s in SUBSETS:
            hr = [e[s]["hr@10"] for e in evals[name] if s in e]
            nd = [e[s]["ndcg@10"] for e in evals[name] if s in e]
            means[(name, s)] = mean(hr)
            span = f" ({min(hr):.4f}-{max(hr):.4f})" if len(hr) > 1 else ""
            cells += [f"{mean(hr):.4f}{span}", f"{mean(nd):.4f}"]
        lines.append(f"| {label(name)} | " + " | ".join(cells) + " |")
    lines += ["", "The hybrid against the better of CF-only and text-only (target >= 1.05 on each):", "",
              "| model | warm | cold | cold_all |", "|---|---|---|---|"]
    for name, _ in models:
        if not name.startswith("hybrid"):
            continue
        ratios = []
        for s in SUBSETS:
            best = max(means.get(("cf", s), 0.0), means.get(("text", s), 0.0))
            ratios.append(f"{means[(name, s)] / best:.2f}x" if best > 0 else "-")
        lines.append(f"| {label(name)} | " + " | ".join(ratios) + " |")
    lines += ["", "Beyond accuracy, the warm test lists (every item ranked; means over seeds):", "",
              "| model | " + " | ".join(h for _, h, _ in LIST_METRICS) + " |",
              "|---|" + "---|" * len(LIST_METRICS)]
    for name, _ in models:
        cells = []
        for key, _, fmt in LIST_METRICS:
            v = [e["warm"][key] for e in evals[name] if "warm" in e and key in e["warm"]]
            cells.append(fmt.format(mean(v)) if v and mean(v) >= 0 else "-")
        lines.append(f"| {label(name)} | " + " | ".join(cells) + " |")
    times = []
    for name, runs in models:
        if name in ("hybrid", "cf", "text"):
            t = [s for s in (train_seconds(r) for r in runs) if s is not None]
            if t:
                times.append(f"{label(name)} {statistics.median(t):.0f} s")
    lines += ["", "Training time per run (median over seeds, one thread): " + ", ".join(times) + ".", ""]
    return lines


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out = pathlib.Path(sys.argv[1])
    for ds in sys.argv[2:]:
        print("\n".join(dataset_tables(out, ds)))


if __name__ == "__main__":
    main()
