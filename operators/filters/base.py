"""Base class of the rule filters: language routing, vectorised checks, reasons and details.

A rule filter computes statistics for a whole batch (numpy arrays, one value per document) and
returns an ordered list of :class:`Check`; the first failing check of a document gives its drop
reason and the measured statistic as the detail. Scoring is kept apart from the decision: checks
carry the statistic and the decision is a comparison against a named threshold.

Routing: every filter declares the languages it applies to (``languages=("en",)`` for the English
rules, ``("zh",)`` for the Chinese ones, ``("*",)`` for all). The language of a document is its
``lang`` column (set by the langid stage); documents without one are routed by script: Chinese
when Han characters are at least 30% of Han + Latin letters, else English. Documents of other
languages pass a filter untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contract import schema as S
from contract.langs import ZH_CODES
from contract.operator import BatchResult, Operator, append_columns, split_batch
from contract.textstats import format_stat, script_langs, texts_of


@dataclass
class Check:
    """One rule: documents where ``fail`` is true are dropped with ``reason``; ``stat`` is the measured
    statistic written as the reject detail."""

    reason: str
    fail: np.ndarray
    stat: np.ndarray


@dataclass
class Decision:
    checks: list[Check]
    new_text: pa.Array | None = None  # rewritten text (e.g. C4 line removal) for the routed rows
    metrics: dict[str, float] | None = None


def doc_languages(batch: pa.RecordBatch, texts: pa.Array | None = None) -> np.ndarray:
    """The routing language of every row: 'zh', 'en' or the ``lang`` value for other languages."""
    texts = texts if texts is not None else texts_of(batch)
    guessed = None
    idx = batch.schema.get_field_index("lang")
    if idx < 0:
        return script_langs(texts)
    langs = np.asarray(batch.column(idx).to_pylist(), dtype=object)
    missing = np.array([v is None or v == "" for v in langs], dtype=bool)
    if missing.any():
        guessed = script_langs(texts)
        langs[missing] = guessed[missing]
    return np.array(["zh" if v in ZH_CODES else v for v in langs], dtype=object)


class RuleFilter(Operator):
    """A filter over a language-routed subset of every batch. Subclasses implement ``decide``."""

    name = "rule"
    default_languages: tuple[str, ...] = ("en",)

    def __init__(self, languages: list[str] | tuple[str, ...] | None = None):
        self.languages = tuple(languages) if languages else self.default_languages

    def declared_metrics(self) -> dict[str, str]:
        return {"docs_checked/{filter}": "documents routed to each rule filter (by language)", **self.metrics}

    def decide(self, batch: pa.RecordBatch, texts: pa.Array) -> Decision:  # pragma: no cover
        raise NotImplementedError

    def route(self, batch: pa.RecordBatch, texts: pa.Array) -> np.ndarray:
        if "*" in self.languages:
            return np.ones(batch.num_rows, dtype=bool)
        langs = doc_languages(batch, texts)
        return np.isin(langs, np.array(self.languages, dtype=object))

    def process(self, batch: pa.RecordBatch) -> BatchResult:
        n = batch.num_rows
        texts = texts_of(batch)
        mask = self.route(batch, texts)
        n_routed = int(mask.sum())
        metrics = {f"docs_checked/{self.name}": float(n_routed)}
        if n_routed == 0:
            return BatchResult(batch, None, metrics)
        sub = batch if n_routed == n else batch.filter(pa.array(mask))
        sub_texts = texts if n_routed == n else texts.filter(pa.array(mask))
        dec = self.decide(sub, sub_texts)
        reason_sub = np.full(n_routed, None, dtype=object)
        detail_sub = np.full(n_routed, None, dtype=object)
        for chk in dec.checks:
            hit = np.asarray(chk.fail, dtype=bool) & (reason_sub == None)  # noqa: E711
            if hit.any():
                reason_sub[hit] = chk.reason
                detail_sub[hit] = [format_stat(v) for v in np.asarray(chk.stat)[hit]]
        if dec.metrics:
            for k, v in dec.metrics.items():
                metrics[k] = metrics.get(k, 0.0) + float(v)
        reasons = np.full(n, None, dtype=object)
        details = np.full(n, None, dtype=object)
        reasons[mask] = reason_sub
        details[mask] = detail_sub
        if dec.new_text is not None:
            # Kept rows carry the rewritten text; rejected rows keep the original for the audit.
            full = np.asarray(texts.to_pylist(), dtype=object) if n_routed != n else None
            if full is not None:
                full[mask] = np.asarray(dec.new_text.to_pylist(), dtype=object)
                new_text = pa.array(full.tolist(), pa.string())
            else:
                new_text = dec.new_text
            keep = pa.array(reasons == None)  # noqa: E711
            merged = pc.if_else(keep, new_text, batch.column(S.TEXT))
            batch = append_columns(batch, {S.TEXT: merged})
        if not any(r is not None for r in reasons):
            return BatchResult(batch, None, metrics)
        kept, rej = split_batch(batch, reasons.tolist(), details.tolist())
        return BatchResult(kept, rej, metrics)
