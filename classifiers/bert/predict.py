"""Load saved BERT classifiers once per process and score texts in batches.

One ``BertPredictor`` is one encoder and one or more heads. Classifiers trained in ``frozen`` mode
(the default) keep their encoder's weights untouched, so the quality and domain models carry the same
encoder: ``load_predictor(path, extra_heads=[other])`` loads it once and runs it once per document for
both heads (``encoder_fingerprint`` checks the weights, pooling and input settings are identical;
models with fine-tuned encoders differ and cannot share a pass).

Inference options (each a keyword with a default):

- ``precision``: ``fp32``; ``int8`` (CPU: ``torch.ao.quantization.quantize_dynamic`` on the encoder's
  Linear layers, int8 per-channel weights, activations quantized on the fly; the heads stay fp32);
  ``bf16`` / ``fp16`` (weights cast, meant for a GPU; ``bf16`` also runs on CPU, slowly without AMX).
  int8 quantizes each Linear's input with one scale per batch tensor, so a document's int8 score
  moves with the other documents of its batch (mean 0.03, max 0.34 on 64 test documents, alone vs
  in one batch); AUC stays within 0.01 of fp32 (docs/classifiers.md). fp32 scores do not move.
- ``bucket_by_length`` (True): tokenize the whole input once, run batches of documents of similar token
  length (less padding), return scores in input order.
- ``batch_size`` (32): documents per forward pass.
"""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from classifiers.bert.model import (
    BertClassifier,
    head_scores,
    make_head,
    pad_rows,
    pool_layers_of,
    token_rows,
)

PRECISIONS = ("fp32", "int8", "bf16", "fp16")
_HALF = {"bf16": torch.bfloat16, "fp16": torch.float16}

_CACHE: dict[tuple, BertPredictor] = {}
_FINGERPRINTS: dict[tuple, str] = {}
_LOCK = threading.RLock()  # load_predictor holds it while encoder_fingerprint takes it
# Model loads in this process, per model directory (read by tests: a Spark Python worker loads once).
LOADS: Counter = Counter()


def pick_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def pick_precision(precision: str, device: str) -> str:
    """``auto``: fp32 everywhere. On CPU int8 changes scores with batch neighbours; on an H200 the
    shipped MiniLM-sized encoder scored 5,890 docs/s in fp32 against 3,150 in bf16 and 3,700 in fp16
    (bench_score --device cuda, one encoder pass, batch 128): tokenization, not the GPU, is the limit,
    and the casts cost more than half precision saves. bf16/fp16 stay selectable for larger encoders.
    int8 is CPU-only."""
    if precision == "auto":
        return "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be auto or one of {PRECISIONS}, got {precision!r}")
    if precision == "int8" and device != "cpu":
        raise ValueError("precision int8 (dynamic quantization) runs on CPU only; use bf16 or fp16 on a GPU")
    return precision


def encoder_fingerprint(path: str | Path) -> str:
    """A hash of everything that decides a model's pooled embedding: the encoder weights (not the
    head), the pooling layers, the input settings and the tokenizer. Equal fingerprints = one pass."""
    from safetensors import safe_open

    path = Path(path).resolve()
    weights = path / "model.safetensors"
    key = (str(path), weights.stat().st_mtime_ns, weights.stat().st_size)
    with _LOCK:
        if key in _FINGERPRINTS:
            return _FINGERPRINTS[key]
    cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    h = hashlib.sha1()
    for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size",
              "pool_layers", "max_tokens", "truncation", "hidden_act", "layer_norm_eps"):
        h.update(f"{k}={cfg.get(k)};".encode())
    for name in ("tokenizer.json", "vocab.txt"):
        if (path / name).exists():
            h.update((path / name).read_bytes())
    with safe_open(str(weights), framework="pt") as f:
        for k in sorted(f.keys()):
            if not k.startswith("head."):
                h.update(k.encode())
                h.update(f.get_tensor(k).contiguous().view(torch.uint8).numpy().tobytes())
    fp = h.hexdigest()
    with _LOCK:
        _FINGERPRINTS[key] = fp
    return fp


@dataclass
class Head:
    """One classifier head on a shared encoder's pooled embedding."""

    path: str
    module: nn.Module
    task: str
    objective: str
    labels: list[str] | None

    @property
    def width(self) -> int:
        return 1 if self.objective != "multiclass" else len(self.labels or [])


def _head_of(model_path: Path, config, module: nn.Module) -> Head:
    objective = getattr(config, "winnow_objective", "multiclass")
    labels = [config.id2label[i] for i in range(config.num_labels)] if objective == "multiclass" else None
    return Head(str(model_path), module.eval(), getattr(config, "winnow_task", "domain"), objective, labels)


def _load_head(path: Path) -> Head:
    """Only the head of a saved classifier (its encoder is the one already loaded)."""
    from safetensors import safe_open
    from transformers import BertConfig

    config = BertConfig.from_pretrained(path)
    module = make_head(config)
    with safe_open(str(path / "model.safetensors"), framework="pt") as f:
        state = {k[len("head."):]: f.get_tensor(k) for k in f.keys() if k.startswith("head.")}
    module.load_state_dict(state)
    return _head_of(path, config, module)


class BertPredictor:
    """A loaded encoder and its heads. ``predict_heads`` returns every head's scores from one encoder
    pass; ``predict`` / ``predict_labels`` the first head's (P(good) or the regression score, shape n,
    for the quality task; class probabilities, n x labels, for the domain task).

    Args:
        path: a saved classifier directory (its encoder and head).
        device: ``auto`` (GPU when present), ``cpu``, ``cuda[:n]``.
        precision: ``fp32``, ``int8`` (CPU), ``bf16``, ``fp16`` or ``auto`` (fp32: see ``pick_precision``).
        extra_heads: other classifier directories whose encoder is identical (``encoder_fingerprint``):
            their heads are added and run on the same encoder pass. A different encoder raises.
    """

    def __init__(self, path: str | Path, device: str = "auto", precision: str = "fp32",
                 extra_heads: tuple[str | Path, ...] | list[str | Path] = ()):
        from transformers import AutoTokenizer

        self.path = Path(path)
        self.device = pick_device(device)
        self.precision = pick_precision(precision, self.device)
        LOADS[str(self.path.resolve())] += 1
        self.model = BertClassifier.from_pretrained(self.path).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        cfg = self.model.config
        self.task = getattr(cfg, "winnow_task", "domain")
        self.objective = self.model.objective
        self.max_tokens = int(getattr(cfg, "max_tokens", 128))
        self.truncation = getattr(cfg, "truncation", "head")
        self.pool_layers = pool_layers_of(cfg)
        self.labels = [cfg.id2label[i] for i in range(cfg.num_labels)] if self.objective == "multiclass" else None
        self.heads: dict[str, Head] = {str(self.path): _head_of(self.path, cfg, self.model.head)}
        if extra_heads:
            mine = encoder_fingerprint(self.path)
            for p in map(Path, extra_heads):
                if encoder_fingerprint(p) != mine:
                    raise ValueError(f"{p} and {self.path} do not share an encoder (weights, pooling, input "
                                     "settings or tokenizer differ: a fine-tuned encoder?); score them apart")
                LOADS[str(p.resolve())] += 1
                self.heads[str(p)] = _load_head(p)
        self._apply_precision()

    def _apply_precision(self) -> None:
        if self.precision == "int8":
            # Linear layers of the encoder only: the small heads stay fp32 (the embedding they read is fp32)
            # (per-channel weight scales: on the test split, AUC 0.9616 vs fp32 0.9665; per-tensor gave 0.9593)
            with warnings.catch_warnings():  # torch.ao.quantization's deprecation notice (still in torch 2.13)
                warnings.simplefilter("ignore")
                qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
                self.model.bert = torch.ao.quantization.quantize_dynamic(self.model.bert, {nn.Linear: qconfig})
        self.model.to(self.device)
        for h in self.heads.values():
            h.module.to(self.device)
        if self.precision in _HALF:
            self.model.to(_HALF[self.precision])
            for h in self.heads.values():
                h.module.to(_HALF[self.precision])

    def head(self, path: str | Path) -> Head:
        return self.heads[str(path)]

    @torch.inference_mode()
    def predict_heads(self, texts: list[str], batch_size: int = 32, max_tokens: int | None = None,
                      truncation: str | None = None, bucket_by_length: bool = True) -> dict[str, np.ndarray]:
        """Scores of every head (keyed by its model path) from one encoder pass per batch, in input order.

        ``bucket_by_length``: batches hold documents of similar token length (sorted within ``texts``,
        order restored after); False: batches follow the input order."""
        max_tokens = max_tokens or self.max_tokens
        truncation = truncation or self.truncation
        n = len(texts)
        out = {k: np.zeros((n, h.width), dtype=np.float32) for k, h in self.heads.items()}
        if n:
            rows = token_rows(self.tokenizer, texts, max_tokens, truncation)
            order = sorted(range(n), key=lambda i: -len(rows[i])) if bucket_by_length else list(range(n))
            for s in range(0, n, batch_size):
                idx = order[s: s + batch_size]
                enc = pad_rows([rows[i] for i in idx], self.tokenizer.pad_token_id)
                emb = self.model.embed(enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device))
                for k, h in self.heads.items():
                    logits = h.module(emb.to(next(h.module.parameters()).dtype)).float()
                    out[k][idx] = head_scores(h.objective, logits).cpu().numpy().reshape(len(idx), h.width)
        return {k: (v[:, 0] if self.heads[k].width == 1 and self.heads[k].objective != "multiclass" else v)
                for k, v in out.items()}

    def predict(self, texts: list[str], batch_size: int = 32, max_tokens: int | None = None,
                truncation: str | None = None, bucket_by_length: bool = True) -> np.ndarray:
        """The first head's scores (this model's own)."""
        return self.predict_heads(texts, batch_size, max_tokens, truncation, bucket_by_length)[str(self.path)]

    def predict_labels(self, texts: list[str], **kw) -> tuple[list[str], np.ndarray]:
        return best_labels(self.heads[str(self.path)], self.predict(texts, **kw))


def best_labels(head: Head, probs: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The best label of each row of a multiclass head's probabilities, and its probability."""
    if head.labels is None:
        raise ValueError(f"{head.path} is a {head.objective} model, not a multiclass one")
    best = probs.argmax(1)
    return [head.labels[i] for i in best], probs[np.arange(len(best)), best]


def load_predictor(path: str | Path, device: str = "auto", precision: str = "fp32",
                   extra_heads: tuple[str | Path, ...] | list[str | Path] = ()) -> BertPredictor:
    """One predictor per (paths, device, precision) per process: the model loads once per Python worker
    (Spark reuses a Python worker for the tasks it runs, so once per executor core, not per task)."""
    dev = pick_device(device)
    key = (str(Path(path).resolve()), tuple(str(Path(p).resolve()) for p in extra_heads), dev,
           pick_precision(precision, dev))
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = BertPredictor(path, device, precision, extra_heads)
        return _CACHE[key]
