#!/usr/bin/env python3
"""Train one RecBole model on a hybrec dataset and score it with hybrec's rule.

    recbole_peer.py --h5 DATA.h5 --atomic DIR --dataset NAME --model SASRec \
                    --seed 1 [--epochs N] [--threads 1] --out RUN_DIR

DIR/NAME/NAME.inter and NAME.item are recbole_export.py's files for DATA.h5.
Steps:
  1. RecBole builds its splits with leave-one-out by time (eval_args
     {split: {LS: valid_and_test}, order: TO, mode: full}), no filtering;
     the script checks that RecBole's valid and test (user, item) pairs are
     hybrec's kValid / kTest events and exits 3 on any difference.
  2. RecBole trains to convergence (early stopping after `stopping_step` 10
     epochs without a better validation NDCG@10) or `--epochs`, keeping the
     best epoch's checkpoint; RecBole's own test metrics of that checkpoint
     are recorded.
  3. hybrec's rule, computed here: for every hybrec test user, the best
     checkpoint's scores over all hybrec items, the user's train and valid
     items excluded, the target never excluded; rank = items scored strictly
     higher + half of the items tied with the target; HR@10 = rank < 10,
     NDCG@10 = 1/log2(rank + 2). Sequential models get the user's last
     MAX_ITEM_LIST_LENGTH train + valid items as the history, as RecBole's
     test rows do.
Writes RUN_DIR/result.json. `--model Pop` skips RecBole and scores exact
train counts (RecBole's Pop counts an item once per batch).

Compatibility shims for current numpy / scipy / torch are applied before
RecBole is imported (benchmarks/peers/README.md "RecBole"): see shims().
"""
import argparse
import json
import math
import os
import sys
import time

import h5py
import numpy as np

TRAIN, VALID, TEST = 0, 1, 2


def shims():
    """The fixes RecBole 1.2.1 needs on numpy 2 / scipy >= 1.12 / torch >= 2.6."""
    # 1. RecBole's Config.compatibility_settings() assigns np.float = np.float_,
    #    np.complex = np.complex_, np.unicode = np.unicode_; numpy 2 removed
    #    those three aliases, so Config() raises AttributeError. Put them back.
    for name, value in (("float_", np.float64), ("complex_", np.complex128), ("unicode_", np.str_)):
        if not hasattr(np, name):
            setattr(np, name, value)
    # 2. RecBole saves checkpoints with torch.save({... "config": Config, ...})
    #    and reloads them with a bare torch.load(); torch >= 2.6 defaults to
    #    weights_only=True and refuses the pickled Config. RecBole's own
    #    checkpoint, trusted: allow the full unpickler.
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    # 3. LightGCN.get_norm_adj_mat() fills its adjacency with
    #    scipy.sparse.dok_matrix._update(dict), a private method scipy 1.12
    #    removed when dok_matrix stopped subclassing dict (AttributeError:
    #    'dok_matrix' object has no attribute '_update'). Restore it with the
    #    old meaning (insert the (row, col) -> value entries as given).
    import scipy.sparse as sp
    for cls in (sp.dok_matrix, getattr(sp, "dok_array", None)):
        if cls is not None and not hasattr(cls, "_update"):
            def _update(self, data):
                if hasattr(self, "_dict"):
                    self._dict.update(data)
                else:
                    for key, value in data.items():
                        self[key] = value
            cls._update = _update


def load_hybrec(path):
    with h5py.File(path, "r") as f:
        g = f["interactions"]
        d = {k: g[k][:] for k in ("user", "item", "split")}
        d["num_items"] = int(f.attrs["num_items"])
        d["num_users"] = int(f.attrs["num_users"])
    return d


def hybrec_cases(d, history_len):
    """Per test user: target, excluded (train + valid items, target kept) and
    the last history_len train + valid items before the target."""
    user, item, split = d["user"], d["item"], d["split"]
    starts = np.flatnonzero(np.r_[True, user[1:] != user[:-1]])
    ends = np.r_[starts[1:], len(user)]
    cases = []
    for b, e in zip(starts.tolist(), ends.tolist()):
        s = split[b:e]
        t = np.flatnonzero(s == TEST)
        if len(t) == 0:
            continue
        t = b + int(t[-1])
        seen = [i for i in range(b, e) if split[i] in (TRAIN, VALID)]
        target = int(item[t])
        excluded = sorted({int(item[i]) for i in seen} - {target})
        history = [int(item[i]) for i in seen if i < t][-history_len:]
        cases.append((int(user[b]), target, excluded, history))
    return cases


def split_pairs(d, which):
    m = d["split"] == which
    return dict(zip(d["user"][m].tolist(), d["item"][m].tolist()))


def rank_metrics(scores, target, excluded, k=10):
    """hybrec's rule on one row of scores over hybrec's items."""
    allowed = np.ones(len(scores), dtype=bool)
    allowed[excluded] = False
    allowed[target] = False
    ts = scores[target]
    s = scores[allowed]
    higher = int(np.count_nonzero((s > ts) | np.isnan(s))) if not np.isnan(ts) else len(s)
    tied = int(np.count_nonzero(s == ts))
    rank = higher + 0.5 * tied
    hit = rank < k
    return float(hit), (1.0 / math.log2(rank + 2.0) if hit else 0.0)


def score_all(cases, score_fn, batch=256):
    hr = ndcg = 0.0
    for i in range(0, len(cases), batch):
        chunk = cases[i : i + batch]
        rows = score_fn(chunk)
        for row, (_, target, excluded, _) in zip(rows, chunk):
            h, n = rank_metrics(row, target, excluded)
            hr += h
            ndcg += n
    return hr / len(cases), ndcg / len(cases)


def run_pop(d, cases, args):
    counts = np.bincount(d["item"][d["split"] == TRAIN], minlength=d["num_items"]).astype(np.float64)
    t0 = time.time()
    hr, ndcg = score_all(cases, lambda chunk: [counts] * len(chunk))
    return {"model": "Pop", "hybrec_hr@10": hr, "hybrec_ndcg@10": ndcg, "users": len(cases),
            "epochs": 0, "max_epochs": 0, "early_stopped": None, "converged": True,
            "train_seconds": 0.0, "score_seconds": time.time() - t0,
            "note": "exact train counts (not RecBole's Pop)"}


def check_splits(d, dataset, valid_ds, test_ds, out):
    """RecBole's valid/test (user, item) pairs against hybrec's kValid/kTest."""
    uid, iid = dataset.uid_field, dataset.iid_field
    u_tok = dataset.field2id_token[uid]
    i_tok = dataset.field2id_token[iid]
    report = {}
    ok = True
    for name, which, ds in (("valid", VALID, valid_ds), ("test", TEST, test_ds)):
        ours = split_pairs(d, which)
        users = ds.inter_feat[uid].numpy()
        items = ds.inter_feat[iid].numpy()
        theirs = {}
        dup = 0
        for u, i in zip(users.tolist(), items.tolist()):
            hu, hi = int(u_tok[u]), int(i_tok[i])
            dup += hu in theirs
            theirs[hu] = hi
        only_ours = sorted(set(ours) - set(theirs))
        only_theirs = sorted(set(theirs) - set(ours))
        diff_item = sorted(u for u in set(ours) & set(theirs) if ours[u] != theirs[u])
        r = {"hybrec_users": len(ours), "recbole_rows": len(users), "recbole_users": len(theirs),
             "duplicate_users": dup, "only_hybrec": len(only_ours), "only_recbole": len(only_theirs),
             "different_target": len(diff_item),
             "examples": [{"user": u, "hybrec": ours.get(u), "recbole": theirs.get(u)}
                          for u in (only_ours[:3] + only_theirs[:3] + diff_item[:5])]}
        report[name] = r
        bad = dup or only_ours or only_theirs or diff_item
        # Only the test split must match: it is what is scored. A valid
        # difference changes early stopping only; it is expected for
        # sequential models, whose augmentation drops each user's first event
        # (a user with 3 events then has a test row but no valid row).
        if name == "test":
            ok = ok and not bad
        print(f"split check {name}: hybrec {len(ours)} users, RecBole {len(theirs)} users "
              f"({len(users)} rows); only hybrec {len(only_ours)}, only RecBole {len(only_theirs)}, "
              f"different target {len(diff_item)}, duplicate users {dup}"
              + ("" if not bad else f"  MISMATCH, e.g. {r['examples']}"), flush=True)
    json.dump(report, open(os.path.join(out, "split_check.json"), "w"), indent=1)
    return ok, report


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--h5", required=True)
    ap.add_argument("--atomic", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=300, help="max epochs (RecBole's default 300)")
    ap.add_argument("--stopping-step", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-len", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=0,
                    help="RecBole's train_batch_size (0: RecBole's default, 2048)")
    ap.add_argument("--time-limit", type=float, default=0,
                    help="seconds of fitting (training and validation) after which the run stops "
                         "at its next epoch and scores its best checkpoint, marked not "
                         "converged (0: none)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    d = load_hybrec(args.h5)
    cases = hybrec_cases(d, args.max_len)
    if args.model == "Pop":
        res = run_pop(d, cases, args)
        res.update(dataset=args.dataset, seed=args.seed)
        json.dump(res, open(os.path.join(out, "result.json"), "w"), indent=1)
        print(json.dumps(res))
        return

    shims()
    import torch
    torch.set_num_threads(args.threads)
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.data.interaction import Interaction
    from recbole.utils import ModelType, get_model, get_trainer, init_seed, init_logger

    sequential_models = {"SASRec", "GRU4Rec"}
    cfg = {
        "data_path": os.path.abspath(args.atomic),
        "checkpoint_dir": os.path.join(out, "saved"),
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id"]},
        # hybrec's protocol: leave-one-out by time, full ranking, no filtering.
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full",
                      "group_by": "user"},
        "user_inter_num_interval": "[0,inf)", "item_inter_num_interval": "[0,inf)",
        "val_interval": None, "threshold": None, "rm_dup_inter": None,
        "normalize_all": False, "normalize_field": None,
        "MAX_ITEM_LIST_LENGTH": args.max_len,
        "epochs": args.epochs, "stopping_step": args.stopping_step,
        "valid_metric": "NDCG@10", "metrics": ["Hit", "NDCG", "MRR"], "topk": [10],
        "seed": args.seed, "reproducibility": True,
        "device": "cpu", "use_gpu": False, "worker": 0, "show_progress": False,
        "state": "INFO", "log_wandb": False,
    }
    if args.batch_size > 0:
        cfg["train_batch_size"] = args.batch_size
    if args.model in sequential_models:
        cfg["train_neg_sample_args"] = None  # CE loss over all items (RecBole's default for both)
    os.chdir(out)  # RecBole writes log/ and log_tensorboard/ into the working directory
    config = Config(model=args.model, dataset=args.dataset, config_dict=cfg)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    torch.set_num_threads(args.threads)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    ok, report = check_splits(d, dataset, valid_data.dataset, test_data.dataset, out)
    if not ok:
        print(f"FAIL: RecBole's splits are not hybrec's ({args.dataset}, {args.model}); "
              f"see {out}/split_check.json", file=sys.stderr)
        sys.exit(3)

    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    epochs_log = []
    orig_train, orig_valid = trainer._train_epoch, trainer._valid_epoch

    class TimeLimit(Exception):
        pass

    fit_start = time.time()

    # The time limit is checked when an epoch starts: the last one has been
    # validated and, if it was the best, saved as the checkpoint then scored.
    def train_epoch(*a, **k):
        if args.time_limit > 0 and epochs_log and time.time() - fit_start > args.time_limit:
            raise TimeLimit()
        t0 = time.time()
        loss = orig_train(*a, **k)
        epochs_log.append({"train_seconds": time.time() - t0,
                           "loss": float(sum(loss)) if isinstance(loss, tuple) else float(loss)})
        return loss

    def valid_epoch(*a, **k):
        t0 = time.time()
        score, result = orig_valid(*a, **k)
        if epochs_log:
            epochs_log[-1].update(valid_seconds=time.time() - t0, valid_ndcg=float(score))
        return score, result

    trainer._train_epoch, trainer._valid_epoch = train_epoch, valid_epoch
    stopped_by_time = False
    try:
        best_valid, _ = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    except TimeLimit:
        stopped_by_time = True
        best_valid = trainer.best_valid_score
        print(f"time limit {args.time_limit:.0f} s reached after {len(epochs_log)} epochs: "
              "scoring the best checkpoint so far, not converged", flush=True)
    fit_seconds = time.time() - fit_start
    own = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    model = trainer.model
    model.eval()

    # hybrec's rule on the best checkpoint.
    i_tid = dataset.field2token_id[dataset.iid_field]
    u_tid = dataset.field2token_id[dataset.uid_field]
    hyb2rb = np.array([i_tid[str(j)] for j in range(d["num_items"])], dtype=np.int64)
    is_seq = config["MODEL_TYPE"] == ModelType.SEQUENTIAL
    L = args.max_len

    def score_fn(chunk):
        users = torch.tensor([u_tid[str(c[0])] for c in chunk], dtype=torch.long)
        fields = {dataset.uid_field: users}
        if is_seq:
            seq = torch.zeros(len(chunk), L, dtype=torch.long)
            length = torch.zeros(len(chunk), dtype=torch.long)
            for r, c in enumerate(chunk):
                h = hyb2rb[c[3]] if c[3] else []
                seq[r, : len(h)] = torch.as_tensor(h, dtype=torch.long)
                length[r] = max(len(h), 1)  # RecBole has no empty history; never 0 here (>= 2 events)
            fields[model.ITEM_SEQ] = seq
            fields[model.ITEM_SEQ_LEN] = length
        with torch.no_grad():
            s = model.full_sort_predict(Interaction(fields).to(config["device"]))
        s = s.view(len(chunk), -1).float().numpy()
        return s[:, hyb2rb]

    t1 = time.time()
    hr, ndcg = score_all(cases, score_fn)
    n_epochs = len(epochs_log)
    early = n_epochs < args.epochs and not stopped_by_time
    best_epoch = int(np.argmax([e.get("valid_ndcg", -1) for e in epochs_log])) if epochs_log else -1
    res = {
        "dataset": args.dataset, "model": args.model, "seed": args.seed,
        "hybrec_hr@10": hr, "hybrec_ndcg@10": ndcg, "users": len(cases),
        "recbole_hr@10": float(own["hit@10"]), "recbole_ndcg@10": float(own["ndcg@10"]),
        "recbole_best_valid_ndcg@10": float(best_valid),
        "epochs": n_epochs, "max_epochs": args.epochs, "best_epoch": best_epoch,
        "early_stopped": early, "converged": early, "stopped_by_time_limit": stopped_by_time,
        "train_seconds": sum(e["train_seconds"] for e in epochs_log),
        "valid_seconds": sum(e.get("valid_seconds", 0) for e in epochs_log),
        "fit_seconds": fit_seconds, "score_seconds": time.time() - t1,
        "seconds_per_epoch": (sum(e["train_seconds"] for e in epochs_log) / n_epochs) if n_epochs else None,
        "train_batch_size": int(config["train_batch_size"]),
        "threads": args.threads, "split_check": report, "epochs_log": epochs_log,
    }
    json.dump(res, open(os.path.join(out, "result.json"), "w"), indent=1)
    print(json.dumps({k: v for k, v in res.items() if k != "epochs_log"}), flush=True)


if __name__ == "__main__":
    main()
