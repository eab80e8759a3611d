"""Score-stage throughput: BERT (CPU, and GPU when present) and fastText, documents/s per core.

Uses the default models from ``make classifiers`` (models/quality-bert, models/domain-bert,
models/quality-fasttext.bin, models/domain-fasttext.bin); skips when they are absent. Texts are real
documents from ``../shared/corpora`` (English and Chinese, whole documents, so truncation matters), or
the shipped labelled set when the corpora are absent. torch runs with 1 thread, so docs/s is per core.

    .venv/bin/python -m bench.bench_score [--quick]
"""

from __future__ import annotations

import gzip
import json
import random
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
FILES = ["en_wikipedia_vital_summaries", "en_linux_doc_txt", "en_manpages", "code_python_stdlib",
         "zh_peoples_daily_199801", "zh_debian_handbook", "zh_libreoffice_help", "zh_reviews_pos"]


def _texts(ctx, n: int) -> tuple[list[str], str]:
    rng = random.Random(0)
    if ctx.corpora:
        per = max(1, n // len(FILES))
        out = []
        for name in FILES:
            path = Path(ctx.corpora) / f"{name}.jsonl.gz"
            if not path.exists():
                continue
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                docs = [json.loads(line)["text"] for _, line in zip(range(per * 5), fh)]
            out += rng.sample(docs, min(per, len(docs)))
        rng.shuffle(out)
        return out, "corpora"
    from classifiers.data import load_labelled

    rows = [r["text"] for r in load_labelled()]
    rng.shuffle(rows)
    return rows[:n], "data/labelled"


def _rate(fn, texts: list[str], repeat: int = 1) -> float:
    fn(texts[:8])  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn(texts)
    return repeat * len(texts) / (time.perf_counter() - t0)


def run(ctx) -> dict:
    import torch

    from classifiers.bert.predict import BertPredictor
    from classifiers.fasttext_clf import FastTextClassifier

    paths = {"quality_bert": MODELS / "quality-bert", "domain_bert": MODELS / "domain-bert",
             "quality_fasttext": MODELS / "quality-fasttext.bin", "domain_fasttext": MODELS / "domain-fasttext.bin"}
    missing = [k for k, p in paths.items() if not p.exists()]
    if missing:
        return {"skipped": f"models missing ({', '.join(missing)}): run `make classifiers`"}
    n = 64 if ctx.quick else 384
    texts, origin = _texts(ctx, n)
    mean_chars = sum(len(t) for t in texts) / len(texts)
    torch.set_num_threads(1)
    out: dict = {"docs": len(texts), "text_source": origin, "mean_chars_per_doc": round(mean_chars),
                 "torch_threads": 1, "cpu_note": "docs/s with 1 torch thread = docs/s per core"}
    q = BertPredictor(paths["quality_bert"], device="cpu")
    d = BertPredictor(paths["domain_bert"], device="cpu")
    bert = {}
    for max_tokens, trunc, bs in [(128, "head", 32), (128, "head_tail", 32), (256, "head", 32), (128, "head", 8)]:
        key = f"quality_{trunc}_{max_tokens}tok_bs{bs}"
        bert[key] = round(_rate(lambda t, mt=max_tokens, tr=trunc, b=bs: q.predict(t, batch_size=b, max_tokens=mt,
                                                                                 truncation=tr), texts), 2)
    bert["domain_head_128tok_bs32"] = round(_rate(lambda t: d.predict_labels(t, batch_size=32), texts), 2)
    out["bert_cpu_docs_per_s_per_core"] = bert
    ft_q = FastTextClassifier(paths["quality_fasttext"])
    ft_d = FastTextClassifier(paths["domain_fasttext"])
    ft = {"quality": round(_rate(ft_q.predict, texts, repeat=3), 1),
          "domain": round(_rate(ft_d.predict_labels, texts, repeat=3), 1)}
    out["fasttext_docs_per_s_per_core"] = ft
    # the whole stage (4 models) through the operator path the runner uses
    from operators.score import Scorer
    from pipeline.local import make_table, run_operator

    op = Scorer(quality_model=str(paths["quality_bert"]), domain_model=str(paths["domain_bert"]),
                quality_fasttext=str(paths["quality_fasttext"]), domain_fasttext=str(paths["domain_fasttext"]),
                device="cpu", torch_threads=1)
    op.setup()
    table = make_table(texts)
    t0 = time.perf_counter()
    res = run_operator(op, table, batch_size=256)
    out["stage_all_four_models_docs_per_s_per_core"] = round(table.num_rows / (time.perf_counter() - t0), 2)
    assert res.kept.num_rows == table.num_rows
    base = bert["quality_head_128tok_bs32"]
    out["fasttext_over_bert_speedup"] = round(ft["quality"] / base, 1)
    if torch.cuda.is_available():
        qg = BertPredictor(paths["quality_bert"], device="cuda")
        out["bert_gpu_docs_per_s"] = {
            "device": torch.cuda.get_device_name(0),
            "quality_head_128tok_bs128": round(_rate(lambda t: qg.predict(t, batch_size=128), texts * 4), 1)}
    else:
        out["bert_gpu_docs_per_s"] = None
        out["gpu_note"] = "no GPU in this run"
    return out


if __name__ == "__main__":
    from bench.run import find_corpora

    quick = "--quick" in sys.argv
    ctx = SimpleNamespace(corpora=find_corpora(), quick=quick, out_dir=ROOT / "bench" / "results")
    print(json.dumps(run(ctx), indent=1))
