#!/usr/bin/env python3
"""Export a hybrec dataset (HDF5, trainer/data/dataset.h) to RecBole atomic
files, so RecBole trains and tests on exactly hybrec's events and splits.

    recbole_export.py DATA.h5 OUT_DIR NAME

writes OUT_DIR/NAME/NAME.inter and OUT_DIR/NAME/NAME.item:

  NAME.inter  user_id:token item_id:token timestamp:float
              hybrec's kept positive events (kTrain, kValid, kTest; never
              kCold), tokens = hybrec's integer user / item ids. The
              timestamp is the event's row in hybrec's file, a dense rank:
              rows are sorted by user, then time, then source order, so each
              user's ranks are strictly increasing in hybrec's event order
              and RecBole's `order: TO` sort (any sort, stable or not) gives
              the same order. Raw Unix seconds would not survive: RecBole
              keeps float fields as float32 (24-bit mantissa), which rounds
              2009-era timestamps to multiples of 64 s, so ties appear and
              test targets change. Ranks up to 2^24 are exact.
  NAME.item   item_id:token, every hybrec item (also items with no event),
              so RecBole ranks the same catalogue as hybrec's evaluation.

Refuses a dataset with cold items (import with --cold-fraction 0): RecBole
has no cold-item split, and hybrec's warm leave-one-out would not be
RecBole's leave-one-out over all events.
"""
import os
import sys

import h5py
import numpy as np

TRAIN, VALID, TEST, COLD = 0, 1, 2, 3


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    path, out_dir, name = sys.argv[1:]
    with h5py.File(path, "r") as f:
        inter = f["interactions"]
        user = inter["user"][:]
        item = inter["item"][:]
        split = inter["split"][:]
        num_items = int(f.attrs["num_items"])
        cold = f["items/cold"][:]
    if cold.any() or (split == COLD).any():
        sys.exit(f"{path}: {int(cold.sum())} cold items; import with --cold-fraction 0 "
                 "(RecBole has no cold split)")
    # Rows must be grouped by user in time order (dataset.h); check, since the
    # ranks below rely on it.
    if np.any(np.diff(user) < 0):
        sys.exit(f"{path}: interactions are not sorted by user")
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name + ".inter"), "w") as o:
        o.write("user_id:token\titem_id:token\ttimestamp:float\n")
        o.write("".join(f"{u}\t{i}\t{r}\n" for r, (u, i) in enumerate(zip(user.tolist(), item.tolist()))))
    with open(os.path.join(d, name + ".item"), "w") as o:
        o.write("item_id:token\n")
        o.write("".join(f"{j}\n" for j in range(num_items)))
    print(f"exported {len(user)} events, {len(np.unique(user))} users, {num_items} items "
          f"(train {int((split == TRAIN).sum())}, valid {int((split == VALID).sum())}, "
          f"test {int((split == TEST).sum())}) to {d}")


if __name__ == "__main__":
    main()
