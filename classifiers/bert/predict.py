"""Load a saved BERT classifier once per process and score texts in batches."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch

from classifiers.bert.model import BertClassifier, encode

_CACHE: dict[tuple[str, str], BertPredictor] = {}
_LOCK = threading.Lock()


def pick_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class BertPredictor:
    """A loaded classifier. ``predict`` returns P(good) / the regression score (shape n) for the
    quality task and class probabilities (shape n x labels) for the domain task."""

    def __init__(self, path: str | Path, device: str = "auto"):
        from transformers import AutoTokenizer

        self.path = Path(path)
        self.device = pick_device(device)
        self.model = BertClassifier.from_pretrained(self.path).eval().to(self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        cfg = self.model.config
        self.task = getattr(cfg, "winnow_task", "domain")
        self.objective = self.model.objective
        self.max_tokens = int(getattr(cfg, "max_tokens", 128))
        self.truncation = getattr(cfg, "truncation", "head")
        self.labels = [cfg.id2label[i] for i in range(cfg.num_labels)] if self.objective == "multiclass" else None

    @torch.inference_mode()
    def predict(self, texts: list[str], batch_size: int = 32, max_tokens: int | None = None,
                truncation: str | None = None) -> np.ndarray:
        max_tokens = max_tokens or self.max_tokens
        truncation = truncation or self.truncation
        n = len(texts)
        width = 1 if self.objective != "multiclass" else len(self.labels)
        out = np.zeros((n, width), dtype=np.float32)
        # longest first, so batches hold texts of similar length (less padding)
        order = sorted(range(n), key=lambda i: -len(texts[i] or ""))
        for s in range(0, n, batch_size):
            idx = order[s: s + batch_size]
            enc = encode(self.tokenizer, [texts[i] for i in idx], max_tokens, truncation)
            enc = {k: v.to(self.device) for k, v in enc.items()}
            scores = self.model.scores(self.model(**enc)).float().cpu().numpy()
            out[idx] = scores.reshape(len(idx), width)
        return out[:, 0] if width == 1 else out

    def predict_labels(self, texts: list[str], **kw) -> tuple[list[str], np.ndarray]:
        probs = self.predict(texts, **kw)
        best = probs.argmax(1)
        return [self.labels[i] for i in best], probs[np.arange(len(best)), best]


def load_predictor(path: str | Path, device: str = "auto") -> BertPredictor:
    """One predictor per (path, device) per process: the model loads once per Python worker."""
    key = (str(Path(path).resolve()), pick_device(device))
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = BertPredictor(path, device)
        return _CACHE[key]
