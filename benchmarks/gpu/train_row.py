#!/usr/bin/env python3
"""One row of benchmarks/gpu/train.sh's table from a run's metrics.jsonl,
hybrec's or the PyTorch peer's (the same event names):

    train_row.py METRICS.jsonl
    -> "samples/s test_HR@10 hit_user hit_item device_share breakdown"

with "-" for what the run did not log (the peer has no row cache or step
breakdown; a throughput-only run has no test HR; only CUDA runs have a
device share). device_share is the last train event's GPU time over its
host step time (an upper bound of how busy the GPU was); breakdown is its
ms per step, pull/batch/to_device/fwd+bwd/all-reduce/optimizer/push/cache
sync/total."""
import json
import sys

PARTS = ("pull", "batch", "to_device", "forward_backward", "allreduce", "optimizer", "push",
         "cache_sync", "total")


def main(path):
    sps, hr, hit_user, hit_item, share, parts = None, "-", "-", "-", "-", "-"
    with open(path) as f:
        for line in f:
            e = json.loads(line)
            kind = e.get("event")
            if kind == "throughput":
                sps = e["samples_per_s"]
            elif kind == "train":
                if "cache_hit_rate_item" in e:
                    hit_user = f'{e["cache_hit_rate_user"]:.2f}'
                    hit_item = f'{e["cache_hit_rate_item"]:.2f}'
                if "device_share" in e:
                    share = f'{e["device_share"]:.2f}'
                t = e.get("step_ms")
                if t:
                    parts = "/".join(f"{t[k]:.2f}" for k in PARTS)
            elif kind == "eval" and e.get("split") == "test" and e.get("subset") == "warm":
                hr = f'{e["hr@10"]:.4f}'  # the last one: the selected model's
    print(f"{sps:.0f} {hr} {hit_user} {hit_item} {share} {parts}" if sps else "failed - - - - -")


if __name__ == "__main__":
    main(sys.argv[1])
