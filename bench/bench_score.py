"""Score-stage throughput and accuracy per inference path: BERT documents per CPU-second (per core),
before and after, with the AUC / macro-F1 of every path on the labelled test split.

Paths (both BERT heads, quality and domain, as the score stage runs them):

- ``before``: fp32, one encoder pass per head, batches in the order the old code used (documents
  sorted by character count);
- ``shared_fp32``: fp32, one encoder pass for both heads (the models share a frozen encoder),
  batches bucketed by token length;
- ``after``: ``shared_fp32`` + int8 dynamic quantization of the encoder's Linear layers;
- ``bf16`` (``--device cuda``: ``bf16`` and ``fp16`` on the GPU, ``before`` in fp32 there).

Speed is documents per CPU-second of the whole process tree (``os.times``: user + system of this
process and its children; torch runs 1 thread, so this is per core), on two text sets: real documents
from ``../shared/corpora`` (long, so every one is truncated; skipped when absent) and the labelled
test split (which also gives the accuracy). Target (issue 18): ``after`` >= 3x ``before`` per
CPU-second with AUC within 0.01. The machine's load average is recorded beside the figures.

    .venv/bin/python -m bench.bench_score [--quick] [--device cpu|cuda] [--models DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
FILES = ["en_wikipedia_vital_summaries", "en_linux_doc_txt", "en_manpages", "code_python_stdlib",
         "zh_peoples_daily_199801", "zh_debian_handbook", "zh_libreoffice_help", "zh_reviews_pos"]
TARGET_SPEEDUP = 3.0
AUC_TOLERANCE = 0.01


def cpu_seconds() -> float:
    """User + system CPU-seconds of this process (all threads) and its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _corpus_texts(corpora, n: int) -> list[str]:
    rng = random.Random(0)
    per = max(1, n // len(FILES))
    out = []
    for name in FILES:
        path = Path(corpora) / f"{name}.jsonl.gz"
        if not path.exists():
            continue
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            docs = [json.loads(line)["text"] for _, line in zip(range(per * 5), fh)]
        out += rng.sample(docs, min(per, len(docs)))
    rng.shuffle(out)
    return out


def _test_rows(limit: int | None) -> tuple[list[str], list[dict], list[dict]]:
    """Texts of the labelled test split (quality and domain rows, deduplicated), and the rows of each task."""
    from classifiers.data import load_labelled, task_rows

    rows = [r for r in load_labelled() if r["split"] == "test"]
    q_rows, d_rows = task_rows(rows, "quality"), task_rows(rows, "domain")
    if limit:
        rng = random.Random(0)
        q_rows, d_rows = rng.sample(q_rows, min(limit, len(q_rows))), rng.sample(d_rows, min(limit, len(d_rows)))
    texts = sorted({r["text"] for r in q_rows + d_rows})
    return texts, q_rows, d_rows


class Path_:
    """One inference path: a callable from texts to {"quality": scores, "domain": probabilities}."""

    def __init__(self, name: str, models: Path, device: str, precision: str, shared: bool, bucket: bool,
                 char_sorted: bool, batch_size: int):
        from classifiers.bert.predict import BertPredictor

        self.name, self.bucket, self.char_sorted, self.batch_size = name, bucket, char_sorted, batch_size
        self.q_path, self.d_path = str(models / "quality-bert"), str(models / "domain-bert")
        t0 = time.perf_counter()
        if shared:
            p = BertPredictor(self.q_path, device, precision, extra_heads=[self.d_path])
            self.units = [(p, [("quality", self.q_path), ("domain", self.d_path)])]
        else:
            self.units = [(BertPredictor(self.q_path, device, precision), [("quality", self.q_path)]),
                          (BertPredictor(self.d_path, device, precision), [("domain", self.d_path)])]
        self.load_s = time.perf_counter() - t0
        self.config = {"device": device, "precision": precision, "one_encoder_pass_for_both_heads": shared,
                       "bucket_by_token_length": bucket, "char_sorted_batches": char_sorted, "batch_size": batch_size}

    def __call__(self, texts: list[str]) -> dict:
        import numpy as np

        order = sorted(range(len(texts)), key=lambda i: -len(texts[i])) if self.char_sorted else range(len(texts))
        order = list(order)
        feed = [texts[i] for i in order]
        out = {}
        for pred, heads in self.units:
            scores = pred.predict_heads(feed, batch_size=self.batch_size, bucket_by_length=self.bucket)
            for role, key in heads:
                back = np.empty_like(scores[key])
                back[order] = scores[key]
                out[role] = back
        return out


def _measure(path: Path_, texts: list[str], sync) -> dict:
    path(texts[:8])  # warm-up
    sync()
    c0, t0 = cpu_seconds(), time.perf_counter()
    out = path(texts)
    sync()
    cpu, wall = cpu_seconds() - c0, time.perf_counter() - t0
    return {"out": out, "docs": len(texts), "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
            "docs_per_cpu_s": round(len(texts) / cpu, 2), "docs_per_wall_s": round(len(texts) / wall, 2)}


def _accuracy(out: dict, index: dict, q_rows: list[dict], d_rows: list[dict], labels: list[str]) -> dict:
    from classifiers.metrics import evaluate

    q = evaluate("quality", q_rows, [float(out["quality"][index[r["text"]]]) for r in q_rows])
    d = evaluate("domain", d_rows, [labels[int(out["domain"][index[r["text"]]].argmax())] for r in d_rows])
    return {"quality_auc": {g: round(m["auc"], 4) for g, m in q.items() if m.get("auc") is not None},
            "domain_macro_f1": {g: round(m["macro_f1"], 4) for g, m in d.items()},
            "domain_accuracy": round(d["all"]["accuracy"], 4)}


def run(ctx) -> dict:
    import numpy as np
    import torch

    device = getattr(ctx, "device", "cpu")
    repeat = int(getattr(ctx, "repeat", 1))
    models = Path(getattr(ctx, "models", None) or MODELS)
    missing = [p for p in ("quality-bert", "domain-bert") if not (models / p / "config.json").exists()]
    if missing:
        return {"skipped": f"models missing ({', '.join(missing)} in {models}): run `make classifiers`"}
    if device.startswith("cuda") and not torch.cuda.is_available():
        return {"skipped": "--device cuda but torch sees no GPU"}
    torch.set_num_threads(1)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    load_before = os.getloadavg()
    texts, q_rows, d_rows = _test_rows(120 if ctx.quick else None)
    index = {t: i for i, t in enumerate(texts)}
    corpus = _corpus_texts(ctx.corpora, 64 if ctx.quick else 384) if ctx.corpora else []
    if device == "cpu":
        specs = [("before", "fp32", False, False, True, 32), ("shared_fp32", "fp32", True, True, False, 32),
                 ("after", "int8", True, True, False, 32)]
    else:
        specs = [("before", "fp32", False, False, True, 128), ("shared_fp32", "fp32", True, True, False, 128),
                 ("after", "bf16", True, True, False, 128), ("fp16", "fp16", True, True, False, 128)]
    out: dict = {"device": device if device == "cpu" else f"{device} ({torch.cuda.get_device_name(0)})",
                 "torch_threads": torch.get_num_threads(), "models": str(models),
                 "test_split_docs": len(texts), "test_split_repeat_for_speed": repeat, "quality_test_rows": len(q_rows), "domain_test_rows": len(d_rows),
                 "corpus_docs": len(corpus), "corpus_mean_chars": round(np.mean([len(t) for t in corpus])) if corpus
                 else None, "paths": {}}
    results = {}
    for name, precision, shared, bucket, char_sorted, bs in specs:
        path = Path_(name, models, device, precision, shared, bucket, char_sorted, bs)
        labels = path.units[-1][0].head(path.d_path).labels
        rec: dict = {"config": path.config, "load_s": round(path.load_s, 2)}
        m = _measure(path, texts * repeat, sync)
        results[name] = {k: v[: len(texts)] for k, v in m.pop("out").items()}
        rec["test_split"] = m
        rec.update(_accuracy(results[name], index, q_rows, d_rows, labels))
        if corpus:
            m = _measure(path, corpus, sync)
            m.pop("out")
            rec["corpus"] = m
        out["paths"][name] = rec
        del path
    base = out["paths"]["before"]
    for name, rec in out["paths"].items():
        rec["speedup_vs_before"] = {k: round(rec[k]["docs_per_cpu_s"] / base[k]["docs_per_cpu_s"], 2)
                                    for k in ("test_split", "corpus") if k in rec}
        rec["quality_auc_delta_vs_before"] = round(rec["quality_auc"]["all"] - base["quality_auc"]["all"], 4)
        rec["max_abs_quality_score_diff_vs_before"] = round(float(np.abs(
            results[name]["quality"] - results["before"]["quality"]).max()), 4)
        rec["mean_abs_quality_score_diff_vs_before"] = round(float(np.abs(
            results[name]["quality"] - results["before"]["quality"]).mean()), 4)
    after = out["paths"]["after"]
    if device == "cpu":
        speed = min(after["speedup_vs_before"].values())
        ok = speed >= TARGET_SPEEDUP and abs(after["quality_auc_delta_vs_before"]) <= AUC_TOLERANCE
        out["target"] = {"what": f"after >= {TARGET_SPEEDUP}x before docs per CPU-second, quality AUC within "
                                 f"{AUC_TOLERANCE}", "speedup": speed,
                         "auc_delta": after["quality_auc_delta_vs_before"], "pass": ok}
    out["load_avg_before"] = [round(x, 2) for x in load_before]
    out["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main(argv: list[str] | None = None) -> None:
    from bench.run import find_corpora

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="120 test rows per task, 64 corpus documents")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--models", default=str(MODELS), help="directory holding quality-bert/ and domain-bert/")
    ap.add_argument("--no-corpora", action="store_true", help="test split only")
    ap.add_argument("--repeat", type=int, default=1, help="speed on the test split repeated N times (GPU)")
    args = ap.parse_args(argv)
    ctx = SimpleNamespace(corpora=None if args.no_corpora else find_corpora(), quick=args.quick,
                          device=args.device, models=args.models, repeat=args.repeat, out_dir=ROOT / "bench" / "results")
    print(json.dumps(run(ctx), indent=1))


if __name__ == "__main__":
    main()
