"""Vectorised text statistics over a whole Arrow batch.

Everything here works on a column of texts at once with ``pyarrow.compute`` (C++ kernels, RE2
regexes) and numpy; per-document Python loops are avoided in the hot paths. Helpers return numpy
arrays with one value per document.

Regex note: ``\\b`` is useless beside Chinese characters (they are word characters to RE2 and
Python alike, so there is no boundary between "中" and "a"); patterns here use explicit
letter/digit lookarounds or character classes instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# RE2 (pyarrow) character classes.
HAN_RE2 = r"\p{Han}"
KANA_RE2 = r"[\p{Hiragana}\p{Katakana}]"
HANGUL_RE2 = r"\p{Hangul}"
LATIN_RE2 = r"[A-Za-z]"
DIGIT_RE2 = r"[0-9０-９]"
NONSPACE_RE2 = r"\S"
URL_RE2 = r"(?i)(?:https?://|www\.)[^\s<>\"'，。）)]+"


def texts_of(batch: pa.RecordBatch, column: str = "text") -> pa.Array:
    """The text column with nulls as empty strings (a plain, non-chunked array)."""
    arr = batch.column(column)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    return pc.fill_null(arr, "") if arr.null_count else arr


def count_re(texts: pa.Array, pattern: str) -> np.ndarray:
    """Occurrences of an RE2 ``pattern`` in every text."""
    return np.asarray(pc.count_substring_regex(texts, pattern).to_numpy(zero_copy_only=False), dtype=np.int64)


def count_sub(texts: pa.Array, sub: str, ignore_case: bool = False) -> np.ndarray:
    return np.asarray(
        pc.count_substring(texts, sub, ignore_case=ignore_case).to_numpy(zero_copy_only=False), dtype=np.int64
    )


def lengths(texts: pa.Array) -> np.ndarray:
    """Length in characters (code points)."""
    return np.asarray(pc.utf8_length(texts).to_numpy(zero_copy_only=False), dtype=np.int64)


def safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.zeros(np.broadcast(a, b).shape, dtype=np.float64)
    np.divide(a, b, out=out, where=b > 0)
    return out


class Segments:
    """A list array (one list per document) flattened, with its per-document offsets."""

    def __init__(self, lists: pa.ListArray | pa.LargeListArray):
        if isinstance(lists, pa.ChunkedArray):
            lists = lists.combine_chunks()
        lists = pc.fill_null(lists, pa.scalar([], lists.type)) if lists.null_count else lists
        offs = np.asarray(lists.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
        self.values: pa.Array = lists.flatten()
        self.offsets = offs - offs[0]
        self.counts = np.diff(self.offsets)
        self.n_docs = len(self.counts)

    @classmethod
    def from_parts(cls, values: pa.Array, counts: np.ndarray) -> Segments:
        """Segments from flat ``values`` and the number of values of every document."""
        seg = cls.__new__(cls)
        seg.values = values
        seg.counts = np.asarray(counts, dtype=np.int64)
        seg.offsets = np.concatenate(([0], np.cumsum(seg.counts))).astype(np.int64)
        seg.n_docs = len(seg.counts)
        return seg

    def doc_index(self) -> np.ndarray:
        """For every flattened element, the index of its document."""
        return np.repeat(np.arange(self.n_docs), self.counts)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per-document sum of a per-element array."""
        cs = np.concatenate(([0.0], np.cumsum(values, dtype=np.float64)))
        return cs[self.offsets[1:]] - cs[self.offsets[:-1]]

    def rebuild(self, keep: np.ndarray, sep: str = "\n") -> pa.Array:
        """Join the kept elements of every document with ``sep`` (documents keep their order)."""
        kept_counts = self.sum(keep.astype(np.int64)).astype(np.int32)
        offsets = np.concatenate(([0], np.cumsum(kept_counts))).astype(np.int32)
        values = self.values.filter(pa.array(keep))
        lists = pa.ListArray.from_arrays(pa.array(offsets), values)
        return pc.binary_join(lists, sep)


def split_lines(texts: pa.Array) -> Segments:
    return Segments(pc.split_pattern(texts, "\n"))


def split_paragraphs(texts: pa.Array) -> Segments:
    return Segments(pc.split_pattern_regex(texts, r"\n\s*\n"))


def split_words(texts: pa.Array) -> Segments:
    return Segments(pc.utf8_split_whitespace(texts))


def first_occurrence(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, is_first): dense codes in order of first appearance, and whether each element is the
    first occurrence of its key (hash table, O(n))."""
    if len(keys) == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    codes, _ = pd.factorize(keys, sort=False)
    codes = codes.astype(np.int64)
    running = np.maximum.accumulate(codes)
    prev = np.concatenate(([-1], running[:-1]))
    return codes, codes > prev


def duplicate_elements(seg: Segments, skip_empty: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per document: (number of elements, duplicated elements, characters in duplicated elements),
    where an element (line or paragraph, stripped) is a duplicate when an identical one came earlier
    in the same document (Gopher / datatrove ``find_duplicates`` semantics)."""
    vals = pc.utf8_trim_whitespace(seg.values)
    lens = lengths(vals)
    valid = lens > 0 if skip_empty else np.ones(len(lens), bool)
    doc = seg.doc_index()
    if len(vals):
        enc = pc.dictionary_encode(vals).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    else:
        enc = np.zeros(0, np.int64)
    keys = enc * max(seg.n_docs, 1) + doc
    keys = np.where(valid, keys, -1 - np.arange(len(keys)))  # empty elements never match
    _, is_first = first_occurrence(keys)
    dup = (~is_first) & valid
    return seg.sum(valid), seg.sum(dup), seg.sum(np.where(dup, lens, 0))


_MULT = np.uint64(0x100000001B3)
_DOCMIX = np.uint64(0x9E3779B97F4A7C15)


def token_ids(values: pa.Array) -> np.ndarray:
    """Dense integer ids of string tokens (equal strings get equal ids)."""
    if len(values) == 0:
        return np.zeros(0, np.uint64)
    return pc.dictionary_encode(values).indices.to_numpy(zero_copy_only=False).astype(np.uint64)


def ngram_repetition(
    ids: np.ndarray,
    tok_lens: np.ndarray,
    seg_offsets: np.ndarray,
    top_ns: tuple[int, ...] = (2, 3, 4),
    dup_ns: tuple[int, ...] = (5, 6, 7, 8, 9, 10),
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Gopher n-gram repetition statistics for many documents at once.

    ``ids``: token ids of all documents concatenated; ``tok_lens``: characters per token;
    ``seg_offsets``: document boundaries (len n_docs + 1). Returns ``(top, dup)``: for each n in
    ``top_ns`` the per-document fraction of characters covered by the most repeated n-gram
    (largest count x length among n-grams seen at least twice), and for each n in ``dup_ns`` the
    fraction of characters inside n-grams that repeat an earlier n-gram of the same document
    (overlaps counted once). Characters are token characters (whitespace excluded), as in Gopher.
    """
    n_docs = len(seg_offsets) - 1
    n_tok = len(ids)
    counts = np.diff(seg_offsets)
    doc_of_tok = np.repeat(np.arange(n_docs, dtype=np.int64), counts)
    end_of_tok = np.repeat(seg_offsets[1:], counts)
    cum_len = np.concatenate(([0], np.cumsum(tok_lens, dtype=np.int64)))
    total = cum_len[seg_offsets[1:]] - cum_len[seg_offsets[:-1]]
    top: dict[int, np.ndarray] = {}
    dup: dict[int, np.ndarray] = {}
    if n_tok == 0:
        zeros = np.zeros(n_docs)
        return {n: zeros for n in top_ns}, {n: zeros for n in dup_ns}
    ids = ids.astype(np.uint64)
    h = ids.copy()
    max_n = max((*top_ns, *dup_ns))
    doc_salt = doc_of_tok.astype(np.uint64) * _DOCMIX
    with np.errstate(over="ignore"):
        for n in range(1, max_n + 1):
            if n > 1:
                h = h[:-1] * _MULT + ids[n - 1 :]
            if n not in top_ns and n not in dup_ns:
                continue
            starts = np.nonzero(np.arange(len(h)) + n <= end_of_tok[: len(h)])[0]
            if len(starts) == 0:
                if n in top_ns:
                    top[n] = np.zeros(n_docs)
                if n in dup_ns:
                    dup[n] = np.zeros(n_docs)
                continue
            keys = h[starts] ^ doc_salt[starts]
            codes, is_first = first_occurrence(keys)
            if n in top_ns:
                cnt = np.bincount(codes)
                ngram_chars = cum_len[starts + n] - cum_len[starts]
                score = np.where(cnt[codes] > 1, cnt[codes] * ngram_chars, 0).astype(np.float64)
                best = np.zeros(n_docs)
                np.maximum.at(best, doc_of_tok[starts], score)
                top[n] = safe_div(best, total)
            if n in dup_ns:
                d = starts[~is_first]
                delta = np.bincount(d, minlength=n_tok + 1) - np.bincount(d + n, minlength=n_tok + 1)
                covered = np.cumsum(delta)[:n_tok] > 0
                dup_chars = np.concatenate(([0], np.cumsum(np.where(covered, tok_lens, 0), dtype=np.int64)))
                dup[n] = safe_div(dup_chars[seg_offsets[1:]] - dup_chars[seg_offsets[:-1]], total)
    return top, dup


def script_langs(texts: pa.Array, zh_min_han_share: float = 0.3) -> np.ndarray:
    """'zh' where Han characters make up at least ``zh_min_han_share`` of Han + Latin letters, else
    'en'. Used to route documents that carry no ``lang`` column."""
    han = count_re(texts, HAN_RE2)
    lat = count_re(texts, LATIN_RE2)
    share = safe_div(han, han + lat)
    return np.where((share >= zh_min_han_share) & (han > 0), "zh", "en").astype(object)


def format_stat(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)) or float(value).is_integer():
        return str(int(value))
    return f"{float(value):.4g}"
