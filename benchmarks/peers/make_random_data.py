#!/usr/bin/env python3
"""Write a random dataset in hybrec's HDF5 layout (schema version 1), with some
learnable structure, for developing and timing the PyTorch peer before (or
besides) `hybrec data synth`.

Items fall into clusters; each user prefers one cluster; an item's text vector
is its cluster centroid plus noise (L2-normalised). Events on cold items get
split 3; of each user's other events the last is test (2), the one before it
valid (1), the rest train (0).

    make_random_data.py OUT.h5 [--users 200] [--items 100] [--events 25] [--text-dim 32]
"""
import argparse

import h5py
import numpy as np


def generate(users, items, events_per_user, text_dim, clusters, cold_frac, seed):
    rng = np.random.default_rng(seed)
    item_cluster = rng.integers(clusters, size=items)
    centroids = rng.normal(size=(clusters, text_dim))
    text = centroids[item_cluster] + 0.7 * rng.normal(size=(items, text_dim))
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    cold = (rng.random(items) < cold_frac).astype(np.uint8)
    popularity = rng.pareto(1.5, size=items) + 1.0

    by_cluster = [np.nonzero(item_cluster == c)[0] for c in range(clusters)]
    all_p = popularity / popularity.sum()
    rows_user, rows_item = [], []
    for u in range(users):
        n = max(3, rng.poisson(events_per_user))
        fav = rng.integers(clusters)
        members = by_cluster[fav] if len(by_cluster[fav]) else np.arange(items)
        p = popularity[members] / popularity[members].sum()
        from_fav = rng.random(n) < 0.8
        picks = np.where(from_fav, rng.choice(members, size=n, p=p), rng.choice(items, size=n, p=all_p))
        rows_user.append(np.full(n, u, dtype=np.int64))
        rows_item.append(picks.astype(np.int64))
    user = np.concatenate(rows_user)
    item = np.concatenate(rows_item)
    timestamp = np.arange(len(user), dtype=np.int64) * 60 + 1_600_000_000
    rating = rng.integers(1, 6, size=len(user)).astype(np.float32)

    split = np.where(cold[item] == 1, 3, 0).astype(np.uint8)
    starts = np.r_[0, np.nonzero(np.diff(user))[0] + 1, len(user)]
    for b, e in zip(starts[:-1], starts[1:]):
        warm = b + np.nonzero(split[b:e] != 3)[0]
        if len(warm) >= 3:
            split[warm[-1]] = 2
            split[warm[-2]] = 1
    texts = [f"item {j} cluster {item_cluster[j]}" for j in range(items)]
    return dict(user=user, item=item, rating=rating, timestamp=timestamp, split=split,
                cold=cold, text=texts, text_emb=text.astype(np.float32))


def write(path, name, users, items, d):
    with h5py.File(path, "w") as f:
        f.attrs["schema_version"] = np.int32(1)
        f.attrs["name"] = name
        f.attrs["num_users"] = np.int64(users)
        f.attrs["num_items"] = np.int64(items)
        g = f.create_group("interactions")
        for key in ("user", "item", "rating", "timestamp", "split"):
            g.create_dataset(key, data=d[key])
        gi = f.create_group("items")
        gi.create_dataset("cold", data=d["cold"])
        gi.create_dataset("text", data=d["text"], dtype=h5py.string_dtype("utf-8"))
        gi.create_dataset("text_emb", data=d["text_emb"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--items", type=int, default=100)
    ap.add_argument("--events", type=int, default=25, help="mean events per user")
    ap.add_argument("--text-dim", type=int, default=32)
    ap.add_argument("--clusters", type=int, default=10)
    ap.add_argument("--cold-frac", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    d = generate(a.users, a.items, a.events, a.text_dim, a.clusters, a.cold_frac, a.seed)
    write(a.out, "random", a.users, a.items, d)
    counts = np.bincount(d["split"], minlength=4)
    print(f"{a.out}: {a.users} users x {a.items} items, {len(d['user'])} events "
          f"(train {counts[0]}, valid {counts[1]}, test {counts[2]}, cold {counts[3]})")


if __name__ == "__main__":
    main()
