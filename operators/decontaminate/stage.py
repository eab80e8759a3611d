"""The decontaminate stage: flags documents that hold benchmark items, then drops them or cuts the items out.

Score: for every (document, item) pair that shares grams, ``overlap`` = the item's distinct grams
found in the document / the item's distinct grams; with ``question_alone`` also the same share over
the question's grams only (a question quoted without its choices or answer), the larger of the two.
A document's ``contamination_score`` is its largest overlap (0 when it shares nothing). At or over
``threshold`` the document is contaminated: reason ``contaminated``, detail
``benchmark=<name> item=<id> overlap=<score>`` of its best item.

``mode: drop`` rejects it. ``mode: cut`` removes the spans of the matched grams of every item at or
over the threshold (spans closer than ``cut_gap_tokens`` tokens merge, so the choice labels between
matched choices go too), keeps the rest of the document as it was, and rejects the document only when
fewer than ``min_chars_after_cut`` characters are left. See docs/decontaminate.md.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from contract import metrics as M
from contract import schema as S
from contract.operator import BatchResult, Operator, append_columns, split_batch
from contract.textstats import texts_of
from operators.decontaminate.index import (
    DEFAULT_MIN_TOKENS,
    DEFAULT_NGRAM,
    KINDS,
    BenchmarkSpec,
    NgramIndex,
    items_of,
    read_records,
)
from operators.decontaminate.text import MAX_CP, SEPARATOR, Tokens, tables, tokenize

CONTAMINATION = pa.field("contamination_score", pa.float32())
REASON = "contaminated"
_PREFIX = "decontaminate/{benchmark}/"
_OPENERS = set("([{\"'“‘「『（【《〈")


def item_metric(benchmark: str, item_id: str) -> str:
    """The per-item metric name (``/`` and whitespace in ids become ``_``)."""
    safe = re.sub(r"[/\s]+", "_", item_id) or "_"
    return f"decontaminate/{benchmark}/item/{safe}"


class Decontaminate(Operator):
    """Removes training text that contains evaluation items (English, Chinese, code).

    Args:
        benchmarks: one mapping per benchmark file: ``name`` (names its metrics), ``path`` (jsonl,
            jsonl.gz, json, Parquet or CSV), ``kind`` (``en``, ``zh`` or ``code``: the default n),
            ``question`` (a field or a list of fields), ``choices`` (a list field, or a list of fields),
            ``answer`` (a letter/index naming a choice, or free text that is indexed), ``id``; optional
            ``n``, ``min_tokens``, ``format``. Dotted names reach into nested records (``choices.text``).
        threshold: a document is contaminated when an item's overlap is at least this.
        mode: ``drop`` (reject contaminated documents) or ``cut`` (remove the matched spans, keep the rest).
        ngram: n per kind (default en 13 words, zh 20 characters, code 12 tokens).
        min_tokens: per kind, the shortest unit (question, choice, answer) matched whole when it is
            shorter than n (default en 8, zh 10, code 8); shorter units are not matched alone.
        question_alone: also score an item by its question's grams only.
        cut_gap_tokens: cut mode: matched spans at most this many tokens apart are cut as one.
        min_chars_after_cut: cut mode: a document left with fewer characters is rejected.
    """

    name = "decontaminate"
    metrics = {
        M.DECONTAM_FLAGGED: "documents holding an item of this benchmark at or over the threshold",
        _PREFIX + "docs_removed": "flagged documents rejected (mode drop, or too little left after a cut)",
        _PREFIX + "docs_cut": "flagged documents kept with the matched spans cut out (mode cut)",
        _PREFIX + "docs_partial": "documents sharing grams with items of this benchmark, all under the threshold",
        _PREFIX + "item/{item}": "documents holding this item at or over the threshold (only items found appear)",
        "decontaminate/cut_chars": "characters cut out of kept documents (mode cut)",
    }

    def __init__(self, benchmarks: list[dict[str, Any]], threshold: float = 0.5, mode: Literal["drop", "cut"] = "drop",
                 ngram: dict[str, int] | None = None, min_tokens: dict[str, int] | None = None,
                 question_alone: bool = True, cut_gap_tokens: int = 3, min_chars_after_cut: int = 200):
        if not isinstance(benchmarks, list) or not benchmarks:
            raise ValueError("benchmarks: name at least one benchmark file (a list of mappings)")
        if not 0 < float(threshold) <= 1:
            raise ValueError(f"threshold {threshold} is not in (0, 1]")
        if mode not in ("drop", "cut"):
            raise ValueError(f"mode {mode!r} is not 'drop' or 'cut'")
        for label, d in (("ngram", ngram), ("min_tokens", min_tokens)):
            bad = sorted(set(d or {}) - set(KINDS))
            if bad:
                raise ValueError(f"{label}: unknown kind(s) {bad} (kinds: {list(KINDS)})")
        self.benchmarks = [dict(b) if isinstance(b, dict) else b for b in benchmarks]
        self.threshold = float(threshold)
        self.mode = mode
        self.ngram = {**DEFAULT_NGRAM, **(ngram or {})}
        self.min_tokens = {**DEFAULT_MIN_TOKENS, **(min_tokens or {})}
        self.question_alone = bool(question_alone)
        self.cut_gap_tokens = int(cut_gap_tokens)
        self.min_chars_after_cut = int(min_chars_after_cut)
        specs = [BenchmarkSpec.parse(b, self.ngram, self.min_tokens) for b in self.benchmarks]
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"benchmark names must be unique, got {names}")
        items = []
        self._files: list[dict[str, Any]] = []
        for b, spec in enumerate(specs):
            recs = read_records(spec.path, spec.format)
            items += items_of(spec, b, recs)
            self._files.append({"records": len(recs)})
        self._specs = specs
        self._index = NgramIndex.build(specs, items)

    # -- declarations --------------------------------------------------------------------------------
    def output_fields(self) -> list[pa.Field]:
        return [CONTAMINATION]

    def params(self) -> dict[str, Any]:
        """The settings, plus what the index holds (``index``: per benchmark its records, items, items
        indexed and grams, and the index's bytes), which the run report shows."""
        p = super().params()
        p["benchmarks"] = [{**raw, "kind": spec.kind, "n": spec.n, "min_tokens": spec.min_tokens}
                           for raw, spec in zip(self.benchmarks, self._specs)]
        p["index"] = {"benchmarks": [{**s, "records": f["records"]} for s, f in zip(self._index.summary(), self._files)],
                      "bytes": self._index.nbytes}
        return p

    def input_files(self) -> list[str]:
        return [spec.path for spec in self._specs]

    @property
    def index(self) -> NgramIndex:
        return self._index

    def setup(self) -> None:
        tables()

    # -- scoring ---------------------------------------------------------------------------------------
    def score(self, tokens: Tokens) -> dict[str, np.ndarray]:
        """Every (document, item) pair sharing grams: ``doc``, ``item``, ``overlap``; plus the matches."""
        idx = self._index
        m = idx.match(tokens)
        n_items = max(len(idx.item_ids), 1)
        if not len(m.row):
            z = np.zeros(0, np.int64)
            return {"doc": z, "item": z, "overlap": np.zeros(0), "m_doc": z, "m_item": z, "m_pos": z, "m_len": z}
        tok_doc = tokens.doc_of()
        doc = tok_doc[m.pos]
        n_rows = len(idx.keys)
        pair = np.unique(doc * n_rows + m.row)
        d_u, r_u = pair // n_rows, pair % n_rows
        item = idx.row_item[r_u].astype(np.int64)
        key, inv = np.unique(d_u * n_items + item, return_inverse=True)
        found = np.bincount(inv)
        p_doc, p_item = key // n_items, key % n_items
        overlap = found / np.maximum(idx.item_total[p_item], 1)
        if self.question_alone:
            found_q = np.bincount(inv, weights=idx.row_question[r_u])
            qt = idx.item_qtotal[p_item]
            overlap = np.maximum(overlap, np.where(qt > 0, found_q / np.maximum(qt, 1), 0.0))
        return {"doc": p_doc, "item": p_item, "overlap": overlap, "m_doc": doc,
                "m_item": idx.row_item[m.row].astype(np.int64), "m_pos": m.pos, "m_len": m.length}

    def process(self, batch: pa.RecordBatch) -> BatchResult:
        self.setup()
        idx = self._index
        n = batch.num_rows
        texts = texts_of(batch).to_pylist()
        tokens = tokenize(texts)
        sc = self.score(tokens)
        score = np.zeros(n, dtype=np.float64)
        np.maximum.at(score, sc["doc"], sc["overlap"])
        metrics: dict[str, float] = {}

        def add(name: str, v: float = 1.0) -> None:
            metrics[name] = metrics.get(name, 0.0) + v

        flag = sc["overlap"] >= self.threshold
        bench = idx.item_bench[sc["item"]]
        names = idx.bench_names
        n_b = len(names)
        touched = set(np.unique(sc["doc"] * n_b + bench).tolist())
        flagged_db = set(np.unique(sc["doc"][flag] * n_b + bench[flag]).tolist())
        for db in touched - flagged_db:
            add(_PREFIX.format(benchmark=names[db % n_b]) + "docs_partial")
        for it in sc["item"][flag].tolist():
            add(item_metric(names[idx.item_bench[it]], idx.item_ids[it]))
        # the best item of every flagged document (largest overlap, then first item)
        order = np.lexsort((sc["item"], -sc["overlap"], sc["doc"]))
        o_doc = sc["doc"][order]
        firsts = order[np.concatenate(([True], o_doc[1:] != o_doc[:-1]))] if len(order) else order
        reasons: list[str | None] = [None] * n
        details: list[str | None] = [None] * n
        flagged_items: dict[int, int] = {}
        for d in sc["doc"][flag].tolist():
            flagged_items[d] = flagged_items.get(d, 0) + 1
        for j in firsts.tolist():
            d = int(sc["doc"][j])
            if sc["overlap"][j] < self.threshold:
                continue
            it = int(sc["item"][j])
            more = flagged_items[d] - 1
            item_id = re.sub(r"\s+", "_", idx.item_ids[it])
            details[d] = (f"benchmark={names[idx.item_bench[it]]} item={item_id} overlap={sc['overlap'][j]:.3f}"
                          + (f" (+{more} more items)" if more else ""))
            reasons[d] = REASON
        new_texts = None
        if self.mode == "cut" and flagged_items:
            new_texts = batch.column(S.TEXT).to_pylist()
            cuts = self._cuts(tokens, sc, flag)
            for d, spans in cuts.items():
                new, removed = cut_spans(texts[d], tokens, d, spans)
                if len(new.strip()) < self.min_chars_after_cut:
                    details[d] = f"{details[d]} cut_left={len(new.strip())}"
                    continue
                new_texts[d] = new
                reasons[d] = None
                add("decontaminate/cut_chars", float(removed))
        for db in flagged_db:
            d, b = divmod(db, n_b)
            add(_PREFIX.format(benchmark=names[b]) + "docs_flagged")
            add(_PREFIX.format(benchmark=names[b]) + ("docs_removed" if reasons[d] else "docs_cut"))
        cols = {CONTAMINATION.name: pa.array(score.astype(np.float32), CONTAMINATION.type)}
        if new_texts is not None:
            cols[S.TEXT] = pa.array(new_texts, pa.string())
        batch = append_columns(batch, cols)
        kept, rejected = split_batch(batch, reasons, details)
        return BatchResult(kept, rejected, metrics)

    def _cuts(self, tokens: Tokens, sc: dict[str, np.ndarray], flag: np.ndarray) -> dict[int, list[tuple[int, int]]]:
        """Per flagged document, its merged token spans (text-local, end exclusive) to cut."""
        n_items = max(len(self._index.item_ids), 1)
        hot = np.isin(sc["m_doc"] * n_items + sc["m_item"], sc["doc"][flag] * n_items + sc["item"][flag])
        doc, pos, length = sc["m_doc"][hot], sc["m_pos"][hot], sc["m_len"][hot]
        local = pos - tokens.offsets[doc]
        out: dict[int, list[tuple[int, int]]] = {}
        order = np.lexsort((local, doc))
        for d, a, b in zip(doc[order].tolist(), local[order].tolist(), (local + length)[order].tolist()):
            spans = out.setdefault(d, [])
            if spans and a <= spans[-1][1] + self.cut_gap_tokens:
                spans[-1] = (spans[-1][0], max(spans[-1][1], b))
            else:
                spans.append((a, b))
        return out


def _norm_to_orig(text: str) -> np.ndarray | None:
    """For a text with expanding characters: the original character of every normalised character."""
    t = tables()
    lens = np.fromiter((len(t.expand.get(c, c)) for c in text), dtype=np.int64, count=len(text))
    return np.repeat(np.arange(len(text), dtype=np.int64), lens)


def _is_punct(ch: str) -> bool:
    t = tables()
    cp = min(ord(ch), MAX_CP - 1)
    return not ch.isspace() and t.cls[t.lut[cp]] == SEPARATOR


def cut_spans(text: str, tokens: Tokens, d: int, spans: list[tuple[int, int]]) -> tuple[str, int]:
    """``text`` (document ``d`` of ``tokens``) without the token spans; returns (new text, characters removed).

    A span runs from its first token's first character to its last token's last character, widened
    over punctuation touching it (a closing ``?`` or ``.``, an opening quote or bracket). Text
    outside the spans is kept as it was; at each cut, spaces around it collapse to one space, or the
    line breaks around it to at most one blank line."""
    off = tokens.offsets[d]
    starts, ends = tokens.starts[off:tokens.offsets[d + 1]], tokens.ends[off:tokens.offsets[d + 1]]
    back = _norm_to_orig(text) if tokens.expanded[d] else None
    char_spans = []
    for a, b in spans:
        s, e = int(starts[a]), int(ends[b - 1])
        if back is not None:
            s, e = int(back[s]), int(back[e - 1]) + 1
        while e < len(text) and _is_punct(text[e]):
            e += 1
        while s > 0 and text[s - 1] in _OPENERS:
            s -= 1
        if char_spans and s <= char_spans[-1][1]:
            char_spans[-1] = (char_spans[-1][0], max(e, char_spans[-1][1]))
        else:
            char_spans.append((s, e))
    pieces = []
    prev = 0
    for s, e in char_spans:
        pieces.append(text[prev:s])
        prev = e
    pieces.append(text[prev:])
    out = pieces[0]
    for p in pieces[1:]:
        out = _join(out, p)
    return out, len(text) - len(out)


def _join(left: str, right: str) -> str:
    left, right = left.rstrip(" \t"), right.lstrip(" \t")
    l2, r2 = left.rstrip("\n"), right.lstrip("\n")
    if not l2.strip() or not r2.strip():
        return (l2 + r2) if l2.strip() else r2 if r2.strip() else ""
    newlines = (len(left) - len(l2)) + (len(right) - len(r2))
    return l2 + ("\n" * min(newlines, 2) if newlines else " ") + r2
