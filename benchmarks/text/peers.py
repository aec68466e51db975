#!/usr/bin/env python3
"""Sentence-encoding throughput of the peers hybrec's C++ BERT encoder is
compared with: sentence-transformers (PyTorch, CPU) and onnxruntime (CPU), for
sentence-transformers/all-MiniLM-L6-v2, at batch 64, on deterministic
English-like texts of about 16, 64 and 128 tokens ([CLS]/[SEP] included).

    ~/.cache/hybrec/peers-venv/bin/python benchmarks/text/peers.py \
        --model models/all-MiniLM-L6-v2 --threads 1 [--reps 5] [--texts-out texts.json]

Timing covers tokenisation + model + mean pooling + L2 normalisation for both
engines (sentence-transformers: model.encode; onnxruntime: the fast tokenizer,
session.run on last_hidden_state, pooling/normalisation in numpy). Each
(engine, length) gets one warm-up pass over all texts, then --reps timed passes;
one JSON line per (engine, length) with the median and range of sentences/s.

The ONNX model is exported once with torch.onnx.export (HF BertModel ->
last_hidden_state; pooling outside the graph) into --onnx-dir and reused.
The venv comes from benchmarks/text/setup.sh.
"""
import argparse
import json
import os
import random
import statistics
import sys
import time

# Word list for the generated texts: common English words; only those the
# tokenizer maps to exactly one WordPiece are used, so the token count is exact.
WORDS = """the of and to in is was for on that with as by at from his her an it be are this
which or had not but have one were they all their there been has when who will more no if out so
said what up its about into than them can only other new some time could these two may then do
first any my now such like our over man me even most made after also did many before must through
back years where much your way well down should because each just those people how too little state
good very make world still own see men work long get here between both life being under never day
same another know while last might us great old year off come since against go came right used take
three states himself few house use during without again place american around however home small
found mrs thought went say part once general high upon school every don does got united left number
course war until always away something fact though water less public put think almost hand enough
far took head yet government system better set told nothing night end why called didn find look
asked later knew point next program city business give group toward young days let room president
side social present given several order national possible rather second face per among form
important often things looked early white case john become large big need four within felt along
children saw best church ever least power development light thing seemed family interest want
members mind country area others done turned although open problem sense service certain kind began
thus help means whole god law either field five love story movie film music book music game song
river mountain garden window table market history science nature summer winter evening morning
""".split()

DEFAULT_MODEL = "models/all-MiniLM-L6-v2"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL, help="model directory (HF layout)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--sentences", type=int, default=256, help="texts per length (a multiple of --batch is best)")
    ap.add_argument("--lengths", default="16,64,128", help="target token counts, [CLS]/[SEP] included")
    ap.add_argument("--engines", default="sentence-transformers,onnxruntime")
    ap.add_argument("--onnx-dir", default=os.path.expanduser("~/.cache/hybrec/minilm-onnx"),
                    help="where the exported model.onnx is cached")
    ap.add_argument("--texts-out", default="", help="write the generated texts as JSON {\"16\": [...], ...}")
    ap.add_argument("--texts-only", action="store_true", help="only generate (and write) the texts")
    ap.add_argument("--seed", type=int, default=12345)
    return ap.parse_args()


args = parse_args()
# Thread settings before the heavy imports: the fast tokenizer's batch encode
# uses a Rayon pool sized from RAYON_NUM_THREADS; OpenMP for torch/numpy.
os.environ.setdefault("RAYON_NUM_THREADS", str(args.threads))
os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true" if args.threads > 1 else "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(args.threads)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass

from transformers import AutoTokenizer  # noqa: E402


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def make_texts(tok, target, count, seed):
    """count distinct texts of exactly `target` tokens ([CLS] + words + '.' + [SEP])."""
    single = [w for w in dict.fromkeys(WORDS) if len(tok.tokenize(w)) == 1]
    rng = random.Random(seed * 1000 + target)
    n_words = target - 3  # [CLS], '.', [SEP]
    texts = []
    for _ in range(count):
        words = [rng.choice(single) for _ in range(n_words)]
        words[0] = words[0].capitalize()
        text = " ".join(words) + "."
        n = len(tok(text)["input_ids"])
        if abs(n - target) > 2:
            raise SystemExit(f"generated text has {n} tokens, wanted {target}: {text!r}")
        texts.append(text)
    return texts


def bench(fn, texts, reps):
    fn(texts)  # warm-up: one full pass (ORT's first runs are slow)
    sps = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(texts)
        sps.append(len(texts) / (time.perf_counter() - t0))
    return sps


def export_onnx(model_dir, onnx_dir):
    path = os.path.join(onnx_dir, "model.onnx")
    stamp = os.path.join(onnx_dir, "source.json")
    src = {"model": os.path.abspath(model_dir),
           "mtime": os.path.getmtime(os.path.join(model_dir, "model.safetensors")),
           "torch": torch.__version__}
    if os.path.exists(path) and os.path.exists(stamp):
        try:
            if json.load(open(stamp)) == src:
                return path
        except ValueError:
            pass
    from transformers import AutoModel
    os.makedirs(onnx_dir, exist_ok=True)
    bert = AutoModel.from_pretrained(model_dir).eval()

    class LastHidden(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state

    w = LastHidden(bert).eval()
    ids = torch.randint(1000, 2000, (2, 16))
    ex = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    t0 = time.perf_counter()
    try:  # torch's current exporter (dynamo; needs onnxscript)
        b, s = torch.export.Dim("batch"), torch.export.Dim("seq", max=512)
        torch.onnx.export(w, ex, path, dynamo=True, input_names=names, output_names=["last_hidden_state"],
                          dynamic_shapes={n: {0: b, 1: s} for n in names})
        how = "dynamo"
    except Exception as e:  # the TorchScript exporter
        log(f"onnx: dynamo export failed ({type(e).__name__}: {e}); trying dynamo=False")
        torch.onnx.export(w, ex, path, dynamo=False, input_names=names, output_names=["last_hidden_state"],
                          opset_version=17,
                          dynamic_axes={n: {0: "batch", 1: "seq"} for n in names + ["last_hidden_state"]})
        how = "torchscript"
    log(f"onnx: exported {path} ({how}) in {time.perf_counter() - t0:.1f} s")
    json.dump(src, open(stamp, "w"))
    return path


def main():
    lengths = [int(x) for x in args.lengths.split(",") if x]
    tok = AutoTokenizer.from_pretrained(args.model)
    texts = {L: make_texts(tok, L, args.sentences, args.seed) for L in lengths}
    if args.texts_out:
        os.makedirs(os.path.dirname(os.path.abspath(args.texts_out)), exist_ok=True)
        with open(args.texts_out, "w") as f:
            json.dump({str(L): texts[L] for L in lengths}, f, indent=0)
        log(f"texts: wrote {args.texts_out}")
    if args.texts_only:
        return

    max_len = 256
    common = {"model": "all-MiniLM-L6-v2", "device": "cpu", "threads": args.threads, "batch": args.batch,
              "sentences": args.sentences, "reps": args.reps}
    engines = [e for e in args.engines.split(",") if e]
    for engine in engines:
        if engine == "sentence-transformers":
            import sentence_transformers
            from sentence_transformers import SentenceTransformer
            st = SentenceTransformer(args.model, device="cpu").eval()
            max_len = int(st.max_seq_length)
            version = sentence_transformers.__version__

            def fn(batch_texts):
                with torch.inference_mode():
                    return st.encode(batch_texts, batch_size=args.batch, convert_to_numpy=True,
                                     normalize_embeddings=False, show_progress_bar=False)
        elif engine == "onnxruntime":
            import onnxruntime as ort
            path = export_onnx(args.model, args.onnx_dir)
            so = ort.SessionOptions()
            so.intra_op_num_threads = args.threads
            so.inter_op_num_threads = 1
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
            in_names = [i.name for i in sess.get_inputs()]
            version = ort.__version__

            def fn(batch_texts):
                out = []
                for i in range(0, len(batch_texts), args.batch):
                    enc = tok(batch_texts[i:i + args.batch], padding=True, truncation=True,
                              max_length=max_len, return_tensors="np")
                    feed = {n: enc[n].astype(np.int64) for n in in_names}
                    h = sess.run(None, feed)[0]
                    m = enc["attention_mask"][..., None].astype(np.float32)
                    e = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
                    e /= np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
                    out.append(e)
                return np.concatenate(out)
        else:
            raise SystemExit(f"unknown engine {engine}")

        for L in lengths:
            toks = [len(x) for x in tok(texts[L])["input_ids"]]
            sps = bench(fn, texts[L], args.reps)
            print(json.dumps({"engine": engine, "version": version, **common, "target_tokens": L,
                              "mean_tokens": round(sum(toks) / len(toks), 2),
                              "median_sps": round(statistics.median(sps), 2),
                              "min_sps": round(min(sps), 2), "max_sps": round(max(sps), 2),
                              "sps": [round(x, 2) for x in sps]}), flush=True)


if __name__ == "__main__":
    main()
