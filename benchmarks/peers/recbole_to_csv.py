#!/usr/bin/env python3
"""RecBole atomic files -> the inputs of `hybrec data import csv`.

    recbole_to_csv.py DIR OUT_DIR

DIR holds NAME.inter (user_id:token item_id:token [timestamp:float]
[rating:float], tab-separated, one header line) and optionally NAME.item
(item_id:token plus text-like columns). Writes OUT_DIR/events.csv
(user,item[,rating][,timestamp], the .inter file's order, so hybrec's stable
sort breaks timestamp ties by file order) and OUT_DIR/items.csv (item,text:
the .item file's token_seq / token columns other than item_id, joined by a
space). Used by recbole.sh while `hybrec data import recbole` is not there.
"""
import csv
import glob
import os
import sys


def read_atomic(path):
    with open(path, encoding="utf-8", newline="") as f:
        header = f.readline().rstrip("\n").split("\t")
        names = [h.split(":")[0] for h in header]
        types = [h.split(":")[1] if ":" in h else "token" for h in header]
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    return names, types, rows


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1:]
    inters = glob.glob(os.path.join(src, "*.inter"))
    if len(inters) != 1:
        sys.exit(f"{src}: expected one .inter file, found {len(inters)}")
    os.makedirs(out, exist_ok=True)
    names, _, rows = read_atomic(inters[0])
    n_events, n_items = len(rows), 0
    col = {n: i for i, n in enumerate(names)}
    keep = [("user", "user_id"), ("item", "item_id")]
    keep += [(h, n) for h, n in (("rating", "rating"), ("timestamp", "timestamp")) if n in col]
    with open(os.path.join(out, "events.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([h for h, _ in keep])
        for r in rows:
            w.writerow([r[col[n]] for _, n in keep])
    items = inters[0][: -len(".inter")] + ".item"
    if os.path.exists(items):
        names, types, rows = read_atomic(items)
        n_items = len(rows)
        iid = names.index("item_id")
        text_cols = [i for i, t in enumerate(types) if i != iid and t in ("token_seq", "token")]
        with open(os.path.join(out, "items.csv"), "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["item", "text"])
            for r in rows:
                w.writerow([r[iid], " ".join(r[i] for i in text_cols if i < len(r) and r[i])])
    print(f"{inters[0]}: {n_events} events, {n_items} items -> {out}/events.csv, items.csv")


if __name__ == "__main__":
    main()
