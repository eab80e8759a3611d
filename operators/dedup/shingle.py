"""Text simplification, exact-duplicate hashing and shingling, vectorised per Arrow batch.

Three shingle families, chosen per document:

* **words** (space-delimited text): lowercase, punctuation and symbols -> space, split on
  whitespace, word n-grams (default 5).
* **CJK** (``lang`` starts with ``zh`` when that column is present, else a Han-character ratio >=
  ``cjk_ratio``): lowercase, whitespace / punctuation / symbols removed, then character n-grams
  (default) or jieba-word n-grams.
* **code** (``kind`` column == ``"code"`` where present): comments stripped (``#`` comments for the
  languages of :data:`HASH_COMMENT_LANGS`, ``/* */`` and ``//`` for every other language), then
  identifier / number tokens (runs of word characters, case kept) and every punctuation character as a token of its
  own, token n-grams (default 5). The exact hash of code is taken on the text with all whitespace
  removed (:func:`normalize_code_for_exact`), so reformatting and re-indenting do not hide a copy.

Two ways to hash a shingle:

* ``datasketch`` mode builds the shingle's bytes (tokens joined by one space; the characters of a
  char n-gram concatenated) and hashes them with ``datasketch.hashfunc.sha1_hash32``; one
  ``hashlib`` call per shingle, the only Python-level loop of this module.
* ``fast`` mode never builds shingle strings: every token is hashed once with a polynomial hash
  over the UTF-8 bytes computed with numpy over the whole Arrow data buffer (``np.add.reduceat``),
  and an n-gram's hash is a multiply-add of its n token hashes followed by the MurmurHash3 64-bit
  finaliser, all vectorised over every shingle of the batch. :func:`fast_shingle_hash32` is the
  same function for one shingle, for tests.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

PUNCT_RE = r"[\p{P}\p{S}]"
HAN_RE = r"\p{Han}"
U64 = np.uint64

# Constants of the fast hash (fixed forever: changing them changes every signature).
_RNG = np.random.RandomState(20240613)
_POLY = U64(0x100000001B3)  # FNV-64 prime as polynomial base
_LEN_MIX = U64(0x9E3779B97F4A7C15)
_CHAR_MIX = U64(0xD6E8FEB86659FD93)
_NGRAM_MULT = (_RNG.randint(0, 1 << 62, 64, dtype=np.uint64) * U64(2) + U64(1)).astype(np.uint64)


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (a bijection), element-wise, wrapping arithmetic."""
    h = h ^ (h >> U64(33))
    h = h * U64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> U64(33))
    h = h * U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> U64(33))


# --------------------------------------------------------------------------------------------
# Simplification and exact hashing
# --------------------------------------------------------------------------------------------
EXACT_NORMALIZATIONS = ("case", "whitespace", "punctuation", "digits")


def normalize_for_exact(texts: pa.Array, steps: tuple[str, ...]) -> pa.Array:
    """The text the exact-duplicate hash is computed on. ``steps`` is a subset of
    :data:`EXACT_NORMALIZATIONS`: lowercase, collapse whitespace, drop punctuation and symbols,
    map every digit to 0."""
    bad = set(steps) - set(EXACT_NORMALIZATIONS)
    if bad:
        raise ValueError(f"unknown exact normalization(s) {sorted(bad)}; known: {EXACT_NORMALIZATIONS}")
    out = pc.fill_null(texts, "")
    if "case" in steps:
        out = pc.utf8_lower(out)
    if "punctuation" in steps:
        out = pc.replace_substring_regex(out, PUNCT_RE, "")
    if "digits" in steps:
        out = pc.replace_substring_regex(out, r"\p{Nd}", "0")
    if "whitespace" in steps:
        out = pc.utf8_trim_whitespace(pc.replace_substring_regex(out, r"\s+", " "))
    return out


def normalize_code_for_exact(texts: pa.Array) -> pa.Array:
    """Code's exact-duplicate text: every whitespace character removed (case and punctuation kept)."""
    return pc.replace_substring_regex(pc.fill_null(texts, ""), r"\s+", "")


def exact_hashes(texts: pa.Array) -> list[str]:
    """128-bit xxh3 hex digest of each (normalised) text."""
    return [xxhash.xxh3_128_hexdigest(t.encode("utf-8")) for t in texts.to_pylist()]


def content_hashes(texts: pa.Array) -> list[str]:
    """Stable hash of the raw text: the keeper rule's tie-breaker."""
    return [hashlib.sha1((t or "").encode("utf-8")).hexdigest()[:16] for t in texts.to_pylist()]


def simplify_words(texts: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(pc.utf8_lower(pc.fill_null(texts, "")), PUNCT_RE, " ")


def simplify_cjk(texts: pa.Array) -> pa.Array:
    out = pc.utf8_lower(pc.fill_null(texts, ""))
    return pc.replace_substring_regex(out, r"[\p{P}\p{S}\s]+", "")


def cjk_mask(texts: pa.Array, langs: pa.Array | None, cjk_ratio: float) -> np.ndarray:
    """True for documents shingled as CJK: ``lang`` starting with "zh" where the column has a
    value, else a share of Han characters among non-space characters >= ``cjk_ratio``."""
    texts = pc.fill_null(texts, "")
    if langs is None:
        return _han_ratio_at_least(texts, cjk_ratio)
    lang = pc.fill_null(pc.cast(langs, pa.string()), "")
    out = pc.starts_with(pc.utf8_lower(lang), "zh").to_numpy(zero_copy_only=False).copy()
    no_lang = ~pc.greater(pc.utf8_length(lang), 0).to_numpy(zero_copy_only=False)
    if no_lang.any():  # the character counts only where no language is given
        idx = np.flatnonzero(no_lang)
        out[idx] = _han_ratio_at_least(texts.take(pa.array(idx)), cjk_ratio)
    return out


def _han_ratio_at_least(texts: pa.Array, cjk_ratio: float) -> np.ndarray:
    han = pc.count_substring_regex(texts, HAN_RE).to_numpy(zero_copy_only=False)
    spaces = pc.count_substring_regex(texts, r"\s").to_numpy(zero_copy_only=False)
    length = pc.utf8_length(texts).to_numpy(zero_copy_only=False)
    return han >= cjk_ratio * np.maximum(length - spaces, 1)


# --------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------
@dataclass
class Tokens:
    """Tokens of a group of documents: a flat string array in document order + count per doc."""

    flat: pa.Array | None  # StringArray of tokens (None for codepoint tokens)
    counts: np.ndarray  # int64 per document
    hashes: np.ndarray | None = None  # uint64 per token (fast mode)
    py: list[list[str]] | None = None  # tokens per document (datasketch mode)


def word_tokens(simplified: pa.Array) -> Tokens:
    lists = pc.utf8_split_whitespace(simplified)
    flat = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    nonempty = pc.greater(pc.utf8_length(flat), 0)
    flat = flat.filter(nonempty)
    parents = parents[nonempty.to_numpy(zero_copy_only=False)]
    counts = np.bincount(parents, minlength=len(simplified)).astype(np.int64)
    return Tokens(flat=flat, counts=counts)


def jieba_tokens(simplified: pa.Array) -> Tokens:
    import jieba

    jieba.setLogLevel(60)
    docs = [[w for w in jieba.lcut(t) if w.strip()] for t in simplified.to_pylist()]
    counts = np.array([len(d) for d in docs], dtype=np.int64)
    flat = pa.array([w for d in docs for w in d], pa.string())
    return Tokens(flat=flat, counts=counts, py=docs)


def char_tokens(simplified: pa.Array) -> Tokens:
    """Characters as tokens; their "hashes" come from code points (see :func:`token_hashes`)."""
    texts = simplified.to_pylist()
    counts = np.array([len(t) for t in texts], dtype=np.int64)
    joined = "".join(texts)
    cps = np.frombuffer(joined.encode("utf-32-le"), dtype="<u4").astype(np.uint64)
    return Tokens(flat=None, counts=counts, hashes=fmix64(cps * _CHAR_MIX + U64(1)), py=None)


def _string_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    arr = arr.cast(pa.large_string()) if arr.type == pa.string() else arr
    arr = pa.concat_arrays([arr]) if arr.offset else arr
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[: len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8) if arr.buffers()[2] is not None \
        else np.zeros(0, np.uint8)
    return offsets, data


def string_hashes64(arr: pa.Array) -> np.ndarray:
    """Polynomial hash of each (non-empty) string's UTF-8 bytes, finalised with fmix64."""
    n = len(arr)
    if n == 0:
        return np.zeros(0, np.uint64)
    offsets, data = _string_buffers(arr)
    lens = np.diff(offsets)
    if np.any(lens <= 0):
        raise ValueError("string_hashes64 needs non-empty strings")
    start = offsets[0]
    seg = data[start: offsets[-1]].astype(np.uint64)
    pos = np.arange(len(seg), dtype=np.int64) - np.repeat(offsets[:-1] - start, lens)
    powers = np.cumprod(np.full(int(lens.max()), _POLY, dtype=np.uint64))
    sums = np.add.reduceat((seg + U64(1)) * powers[pos], (offsets[:-1] - start).astype(np.int64))
    return fmix64(sums ^ (lens.astype(np.uint64) * _LEN_MIX))


def token_hashes(tokens: Tokens) -> np.ndarray:
    if tokens.hashes is None:
        tokens.hashes = string_hashes64(tokens.flat) if tokens.flat is not None else np.zeros(0, np.uint64)
    return tokens.hashes


def shingle_counts(counts: np.ndarray, n: int) -> np.ndarray:
    return np.maximum(counts - n + 1, 0)


def fast_ngram_hashes(tokens: Tokens, n: int) -> np.ndarray:
    """32-bit hash of every n-gram of every document (in document order), no Python loop."""
    th = token_hashes(tokens)
    counts = tokens.counts
    total = len(th)
    if total < n:
        return np.zeros(0, np.uint32)
    m = total - n + 1
    acc = np.zeros(m, dtype=np.uint64)
    for k in range(n):  # n is small (the n-gram size), not the number of shingles
        acc += th[k: k + m] * _NGRAM_MULT[k]
    h = fmix64(acc)
    # keep positions whose n-gram lies inside one document
    doc_of = np.repeat(np.arange(len(counts)), counts)[:m]
    doc_start = np.cumsum(counts) - counts
    keep = (np.arange(m) - doc_start[doc_of]) <= (counts[doc_of] - n)
    return (h[keep] >> U64(32)).astype(np.uint32)


def fast_shingle_hash32(tokens: list[str] | str, char_mode: bool = False) -> int:
    """The fast hash of one shingle (its tokens, or its characters in char mode): reference
    implementation of :func:`fast_ngram_hashes` for tests."""
    if char_mode:
        cps = np.array([ord(c) for c in tokens], dtype=np.uint64)
        th = fmix64(cps * _CHAR_MIX + U64(1))
    else:
        th = string_hashes64(pa.array(list(tokens), pa.string()))
    acc = np.zeros(1, np.uint64)
    for k in range(len(th)):
        acc += th[k: k + 1] * _NGRAM_MULT[k]
    return int(fmix64(acc)[0] >> U64(32))


def shingle_bytes(tokens_per_doc: list, n: int, sep: str) -> list[list[bytes]]:
    """The bytes of each shingle (datasketch mode): tokens joined by ``sep``."""
    out = []
    for toks in tokens_per_doc:
        out.append([sep.join(toks[i: i + n]).encode("utf-8") for i in range(len(toks) - n + 1)])
    return out


# --------------------------------------------------------------------------------------------
# Code
# --------------------------------------------------------------------------------------------
# Languages (the part after "code:" in ``lang``) whose comments start with "#"; every other language
# gets C-family comments (/* */ and //). "//" is Python's floor division, so it is never a comment there.
HASH_COMMENT_LANGS = ("python", "shell", "sh", "bash", "zsh", "ruby", "perl", "r", "yaml", "toml", "make",
                      "makefile", "cmake", "dockerfile", "powershell", "julia", "tcl", "awk", "elixir", "nim")
C_COMMENT_RE = r"/\*[\s\S]*?\*/|//[^\n]*"
HASH_COMMENT_RE = r"#[^\n]*"
CODE_PUNCT_RE = r"([^\w\s])"


def hash_comment_mask(langs: pa.Array | None, n: int) -> np.ndarray:
    """True where ``lang`` is ``code:<x>`` with ``x`` in :data:`HASH_COMMENT_LANGS`."""
    if langs is None:
        return np.zeros(n, dtype=bool)
    lang = pc.utf8_lower(pc.fill_null(pc.cast(langs, pa.string()), ""))
    names = pa.array([f"code:{x}" for x in HASH_COMMENT_LANGS])
    return pc.is_in(lang, value_set=names).to_numpy(zero_copy_only=False)


def strip_code_comments(texts: pa.Array, langs: pa.Array | None) -> pa.Array:
    texts = pc.fill_null(texts, "")
    hash_rows = hash_comment_mask(langs, len(texts))
    c_style = pc.replace_substring_regex(texts, C_COMMENT_RE, " ")
    if not hash_rows.any():
        return c_style
    hashed = pc.replace_substring_regex(texts, HASH_COMMENT_RE, " ")
    return pc.if_else(pa.array(hash_rows), hashed, c_style)


def code_tokens(texts: pa.Array, langs: pa.Array | None, strip_comments: bool = True) -> Tokens:
    """Identifier / number tokens and one token per punctuation character, comments stripped."""
    if strip_comments:
        texts = strip_code_comments(texts, langs)
    return word_tokens(pc.replace_substring_regex(pc.fill_null(texts, ""), CODE_PUNCT_RE, r" \1 "))
