#!/usr/bin/env python3
"""hybrec's hybrid recommender written in plain PyTorch: the peer that hybrec's
benchmarks compare against. Same HDF5 data, same TOML config, same model,
optimisers, sampler, schedule and evaluation protocol (see README.md).

    torch_hybrid.py --config run.toml [--data FILE] [--set model.use_id=false ...]
                    [--threads N] [--device cpu|cuda] [--out DIR]
"""
import argparse
import json
import math
import os
import sys
import time
import tomllib
from dataclasses import dataclass

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

# ----------------------------------------------------------------------------- config

DEFAULTS = {
    "data": {"path": ""},
    "model": {
        "dim": 32, "history_len": 20, "layers": 1, "heads": 2, "ffn_mult": 2, "pooling": "mean",
        "use_id": True, "use_text": True, "use_history": True, "use_text_score": True,
        "lambda_init": 1.0, "id_dropout": 0.0, "loss": "sampled_softmax", "init_scale": 0.05,
    },
    "train": {
        "batch_size": 256, "negatives": 16, "sampler": "uniform", "popularity_alpha": 0.75,
        "epochs": 3, "max_steps": 0, "seed": 1, "lr": 0.003, "weight_decay": 0.0,
        "warmup_steps": 100, "decay": "cosine", "min_lr_ratio": 0.1, "clip_norm": 1.0,
        "sparse_optimizer": "rowwise_adagrad", "sparse_lr": 0.05, "sparse_init_scale": 0.05,
        "threads": 0, "device": "cpu",
    },
    "eval": {"k": 10, "auc_negatives": 100},
}


def parse_value(text):
    """A --set value as TOML (1, 0.5, true, "x"); a bare word is a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def load_config(path, overrides):
    cfg = {section: dict(keys) for section, keys in DEFAULTS.items()}
    if path:
        with open(path, "rb") as f:
            for section, keys in tomllib.load(f).items():
                if section in cfg and isinstance(keys, dict):
                    cfg[section].update(keys)  # unknown keys are kept but never read
    for item in overrides:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot:
            sys.exit(f"--set expects section.key=value, got '{item}'")
        cfg.setdefault(section, {})[name] = parse_value(value.strip())
    for section, keys in DEFAULTS.items():  # ints given where floats are expected, etc.
        for name, default in keys.items():
            if isinstance(default, float) and isinstance(cfg[section][name], int):
                cfg[section][name] = float(cfg[section][name])
    return cfg


# ----------------------------------------------------------------------------- data

TRAIN, VALID, TEST, COLD = 0, 1, 2, 3


@dataclass
class Dataset:
    num_users: int
    num_items: int
    user: np.ndarray      # [n] int64, sorted by (user, time)
    item: np.ndarray      # [n] int64
    split: np.ndarray     # [n] uint8
    cold: np.ndarray      # [num_items] bool
    text_emb: np.ndarray  # [num_items, T] float32
    user_begin: np.ndarray  # [num_users + 1] CSR offsets of each user's events


def load_dataset(path):
    with h5py.File(path, "r") as f:
        version = int(f.attrs["schema_version"])
        if version != 1:
            sys.exit(f"{path}: schema_version {version}, expected 1")
        num_users, num_items = int(f.attrs["num_users"]), int(f.attrs["num_items"])
        g = f["interactions"]
        user, item = g["user"][:].astype(np.int64), g["item"][:].astype(np.int64)
        split = g["split"][:].astype(np.uint8)
        cold = f["items/cold"][:].astype(bool)
        text_emb = f["items/text_emb"][:].astype(np.float32)
    user_begin = np.searchsorted(user, np.arange(num_users + 1)).astype(np.int64)
    return Dataset(num_users, num_items, user, item, split, cold, text_emb, user_begin)


def histories(data, events, visible, L):
    """[len(events), L] item ids: for each event, its user's last L `visible`
    events before it (chronological, most recent last), left-padded with -1.
    `visible` is a sorted array of event indices."""
    users = data.user[events]
    first = np.searchsorted(visible, data.user_begin[users])  # user's first visible event
    end = np.searchsorted(visible, events)                    # first visible event >= this one
    idx = end[:, None] - L + np.arange(L)[None, :]
    real = idx >= first[:, None]
    items = data.item[visible[np.clip(idx, 0, max(len(visible) - 1, 0))]] if len(visible) else 0
    return np.where(real, items, -1).astype(np.int64)


@dataclass
class TrainingSet:
    user: np.ndarray     # [N] user of each example
    item: np.ndarray     # [N] target item
    history: np.ndarray  # [N, L] history item ids, -1 padded
    item_count: np.ndarray  # [num_items] train events per item


def make_training_set(data, L):
    events = np.nonzero(data.split == TRAIN)[0]
    if len(events) == 0:
        sys.exit("empty training split")
    return TrainingSet(data.user[events], data.item[events], histories(data, events, events, L),
                       np.bincount(data.item[events], minlength=data.num_items))


class NegativeSampler:
    """Negatives among the training items (>= 1 train event), uniform or by
    popularity count^alpha; a negative equal to the target is redrawn.
    sample() also returns log(K * q(item)), the logQ correction."""

    def __init__(self, item_count, kind, alpha, seed):
        self.items = np.nonzero(item_count > 0)[0]
        if len(self.items) < 2:
            sys.exit("negative sampling needs at least 2 training items")
        if kind == "popularity":
            w = item_count[self.items].astype(np.float64) ** alpha
        elif kind == "uniform":
            w = np.ones(len(self.items))
        else:
            sys.exit(f"unknown train.sampler '{kind}'")
        self.uniform = kind == "uniform"
        self.cumulative = np.cumsum(w)
        self.log_q = np.zeros(len(item_count), dtype=np.float32)
        self.log_q[self.items] = np.log(w / w.sum())
        self.rng = np.random.default_rng([seed, 0x5A4D])

    def draw(self, shape):
        if self.uniform:
            return self.items[self.rng.integers(len(self.items), size=shape)]
        x = self.rng.random(shape) * self.cumulative[-1]
        pos = np.searchsorted(self.cumulative, x, side="right")
        return self.items[np.minimum(pos, len(self.items) - 1)]

    def sample(self, targets, k):
        neg = self.draw((len(targets), k))
        for _ in range(64):
            clash = neg == targets[:, None]
            if not clash.any():
                break
            neg[clash] = self.draw(int(clash.sum()))
        return neg, np.log(np.float32(k)) + self.log_q[neg]


# ----------------------------------------------------------------------------- model


class SparseTable:
    """One embedding row per key, trained outside autograd's optimiser: the
    step gathers the batch's distinct rows as a leaf tensor, and update()
    applies row-wise Adagrad (FBGEMM EXACT_ROWWISE_ADAGRAD) or a lazy Adam to
    those rows only."""

    def __init__(self, rows, dim, init_scale, optimizer, lr, generator, device):
        # drawn on the CPU, so every device starts from the same rows
        self.weight = ((torch.rand(rows, dim, generator=generator) * 2 - 1) * init_scale).to(device)
        self.optimizer, self.lr = optimizer, lr
        if optimizer == "rowwise_adagrad":
            self.state = torch.zeros(rows, device=device)
        elif optimizer == "adam":
            self.m = torch.zeros(rows, dim, device=device)
            self.v = torch.zeros(rows, dim, device=device)
            self.step_count = 0
        else:
            sys.exit(f"unknown train.sparse_optimizer '{optimizer}'")

    def gather(self, ids):
        return self.weight[ids].requires_grad_()

    @torch.no_grad()
    def update(self, ids, grad):
        """ids: distinct row ids; grad: [len(ids), dim], each row's gradient
        summed over its occurrences in the batch."""
        if self.optimizer == "rowwise_adagrad":
            state = self.state[ids] + grad.square().mean(dim=1)
            self.state[ids] = state
            self.weight[ids] -= self.lr * grad / (state.sqrt() + 1e-8)[:, None]
            return
        self.step_count += 1
        b1, b2, t = 0.9, 0.999, self.step_count
        m = self.m[ids].mul_(b1).add_(grad, alpha=1 - b1)
        v = self.v[ids].mul_(b2).addcmul_(grad, grad, value=1 - b2)
        self.m[ids], self.v[ids] = m, v
        step = (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + 1e-8)
        self.weight[ids] -= self.lr * step


class HybridDense(nn.Module):
    """The dense parameters and the math of the model; id rows come in as
    arguments (they live in SparseTable)."""

    def __init__(self, mc, text_dim):
        super().__init__()
        d, L, s = mc["dim"], mc["history_len"], mc["init_scale"]
        self.mc = mc
        self.adapter = nn.Linear(text_dim, d, bias=False) if mc["use_text"] else None
        if mc["use_history"]:
            self.positions = nn.Parameter((torch.rand(L, d) * 2 - 1) * s)
            layer = nn.TransformerEncoderLayer(d, mc["heads"], mc["ffn_mult"] * d, dropout=0.0,
                                               activation="gelu", batch_first=True, norm_first=False)
            self.encoder = nn.TransformerEncoder(layer, mc["layers"], enable_nested_tensor=False)
        self.bilinear = nn.Parameter(torch.eye(d) + (torch.rand(d, d) * 2 - 1) * s)
        if mc["use_text_score"]:
            self.text_scale = nn.Parameter(torch.tensor(5.0))
            self.lam = nn.Parameter(torch.tensor(float(mc["lambda_init"])))
        self._init_like_hybrec()

    def _init_like_hybrec(self):
        # hybrec: every linear weight xavier-uniform, biases 0, layer norms (1, 0).
        for name, p in self.named_parameters():
            if name.startswith("encoder.") or name.startswith("adapter."):
                if p.dim() == 2:
                    nn.init.xavier_uniform_(p)
                elif "norm" not in name:
                    nn.init.zeros_(p)

    def item_vectors(self, id_rows, text_rows, keep=None):
        """v = m * e + A t for a set of items."""
        v = 0
        if id_rows is not None:
            v = id_rows if keep is None else id_rows * keep[:, None]
        if self.adapter is not None:
            v = v + self.adapter(text_rows)
        return v

    def user_states(self, id_rows, hist_vecs, hist_mask):
        """u' = e_u + s_u. hist_vecs [B, L, d] (zeros where padded), hist_mask [B, L] bool real."""
        u = id_rows if id_rows is not None else 0
        if not self.mc["use_history"]:
            return u
        has = hist_mask.any(dim=1)
        # A row with no history at all would give NaN attention; give it one
        # visible key and zero its output below.
        pad = ~hist_mask
        pad[:, -1] &= has
        # Sequences of ~20 keys: SDPA's plain "math" kernel beats the CPU
        # flash kernel here (measured ~15% on the encoder's forward+backward);
        # on a GPU torch picks its fused kernels.
        if hist_vecs.is_cuda:
            h = self.encoder(hist_vecs + self.positions, src_key_padding_mask=pad)
        else:
            with sdpa_kernel(SDPBackend.MATH):
                h = self.encoder(hist_vecs + self.positions, src_key_padding_mask=pad)
        if self.mc["pooling"] == "last":
            s = h[:, -1]
        else:
            m = hist_mask.unsqueeze(-1).to(h.dtype)
            s = (h * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
        return u + s * has.unsqueeze(-1).to(s.dtype)

    @staticmethod
    def text_query(hist_text):
        """q_u: the unit mean of the real history items' text vectors (padded rows are 0)."""
        return F.normalize(hist_text.sum(dim=1), dim=-1)

    def combine(self, z, cos):
        """z' = (z + lambda g) / sqrt(1 + lambda^2), g = text_scale * cos."""
        if not self.mc["use_text_score"]:
            return z
        return (z + self.lam * self.text_scale * cos) / torch.sqrt(1 + self.lam * self.lam)


# ----------------------------------------------------------------------------- training


class Trainer:
    def __init__(self, cfg, data):
        self.cfg, self.data = cfg, data
        mc, tc = cfg["model"], cfg["train"]
        self.mc, self.tc = mc, tc
        if not (mc["use_id"] or mc["use_text"]):
            sys.exit("model: an item needs use_id or use_text")
        if not (mc["use_id"] or mc["use_history"]):
            sys.exit("model: a user needs use_id or use_history")
        self.L, self.d = mc["history_len"], mc["dim"]
        if tc["device"] not in ("cpu", "cuda"):
            sys.exit(f"train.device '{tc['device']}': expected cpu or cuda")
        if tc["device"] == "cuda" and not torch.cuda.is_available():
            sys.exit("train.device cuda: torch sees no GPU (torch.cuda.is_available() is False)")
        self.dev = dev = torch.device(tc["device"])
        g = torch.Generator().manual_seed(tc["seed"])
        torch.manual_seed(tc["seed"])
        self.model = HybridDense(mc, data.text_emb.shape[1]).to(dev)
        # text rows with one zero row at index num_items for padding (-1)
        self.text = torch.cat([torch.from_numpy(data.text_emb),
                               torch.zeros(1, data.text_emb.shape[1])]).to(dev)
        self.text_unit = F.normalize(self.text, dim=-1)
        self.users = self.items = None
        if mc["use_id"]:
            args = (tc["sparse_init_scale"], tc["sparse_optimizer"], tc["sparse_lr"], g, dev)
            self.users = SparseTable(data.num_users, self.d, *args)
            self.items = SparseTable(data.num_items, self.d, *args)
        try:
            self.opt = torch.optim.AdamW(self.model.parameters(), lr=tc["lr"], betas=(0.9, 0.999),
                                         eps=1e-8, weight_decay=tc["weight_decay"], fused=True)
        except (RuntimeError, TypeError):
            self.opt = torch.optim.AdamW(self.model.parameters(), lr=tc["lr"], betas=(0.9, 0.999),
                                         eps=1e-8, weight_decay=tc["weight_decay"])

    # --- one batch

    def batch_loss(self, users, cand, log_q, hist):
        """Mean loss of a batch. users [B], cand [B, C] (column 0 = target),
        log_q [B, C-1] for the negatives, hist [B, L] (-1 padded); all torch.
        Returns (loss, sparse leaves to update)."""
        mc = self.mc
        B, C = cand.shape
        hist_mask = hist >= 0
        # distinct items of the batch: candidates and real history items
        uniq, inv = torch.unique(torch.cat([cand.reshape(-1), hist[hist_mask]]), return_inverse=True)
        n = len(uniq)
        cand_slot = inv[: B * C].view(B, C)
        hist_slot = torch.full((B, self.L), n, dtype=torch.long, device=self.dev)
        hist_slot[hist_mask] = inv[B * C:]
        leaves = []
        item_rows = keep = None
        if self.items is not None:
            item_rows = self.items.gather(uniq)
            leaves.append((self.items, uniq, item_rows))
            if mc["id_dropout"] > 0:
                keep = (torch.rand(n, device=self.dev) >= mc["id_dropout"]).to(torch.float32)
        v = self.model.item_vectors(item_rows, self.text[uniq], keep)
        v_ext = torch.cat([v, v.new_zeros(1, self.d)])  # row n: padding
        user_rows = None
        if self.users is not None:
            uu, uinv = torch.unique(users, return_inverse=True)
            urows = self.users.gather(uu)
            leaves.append((self.users, uu, urows))
            user_rows = urows[uinv]
        u = self.model.user_states(user_rows, v_ext[hist_slot], hist_mask)
        z = torch.einsum("bd,bcd->bc", u @ self.model.bilinear, v_ext[cand_slot])
        cos = None
        if mc["use_text_score"]:
            hist_ids = torch.where(hist_mask, hist, self.data.num_items)
            q = HybridDense.text_query(self.text[hist_ids])
            cos = torch.einsum("bt,bct->bc", q, self.text_unit[cand])
        logits = self.model.combine(z, cos)
        if mc["loss"] == "bce":
            labels = torch.zeros_like(logits)
            labels[:, 0] = 1
            loss = F.binary_cross_entropy_with_logits(logits, labels)
        elif mc["loss"] == "sampled_softmax":
            logits = torch.cat([logits[:, :1], logits[:, 1:] - log_q], dim=1)
            loss = F.cross_entropy(logits, torch.zeros(B, dtype=torch.long, device=self.dev))
        else:
            sys.exit(f"unknown model.loss '{mc['loss']}'")
        return loss, leaves

    def lr_at(self, step, total):
        tc = self.tc
        base, warm = tc["lr"], tc["warmup_steps"]
        if step < warm:
            return base * (step + 1) / warm
        if tc["decay"] == "none":
            return base
        p = min(1.0, (step - warm) / max(1, total - 1 - warm))
        lo = tc["min_lr_ratio"]
        f = 0.5 * (1 + math.cos(math.pi * p)) if tc["decay"] == "cosine" else 1 - p
        return base * (lo + (1 - lo) * f)

    def step(self, users, cand, log_q, hist, lr):
        loss, leaves = self.batch_loss(users, cand, log_q, hist)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.tc["clip_norm"] > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.tc["clip_norm"])
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.step()
        for table, ids, rows in leaves:
            table.update(ids, rows.grad)
        return loss.detach()  # read once per epoch: a read per step would stall a GPU

    # --- the loop

    def train(self, log):
        tc, mc = self.tc, self.mc
        ts = make_training_set(self.data, self.L)
        sampler = NegativeSampler(ts.item_count, tc["sampler"], tc["popularity_alpha"], tc["seed"])
        B, K = tc["batch_size"], tc["negatives"]
        spe = len(ts.user) // B  # the tail that does not fill a batch is dropped, as in hybrec
        if spe == 0:
            sys.exit(f"{len(ts.user)} training examples: fewer than one batch of {B}")
        total = tc["epochs"] * spe
        if tc["max_steps"] > 0:
            total = min(total, tc["max_steps"])
        log({"event": "start", "framework": "pytorch", "torch": torch.__version__, "device": str(self.dev),
             "examples": int(len(ts.user)), "steps_per_epoch": spe, "total_steps": total,
             "threads": torch.get_num_threads(), "dense_params": sum(p.numel() for p in self.model.parameters())})
        self.model.train()
        step, rates, train_time, samples = 0, [], 0.0, 0

        def to_dev(a):
            return torch.from_numpy(a).to(self.dev, non_blocking=True)

        for epoch in range(math.ceil(total / spe)):
            order = np.random.default_rng([tc["seed"], epoch]).permutation(len(ts.user))
            steps = min(spe, total - step)
            step_losses = []
            t0 = time.perf_counter()
            for i in range(steps):
                idx = order[i * B:(i + 1) * B]
                targets = ts.item[idx]
                neg, log_q = sampler.sample(targets, K)
                cand = to_dev(np.concatenate([targets[:, None], neg], axis=1))
                step_losses.append(self.step(to_dev(ts.user[idx]), cand, to_dev(log_q),
                                             to_dev(ts.history[idx]), self.lr_at(step, total)))
                step += 1
            losses = torch.stack(step_losses).cpu().numpy()  # waits for the device's last step
            dt = time.perf_counter() - t0
            train_time += dt
            samples += steps * B
            rates.append(steps * B / dt)
            log({"event": "epoch", "epoch": epoch, "steps": steps, "loss": float(losses.mean()),
                 "first_loss": float(losses[0]), "last_loss": float(losses[-1]),
                 "seconds": dt, "samples_per_s": steps * B / dt})
        return {"event": "throughput", "framework": "pytorch", "threads": torch.get_num_threads(),
                "samples_per_s": samples / train_time, "samples_per_s_median_epoch": float(np.median(rates)),
                "samples_per_s_epochs": rates, "train_seconds": train_time, "steps": step,
                "batch_size": B, "candidates": 1 + K}


# ----------------------------------------------------------------------------- evaluation


@dataclass
class EvalCases:
    split: str
    subset: str
    users: np.ndarray     # [n]
    target: np.ndarray    # [n]
    history: np.ndarray   # [n, L]
    excl_row: np.ndarray  # excluded (case row, item) pairs
    excl_item: np.ndarray


def make_eval_cases(data, split, subset, L):
    """hybrec's eval cases (trainer/eval/eval_cases.cc): one per user with an
    event of the target split; the last such event is the target."""
    target_split = COLD if subset != "warm" else (VALID if split == "valid" else TEST)
    ev = np.nonzero(data.split == target_split)[0]
    last = ev[np.r_[data.user[ev][1:] != data.user[ev][:-1], True]] if len(ev) else ev
    seen = data.split == TRAIN
    if split == "test":
        seen |= data.split == VALID
    visible = np.nonzero(seen)[0]
    users = data.user[last]
    row_of_user = np.full(data.num_users, -1)
    row_of_user[users] = np.arange(len(users))
    if subset == "warm":
        excl_events = visible
    elif subset == "cold":
        excl_events = np.nonzero(data.split == COLD)[0]
    else:  # cold_all: every item of the user
        excl_events = np.arange(len(data.user))
    rows = row_of_user[data.user[excl_events]]
    keep = rows >= 0
    return EvalCases(split, subset, users, data.item[last], histories(data, last, visible, L),
                     rows[keep], data.item[excl_events][keep])


@torch.no_grad()
def evaluate(tr, cases, k, auc_negatives, seed, chunk=512):
    """Full ranking of every case's target; returns the metrics line."""
    data, model, mc = tr.data, tr.model, tr.mc
    model.eval()
    I = data.num_items
    dev = tr.dev
    v = model.item_vectors(tr.items.weight if tr.items else None, tr.text[:I])
    v_ext = torch.cat([v, v.new_zeros(1, tr.d)])
    vW = v @ model.bilinear.T  # z = u^T W v = u . (W v)
    allowed_base = (torch.from_numpy(data.cold) if cases.subset == "cold"
                    else torch.ones(I, dtype=torch.bool)).to(dev)
    gen = torch.Generator(device=dev).manual_seed(seed)
    excl_row, excl_item = torch.from_numpy(cases.excl_row).to(dev), torch.from_numpy(cases.excl_item).to(dev)
    sums = np.zeros(4)
    auc_sum, auc_n = 0.0, 0
    n = len(cases.users)
    for b in range(0, n, chunk):
        e = min(n, b + chunk)
        hist = torch.from_numpy(cases.history[b:e]).to(dev)
        target = torch.from_numpy(cases.target[b:e]).to(dev)
        users = torch.from_numpy(cases.users[b:e]).to(dev)
        mask = hist >= 0
        hist_slot = torch.where(mask, hist, I)
        urows = tr.users.weight[users] if tr.users else None
        u = model.user_states(urows, v_ext[hist_slot], mask)
        if not torch.is_tensor(u):
            u = torch.zeros(e - b, tr.d, device=dev)
        z = u @ vW.T
        cos = None
        if mc["use_text_score"]:
            cos = model.text_query(tr.text[hist_slot]) @ tr.text_unit[:I].T
        scores = model.combine(z, cos)
        # candidates: the subset's items minus the case's excluded ones, the target always in
        allowed = allowed_base.repeat(e - b, 1)
        sel = (excl_row >= b) & (excl_row < e)
        allowed[excl_row[sel] - b, excl_item[sel]] = False
        rows = torch.arange(e - b, device=dev)
        allowed[rows, target] = True
        st = scores[rows, target].unsqueeze(1)
        ranked = allowed.sum(dim=1).double()  # items ranked, the target included
        # Ties at their expected position, as trainer/eval/ranking.h: with h
        # others higher (NaN counts higher) and t tied, the target's position
        # is uniform over h..h+t and each metric is its mean over them.
        allowed[rows, target] = False
        h = (~(scores <= st) & allowed).sum(dim=1).double()
        t = ((scores == st) & allowed).sum(dim=1).double()
        pos = torch.arange(k, dtype=torch.float64, device=dev)
        in_k = ((pos >= h[:, None]) & (pos <= (h + t)[:, None])).double()
        mrr = (torch.digamma(h + t + 2) - torch.digamma(h + 1)) / (t + 1)  # sum of 1/(p+1)
        sums += [(in_k.sum(dim=1) / (t + 1)).sum().item(),
                 ((in_k / torch.log2(pos + 2)).sum(dim=1) / (t + 1)).sum().item(),
                 mrr.sum().item(), (k / ranked).clamp(max=1).sum().item()]
        # AUC against uniform samples of the other allowed items
        has = allowed.any(dim=1)
        if has.any():
            w = allowed[has].double()
            negs = torch.multinomial(w, auc_negatives, replacement=True, generator=gen)
            sn = scores[has].gather(1, negs)
            sc = st[has]
            auc = ((sn < sc).double() + 0.5 * (sn == sc).double()).mean(dim=1)
            auc_sum += auc.sum().item()
            auc_n += int(has.sum())
    model.train()
    m = sums / max(n, 1)
    return {"event": "eval", "split": cases.split, "subset": cases.subset, f"hr@{k}": m[0],
            f"ndcg@{k}": m[1], "mrr": m[2], "auc": auc_sum / max(auc_n, 1), "users": n,
            f"random_hr@{k}": m[3]}  # the expected HR@k of a random ranking, for reference


# ----------------------------------------------------------------------------- main


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="", help="TOML config (the file hybrec reads)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override, e.g. model.use_id=false (repeatable)")
    ap.add_argument("--data", default="", help="HDF5 dataset (overrides data.path)")
    ap.add_argument("--threads", type=int, default=None, help="overrides train.threads (0 = all cores)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default=None, help="overrides train.device")
    ap.add_argument("--out", default="", help="directory for metrics.jsonl")
    ap.add_argument("--no-eval", action="store_true", help="train and report throughput only")
    args = ap.parse_args(argv)

    cfg = load_config(args.config, args.set)
    if args.data:
        cfg["data"]["path"] = args.data
    if args.threads is not None:
        cfg["train"]["threads"] = args.threads
    if args.device is not None:
        cfg["train"]["device"] = args.device
    threads = cfg["train"]["threads"] or os.cpu_count()
    torch.set_num_threads(threads)

    out = None
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        out = open(os.path.join(args.out, "metrics.jsonl"), "w")

    def log(record):
        line = json.dumps(record)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    if not cfg["data"]["path"]:
        sys.exit("no dataset: give --data or data.path")
    t0 = time.perf_counter()
    data = load_dataset(cfg["data"]["path"])
    log({"event": "data", "path": cfg["data"]["path"], "users": data.num_users, "items": data.num_items,
         "events": int(len(data.user)), "text_dim": int(data.text_emb.shape[1]),
         "seconds": time.perf_counter() - t0})
    trainer = Trainer(cfg, data)
    log(trainer.train(log))
    if not args.no_eval:
        L, k, an, seed = cfg["model"]["history_len"], cfg["eval"]["k"], cfg["eval"]["auc_negatives"], cfg["train"]["seed"]
        for split, subset in [("valid", "warm"), ("test", "warm"), ("test", "cold"), ("test", "cold_all")]:
            cases = make_eval_cases(data, split, subset, L)
            if len(cases.users):
                t0 = time.perf_counter()
                rec = evaluate(trainer, cases, k, an, seed)
                rec["seconds"] = time.perf_counter() - t0
                log(rec)
    if out:
        out.close()


if __name__ == "__main__":
    main()
