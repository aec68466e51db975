#!/usr/bin/env python3
"""The medians of benchmarks/serving/run.sh's load runs, as a markdown table.

run.sh writes one bench_serving_load output per load and repetition:
OUT/items-N/load-INDEX-PROTOCOL-LOAD-rR.txt (LOAD = c1, c4, c16, c4b16 or
open). For each catalogue size, index, protocol and load, this prints the
median over the repetitions of answers/s and of each latency percentile
(each taken separately), the failed requests summed, and the repetitions.

    benchmarks/serving/load_table.py /tmp/hybrec-serving-bench
"""
import collections
import pathlib
import re
import statistics
import sys

NAME = re.compile(r"^load-(?P<index>[a-z-]+?)-(?P<protocol>http|thrift)-(?P<load>c1|c4|c16|c4b16|open)-r\d+\.txt$")
SUMMARY = re.compile(r"answers (?P<answers>\d+)\s+failed (?P<failed>\d+)\s+qps (?P<qps>[\d.]+)")
RATE = re.compile(r"rate (?P<rate>\S+)")
LATENCY = re.compile(r"p50 (?P<p50>[\d.]+)\s+p90 (?P<p90>[\d.]+)\s+p99 (?P<p99>[\d.]+)\s+max (?P<max>[\d.]+)")
LOADS = {
    "c1": "1 client, closed loop",
    "c4": "4 clients, closed loop",
    "c16": "16 clients, closed loop",
    "c4b16": "4 clients, batches of 16",
    "open": "8 clients, open loop at {rate}/s",
}


def parse(path):
    text = path.read_text()
    summary, latency, rate = SUMMARY.search(text), LATENCY.search(text), RATE.search(text)
    if not summary or not latency:
        sys.exit(f"load_table.py: {path}: no bench_serving_load summary in it")
    row = {k: float(v) for k, v in {**summary.groupdict(), **latency.groupdict()}.items()}
    row["rate"] = rate.group("rate") if rate else "max"
    return row


def main(out):
    runs = collections.defaultdict(list)
    for size_dir in sorted(pathlib.Path(out).glob("items-*")):
        items = int(size_dir.name.split("-")[1])
        for path in size_dir.iterdir():
            m = NAME.match(path.name)
            if m:
                runs[(items, m["index"], m["protocol"], m["load"])].append(parse(path))
    if not runs:
        sys.exit(f"load_table.py: no load-*.txt under {out}/items-*")
    print("| items | index | protocol | load | answers/s | p50 ms | p90 ms | p99 ms | max ms | failed | runs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    order = list(LOADS)
    for key in sorted(runs, key=lambda k: (k[0], k[1], k[2], order.index(k[3]))):
        items, index, protocol, load = key
        rows = runs[key]
        med = {f: statistics.median(r[f] for r in rows) for f in ("qps", "p50", "p90", "p99", "max")}
        rate = rows[0]["rate"].split(".")[0]
        print(f"| {items:,} | {index} | {protocol} | {LOADS[load].format(rate=rate)} | {med['qps']:,.0f} | "
              f"{med['p50']:.1f} | {med['p90']:.1f} | {med['p99']:.1f} | {med['max']:.1f} | "
              f"{int(sum(r['failed'] for r in rows))} | {len(rows)} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: load_table.py OUT_DIR")
    main(sys.argv[1])
