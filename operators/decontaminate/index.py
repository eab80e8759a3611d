"""Benchmark files -> items -> a compact n-gram index, and its lookup over a batch of documents.

A benchmark is a file (jsonl, jsonl.gz, json, Parquet or CSV) and a mapping of which fields hold
the question, the choices, the answer and the item's id. Every field value is a **unit**: the
question, each choice on its own, a free-text answer (an answer that is a letter or an index names a
choice and is not indexed). Units are n-grammed apart, so choices listed in another order, or a
question quoted without its choices, still match.

Per unit of ``T`` tokens (``text.py``): ``T >= n`` gives its ``T - n + 1`` n-grams; ``min_tokens <=
T < n`` gives one gram, the whole unit; shorter units give nothing. An item none of whose units
gives a gram is indexed whole (its units joined in file order) by the same rule.

The index is four arrays: the gram keys sorted (uint64, a key may repeat for several items), the
item of every key (int32), whether the key comes from a question (bool), and a 16-bits-per-key bit
filter that answers most lookups of absent keys without a binary search. Per item: its benchmark,
id, number of distinct grams and of distinct question grams.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from operators.decontaminate.text import U64, GramHasher, Tokens, tokenize

KINDS = ("en", "zh", "code")
DEFAULT_NGRAM = {"en": 13, "zh": 20, "code": 12}
DEFAULT_MIN_TOKENS = {"en": 8, "zh": 10, "code": 8}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SPEC_KEYS = {"name", "path", "kind", "id", "question", "choices", "answer", "n", "min_tokens", "format"}
_LABEL_RE = re.compile(r"^\s*(?:[A-Za-z]|\d{1,2})\s*$")
_FILTER_MULS = (U64(0x9E3779B97F4A7C15), U64(0xC2B2AE3D27D4EB4F))


@dataclass
class BenchmarkSpec:
    name: str
    path: str
    kind: str = "en"
    id: str | None = None
    question: list[str] = field(default_factory=list)
    choices: str | list[str] | None = None
    answer: str | None = None
    n: int = 13
    min_tokens: int = 8
    format: str | None = None

    @classmethod
    def parse(cls, d: dict[str, Any], ngram: dict[str, int], min_tokens: dict[str, int]) -> BenchmarkSpec:
        if not isinstance(d, dict):
            raise ValueError(f"a benchmark is a mapping (name, path, question, ...), got {d!r}")
        bad = sorted(set(d) - SPEC_KEYS)
        if bad:
            raise ValueError(f"benchmark {d.get('name')!r}: unknown key(s) {bad} (allowed: {sorted(SPEC_KEYS)})")
        name = d.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ValueError(f"benchmark name {name!r}: letters, digits, '_', '.', '-' only (it names metrics)")
        if not d.get("path"):
            raise ValueError(f"benchmark {name!r}: no path")
        kind = d.get("kind", "en")
        if kind not in KINDS:
            raise ValueError(f"benchmark {name!r}: kind {kind!r} is not one of {KINDS}")
        q = d.get("question")
        if q is None and d.get("answer") is None and d.get("choices") is None:
            raise ValueError(f"benchmark {name!r}: name at least one field (question, choices or answer)")
        questions = [q] if isinstance(q, str) else list(q or [])
        n = int(d.get("n", ngram[kind]))
        mt = int(d.get("min_tokens", min_tokens[kind]))
        if n < 2 or not 2 <= mt <= n:
            raise ValueError(f"benchmark {name!r}: want n >= 2 and 2 <= min_tokens <= n, got n={n} min_tokens={mt}")
        fmt = d.get("format")
        if fmt is not None and fmt not in ("jsonl", "json", "parquet", "csv"):
            raise ValueError(f"benchmark {name!r}: format {fmt!r} is not jsonl, json, parquet or csv")
        return cls(name=name, path=str(d["path"]), kind=kind, id=d.get("id"), question=questions,
                   choices=d.get("choices"), answer=d.get("answer"), n=n, min_tokens=mt, format=fmt)


def _format_of(path: str, fmt: str | None) -> str:
    if fmt:
        return fmt
    p = path.lower().removesuffix(".gz")
    for ext, f in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".parquet", "parquet"),
                   (".pq", "parquet"), (".csv", "csv")):
        if p.endswith(ext):
            return f
    raise ValueError(f"{path}: cannot tell the format from the name (jsonl, json, parquet, csv); set format:")


def read_records(path: str, fmt: str | None = None) -> list[dict[str, Any]]:
    """The records of a benchmark file, as dicts."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"benchmark file {path} not found")
    fmt = _format_of(path, fmt)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(p).to_pylist()
    raw = p.read_bytes()
    if path.lower().endswith(".gz"):
        raw = gzip.decompress(raw)
    text = raw.decode("utf-8-sig")
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    if fmt == "json":
        data = json.loads(text)
        if isinstance(data, dict):  # {"data": [...]} or {"id": {...}, ...}
            lists = [v for v in data.values() if isinstance(v, list)]
            data = lists[0] if len(lists) == 1 else list(data.values())
        return [r for r in data if isinstance(r, dict)]
    out = []
    for i, line in enumerate(text.splitlines()):
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError as e:
                raise ValueError(f"{path}:{i + 1}: not JSON ({e})") from None
    return out


def _get(rec: dict[str, Any], path: str) -> Any:
    """A field by name, or by a dotted path into nested records (``choices.text``)."""
    if path in rec:
        return rec[path]
    cur: Any = rec
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return None
    return cur


def _as_list(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        s = v.strip()
        if s.startswith("[") and s.endswith("]"):  # a list written into a CSV cell
            try:
                parsed = json.loads(s)
                if isinstance(parsed, list):
                    return [str(x) for x in parsed if x is not None]
            except ValueError:
                pass
        return [v]
    if isinstance(v, list | tuple):
        return [str(x) for x in v if x is not None]
    if hasattr(v, "tolist"):
        return _as_list(v.tolist())
    return [str(v)]


@dataclass
class Item:
    benchmark: int
    id: str
    units: list[tuple[str, bool]]  # (text, is_question)


def items_of(spec: BenchmarkSpec, bench_index: int, records: list[dict[str, Any]]) -> list[Item]:
    if records:
        named = [f for f in (*spec.question, *([spec.choices] if isinstance(spec.choices, str) else spec.choices or []),
                             *([spec.answer] if spec.answer else []), *([spec.id] if spec.id else []))]
        missing = [f for f in named if all(_get(r, f) is None for r in records[:50])]
        if missing:
            raise ValueError(f"benchmark {spec.name!r} ({spec.path}): field(s) {missing} not in its records "
                             f"(fields: {sorted(records[0])[:20]})")
    items = []
    for i, rec in enumerate(records):
        units: list[tuple[str, bool]] = []
        for f in spec.question:
            units += [(t, True) for t in _as_list(_get(rec, f))]
        choices: list[str] = []
        if isinstance(spec.choices, str):
            choices = _as_list(_get(rec, spec.choices))
        elif spec.choices:
            choices = [t for f in spec.choices for t in _as_list(_get(rec, f))]
        units += [(t, False) for t in choices]
        if spec.answer:
            ans = _get(rec, spec.answer)
            # a letter or an index names one of the choices: already a unit
            if not (choices and (isinstance(ans, int) or (isinstance(ans, str) and _LABEL_RE.match(ans)))):
                units += [(t, False) for t in _as_list(ans)]
        raw_id = _get(rec, spec.id) if spec.id else None
        item_id = str(raw_id) if raw_id not in (None, "") else f"#{i}"
        items.append(Item(bench_index, item_id, [(t, q) for t, q in units if t and t.strip()]))
    return items


class BitFilter:
    """A two-probe bit filter over uint64 keys: ``bits_per_key`` bits each, about 1.5% false hits at 16
    (a key is in when both of its bits, from two multiplicative hashes, are set)."""

    def __init__(self, keys: np.ndarray, bits_per_key: int = 16):
        want = max(len(keys) * bits_per_key, 1 << 16)
        self.log2 = int(np.ceil(np.log2(want)))
        self.bits = np.zeros(1 << (self.log2 - 3), dtype=np.uint8)
        for mul in _FILTER_MULS:
            if len(keys):
                idx = self._slot(keys, mul)
                np.bitwise_or.at(self.bits, idx >> 3, (1 << (idx & 7)).astype(np.uint8))

    def _slot(self, keys: np.ndarray, mul: np.uint64) -> np.ndarray:
        with np.errstate(over="ignore"):
            return ((keys * mul) >> U64(64 - self.log2)).astype(np.int64)

    def _probe(self, keys: np.ndarray, mul: np.uint64) -> np.ndarray:
        idx = self._slot(keys, mul)
        return ((self.bits[idx >> 3] >> (idx & 7).astype(np.uint8)) & 1).astype(bool)

    def contains(self, keys: np.ndarray) -> np.ndarray:
        out = self._probe(keys, _FILTER_MULS[0])
        sel = np.flatnonzero(out)
        out[sel] = self._probe(keys[sel], _FILTER_MULS[1])
        return out


@dataclass
class Matches:
    """Index grams found in a batch: one row per (position, length, index row)."""

    pos: np.ndarray  # global token position of the gram's first token
    length: np.ndarray  # tokens in the gram
    row: np.ndarray  # index row (key, item, question)


_CACHE: dict[str, NgramIndex] = {}


def _restore(digest: str, state: dict[str, Any]) -> NgramIndex:
    """Unpickling: one index per Python worker, whatever the number of tasks that ship it."""
    idx = _CACHE.get(digest)
    if idx is None:
        idx = NgramIndex(**state)
        if len(_CACHE) >= 4:
            _CACHE.clear()
        _CACHE[digest] = idx
    return idx


class NgramIndex:
    def __init__(self, keys: np.ndarray, row_item: np.ndarray, row_question: np.ndarray, item_bench: np.ndarray,
                 item_ids: list[str], bench_names: list[str], main_lengths: list[int], short_lengths: list[int],
                 short_bigrams: np.ndarray, digest: str = ""):
        self.keys = keys
        self.row_item = row_item
        self.row_question = row_question
        self.item_bench = item_bench
        self.item_ids = item_ids
        self.bench_names = bench_names
        self.main_lengths = main_lengths
        self.short_lengths = short_lengths
        self.short_bigrams = short_bigrams
        n_items = len(item_ids)
        self.item_total = np.bincount(row_item, minlength=n_items).astype(np.int64)
        self.item_qtotal = np.bincount(row_item, weights=row_question, minlength=n_items).astype(np.int64)
        self.filter = BitFilter(keys)
        self.short_filter = BitFilter(short_bigrams, 32)
        self.digest = digest or self._digest()

    def _state(self) -> dict[str, Any]:
        return {"keys": self.keys, "row_item": self.row_item, "row_question": self.row_question,
                "item_bench": self.item_bench, "item_ids": self.item_ids, "bench_names": self.bench_names,
                "main_lengths": self.main_lengths, "short_lengths": self.short_lengths,
                "short_bigrams": self.short_bigrams, "digest": self.digest}

    def __reduce__(self):
        return (_restore, (self.digest, self._state()))

    def _digest(self) -> str:
        h = hashlib.sha256()
        for a in (self.keys, self.row_item, self.row_question, self.item_bench, self.short_bigrams):
            h.update(np.ascontiguousarray(a).tobytes())
        h.update(json.dumps([self.item_ids, self.bench_names, self.main_lengths, self.short_lengths]).encode())
        return h.hexdigest()

    @property
    def nbytes(self) -> int:
        """Memory of the n-gram set: keys, postings, filters and per-item counts (not the id strings)."""
        arrays = (self.keys, self.row_item, self.row_question, self.item_bench, self.item_total, self.item_qtotal,
                  self.filter.bits, self.short_filter.bits, self.short_bigrams)
        return int(sum(a.nbytes for a in arrays))

    # -- build -------------------------------------------------------------------------------------
    @classmethod
    def build(cls, specs: list[BenchmarkSpec], items: list[Item]) -> NgramIndex:
        n_of = np.array([s.n for s in specs], dtype=np.int64)
        min_of = np.array([s.min_tokens for s in specs], dtype=np.int64)
        texts, u_item, u_q = [], [], []
        for i, it in enumerate(items):
            for t, q in it.units:
                texts.append(t)
                u_item.append(i)
                u_q.append(q)
        u_item_a = np.array(u_item, dtype=np.int64)
        item_bench = np.array([it.benchmark for it in items], dtype=np.int32)
        rows = _unit_grams(tokenize(texts), u_item_a, np.array(u_q, dtype=bool),
                           n_of[item_bench[u_item_a]] if len(u_item_a) else np.zeros(0, np.int64),
                           min_of[item_bench[u_item_a]] if len(u_item_a) else np.zeros(0, np.int64))
        # items without a gram: the whole item, its units joined in file order
        have = np.zeros(len(items), dtype=bool)
        have[rows[1]] = True
        rest = np.flatnonzero(~have)
        rest = np.array([i for i in rest if items[i].units], dtype=np.int64)
        if len(rest):
            whole = _unit_grams(tokenize(["\n".join(t for t, _ in items[i].units) for i in rest]), rest,
                                np.zeros(len(rest), dtype=bool), n_of[item_bench[rest]], min_of[item_bench[rest]])
            rows = tuple(np.concatenate([a, b]) for a, b in zip(rows, whole))
        keys, item, q, length, bigram = rows
        # one row per (key, item); a key from a question and a choice of one item is a question key
        order = np.lexsort((item, keys))
        keys, item, q, length, bigram = keys[order], item[order], q[order], length[order], bigram[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = (keys[1:] != keys[:-1]) | (item[1:] != item[:-1])
        starts = np.flatnonzero(first)
        q = np.maximum.reduceat(q.astype(np.uint8), starts).astype(bool) if len(starts) else q
        keys, item, length, bigram = keys[starts], item[starts], length[starts], bigram[starts]
        main = sorted({int(s.n) for s in specs})
        short_mask = ~np.isin(length, main)
        short_lengths = sorted({int(x) for x in np.unique(length[short_mask])})
        return cls(keys=keys, row_item=item.astype(np.int32), row_question=q, item_bench=item_bench,
                   item_ids=[it.id for it in items], bench_names=[s.name for s in specs], main_lengths=main,
                   short_lengths=short_lengths, short_bigrams=np.unique(bigram[short_mask]))

    # -- lookup ------------------------------------------------------------------------------------
    def _lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query index, index row) of every query key present in the index."""
        cand = np.flatnonzero(self.filter.contains(keys))
        if not len(cand):
            return cand, cand
        k = keys[cand]
        lo = np.searchsorted(self.keys, k, side="left")
        ok = lo < len(self.keys)
        ok[ok] = self.keys[lo[ok]] == k[ok]
        cand, lo, k = cand[ok], lo[ok], k[ok]
        hi = np.searchsorted(self.keys, k, side="right")
        cnt = hi - lo
        q = np.repeat(cand, cnt)
        first = np.repeat(lo - np.concatenate(([0], np.cumsum(cnt)[:-1])), cnt)
        return q, first + np.arange(len(q))

    def match(self, tokens: Tokens) -> Matches:
        gh = GramHasher(tokens)
        pos_l, len_l, row_l = [], [], []
        for length in self.main_lengths:
            pos = gh.positions(length)
            qi, rows = self._lookup(gh.keys(pos, length))
            pos_l.append(pos[qi])
            len_l.append(np.full(len(qi), length, dtype=np.int64))
            row_l.append(rows)
        if self.short_lengths:
            pos = gh.positions(2)
            cand = pos[self.short_filter.contains(gh.keys(pos, 2))]
            for length in self.short_lengths:
                p = cand[cand + length <= gh.tok_end[cand]]
                qi, rows = self._lookup(gh.keys(p, length))
                pos_l.append(p[qi])
                len_l.append(np.full(len(qi), length, dtype=np.int64))
                row_l.append(rows)
        if not pos_l:
            z = np.zeros(0, np.int64)
            return Matches(z, z, z)
        return Matches(np.concatenate(pos_l), np.concatenate(len_l), np.concatenate(row_l).astype(np.int64))

    def summary(self) -> list[dict[str, Any]]:
        """Per benchmark: items, items indexed (with at least one gram), grams."""
        out = []
        per_item_bench = self.item_bench
        for b, name in enumerate(self.bench_names):
            mine = per_item_bench == b
            out.append({"name": name, "items": int(mine.sum()), "items_indexed": int((self.item_total[mine] > 0).sum()),
                        "grams": int(self.item_total[mine].sum())})
        return out


def _unit_grams(toks: Tokens, unit_item: np.ndarray, unit_q: np.ndarray, unit_n: np.ndarray,
                unit_min: np.ndarray) -> tuple[np.ndarray, ...]:
    """(key, item, question, length, first-bigram key) of every gram of every unit."""
    gh = GramHasher(toks)
    t = np.diff(toks.offsets)
    start = toks.offsets[:-1]
    full = t >= unit_n
    short = (t >= unit_min) & ~full
    cnt = np.where(full, t - unit_n + 1, short.astype(np.int64))
    total = int(cnt.sum())
    unit = np.repeat(np.arange(len(t)), cnt)
    within = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    pos = start[unit] + within
    length = np.where(full[unit], unit_n[unit], t[unit]).astype(np.int64)
    keys = gh.keys(pos, length) if total else np.zeros(0, U64)
    bigram = gh.keys(pos, 2) if total else np.zeros(0, U64)
    return keys, unit_item[unit], unit_q[unit], length, bigram
