#!/usr/bin/env python3
"""Turns bench_ps's JSON (--benchmark_out=FILE) into the PS table.

One line per BM_PsPull / BM_PsPush case: median wall time per request
(with n client threads: wall time over all threads' requests, 1 / throughput),
rows/s, payload MB/s, and the fraction of BM_LoopbackTcp's MB/s for the same
round-trip shape (pull or push), dim, keys and client threads, measured in
the same run. Also the whole process's CPU time per request (servers, client
and peer threads included) and the loopback's CPU per round trip over it:
on a shared machine, where wall-clock rates move with other people's load,
the CPU ratio is the steadier measure of how much work the PS path adds.
Then the limits themselves and the row store's bytes per row.
Medians when the run had repetitions, else the single run.

    build/bin/bench_ps --benchmark_filter=-Small --benchmark_repetitions=3 \
        --benchmark_out=ps.json && benchmarks/ps/table.py ps.json
"""
import json
import re
import statistics
import sys

CASE = re.compile(
    r"^(?P<op>BM_PsPull|BM_PsPush|BM_LoopbackTcp)(?P<small>/Small)?"
    r"(?:/(?P<kind>pull|push))?/dim:(?P<dim>\d+)/keys:(?P<keys>\d+)"
    r"(?:/shards:(?P<shards>\d+))?.*?/threads:(?P<threads>\d+)$"
)
SCALE = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def load(path):
    with open(path) as f:
        data = json.load(f)
    runs = {}
    for b in data["benchmarks"]:
        if b.get("error_occurred"):
            continue
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        runs.setdefault(b["run_name"], []).append(b)
    # A median aggregate when there is one, else the median of the runs.
    out = {}
    for name, items in runs.items():
        agg = [b for b in items if b.get("run_type") == "aggregate"]
        if agg:
            out[name] = agg[0]
            continue
        pick = {}
        for key in ("real_time", "cpu_time", "bytes", "rows"):
            values = [b[key] for b in items if key in b]
            if values:
                pick[key] = statistics.median(values)
        pick["time_unit"] = items[0]["time_unit"]
        pick.update({k: v for k, v in items[0].items() if k not in pick})
        out[name] = pick
    return out


def main(path):
    runs = load(path)
    limits, cases, rows = {}, [], []
    for name, b in runs.items():
        if name.startswith("BM_RowStoreBytesPerRow"):
            rows.append((name, b))
            continue
        m = CASE.match(name)
        if not m:
            continue
        key = (m["dim"], m["keys"], m["threads"], bool(m["small"]))
        if m["op"] == "BM_LoopbackTcp":
            limits[(m["kind"],) + key] = b
        else:
            cases.append((m, key, b))

    print("| op | dim | keys | shards | threads | time/request | rows/s | MB/s | "
          "loopback MB/s | % of loopback | CPU/request | loopback CPU / PS CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    order = lambda c: (c[0]["op"], int(c[0]["dim"]), int(c[0]["keys"]),
                       int(c[0]["shards"]), int(c[0]["threads"]))
    for m, key, b in sorted(cases, key=order):
        kind = "pull" if m["op"] == "BM_PsPull" else "push"
        limit = limits.get((kind,) + key)
        seconds = b["real_time"] * SCALE[b["time_unit"]]
        cpu = b["cpu_time"] * SCALE[b["time_unit"]]
        mbs = b["bytes"] / 1e6
        lim = limit["bytes"] / 1e6 if limit else None
        lim_cpu = limit["cpu_time"] * SCALE[limit["time_unit"]] if limit else None
        print(f"| {m['op']}{'/Small' if m['small'] else ''} | {m['dim']} | {m['keys']} | "
              f"{m['shards']} | {m['threads']} | {seconds * 1e3:.2f} ms | "
              f"{b['rows'] / 1e6:.2f} M | {mbs:.0f} | "
              f"{f'{lim:.0f}' if lim else '-'} | {f'{100 * mbs / lim:.0f}%' if lim else '-'} | "
              f"{cpu * 1e3:.2f} ms | {f'{100 * lim_cpu / cpu:.0f}%' if lim else '-'} |")

    print()
    print("| limit | dim | keys | threads | time/round trip | MB/s | CPU/round trip |")
    print("|---|---|---|---|---|---|---|")
    for (kind, dim, keys, threads, small), b in sorted(
            limits.items(), key=lambda kv: (kv[0][0], int(kv[0][1]), int(kv[0][2]),
                                            int(kv[0][3]))):
        seconds = b["real_time"] * SCALE[b["time_unit"]]
        print(f"| BM_LoopbackTcp{'/Small' if small else ''}/{kind} | {dim} | {keys} | {threads} | "
              f"{seconds * 1e3:.2f} ms | {b['bytes'] / 1e6:.0f} | "
              f"{b['cpu_time'] * SCALE[b['time_unit']] * 1e3:.2f} ms |")

    if rows:
        print()
        print("| row store | rows | bytes/row | payload/row | ratio | RSS/row | RSS ratio |")
        print("|---|---|---|---|---|---|---|")
        for name, b in rows:
            print(f"| {name} | {b['rows']:.0f} | {b['bytes_per_row']:.1f} | "
                  f"{b['payload_per_row']:.0f} | {b['ratio']:.3f} | {b['rss_per_row']:.1f} | "
                  f"{b['rss_ratio']:.3f} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
