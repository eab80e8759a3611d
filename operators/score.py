"""The score stage: model scores as columns, decisions as separate, optional thresholds.

Columns (``FIELDS``):

- ``quality_score`` (float32): P(good document) from the BERT quality model (or its regression score);
- ``domain`` (string), ``domain_score`` (float32): the BERT domain model's best label and its probability;
- ``quality_score_fasttext``, ``domain_fasttext``, ``domain_score_fasttext``: the fastText twins,
  when their models are configured.

Models load once per Python worker (module-level caches in ``classifiers.bert.predict`` and
``classifiers.fasttext_clf``; Spark reuses a Python worker across tasks, so once per executor core,
not per task); inference is batched under ``torch.inference_mode`` on texts truncated to
``max_tokens`` tokens (``head`` or ``head_tail``), on the GPU when the worker has one.

Speed options: the quality and domain BERT models trained on one frozen encoder share one encoder
pass per document (``share_encoder``); batches are bucketed by token length within an Arrow batch
(``bucket_by_length``); ``precision`` picks fp32, int8 (CPU, dynamic quantization), bf16 or fp16.

Code is not scored: rows whose ``kind`` column (``contract.schema.KIND``, set by langid) is ``code``
skip the models, which were trained on prose: ``quality_score`` (and ``quality_score_fasttext``) stay
null, ``domain`` (and ``domain_fasttext``) is ``code``, the domain scores stay null. The gate keeps
them: ``min_quality`` never rejects a null score; ``exclude_domains: [code]`` drops them. Without a
``kind`` column every row is prose. ``score_code=True`` runs the prose models on code anyway.

Thresholds (``min_quality``, ``exclude_domains``) reject rows with reasons ``low_quality`` and
``domain_excluded``; they only read the score columns. A row that already carries a score (from an
earlier score stage) is not scored again unless ``rescore=True``, so a pipeline can score once and put
its thresholds in a second ``score`` stage without models::

    - stage: score
      params: {quality_model: models/quality-bert, domain_model: models/domain-bert}
    - stage: score
      name: quality_gate
      params: {min_quality: 0.5, exclude_domains: [ads_spam]}

Changing the gate's thresholds then re-runs only the gate, never the models.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contract import schema as S
from contract.operator import BatchResult, Operator, append_columns, split_batch

FIELDS = {f.name: f for f in (
    pa.field("quality_score", pa.float32()),
    S.category_field("domain"),
    pa.field("domain_score", pa.float32()),
    pa.field("quality_score_fasttext", pa.float32()),
    S.category_field("domain_fasttext"),
    pa.field("domain_score_fasttext", pa.float32()),
)}
LOW_QUALITY = "low_quality"
CODE_DOMAIN = S.KIND_CODE  # the domain given to code rows, which skip the prose-trained models
PRECISIONS = ("auto", "fp32", "int8", "bf16", "fp16")
SHARE_ENCODER = ("auto", "always", "never")
DOMAIN_EXCLUDED = "domain_excluded"

_THREADS_SET = False


def _set_threads(n: int | None) -> None:
    """torch threads per Python worker (Spark runs one worker per core: 1 avoids oversubscription)."""
    global _THREADS_SET
    if n and not _THREADS_SET:
        import torch

        torch.set_num_threads(int(n))
        _THREADS_SET = True


class Scorer(Operator):
    """Adds model scores, then applies the optional thresholds.

    Args:
        quality_model: directory of a BERT quality classifier (``make classifiers``: models/quality-bert).
        domain_model: directory of a BERT domain classifier (models/domain-bert).
        quality_fasttext / domain_fasttext: fastText ``.bin`` twins (models/quality-fasttext.bin, ...).
        max_tokens: tokens per document fed to BERT (None: the model's training setting, 128 by default).
        truncation: ``head`` or ``head_tail`` (None: the model's training setting).
        batch_size: documents per BERT forward pass (32).
        device: ``auto`` (GPU when present), ``cpu`` or ``cuda[:n]``.
        precision: ``auto`` (fp32 on CPU and GPU: measured faster than bf16 for the shipped encoder), ``fp32``, ``int8`` (CPU only: dynamic
            quantization of the encoder's Linear layers; AUC within 0.01 of fp32, scores move with
            batch neighbours), ``bf16`` or ``fp16``.
        bucket_by_length: run BERT on batches of similar token length within each Arrow batch (True).
        share_encoder: ``auto``: quality and domain models with an identical (frozen) encoder share one
            encoder pass, others run apart; ``always``: require sharing (error if the encoders differ);
            ``never``: one pass per model.
        score_code: run the prose-trained models on rows whose ``kind`` is ``code`` too (False: those
            rows get null scores and domain ``code``).
        torch_threads: torch intra-op threads per Python worker (1: one per Spark task slot); None leaves torch's default.
        min_quality: reject rows whose ``quality_field`` is below this (reason ``low_quality``); None: no threshold.
        quality_field: the column ``min_quality`` reads (``quality_score`` or ``quality_score_fasttext``).
        exclude_domains: reject rows whose ``domain_field`` is one of these (reason ``domain_excluded``)...
        min_domain_score: ...when its probability is at least this (0.0: always).
        domain_field: ``domain`` or ``domain_fasttext``.
        rescore: score rows that already carry a score column (default False: keep the existing score).
    """

    name = "score"
    version = "2"  # 2: shared encoder pass, code rows skipped, precision auto = fp32 on a GPU too
    metrics = {"score/docs_scored": "documents that went through at least one model",
               "score/code_skipped": "documents of kind code that skipped the prose-trained models"}

    def __init__(self, quality_model: str | None = None, domain_model: str | None = None,
                 quality_fasttext: str | None = None, domain_fasttext: str | None = None,
                 max_tokens: int | None = None, truncation: str | None = None, batch_size: int = 32,
                 device: str = "auto", precision: str = "auto", bucket_by_length: bool = True,
                 share_encoder: str = "auto", score_code: bool = False, torch_threads: int | None = 1,
                 min_quality: float | None = None, quality_field: str = "quality_score",
                 exclude_domains: list[str] | None = None, min_domain_score: float = 0.0,
                 domain_field: str = "domain", rescore: bool = False):
        for p in (quality_model, domain_model, quality_fasttext, domain_fasttext):
            if p is not None and not os.path.exists(p):
                raise ValueError(f"model {p!r} not found (build it with `make classifiers`)")
        if truncation not in (None, "head", "head_tail"):
            raise ValueError(f"truncation must be head or head_tail, got {truncation!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if precision == "int8" and device.startswith("cuda"):
            raise ValueError("precision int8 runs on CPU only; use bf16 or fp16 with device cuda")
        if share_encoder not in SHARE_ENCODER:
            raise ValueError(f"share_encoder must be one of {SHARE_ENCODER}, got {share_encoder!r}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size!r}")
        if quality_field not in ("quality_score", "quality_score_fasttext"):
            raise ValueError(f"quality_field must be quality_score or quality_score_fasttext, got {quality_field!r}")
        if domain_field not in ("domain", "domain_fasttext"):
            raise ValueError(f"domain_field must be domain or domain_fasttext, got {domain_field!r}")
        self.quality_model = quality_model
        self.domain_model = domain_model
        self.quality_fasttext = quality_fasttext
        self.domain_fasttext = domain_fasttext
        self.max_tokens = max_tokens
        self.truncation = truncation
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self.bucket_by_length = bool(bucket_by_length)
        self.share_encoder = share_encoder
        self.score_code = bool(score_code)
        self.torch_threads = torch_threads
        self.min_quality = min_quality
        self.quality_field = quality_field
        self.exclude_domains = sorted(exclude_domains) if exclude_domains else None
        self.min_domain_score = min_domain_score
        self.domain_field = domain_field
        self.rescore = rescore
        self._models: dict[str, Any] = {}

    def __getstate__(self) -> dict:
        # shipped to Spark workers without loaded models: each worker loads (once) in setup()
        return {**self.__dict__, "_models": {}}

    def params(self) -> dict[str, Any]:
        """Settings plus the size and mtime of each model file, so a retrained model re-runs the stage."""
        out = super().params()
        prints = {}
        for p in (self.quality_model, self.domain_model, self.quality_fasttext, self.domain_fasttext):
            if p:
                files = [p] if os.path.isfile(p) else sorted(os.path.join(p, f) for f in os.listdir(p))
                prints[p] = [f"{os.path.basename(f)}:{os.path.getsize(f)}:{int(os.path.getmtime(f))}"
                             for f in files if f.endswith((".bin", ".safetensors", ".json"))]
        out["model_fingerprints"] = prints
        return out

    def input_files(self) -> list[str]:
        """The model files and directories (their content is part of the stage hash)."""
        return [p for p in (self.quality_model, self.domain_model, self.quality_fasttext, self.domain_fasttext) if p]

    def output_fields(self) -> list[pa.Field]:
        names = []
        if self.quality_model:
            names.append("quality_score")
        if self.domain_model:
            names += ["domain", "domain_score"]
        if self.quality_fasttext:
            names.append("quality_score_fasttext")
        if self.domain_fasttext:
            names += ["domain_fasttext", "domain_score_fasttext"]
        return [FIELDS[n] for n in names]

    @property
    def edge_sample_column(self) -> str | None:
        return self.quality_field if self.quality_model or self.min_quality is not None else None

    def setup(self) -> None:
        if self._models:
            return
        if self.quality_model or self.domain_model:
            _set_threads(self.torch_threads)
            from classifiers.bert.predict import encoder_fingerprint, load_predictor

            kw = {"device": self.device, "precision": self.precision}
            q, d = self.quality_model, self.domain_model
            shared = bool(q and d) and (self.share_encoder == "always" or (
                self.share_encoder == "auto" and encoder_fingerprint(q) == encoder_fingerprint(d)))
            if shared:  # one encoder, two heads (raises for share_encoder=always when encoders differ)
                pred = load_predictor(q, extra_heads=[d], **kw)
                self._models["quality"], self._models["domain"] = (pred, q), (pred, d)
            else:
                if q:
                    self._models["quality"] = (load_predictor(q, **kw), q)
                if d:
                    self._models["domain"] = (load_predictor(d, **kw), d)
        if self.quality_fasttext or self.domain_fasttext:
            from classifiers.fasttext_clf import load_fasttext

            if self.quality_fasttext:
                self._models["quality_ft"] = load_fasttext(self.quality_fasttext)
            if self.domain_fasttext:
                self._models["domain_ft"] = load_fasttext(self.domain_fasttext)

    # -------------------------------------------------------------- scoring
    def _prose(self, batch: pa.RecordBatch) -> np.ndarray:
        """Boolean mask of the rows the prose-trained models read (all rows without a ``kind`` column)."""
        idx = batch.schema.get_field_index(S.KIND)
        if self.score_code or idx < 0:
            return np.ones(batch.num_rows, dtype=bool)
        kind = batch.column(idx)
        return ~pc.fill_null(pc.equal(kind, S.KIND_CODE), False).to_numpy(zero_copy_only=False)

    def _todo(self, batch: pa.RecordBatch, column: str, prose: np.ndarray) -> np.ndarray:
        """Prose row indices that need scoring for ``column``."""
        idx = batch.schema.get_field_index(column)
        if self.rescore or idx < 0:
            need = np.ones(batch.num_rows, dtype=bool)
        else:
            need = pc.is_null(batch.column(idx)).to_numpy(zero_copy_only=False)
        return np.flatnonzero(need & prose)

    def _existing(self, batch: pa.RecordBatch, column: str) -> list:
        idx = batch.schema.get_field_index(column)
        return batch.column(idx).to_pylist() if idx >= 0 else [None] * batch.num_rows

    def _column(self, batch, column, rows, values, code_rows, code_value) -> pa.Array:
        """``column`` with ``values`` at ``rows``, ``code_value`` at code rows not already set."""
        vals = self._existing(batch, column)
        for i, v in zip(rows, values):
            vals[i] = v if isinstance(v, str) else float(v)
        for i in code_rows:
            if self.rescore or vals[i] is None:
                vals[i] = code_value
        return pa.array(vals, FIELDS[column].type)

    def _bert(self, batch, texts, prose) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Scores per role (``quality``, ``domain``): (row indices, scores), one encoder pass per
        predictor (both roles share it when their encoders are identical)."""
        groups: dict[int, tuple[Any, list[tuple[str, str, np.ndarray]]]] = {}
        for role, column in (("quality", "quality_score"), ("domain", "domain")):
            if role in self._models:
                pred, key = self._models[role]
                groups.setdefault(id(pred), (pred, []))[1].append((role, key, self._todo(batch, column, prose)))
        out = {}
        for pred, roles in groups.values():
            rows = np.unique(np.concatenate([r[2] for r in roles]))
            if not len(rows):
                continue
            scores = pred.predict_heads([texts[i] for i in rows], batch_size=self.batch_size,
                                        max_tokens=self.max_tokens, truncation=self.truncation,
                                        bucket_by_length=self.bucket_by_length)
            pos = {r: k for k, r in enumerate(rows)}
            for role, key, todo in roles:
                out[role] = (todo, scores[key][[pos[r] for r in todo]])
        return out

    def score(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, dict[str, float]]:
        self.setup()
        texts = [t or "" for t in batch.column(S.TEXT).to_pylist()]
        prose = self._prose(batch)
        code_rows = np.flatnonzero(~prose)
        cols: dict[str, pa.Array] = {}
        metrics: dict[str, float] = {}
        bert = self._bert(batch, texts, prose)
        if "quality" in self._models:
            rows, vals = bert.get("quality", ([], []))
            cols["quality_score"] = self._column(batch, "quality_score", rows, vals, code_rows, None)
        if "domain" in self._models:
            rows, probs = bert.get("domain", ([], None))
            labels, best = ([], [])
            if len(rows):
                from classifiers.bert.predict import best_labels

                pred, key = self._models["domain"]
                labels, best = best_labels(pred.head(key), probs)
            cols["domain"] = self._column(batch, "domain", rows, labels, code_rows, CODE_DOMAIN)
            cols["domain_score"] = self._column(batch, "domain_score", rows, best, code_rows, None)
        if "quality_ft" in self._models:
            rows = self._todo(batch, "quality_score_fasttext", prose)
            vals = self._models["quality_ft"].predict([texts[i] for i in rows]) if len(rows) else []
            cols["quality_score_fasttext"] = self._column(batch, "quality_score_fasttext", rows, vals, code_rows, None)
        if "domain_ft" in self._models:
            rows = self._todo(batch, "domain_fasttext", prose)
            labels, best = (self._models["domain_ft"].predict_labels([texts[i] for i in rows]) if len(rows)
                            else ([], []))
            cols["domain_fasttext"] = self._column(batch, "domain_fasttext", rows, labels, code_rows, CODE_DOMAIN)
            cols["domain_score_fasttext"] = self._column(batch, "domain_score_fasttext", rows, best, code_rows, None)
        if cols:
            metrics["score/docs_scored"] = float(prose.sum())
            metrics["score/code_skipped"] = float(len(code_rows))
            batch = append_columns(batch, cols)
        return batch, metrics

    # -------------------------------------------------------------- decisions
    def decide(self, batch: pa.RecordBatch) -> tuple[list[str | None], list[str | None]]:
        n = batch.num_rows
        reasons: list[str | None] = [None] * n
        details: list[str | None] = [None] * n
        if self.min_quality is not None:
            q = self._existing(batch, self.quality_field)
            for i, v in enumerate(q):
                if v is not None and v < self.min_quality:
                    reasons[i], details[i] = LOW_QUALITY, f"{self.quality_field}={v:.4f}<{self.min_quality}"
        if self.exclude_domains:
            excluded = set(self.exclude_domains)
            d = self._existing(batch, self.domain_field)
            ds = self._existing(batch, "domain_score" if self.domain_field == "domain" else "domain_score_fasttext")
            for i, (lab, p) in enumerate(zip(d, ds)):
                if reasons[i] is None and lab in excluded and (p is None or p >= self.min_domain_score):
                    reasons[i] = DOMAIN_EXCLUDED
                    details[i] = f"{self.domain_field}={lab} p={p if p is None else round(p, 4)}"
        return reasons, details

    def process(self, batch: pa.RecordBatch) -> BatchResult:
        batch, metrics = self.score(batch)
        if self.min_quality is None and not self.exclude_domains:
            return BatchResult(batch, None, metrics)
        reasons, details = self.decide(batch)
        kept, rej = split_batch(batch, reasons, details)
        return BatchResult(kept, rej, metrics)


def build_scorer(**params) -> Scorer:
    """Factory registered as the ``score`` stage (``pipeline/registry.py``)."""
    return Scorer(**params)


build_scorer.__wrapped__ = Scorer  # its parameters are Scorer's (inspect.signature, `winnow params`)
