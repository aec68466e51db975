#!/usr/bin/env python3
"""Turns bench_kernels_gpu's JSON into the GPU check table.

Columns: op, shape, median time, achieved GB/s or TFLOP/s, fraction of the
device's nominal peak and of the limit measured in the same run
(BM_GpuMemcpy for bandwidth, BM_GpuSgemm for fp32 FLOP/s), and, when torch
is importable, torch's time for the same op and shape and the ratio
torch_time / hybrec_time (above 1: hybrec is faster).
"""
import json
import re
import statistics
import sys

# Nominal fp32 (non-tensor) peak and HBM bandwidth, from NVIDIA's data sheets.
NOMINAL = {
    "H200": (67e12, 4.8e12),
    "H100 80GB HBM3": (67e12, 3.35e12),  # SXM
    "H100 PCIe": (51e12, 2.0e12),
    "H100 NVL": (60e12, 3.9e12),
    "A100": (19.5e12, 2.0e12),
}


def nominal_peaks(device_name):
    for key, peaks in NOMINAL.items():
        if key in device_name:
            return peaks
    return (None, None)


def load(path):
    with open(path) as f:
        data = json.load(f)
    rows = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name", "median") != "median" or b.get("error_occurred"):
            continue
        name = b["run_name"].replace("/manual_time", "")
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
        rows[name] = {
            "seconds": b["real_time"] * scale,
            "bytes_per_second": b.get("bytes_per_second"),
            "flops": b.get("FLOPS"),
        }
    return data.get("context", {}), rows


def torch_timer():
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    def timed(fn, calls):
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(calls):
            fn()
        stop.record()
        stop.synchronize()
        return start.elapsed_time(stop) * 1e-3 / calls

    def median_seconds(fn, reps=20):
        # As bench_kernels_gpu's GpuTimer: back-to-back calls filling ~200 us
        # per timing, time per call.
        for _ in range(3):
            fn()
        calls = int(min(64, max(1, 200e-6 / max(timed(fn, 1), 1e-7))))
        return statistics.median(timed(fn, calls) for _ in range(reps))

    return torch, median_seconds


def torch_equivalent(name, torch, timeit):
    """Times torch's version of benchmark `name`, or returns None."""
    dev = "cuda"
    F = torch.nn.functional
    args = [int(a) for a in re.findall(r"/(\d+)", name)]
    op = name.split("/")[0]
    g = torch.Generator(device=dev).manual_seed(0)
    if op == "BM_GpuEmbeddingBagForward":
        dim, length = args[:2]
        rows, bags = 1_000_000, 4096
        weight = torch.randn(rows, dim, device=dev, generator=g)
        idx = torch.randint(0, rows, (bags * length,), device=dev, generator=g)
        offsets = torch.arange(0, bags * length, length, device=dev)
        return timeit(lambda: F.embedding_bag(idx, weight, offsets, mode="sum"))
    if op in ("BM_GpuAttentionForward", "BM_GpuAttentionBackward"):
        b, length, h, dh = args[:4]
        causal = bool(args[4]) if len(args) > 4 else False
        q, k, v = (torch.randn(b, h, length, dh, device=dev, generator=g, requires_grad=True)
                   for _ in range(3))
        if op == "BM_GpuAttentionForward":
            with torch.no_grad():
                return timeit(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        dout = torch.randn_like(out)
        return timeit(lambda: torch.autograd.grad(out, (q, k, v), dout, retain_graph=True))
    if op == "BM_GpuAllItemsTopK":
        users, items, d, k = args[:4]
        u = torch.randn(users, d, device=dev, generator=g)
        w = torch.randn(d, d, device=dev, generator=g)
        v = torch.randn(items, d, device=dev, generator=g)
        return timeit(lambda: torch.topk((u @ w) @ v.T, k, dim=1))
    if op in ("BM_GpuBilinearForward",):
        batch, d = args[:2]
        u = torch.randn(batch, d, device=dev, generator=g)
        w = torch.randn(d, d, device=dev, generator=g)
        v = torch.randn(batch, d, device=dev, generator=g)
        return timeit(lambda: ((u @ w) * v).sum(1))
    if op == "BM_GpuLinearForward":
        n, fin, fout = args[:3]
        x = torch.randn(n, fin, device=dev, generator=g)
        w = torch.randn(fout, fin, device=dev, generator=g)
        bias = torch.randn(fout, device=dev, generator=g)
        return timeit(lambda: F.linear(x, w, bias))
    if op == "BM_GpuLayerNormForward":
        rows, dim = args[:2]
        x = torch.randn(rows, dim, device=dev, generator=g)
        return timeit(lambda: F.layer_norm(x, (dim,)))
    if op == "BM_GpuGeluForward":
        x = torch.randn(args[0], device=dev, generator=g)
        return timeit(lambda: F.gelu(x))
    if op == "BM_GpuSoftmaxForward":
        n, c = args[:2]
        x = torch.randn(n, c, device=dev, generator=g)
        return timeit(lambda: torch.softmax(x, dim=1))
    if op == "BM_GpuSampledSoftmax":
        n, c = args[:2]
        x = torch.randn(n, c, device=dev, generator=g)
        target = torch.zeros(n, dtype=torch.long, device=dev)
        return timeit(lambda: F.cross_entropy(x, target))
    return None


def main():
    context, rows = load(sys.argv[1])
    device_name = ""
    try:
        with open(sys.argv[1].rsplit("/", 1)[0] + "/device.txt") as f:
            device_name = f.read().split(",")[0].strip()
    except OSError:
        pass
    peak_flops, peak_bw = nominal_peaks(device_name)
    memcpy = rows.get("BM_GpuMemcpy/512", {}).get("bytes_per_second")
    sgemm = rows.get("BM_GpuSgemm/4096", {}).get("flops")
    try:
        torch, timeit = torch_timer()
        torch_note = f"torch {torch.__version__}"
    except Exception as e:  # noqa: BLE001 - any import failure means "no torch"
        torch, timeit, torch_note = None, None, f"torch unavailable ({e})"

    print(f"Device: {device_name or '?'}; nominal fp32 {peak_flops and peak_flops / 1e12} TFLOP/s, "
          f"HBM {peak_bw and peak_bw / 1e12} TB/s; measured copy "
          f"{memcpy and memcpy / 1e9:.0f} GB/s, cuBLAS sgemm {sgemm and sgemm / 1e12:.1f} TFLOP/s; {torch_note}")
    print()
    print("| op | shape | time | achieved | % nominal peak | % measured limit | torch | torch/hybrec |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        op, _, shape = name.partition("/")
        t = r["seconds"]
        if r["bytes_per_second"]:
            achieved = f"{r['bytes_per_second'] / 1e9:.0f} GB/s"
            nominal = peak_bw and r["bytes_per_second"] / peak_bw
            measured = memcpy and r["bytes_per_second"] / memcpy
        elif r["flops"]:
            achieved = f"{r['flops'] / 1e12:.2f} TFLOP/s"
            nominal = peak_flops and r["flops"] / peak_flops
            measured = sgemm and r["flops"] / sgemm
        else:
            achieved, nominal, measured = "-", None, None
        torch_t = None
        if torch is not None:
            try:
                torch_t = torch_equivalent(name, torch, timeit)
            except Exception as e:  # noqa: BLE001 - report, keep the table going
                print(f"<!-- torch failed for {name}: {e} -->", file=sys.stderr)
        pct = lambda x: f"{100 * x:.0f}%" if x else "-"
        print(f"| {op} | {shape} | {t * 1e6:.1f} us | {achieved} | {pct(nominal)} | {pct(measured)} | "
              f"{f'{torch_t * 1e6:.1f} us' if torch_t else '-'} | "
              f"{f'{torch_t / t:.2f}' if torch_t else '-'} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
