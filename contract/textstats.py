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


# --- Sentence ends in any script, reflow of hard-wrapped lines, datatrove-style word tokens -----------
# (used by the English rules, operators/filters/{gopher,c4,fineweb}.py)

CJK_RE2 = r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]"
# Sentence ends: ASCII . ! ?, CJK 。！？, full-width ．, half-width ｡ and the ellipsis … (Chinese ends
# sentences with ……); closing quotes and brackets may follow.
SENTENCE_END_CHARS = ".!?。！？．｡…"
SENTENCE_CLOSE_CHARS = "\"'”’)]」』）》〉»"


def re2_class(chars: str) -> str:
    """An RE2 character class matching any of ``chars``."""
    return "[" + "".join("\\" + c if c in "\\]^-[" else c for c in chars) + "]"


SENTENCE_END_RE2 = re2_class(SENTENCE_END_CHARS) + re2_class(SENTENCE_CLOSE_CHARS) + "*$"
# A line that starts a list item: bullet, "1." / "1)" / "a)" numbering.
LIST_ITEM_RE2 = r"^\s*(?:[-*+•‣◦⁃●▪∙–—]\s|\(?[0-9]{1,3}[.)]\s|\(?[A-Za-z][.)]\s)"


def mask_of(arr) -> np.ndarray:
    """A pyarrow boolean array as a numpy bool array (nulls as False)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        arr = pc.fill_null(arr, False)
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)


def ends_sentence(lines: pa.Array) -> np.ndarray:
    """Whether every (right-stripped) line ends a sentence in any script."""
    return mask_of(pc.match_substring_regex(pc.utf8_rtrim_whitespace(lines), SENTENCE_END_RE2))


def per_doc_quantile(values: np.ndarray, doc: np.ndarray, n_docs: int, q: float) -> np.ndarray:
    """The ``q`` quantile (lower) of ``values`` grouped by ``doc`` (0 for a document without values)."""
    out = np.zeros(n_docs, dtype=np.float64)
    if len(values) == 0:
        return out
    order = np.lexsort((values, doc))
    counts = np.bincount(doc, minlength=n_docs)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    has = counts > 0
    idx = starts[has] + np.floor(q * (counts[has] - 1)).astype(np.int64)
    out[has] = np.asarray(values, dtype=np.float64)[order][idx]
    return out


class Reflow:
    """Hard-wrapped paragraphs joined into logical lines, for line-level statistics.

    A physical line is joined with the next one when both are non-blank (same paragraph), it does
    not end a sentence (:data:`SENTENCE_END_RE2`), the next line does not start a list item, it is
    at least ``min_line_chars`` long, and the next line's first word would not have fitted on it:
    ``len(line) + 1 + len(first word of next) > width``, where ``width`` is the document's
    ``width_quantile`` quantile of non-blank line lengths (the wrap column). That is the signature
    of a text wrapped at a fixed column (manpages, mailing lists, plain-text books and docs); a
    menu or a list of short lines is never joined, because its lines end far before the column.

    Attributes: ``lines`` (the physical lines), ``logical`` (:class:`Segments` of logical lines:
    stripped physical lines joined with a space), ``line_of`` (for every physical line, the flat
    index of its logical line), ``joins`` (joined line breaks per document).
    """

    def __init__(self, lines: Segments, min_line_chars: int = 30, width_quantile: float = 0.9,
                 enabled: bool = True):
        self.lines = lines
        vals = lines.values
        stripped = pc.utf8_trim_whitespace(vals)
        n = len(vals)
        join = np.zeros(n, dtype=bool)
        if enabled and n > 1:
            ln = lengths(pc.utf8_rtrim_whitespace(vals))
            blank = lengths(stripped) == 0
            first = pc.struct_field(pc.extract_regex(stripped, r"^(?P<w>\S*)"), [0])
            fw = lengths(pc.fill_null(first, ""))
            doc = lines.doc_index()
            width = per_doc_quantile(ln[~blank], doc[~blank], lines.n_docs, width_quantile)
            ends = ends_sentence(vals)
            list_next = mask_of(pc.match_substring_regex(vals, LIST_ITEM_RE2))
            join[:-1] = (
                (doc[:-1] == doc[1:])
                & ~blank[:-1] & ~blank[1:]
                & ~ends[:-1]
                & ~list_next[1:]
                & (ln[:-1] >= min_line_chars)
                & (ln[:-1] + 1 + fw[1:] > width[doc[:-1]])
            )
        start = np.ones(n, dtype=bool)
        start[1:] = ~join[:-1]
        self.line_of = np.cumsum(start) - 1
        self.joins = lines.sum(join)
        if join.any():
            offsets = np.concatenate((np.nonzero(start)[0], [n])).astype(np.int32)
            joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), stripped), " ")
        else:
            joined = stripped
        self.logical = Segments.from_parts(joined, lines.sum(start).astype(np.int64))

    def to_physical(self, logical_mask: np.ndarray) -> np.ndarray:
        """A per-logical-line array broadcast to the physical lines."""
        return np.asarray(logical_mask)[self.line_of]


NUMBER_UNIT_RE2 = r"^([0-9]+)(am|pm|a\.m\.|p\.m\.|km|m|cm|mm|kg|g|mg|lb|lbs|oz|ft|mph|MB|GB|KB|TB|kb|mb|gb)$"


def split_tokens_datatrove(texts: pa.Array) -> Segments:
    """Word tokens as datatrove's English tokenizer (spaCy) makes them, approximated without spaCy:
    whitespace tokens with leading and trailing punctuation/symbols split off, one token per
    character except runs of dots or hyphens ("...", "--"); a token made only of punctuation stays
    whole, and "@"/"_" start a word ("@user"). ``"(hello),"`` -> ``(``, ``hello``, ``)``, ``,``;
    ``"world..."`` -> ``world``, ``...``."""
    ws = split_words(texts)
    vals = ws.values
    if len(vals) == 0:
        return ws
    p = r"[\pP\pS]"
    parts = pc.extract_regex(vals, rf"^(?P<lead>{p}*?)(?P<core>(?:[^\pP\pS]|[@_]|\+[0-9]).*?)(?P<trail>{p}*)$")
    lead, core, trail = (pc.fill_null(pc.struct_field(parts, [i]), "") for i in range(3))
    # spaCy's English exceptions and unit suffixes: "9am" -> "9", "am"; "5kg" -> "5", "kg".
    core = pc.replace_substring_regex(core, NUMBER_UNIT_RE2, r"\1 \2")
    # Infix hyphens and dashes between letters: "third-largest" -> "third", "-", "largest".
    for _ in range(2):
        core = pc.replace_substring_regex(core, r"(\pL)([-–—])(\pL)", r"\1 \2 \3")
    spaced = r"(\.{2,}|-{2,}|.)"
    lead = pc.replace_substring_regex(lead, spaced, r"\1 ")
    trail = pc.replace_substring_regex(trail, spaced, r" \1")
    built = pc.binary_join_element_wise(lead, core, trail, " ")
    out = pc.if_else(pc.greater(pc.utf8_length(core), 0), built, vals)
    sub = Segments(pc.utf8_split_whitespace(pc.utf8_trim_whitespace(out)))
    keep = lengths(sub.values) > 0  # "" from an empty text
    per_ws = sub.sum(keep)
    return Segments.from_parts(sub.values.filter(pa.array(keep)), ws.sum(per_ws).astype(np.int64))


def top_ngram_chars(ids: np.ndarray, tok_lens: np.ndarray, seg_offsets: np.ndarray, ns: tuple[int, ...],
                    with_spaces: bool = True, min_count: int = 1) -> dict[int, np.ndarray]:
    """Per document and n: characters of the most frequent n-gram times its count, as datatrove's
    ``find_top_duplicate`` (``Counter.most_common(1)``: the first-seen n-gram among those with the
    highest count; written with single spaces between its tokens when ``with_spaces``; counted from
    ``min_count`` occurrences: 1 in datatrove)."""
    n_docs = len(seg_offsets) - 1
    counts = np.diff(seg_offsets)
    out: dict[int, np.ndarray] = {}
    if len(ids) == 0 or not ns:
        return {n: np.zeros(n_docs) for n in ns}
    doc_of_tok = np.repeat(np.arange(n_docs, dtype=np.int64), counts)
    end_of_tok = np.repeat(seg_offsets[1:], counts)
    cum_len = np.concatenate(([0], np.cumsum(tok_lens, dtype=np.int64)))
    ids = ids.astype(np.uint64)
    h = ids.copy()
    doc_salt = doc_of_tok.astype(np.uint64) * _DOCMIX
    with np.errstate(over="ignore"):
        for n in range(1, max(ns) + 1):
            if n > 1:
                h = h[:-1] * _MULT + ids[n - 1:]
            if n not in ns:
                continue
            starts = np.nonzero(np.arange(len(h)) + n <= end_of_tok[: len(h)])[0]
            best = np.zeros(n_docs)
            if len(starts):
                codes, _ = first_occurrence(h[starts] ^ doc_salt[starts])
                cnt = np.bincount(codes)[codes]
                chars = cum_len[starts + n] - cum_len[starts] + ((n - 1) if with_spaces else 0)
                d = doc_of_tok[starts]
                # Counter.most_common(1): the highest count, and among equal counts the n-gram seen first.
                top_cnt = np.zeros(n_docs, np.int64)
                np.maximum.at(top_cnt, d, cnt)
                is_top = (cnt == top_cnt[d]) & (cnt >= min_count)
                docs_with, first = np.unique(d[is_top], return_index=True)
                pick = np.nonzero(is_top)[0][first]
                best[docs_with] = (cnt[pick] * chars[pick]).astype(np.float64)
            out[n] = best
    return out


# --- Han script: Simplified / Traditional ------------------------------------------------------
# Traditional-only characters are those OpenCC converts to Simplified (TSCharacters) that are never
# the Simplified form of anything and have no Traditional form themselves; Simplified-only is the
# mirror image. Measured on the Chinese corpora of ../shared/corpora: no Simplified document has more
# Traditional-only than Simplified-only characters, and an OpenCC-made Traditional twin always has.

SCRIPT_HANS = "Hans"
SCRIPT_HANT = "Hant"
# OpenCC configuration of the Simplified view Traditional Chinese is judged through: tw2sp maps
# characters and Taiwan vocabulary (軟體 -> 软件, 資訊 -> 信息), so jieba sees the words its Simplified
# dictionary knows; t2s maps characters and a few phrases. Measured (bench/bench_filters_zh.py): both
# give zh-TW twins their zh-CN originals' decisions within 0.2 point of keep rate, tw2sp a few more
# identical ones; with DictionaryConverter both cost little next to jieba.
DEFAULT_SIMPLIFIED_VIEW = "tw2sp"
_HAN_CLASSES: tuple[str, str] | None = None
_CONVERTERS: dict[str, object] = {}
_VIEW_CACHE: dict[tuple[str, str], str] = {}
_VIEW_CACHE_CHARS = 0
_VIEW_CACHE_MAX_CHARS = 50_000_000


def opencc_dictionary(name: str) -> dict[str, list[str]]:
    """An OpenCC dictionary file (``TSCharacters.txt``, ``STCharacters.txt``...): key -> values."""
    import os

    import opencc

    path = os.path.join(os.path.dirname(opencc.__file__), "dictionary", name)
    out: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, _, vals = line.rstrip("\n").partition("\t")
            out[key] = vals.split()
    return out


def han_variant_classes() -> tuple[str, str]:
    """RE2 character classes ``(traditional_only, simplified_only)`` built from OpenCC's
    single-character dictionaries (once per process)."""
    global _HAN_CLASSES
    if _HAN_CLASSES is None:
        ts = opencc_dictionary("TSCharacters.txt")
        st = opencc_dictionary("STCharacters.txt")
        ts_out = {c for v in ts.values() for c in v}
        st_out = {c for v in st.values() for c in v}
        trad = {k for k, v in ts.items() if len(k) == 1 and v != [k]} - set(st) - ts_out
        simp = {k for k, v in st.items() if len(k) == 1 and v != [k]} - set(ts) - st_out

        def cls(chars: set[str]) -> str:
            return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in sorted(chars)) + "]"

        _HAN_CLASSES = (cls(trad), cls(simp))
    return _HAN_CLASSES


def han_scripts(texts: pa.Array, is_zh: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(script, traditional_chars)`` per text: ``script`` is 'Hant' where Traditional-only
    characters outnumber Simplified-only ones, 'Hans' otherwise, None where ``is_zh`` is false;
    ``traditional_chars`` counts the Traditional-only characters (0 where not ``is_zh``)."""
    n = len(texts)
    sel = np.ones(n, bool) if is_zh is None else np.asarray(is_zh, bool)
    script = np.full(n, None, dtype=object)
    trad = np.zeros(n, np.int64)
    if not sel.any():
        return script, trad
    sub = texts if sel.all() else texts.filter(pa.array(sel))
    trad_re, simp_re = han_variant_classes()
    t = count_re(sub, trad_re)
    s = count_re(sub, simp_re)
    script[sel] = np.where(t > s, SCRIPT_HANT, SCRIPT_HANS)
    trad[sel] = t
    return script, trad


class DictionaryConverter:
    """OpenCC's conversion (``opencc.OpenCC(config).convert``) from OpenCC's own configuration and
    dictionary files, about 15x faster than the pure-Python ``opencc`` engine: every stage of the
    configuration's conversion chain replaces the longest phrase of its dictionaries at each
    position, left to right (one regex alternation, longest first), and maps the characters between
    phrases with ``str.translate``; the first candidate of every entry is used, as ``opencc`` does.
    Its output is checked against ``opencc`` in tests/test_filters_zh.py."""

    def __init__(self, config: str):
        import json
        import os
        import re

        import opencc

        root = os.path.dirname(opencc.__file__)
        with open(os.path.join(root, "config", f"{config}.json"), encoding="utf-8") as f:
            chain = json.load(f)["conversion_chain"]
        # OpenCC cuts the text at these separators first: no phrase spans one.
        split = getattr(opencc.OpenCC(), "split_chars_re", None) or re.compile(r"[\s\-,.?!*　，。、；：？！…“”‘’『』「」（）《》]")
        self.config = config
        self.stages = []
        for link in chain:
            d = link["dict"]
            files = [x["file"] for x in d["dicts"]] if d.get("type") == "group" else [d["file"]]
            phrases: dict[str, str] = {}
            chars: dict[str, str] = {}
            for name in files:
                for key, vals in opencc_dictionary(name).items():
                    if not vals:
                        continue
                    if len(key) == 1:
                        chars.setdefault(key, vals[0])
                    elif not split.search(key):
                        phrases.setdefault(key, vals[0])
            rx = re.compile("|".join(sorted(map(re.escape, phrases), key=len, reverse=True))) if phrases else None
            self.stages.append((rx, phrases, str.maketrans(chars)))

    def convert(self, text: str) -> str:
        for rx, phrases, table in self.stages:
            if rx is None:
                text = text.translate(table)
                continue
            parts = []
            last = 0
            for m in rx.finditer(text):
                parts.append(text[last:m.start()].translate(table))
                parts.append(phrases[m.group()])
                last = m.end()
            parts.append(text[last:].translate(table))
            text = "".join(parts)
        return text


def opencc_converter(config: str = DEFAULT_SIMPLIFIED_VIEW):
    """An OpenCC converter (:class:`DictionaryConverter`), built once per process (worker) and
    configuration."""
    conv = _CONVERTERS.get(config)
    if conv is None:
        conv = DictionaryConverter(config)
        _CONVERTERS[config] = conv
    return conv


def simplified_texts(texts: list[str], config: str = DEFAULT_SIMPLIFIED_VIEW) -> list[str]:
    """The Simplified view of ``texts`` (OpenCC ``config``: ``t2s`` maps characters and a few
    phrases; ``tw2sp`` also maps Taiwan vocabulary, 軟體 -> 软件). Each text is converted once per process:
    a cache bounded by characters lets several filters of a chain share one conversion."""
    global _VIEW_CACHE_CHARS
    conv = opencc_converter(config)
    out = []
    for t in texts:
        key = (config, t)
        v = _VIEW_CACHE.get(key)
        if v is None:
            v = conv.convert(t)
            if _VIEW_CACHE_CHARS + 2 * len(t) > _VIEW_CACHE_MAX_CHARS:
                _VIEW_CACHE.clear()
                _VIEW_CACHE_CHARS = 0
            _VIEW_CACHE[key] = v
            _VIEW_CACHE_CHARS += 2 * len(t)
        out.append(v)
    return out


def simplified_view(texts: pa.Array, traditional_chars: np.ndarray,
                    config: str = DEFAULT_SIMPLIFIED_VIEW) -> pa.Array:
    """``texts`` with every text that holds Traditional-only characters (``traditional_chars`` > 0,
    from :func:`han_scripts`) converted to Simplified; the others are returned untouched."""
    idx = np.nonzero(np.asarray(traditional_chars) > 0)[0]
    if len(idx) == 0:
        return texts
    vals = texts.to_pylist()
    conv = simplified_texts([vals[i] for i in idx], config)
    for i, v in zip(idx, conv):
        vals[i] = v
    return pa.array(vals, pa.string())


# datatrove.utils.text.TERMINAL_PUNCTUATION (sentence terminators of many scripts: . ! ? 。！？．｡ ...)
DATATROVE_TERMINAL_PUNCTUATION = (
    "!.?\u0589\u061d\u061e\u061f\u06d4\u0700\u0701\u0702\u07f9\u0837\u0839\u083d\u083e\u0964"
    "\u0965\u104a\u104b\u1362\u1367\u1368\u166e\u1735\u1736\u17d4\u17d5\u17d6\u17d9\u17da\u1803"
    "\u1809\u1944\u1945\u1aa8\u1aa9\u1aaa\u1aab\u1b5a\u1b5b\u1b5e\u1b5f\u1b7d\u1b7e\u1c3b\u1c3c"
    "\u1c7e\u1c7f\u203c\u203d\u2047\u2048\u2049\u2e2e\u2e3c\u2e53\u2e54\u3002\ua4ff\ua60e\ua60f"
    "\ua6f3\ua6f7\ua876\ua877\ua8ce\ua8cf\ua92f\ua9c8\ua9c9\uaa5d\uaa5e\uaa5f\uaaf0\uaaf1\uabeb"
    "\ufe52\ufe56\ufe57\uff01\uff0e\uff1f\uff61\U00010a56\U00010a57\U00010f55\U00010f56"
    "\U00010f57\U00010f58\U00010f59\U00010f86\U00010f87\U00010f88\U00010f89\U00011047\U00011048"
    "\U000110be\U000110bf\U000110c0\U000110c1\U00011141\U00011142\U00011143\U000111c5\U000111c6"
    "\U000111cd\U000111de\U000111df\U00011238\U00011239\U0001123b\U0001123c\U000112a9\U0001144b"
    "\U0001144c\U000115c2\U000115c3\U000115c9\U000115ca\U000115cb\U000115cc\U000115cd\U000115ce"
    "\U000115cf\U000115d0\U000115d1\U000115d2\U000115d3\U000115d4\U000115d5\U000115d6\U000115d7"
    "\U00011641\U00011642\U0001173c\U0001173d\U0001173e\U00011944\U00011946\U00011a42\U00011a43"
    "\U00011a9b\U00011a9c\U00011c41\U00011c42\U00011ef7\U00011ef8\U00011f43\U00011f44\U00016a6e"
    "\U00016a6f\U00016af5\U00016b37\U00016b38\U00016b44\U00016e98\U0001bc9f\U0001da88"
)
# datatrove.utils.text.PUNCTUATION: ASCII and CJK punctuation, a few symbols, and the C0/C1 controls
DATATROVE_PUNCTUATION = (
    '!/\u2014\u201d:\uff05\uff11\u3008&(\u3001\u2501\\\u3010#%\u300c\u300d'
    '\uff0c\u3011\uff1b+^]~\u201c\u300a\u201e\';\u2019{|\u2236\xb4[=-`*\uff0e\uff08\u2013\uff1f\uff01\uff1a$\uff5e\xab\u3009,><\u300b)?\uff09\u3002\u2026@_."}\u25ba\xbb'
)
# A token is a "word" for datatrove when one of its characters is not in PUNCTUATION_SET.
DATATROVE_WORD_RE2 = ("[^" + re2_class(DATATROVE_PUNCTUATION + DATATROVE_TERMINAL_PUNCTUATION)[1:-1]
                      + r"\x{0}-\x{8}\x{b}-\x{1f}\x{7f}-\x{9f}]")
