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

Kind: every filter also declares the document kinds it judges (``kinds``: ``("prose",)`` for the prose
rules, ``("code",)`` for the code rules of ``operators/filters/code.py``), read from the ``kind``
column; a batch without that column, or a row with a null kind, is prose. So Gopher, C4, FineWeb and
the Chinese rules never see source code, and the code rules never see prose.

Han script: a filter that applies to Chinese (``zh`` or ``*`` among its languages) judges
Traditional Chinese documents through their Simplified view (OpenCC ``simplified_view``, default
``tw2sp``, converted once per document and worker), so the same paragraph written in zh-CN and zh-TW
gets the same decision; it adds the ``script`` column (``Hans`` / ``Hant`` for Chinese documents,
null otherwise; a value already set by an earlier filter is kept) and counts
``script/<filter>/<script>`` and ``script_view/<filter>``. Kept rows carry their original text
unless the filter rewrote it, or ``convert_traditional`` is set (kept Traditional documents leave
the filter in Simplified).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contract import schema as S
from contract.langs import ZH_CODES
from contract.operator import BatchResult, Operator, append_columns, split_batch
from contract.textstats import (
    DEFAULT_SIMPLIFIED_VIEW,
    format_stat,
    han_scripts,
    script_langs,
    simplified_texts,
    simplified_view,
    texts_of,
)

SCRIPT = "script"
SIMPLIFIED_VIEWS = ("tw2sp", "t2s", "tw2s", "hk2s")  # OpenCC configurations that produce Simplified


def check_simplified_view(view: str | None) -> str | None:
    """``view`` when it is None or an OpenCC configuration that converts to Simplified."""
    if view is not None and view not in SIMPLIFIED_VIEWS:
        raise ValueError(f"simplified_view must be null or one of {', '.join(SIMPLIFIED_VIEWS)}, got {view!r}")
    return view


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


def doc_kinds(batch: pa.RecordBatch) -> np.ndarray:
    """The document kind of every row: the ``kind`` column, ``prose`` where it is absent or null."""
    idx = batch.schema.get_field_index(S.KIND)
    if idx < 0:
        return np.full(batch.num_rows, S.KIND_PROSE, dtype=object)
    kinds = np.asarray(batch.column(idx).to_pylist(), dtype=object)
    kinds[np.array([v is None or v == "" for v in kinds], dtype=bool)] = S.KIND_PROSE
    return kinds


class RuleFilter(Operator):
    """A filter over a kind- and language-routed subset of every batch. Subclasses implement ``decide``."""

    name = "rule"
    default_languages: tuple[str, ...] = ("en",)
    kinds: tuple[str, ...] = (S.KIND_PROSE,)  # document kinds the filter applies to (the ``kind`` column)
    # OpenCC configuration of the Simplified view Traditional Chinese documents are judged through
    # (None: judge the original text). A filter that rewrites Chinese text sees the view too, and its
    # rewrite of a Traditional document is Simplified.
    simplified_view: str | None = DEFAULT_SIMPLIFIED_VIEW
    # Kept Traditional Chinese documents leave this filter converted to Simplified.
    convert_traditional: bool = False
    # The filter converts what it needs itself (ChineseQuality: only the text jieba reads, of the
    # documents that passed its cheaper, script-independent rules); ``decide`` gets the original text.
    view_in_decide: bool = False

    def __init__(self, languages: list[str] | tuple[str, ...] | None = None):
        self.languages = tuple(languages) if languages else self.default_languages

    @property
    def handles_chinese(self) -> bool:
        return "zh" in self.languages or "*" in self.languages

    def output_fields(self) -> list[pa.Field]:
        return [S.category_field(SCRIPT)] if self.handles_chinese else []

    def declared_metrics(self) -> dict[str, str]:
        out = {"docs_checked/{filter}": "documents routed to each rule filter (by language)"}
        if self.handles_chinese:
            out["script/{filter}/{script}"] = "Chinese documents routed to each filter, by script (Hans, Hant)"
            out["script_view/{filter}"] = "Traditional Chinese documents a filter judged through their Simplified view"
            if self.convert_traditional:
                out["script_converted/{filter}"] = "kept Traditional Chinese documents converted to Simplified"
        return {**out, **self.metrics}

    def decide(self, batch: pa.RecordBatch, texts: pa.Array) -> Decision:  # pragma: no cover
        raise NotImplementedError

    def route(self, batch: pa.RecordBatch, texts: pa.Array) -> np.ndarray:
        of_kind = np.isin(doc_kinds(batch), np.array(self.kinds, dtype=object))
        if "*" in self.languages or not of_kind.any():
            return of_kind
        langs = doc_languages(batch, texts)
        return of_kind & np.isin(langs, np.array(self.languages, dtype=object))

    def script_column(self, batch: pa.RecordBatch, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """``(script, traditional_chars)`` of every row: the ``script`` column (an existing value is
        kept) for Chinese rows, and the Traditional-only characters of each Chinese row."""
        is_zh = doc_languages(batch, texts) == "zh"
        script, trad = han_scripts(texts, is_zh)
        idx = batch.schema.get_field_index(SCRIPT)
        if idx >= 0:
            old = np.asarray(batch.column(idx).to_pylist(), dtype=object)
            has = np.array([v is not None for v in old], dtype=bool)
            script[has] = old[has]
        return script, trad

    def process(self, batch: pa.RecordBatch) -> BatchResult:
        n = batch.num_rows
        texts = texts_of(batch)
        mask = self.route(batch, texts)
        n_routed = int(mask.sum())
        metrics = {f"docs_checked/{self.name}": float(n_routed)}
        trad = None
        if self.handles_chinese:
            script, trad = self.script_column(batch, texts)
            batch = append_columns(batch, {SCRIPT: pa.array(script.tolist(), pa.string())})
            for v, c in zip(*np.unique(script[mask & (script != None)].astype(str), return_counts=True)):  # noqa: E711
                metrics[f"script/{self.name}/{v}"] = float(c)
        if n_routed == 0:
            return BatchResult(batch, None, metrics)
        sub = batch if n_routed == n else batch.filter(pa.array(mask))
        sub_texts = texts if n_routed == n else texts.filter(pa.array(mask))
        viewed = np.zeros(n_routed, bool)
        original = sub_texts
        if trad is not None and self.simplified_view:
            viewed = trad[mask] > 0
            if viewed.any():
                metrics[f"script_view/{self.name}"] = float(viewed.sum())
                if not self.view_in_decide:
                    sub_texts = simplified_view(sub_texts, trad[mask], self.simplified_view)
        dec = self.decide(sub, sub_texts)
        if viewed.any() and (dec.new_text is not None or self.convert_traditional):
            dec = self._from_view(dec, original, sub_texts, viewed, metrics)
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

    def _from_view(self, dec: Decision, original: pa.Array, seen: pa.Array, viewed: np.ndarray,
                   metrics: dict[str, float]) -> Decision:
        """The text of the rows after a decision made on the Simplified view: a viewed row the filter
        did not rewrite keeps its original text; with ``convert_traditional`` a kept viewed row
        leaves in Simplified."""
        orig = np.asarray(original.to_pylist(), dtype=object)
        new = np.asarray(dec.new_text.to_pylist(), dtype=object) if dec.new_text is not None else orig.copy()
        seen_vals = np.asarray(seen.to_pylist(), dtype=object)
        unchanged = viewed & (new == seen_vals)
        new[unchanged] = orig[unchanged]
        if self.convert_traditional:
            rejected = np.zeros(len(viewed), bool)
            for chk in dec.checks:
                rejected |= np.asarray(chk.fail, dtype=bool)
            convert = viewed & ~rejected & (new == orig)
            if convert.any():
                idx = np.nonzero(convert)[0]
                new[idx] = simplified_texts(orig[idx].tolist(), self.simplified_view)
            metrics[f"script_converted/{self.name}"] = float(convert.sum())
        return Decision(dec.checks, pa.array(new.tolist(), pa.string()), dec.metrics)
