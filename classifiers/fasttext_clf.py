"""fastText twins of the BERT classifiers: same tasks, same labelled set, same evaluation files.

Text is lower-cased and tokenized (jieba words for Chinese runs, word/punctuation tokens otherwise);
``fasttext.train_supervised`` adds word bigrams and character 2-4-grams. The number of epochs is
picked on the validation split (fastText has no early stopping of its own). A model is one ``.bin``
file; its metrics, report, confusion PNGs and model card are written beside it as
``<name>.metrics.json`` etc. (in a ``<name>.eval/`` folder).
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from classifiers.build_labelled import DOMAINS
from classifiers.data import split_rows, task_rows
from classifiers.metrics import evaluate, summary_line, write_eval

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_CACHE: dict[str, FastTextClassifier] = {}
_LOCK = threading.Lock()
MAX_CHARS = 2000


def tokenize(text: str, max_chars: int = MAX_CHARS) -> str:
    """One line of space-separated tokens, as fastText wants it."""
    text = (text or "")[:max_chars].lower()
    out: list[str] = []
    pos = 0
    for m in _CJK_RUN.finditer(text):
        out.extend(_TOKEN.findall(text[pos: m.start()]))
        import jieba

        out.extend(w for w in jieba.lcut(m.group(0)) if w.strip())
        pos = m.end()
    out.extend(_TOKEN.findall(text[pos:]))
    return " ".join(out)


def _label_of(row: dict, task: str) -> str:
    return f"__label__{row[task]}"


class FastTextClassifier:
    """A trained fastText model. ``predict`` mirrors the BERT predictor: P(good) for quality,
    (labels, probabilities of the best label) via ``predict_labels`` for domain."""

    def __init__(self, path: str | Path):
        import fasttext

        self.path = Path(path)
        self.model = fasttext.load_model(str(self.path))
        self.labels = [lab.removeprefix("__label__") for lab in self.model.get_labels()]
        meta = self.path.with_suffix(".json")
        self.task = json.loads(meta.read_text())["task"] if meta.exists() else (
            "quality" if set(self.labels) <= {"0", "1"} else "domain")

    def _probs(self, texts: list[str]) -> np.ndarray:
        lines = [tokenize(t) for t in texts]
        labs, probs = self.model.predict(lines, k=-1)
        index = {lab: i for i, lab in enumerate(self.labels)}
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for i, (ls, ps) in enumerate(zip(labs, probs)):
            for lab, p in zip(ls, ps):
                out[i, index[lab.removeprefix("__label__")]] = p
        return out

    def predict(self, texts: list[str]) -> np.ndarray:
        probs = self._probs(texts)
        if self.task == "quality":
            return probs[:, self.labels.index("1")] if "1" in self.labels else np.zeros(len(texts), np.float32)
        return probs

    def predict_labels(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        probs = self._probs(texts)
        best = probs.argmax(1)
        return [self.labels[i] for i in best], probs[np.arange(len(best)), best]


def load_fasttext(path: str | Path) -> FastTextClassifier:
    key = str(Path(path).resolve())
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = FastTextClassifier(path)
        return _CACHE[key]


def train_fasttext(rows: list[dict], out_path: str | Path, task: str, epochs_grid=(5, 15, 30, 50),
                   lr: float = 0.5, dim: int = 64, word_ngrams: int = 2, minn: int = 2, maxn: int = 4,
                   bucket: int = 200_000, seed: int = 0, log=print) -> dict:
    import fasttext

    t0 = time.time()
    out_path = Path(out_path)
    rows = task_rows(rows, task)
    parts = split_rows(rows)
    eval_key = "test" if parts["test"] else "val"
    val_key = "val" if parts["val"] else "train"
    toks = {k: [tokenize(r["text"]) for r in v] for k, v in parts.items()}
    best = None
    with tempfile.TemporaryDirectory() as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("".join(f"{_label_of(r, task)} {t}\n" for r, t in zip(parts["train"], toks["train"])),
                              encoding="utf-8")
        for ep in epochs_grid:
            m = fasttext.train_supervised(str(train_file), epoch=ep, lr=lr, dim=dim, wordNgrams=word_ngrams,
                                          minn=minn, maxn=maxn, bucket=bucket, thread=1, seed=seed, verbose=0)
            labs, _ = m.predict(toks[val_key], k=1)
            acc = float(np.mean([lab[0] == _label_of(r, task) for lab, r in zip(labs, parts[val_key])]))
            if best is None or acc > best[0] + 1e-9:
                best = (acc, ep, m)
    acc, ep, model = best
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model.save_model(str(out_path))
    meta = {"task": task, "epochs": ep, "val_accuracy": acc, "lr": lr, "dim": dim, "wordNgrams": word_ngrams,
            "minn": minn, "maxn": maxn, "bucket": bucket, "tokenizer": "lower + jieba (CJK) / \\w+ tokens",
            "max_chars": MAX_CHARS}
    out_path.with_suffix(".json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    clf = FastTextClassifier(out_path)
    eval_rows = parts[eval_key]
    texts = [r["text"] for r in eval_rows]
    preds = clf.predict(texts).tolist() if task == "quality" else clf.predict_labels(texts)[0]
    metrics = evaluate(task, eval_rows, preds)
    seconds = round(time.time() - t0, 1)
    log(f"fasttext {task} ({eval_key} split, {ep} epochs): {summary_line(task, metrics)} [{seconds}s]")
    ev = out_path.with_suffix(".eval")
    write_eval(ev, task, metrics, {"model": "fasttext", "config": meta, "eval_split": eval_key,
                                   "train_seconds": seconds, "sizes": {k: len(v) for k, v in parts.items()}})
    labels = [0, 1] if task == "quality" else [d for d in DOMAINS if d in {r["domain"] for r in parts["train"]}]
    card = [f"# Winnow fastText {task} classifier", "",
            f"- trained {time.strftime('%Y-%m-%d %H:%M')} by `classifiers.fasttext_clf` ({seconds}s)",
            f"- settings: {json.dumps(meta)}", f"- labels: {labels}",
            "- data: Winnow's labelled set (`data/labelled`, provenance in its README)",
            f"- {eval_key} split: {summary_line(task, metrics)}"]
    (ev / "README.md").write_text("\n".join(card) + "\n", encoding="utf-8")
    with _LOCK:
        _CACHE.pop(str(out_path.resolve()), None)
    return metrics
