"""Rule filters for source code (documents with ``kind == "code"``; docs/code.md).

One small class per rule; each routes only code documents (the ``kind`` column, see
``operators/filters/base.py``), optionally only some languages (``languages=["python", "c"]``: the part
of ``lang`` after ``code:``). Defaults are the published ones where a publication gives one:

- StarCoder (Li et al. 2023, "StarCoder: may the source be with you!", §3 data curation), after Codex
  (Chen et al. 2021) and CodeParrot (Tunstall et al., "Natural Language Processing with Transformers",
  ch. 10, the ``codeparrot`` preprocessing script): maximum line length 1000, mean line length 100,
  alphanumeric fraction 0.25, auto-generated markers in the first 5 lines;
- StarCoder / The Stack v2 (Lozhkov et al. 2024, "StarCoder 2 and The Stack v2") encoded-data rule:
  base64, hex and ``\\u`` escape runs, dropped when one run is over 1024 characters or the runs cover
  over half the file; The Stack (Kocetkov et al. 2022) drops files over 1 MB;
- the rest (too few lines, minified code, data/config files, licence-only files) are Winnow's, with the
  defaults measured in ``bench/bench_code.py``.

Drop reasons are ``code_*`` strings. The comment share is a statistic (``code_comment_fraction``
column), a decision only when bounds are set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contract import schema as S
from contract.operator import BatchResult, append_columns
from contract.textstats import mask_of, texts_of
from operators.filters.base import Check, Decision, RuleFilter, doc_kinds
from redaction.code import STRING, code_regions, language_of

_LINE_SPLIT = re.compile(r"\r\n|\r|\n")
_NUMERIC = re.compile(r"[0-9,;|.\-]")
# Keys of ``meta`` that name the document's file (The Stack, the-stack-smol, GitHub dumps, Winnow's corpora).
PATH_KEYS = ("path", "file_path", "filepath", "filename", "max_stars_repo_path", "repo_path")


def doc_paths(batch: pa.RecordBatch) -> list[str]:
    """The file path of every row from ``meta`` (first of :data:`PATH_KEYS`), lower-cased; ``""`` if none."""
    idx = batch.schema.get_field_index(S.META)
    if idx < 0:
        return [""] * batch.num_rows
    out = []
    for m in batch.column(idx).to_pylist():
        path = ""
        if m and any(k in m for k in PATH_KEYS):
            try:
                obj = json.loads(m)
            except ValueError:
                obj = None
            if isinstance(obj, dict):
                path = next((str(obj[k]) for k in PATH_KEYS if isinstance(obj.get(k), str) and obj[k]), "")
        out.append(path.lower())
    return out


def doc_code_languages(batch: pa.RecordBatch) -> list[str]:
    """The language of every row (``code:python`` -> ``python``; ``""`` when unknown)."""
    idx = batch.schema.get_field_index("lang")
    if idx < 0:
        return [""] * batch.num_rows
    return [language_of(v) for v in batch.column(idx).to_pylist()]


def split_lines(text: str) -> list[str]:
    """Lines split at ``\\n``, ``\\r\\n`` and ``\\r``."""
    return (_LINE_SPLIT.split(text) if "\r" in text else text.split("\n"))


def nonempty_lines(text: str) -> list[str]:
    return [ln for ln in split_lines(text) if ln.strip()]


_ASCII_ALNUM = bytes(range(48, 58)) + bytes(range(65, 91)) + bytes(range(97, 123))


def alnum_count(text: str) -> int:
    """``sum(c.isalnum() for c in text)``, fast for the ASCII part."""
    if text.isascii():
        b = text.encode("ascii")
        return len(b) - len(b.translate(None, _ASCII_ALNUM))
    return sum(map(str.isalnum, text))


_WS = " \t\r\n\f\v"


def _nonspace(s: str) -> int:
    return len(s) - sum(map(s.count, _WS))


def _comment_stats(text: str, language: str) -> tuple[int, int]:
    """(characters inside comments and docstrings, the non-whitespace ones among them)."""
    chars = nonspace = 0
    for s, e, kind in code_regions(text, language):
        if kind != STRING:
            chars += e - s
            nonspace += _nonspace(text[s:e])
    return chars, nonspace


_COMMENT_CACHE: dict[tuple[int, int, str], tuple[int, int]] = {}
_COMMENT_CACHE_MAX = 8192


def comment_stats(text: str, language: str) -> tuple[int, int]:
    """:func:`_comment_stats`, remembered (by the text's hash and length, not the text) for the last
    files seen: the licence rule and the comment statistic lex the same files."""
    key = (hash(text), len(text), language)
    hit = _COMMENT_CACHE.get(key)
    if hit is None:
        if len(_COMMENT_CACHE) >= _COMMENT_CACHE_MAX:
            _COMMENT_CACHE.clear()
        hit = _COMMENT_CACHE[key] = _comment_stats(text, language)
    return hit


class CodeFilter(RuleFilter):
    """A rule over code documents. ``languages``: code languages to judge (``["python"]``), default all."""

    name = "code_rule"
    default_languages = ("*",)
    kinds = (S.KIND_CODE,)
    simplified_view = None  # code is judged as written, whatever its comments' script

    @property
    def handles_chinese(self) -> bool:
        return False

    def route(self, batch: pa.RecordBatch, texts: pa.Array) -> np.ndarray:
        of_kind = np.isin(doc_kinds(batch), np.array(self.kinds, dtype=object))
        if "*" in self.languages or not of_kind.any():
            return of_kind
        langs = np.array(doc_code_languages(batch), dtype=object)
        return of_kind & np.isin(langs, np.array(self.languages, dtype=object))

    def per_doc(self, texts: pa.Array, fn: Callable[[str], float]) -> np.ndarray:
        return np.array([fn(t or "") for t in texts.to_pylist()], dtype=float)


class CodeSize(CodeFilter):
    """``code_too_small``: fewer than ``min_chars`` (20) non-whitespace characters; ``code_too_large``: more
    than ``max_bytes`` (1 MiB, The Stack's limit) UTF-8 bytes."""

    name = "code_size"

    def __init__(self, min_chars: int = 20, max_bytes: int = 1 << 20, languages=None):
        super().__init__(languages)
        self.min_chars = min_chars
        self.max_bytes = max_bytes

    def decide(self, batch, texts):
        chars = self.per_doc(texts, _nonspace)
        size = self.per_doc(texts, lambda t: len(t.encode("utf-8", "surrogatepass")))
        return Decision([Check("code_too_small", chars < self.min_chars, chars),
                         Check("code_too_large", size > self.max_bytes, size)])


class CodeTooFewLines(CodeFilter):
    """``code_too_few_lines``: fewer than ``min_lines`` (3) non-empty lines (a one-liner is not a file
    worth training on; minified files are caught by :class:`CodeMinified` first in the presets)."""

    name = "code_few_lines"

    def __init__(self, min_lines: int = 3, languages=None):
        super().__init__(languages)
        self.min_lines = min_lines

    def decide(self, batch, texts):
        n = self.per_doc(texts, lambda t: len(nonempty_lines(t)))
        return Decision([Check("code_too_few_lines", n < self.min_lines, n)])


class CodeMaxLineLength(CodeFilter):
    """``code_max_line_length``: a line longer than ``max_line_length`` (1000 characters; StarCoder, Codex)."""

    name = "code_max_line_length"

    def __init__(self, max_line_length: int = 1000, languages=None):
        super().__init__(languages)
        self.max_line_length = max_line_length

    def decide(self, batch, texts):
        longest = self.per_doc(texts, lambda t: max(map(len, split_lines(t)), default=0))
        return Decision([Check("code_max_line_length", longest > self.max_line_length, longest)])


class CodeMeanLineLength(CodeFilter):
    """``code_mean_line_length``: mean line length over ``max_mean_line_length`` (100 characters;
    StarCoder, Codex, CodeParrot). Lines are all lines, blank ones included, as those implementations count."""

    name = "code_mean_line_length"

    def __init__(self, max_mean_line_length: float = 100.0, languages=None):
        super().__init__(languages)
        self.max_mean_line_length = max_mean_line_length

    def decide(self, batch, texts):
        def mean(t: str) -> float:
            lines = split_lines(t)
            return (len(t) - (len(lines) - 1)) / len(lines)
        m = self.per_doc(texts, mean)
        return Decision([Check("code_mean_line_length", m > self.max_mean_line_length, m)])


class CodeAlphanumFraction(CodeFilter):
    """``code_alphanum_fraction``: alphanumeric characters below ``min_alphanum_fraction`` (0.25;
    StarCoder, CodeParrot) of all characters. Letters of any script count (``str.isalnum``: Chinese
    comments are letters)."""

    name = "code_alphanum_fraction"

    def __init__(self, min_alphanum_fraction: float = 0.25, languages=None):
        super().__init__(languages)
        self.min_alphanum_fraction = min_alphanum_fraction

    def decide(self, batch, texts):
        frac = self.per_doc(texts, lambda t: alnum_count(t) / len(t) if t else 0.0)
        return Decision([Check("code_alphanum_fraction", frac < self.min_alphanum_fraction, frac)])


class CodeAutogenerated(CodeFilter):
    """``code_autogenerated``: a generator marker (``markers``, case-insensitive) in the first
    ``scan_lines`` (5) lines, as CodeParrot's ``is_autogenerated`` (its markers plus Go's
    ``Code generated ... DO NOT EDIT`` convention, ``generated by``/``from`` and ``code generator``)."""

    name = "code_autogenerated"
    MARKERS = ("auto-generated", "autogenerated", "automatically generated", "generated by", "do not edit",
               "code generated", "generated automatically", "generated from", "code generator")

    def __init__(self, scan_lines: int = 5, markers: list[str] | None = None, languages=None):
        super().__init__(languages)
        self.scan_lines = scan_lines
        self.markers = list(markers) if markers is not None else list(self.MARKERS)
        self._re = re.compile("|".join(re.escape(m) for m in self.markers), re.IGNORECASE) if self.markers else None

    def decide(self, batch, texts):
        def hit(t: str) -> float:
            if self._re is None:
                return 0.0
            head = "\n".join(_LINE_SPLIT.split(t[:4000], self.scan_lines)[: self.scan_lines])
            return 1.0 if self._re.search(head) else 0.0
        h = self.per_doc(texts, hit)
        return Decision([Check("code_autogenerated", h > 0, h)])


class CodeEncodedData(CodeFilter):
    """``code_encoded_data``: base64 runs (64+ of ``[A-Za-z0-9+/=\\n]``), hex byte runs (8+ bytes, ``0x`` /
    ``\\x`` or bare) and ``\\u`` escape runs (8+); the document is dropped when one run is longer than
    ``max_run_length`` (1024) characters or the runs cover more than ``max_fraction`` (0.5) of it
    (StarCoder / The Stack v2). Two Winnow additions: a hex run may separate its bytes by ``", "``
    (C arrays: ``0x1f, 0x2e, ...``), and with ``join_literals`` (default True) a blob split into
    concatenated string literals, one per line (``"QUJD..."\\n    "REVG..."``, with a ``\\n`` escape or a
    ``+`` between them too), is measured as the one run it is. The detail is the covered fraction."""

    name = "code_encoded_data"
    _BASE64 = re.compile(r"[a-zA-Z0-9+/\n=]{64,}")
    _HEX = re.compile(r"(?:\b(?:0x|\\x)?[0-9a-fA-F]{2}(?:,\s*|\b\s*)){8,}")
    _UNICODE = re.compile(r"(?:\\u[0-9a-fA-F]{4}){8,}")

    _SEAM = re.compile(r"(?:\\n)?[\"']\s*\+?\s*\n\s*\+?\s*[bBrRuU]?[\"']")

    def __init__(self, max_run_length: int = 1024, max_fraction: float = 0.5, join_literals: bool = True,
                 languages=None):
        super().__init__(languages)
        self.max_run_length = max_run_length
        self.max_fraction = max_fraction
        self.join_literals = join_literals

    def stats(self, t: str) -> tuple[float, float]:
        if self.join_literals and ("\"" in t or "'" in t):
            t = self._SEAM.sub("", t)
        longest, covered = 0, 0
        for rx in (self._BASE64, self._HEX, self._UNICODE):
            for m in rx.finditer(t):
                n = m.end() - m.start()
                covered += n
                longest = max(longest, n)
        return float(longest), covered / len(t) if t else 0.0

    def decide(self, batch, texts):
        # RE2 pre-check over the batch: only documents with a candidate run are scanned in Python.
        maybe = mask_of(pc.match_substring_regex(texts, r"[a-zA-Z0-9+/\n=]{64}|(?:(?:0x|\\x)?[0-9a-fA-F]{2}"
                                                        r"(?:,\s*|\s*)){8}|(?:\\u[0-9a-fA-F]{4}){8}"))
        longest = np.zeros(len(texts), dtype=float)
        frac = np.zeros(len(texts), dtype=float)
        for i in np.nonzero(maybe)[0]:
            longest[i], frac[i] = self.stats(texts[int(i)].as_py() or "")
        fail = (longest > self.max_run_length) | (frac > self.max_fraction)
        return Decision([Check("code_encoded_data", fail, frac)])


class CodeDataFile(CodeFilter):
    """``code_data_file``: a data or config file, not a program: its path (``meta``'s ``path``...) ends in
    one of ``data_extensions`` or its language is one of ``data_languages``; or its content is a JSON
    document of at least ``min_json_chars`` (200) characters, or a table: at least ``min_table_rows``
    (10) non-empty lines, ``min_table_share`` (0.9) of them with the same number (1+) of one delimiter
    (``,``, tab, ``;``, ``|``) and digits and delimiters at least ``min_table_numeric`` (0.5) of the
    non-whitespace characters. The detail is 1 (extension), 2 (JSON) or 3 (table)."""

    name = "code_data_file"
    DATA_EXTENSIONS = (".json", ".jsonl", ".ndjson", ".geojson", ".csv", ".tsv", ".psv", ".xml", ".svg", ".yaml",
                       ".yml", ".toml", ".ini", ".cfg", ".conf", ".lock", ".dat", ".log", ".txt", ".pbtxt", ".ipynb",
                       ".map")
    DATA_LANGUAGES = ("json", "csv", "tsv", "xml", "yaml", "toml", "ini", "svg", "text")

    def __init__(self, data_extensions: list[str] | None = None, data_languages: list[str] | None = None,
                 min_json_chars: int = 200, min_table_rows: int = 10, min_table_share: float = 0.9,
                 min_table_numeric: float = 0.5, languages=None):
        super().__init__(languages)
        self.data_extensions = tuple(data_extensions if data_extensions is not None else self.DATA_EXTENSIONS)
        self.data_languages = tuple(data_languages if data_languages is not None else self.DATA_LANGUAGES)
        self.min_json_chars = min_json_chars
        self.min_table_rows = min_table_rows
        self.min_table_share = min_table_share
        self.min_table_numeric = min_table_numeric

    def is_json(self, t: str) -> bool:
        s = t.strip()
        if len(s) < self.min_json_chars or s[:1] not in "{[" or s[-1:] not in "}]":
            return False
        try:
            json.loads(s)
        except ValueError:
            return False
        return True

    def numeric_share(self, t: str) -> float:
        """Digits and delimiters over non-whitespace characters."""
        if t.isascii():
            b = t.encode("ascii")
            numeric = len(b) - len(b.translate(None, b"0123456789,;|.-"))
        else:
            numeric = len(_NUMERIC.findall(t))
        return numeric / max(_nonspace(t), 1)

    def is_table(self, t: str) -> bool:
        if self.numeric_share(t) < self.min_table_numeric:
            return False
        lines = nonempty_lines(t)
        if len(lines) < self.min_table_rows:
            return False
        for d in (",", "\t", ";", "|"):
            counts = [ln.count(d) for ln in lines]
            top = max(set(counts), key=counts.count)
            if top >= 1 and counts.count(top) >= self.min_table_share * len(lines):
                return True
        return False

    def decide(self, batch, texts):
        paths = doc_paths(batch)
        langs = doc_code_languages(batch)
        kind = []
        for t, p, lang in zip(texts.to_pylist(), paths, langs):
            t = t or ""
            if (p and p.endswith(self.data_extensions)) or lang in self.data_languages:
                kind.append(1.0)
            elif self.is_json(t):
                kind.append(2.0)
            elif self.is_table(t):
                kind.append(3.0)
            else:
                kind.append(0.0)
        k = np.array(kind, dtype=float)
        return Decision([Check("code_data_file", k > 0, k)])


class CodeMinified(CodeFilter):
    """``code_minified``: a path with ``.min.`` before its extension, or at least ``min_chars`` (200)
    characters with a mean of more than ``min_mean_line_length`` (200) characters per non-empty line and
    whitespace below ``max_whitespace_fraction`` (0.12) of the characters (code written by a tool for
    machines: minified JavaScript/CSS, squeezed C). The detail is the whitespace fraction."""

    name = "code_minified"
    _MIN_PATH = re.compile(r"\.min\.[a-z0-9]+$")

    def __init__(self, min_chars: int = 200, min_mean_line_length: float = 200.0,
                 max_whitespace_fraction: float = 0.12, languages=None):
        super().__init__(languages)
        self.min_chars = min_chars
        self.min_mean_line_length = min_mean_line_length
        self.max_whitespace_fraction = max_whitespace_fraction

    def decide(self, batch, texts):
        paths = doc_paths(batch)
        ws, fail = [], []
        for t, p in zip(texts.to_pylist(), paths):
            t = t or ""
            lines = nonempty_lines(t)
            w = sum(map(t.count, " \t\r\n")) / len(t) if t else 0.0
            mean = sum(map(len, lines)) / len(lines) if lines else 0.0
            ws.append(w)
            fail.append(bool(self._MIN_PATH.search(p)) or (
                len(t) >= self.min_chars and mean > self.min_mean_line_length and w < self.max_whitespace_fraction))
        return Decision([Check("code_minified", np.array(fail, dtype=bool), np.array(ws, dtype=float))])


class CodeLicenceOnly(CodeFilter):
    """``code_licence_only``: a licence text (one of ``markers``, case-insensitive) and almost no code
    besides: fewer than ``min_code_chars`` (64) non-whitespace characters outside comments (and Python
    docstrings), or less than ``min_code_fraction`` (0.1) of the non-whitespace characters. Comments by
    the language's syntax (``redaction.code.code_regions``). The detail is the code share."""

    name = "code_licence_only"
    MARKERS = ("license", "licence", "copyright", "copyleft", "public domain", "all rights reserved",
               "permission is hereby granted", "redistribution and use", "warranty")

    def __init__(self, min_code_chars: int = 64, min_code_fraction: float = 0.1, markers: list[str] | None = None,
                 languages=None):
        super().__init__(languages)
        self.min_code_chars = min_code_chars
        self.min_code_fraction = min_code_fraction
        self.markers = list(markers) if markers is not None else list(self.MARKERS)
        self._lower = [m.lower() for m in self.markers]

    def decide(self, batch, texts):
        langs = doc_code_languages(batch)
        share, fail = [], []
        for t, lang in zip(texts.to_pylist(), langs):
            t = t or ""
            low = t.lower()
            if not any(m in low for m in self._lower):
                share.append(1.0)
                fail.append(False)
                continue
            total = _nonspace(t)
            code = total - comment_stats(t, lang)[1]
            frac = code / total if total else 0.0
            share.append(frac)
            fail.append(code < self.min_code_chars or frac < self.min_code_fraction)
        return Decision([Check("code_licence_only", np.array(fail, dtype=bool), np.array(share, dtype=float))])


COMMENT_FRACTION = "code_comment_fraction"


class CodeCommentStats(CodeFilter):
    """The comment share of every code document (characters inside comments and Python docstrings,
    delimiters excluded, over all characters) in the ``code_comment_fraction`` column (null for other
    documents): a statistic, not a decision. With ``min_comment_fraction`` / ``max_comment_fraction`` set (default None: off) documents
    outside the bounds are dropped as ``code_comment_fraction_low`` / ``code_comment_fraction_high``."""

    name = "code_comment_stats"

    def __init__(self, min_comment_fraction: float | None = None, max_comment_fraction: float | None = None,
                 languages=None):
        super().__init__(languages)
        self.min_comment_fraction = min_comment_fraction
        self.max_comment_fraction = max_comment_fraction

    def output_fields(self) -> list[pa.Field]:
        return [pa.field(COMMENT_FRACTION, pa.float64())]

    @staticmethod
    def fraction(text: str, language: str) -> float:
        return comment_stats(text, language)[0] / len(text) if text else 0.0

    def process(self, batch: pa.RecordBatch) -> BatchResult:
        texts = texts_of(batch)
        mask = self.route(batch, texts)
        langs = doc_code_languages(batch)
        values = [self.fraction(t or "", lang) if m else None
                  for t, lang, m in zip(texts.to_pylist(), langs, mask)]
        batch = append_columns(batch, {COMMENT_FRACTION: pa.array(values, pa.float64())})
        return super().process(batch)

    def decide(self, batch, texts):
        frac = np.array(batch.column(COMMENT_FRACTION).to_pylist(), dtype=float)
        lo = -np.inf if self.min_comment_fraction is None else self.min_comment_fraction
        hi = np.inf if self.max_comment_fraction is None else self.max_comment_fraction
        return Decision([Check("code_comment_fraction_low", frac < lo, frac),
                         Check("code_comment_fraction_high", frac > hi, frac)])


CODE_FILTERS: tuple[type[CodeFilter], ...] = (
    CodeSize, CodeDataFile, CodeMinified, CodeAutogenerated, CodeLicenceOnly, CodeEncodedData, CodeTooFewLines,
    CodeMaxLineLength, CodeMeanLineLength, CodeAlphanumFraction, CodeCommentStats,
)
