"""Normalisation, tokens and n-gram hashes for decontamination, vectorised over a whole batch.

One function of a text decides what matches, for benchmark items and corpus documents alike:

1. **Per-character normalisation**, through one lookup table over code points: NFKC (full-width
   letters, digits and punctuation become ASCII, ligatures and compatibility forms fold), lower case,
   then Traditional -> Simplified Chinese per character (OpenCC's ``t2s`` applied to every Han
   character on its own). Being per character, the mapping is a plain function of each character:
   ``乾`` is always ``干`` whatever the phrase, so Traditional and Simplified forms of one text meet.
   The few characters whose normal form is several characters (``ﬁ`` -> ``fi``, ``㎏`` -> ``kg``) or
   none (soft hyphen, zero-width joiner) are expanded by a slower path, only in texts that hold one.
2. **Tokens**: a run of letters, digits, ``_`` and combining marks is one token (an English or code
   word); every Han, kana or Hangul character is a token of its own; everything else (whitespace,
   punctuation, symbols) only separates tokens. Re-wrapped lines, re-spaced text, changed quotes or
   punctuation therefore give the same tokens.
3. **Hashes**: a token's hash is a polynomial hash of its normalised code points (mod 2^64, through
   prefix sums, so no Python loop runs per token), mixed with splitmix64; an n-gram's hash is a
   polynomial hash of its token hashes, again from prefix sums, so any n-gram length at any position
   costs a few vector operations. The length is mixed into the key: ``key(tokens, L)``.

Code is tokenised the same way (identifiers and numbers; operators and brackets separate), so code
re-indented, re-wrapped or re-formatted with other quotes or trailing commas keeps its tokens.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

U64 = np.uint64
MAX_CP = 0x30000  # table size; code points above it (private use, tags) are separators
_MASK64 = (1 << 64) - 1

# Hash constants (fixed: changing one changes every key, and built indexes with it).
CHAR_BASE = 0x100000001B3  # odd: invertible mod 2^64
TOKEN_BASE = 0x9E3779B97F4A7C15 | 1
CHAR_BASE_INV = pow(CHAR_BASE, -1, 1 << 64)
TOKEN_BASE_INV = pow(TOKEN_BASE, -1, 1 << 64)
LEN_MIX = 0xD6E8FEB86659FD93

SEPARATOR, WORD, SINGLE = 0, 1, 2

_SINGLE_RANGES = [(0x3040, 0x30FF), (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF),
                  (0xF900, 0xFAFF), (0x20000, MAX_CP - 1)]
# Blocks NFKC and lower case leave alone (Han, Hangul syllables, CJK Ext. B-F minus the
# compatibility ideographs supplement): skipped when the table is built.
_UNCHANGED = [(0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x20000, 0x2F7FF), (0x2FA20, MAX_CP - 1)]


@dataclass
class Tables:
    lut: np.ndarray  # uint32[MAX_CP]: code point -> normalised code point
    cls: np.ndarray  # uint8[MAX_CP]: normalised code point -> SEPARATOR, WORD or SINGLE
    expand: dict[str, str]  # characters whose normal form is not exactly one character
    expand_mask: np.ndarray  # bool[MAX_CP]: the keys of ``expand``
    expand_re: re.Pattern


_TABLES: Tables | None = None
_LOCK = threading.Lock()


def _t2s_map() -> dict[str, str]:
    """OpenCC's Traditional -> Simplified mapping of single characters (its ``TSCharacters``
    dictionary, first candidate; else ``t2s`` applied to every BMP Han character on its own)."""
    import opencc

    path = Path(opencc.__file__).parent / "dictionary" / "TSCharacters.txt"
    out: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            k, _, v = line.partition("\t")
            v = v.split()[0] if v.split() else ""
            if len(k) == 1 and len(v) == 1 and k != v and ord(k) < MAX_CP and ord(v) < MAX_CP:
                out[k] = v
        if out:
            return out
    chars = [chr(cp) for a, b in ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)) for cp in range(a, b + 1)]
    conv = opencc.OpenCC("t2s").convert("\n".join(chars)).split("\n")
    return {c: s for c, s in zip(chars, conv) if s != c and len(s) == 1 and ord(s) < MAX_CP}


def _build_tables() -> Tables:
    lut = np.arange(MAX_CP, dtype=np.uint32)
    lut[0x41:0x5B] += 32
    todo = np.ones(MAX_CP, dtype=bool)
    todo[:0x80] = False
    todo[0xD800:0xE000] = False
    for a, b in _UNCHANGED:
        todo[a:b + 1] = False
    cps = np.flatnonzero(todo).tolist()
    chars = [chr(cp) for cp in cps]
    # per character, in one call each: NFKC and lower case never reach across a NUL
    normal = unicodedata.normalize("NFKC", "\0".join(chars)).lower().split("\0")
    expand: dict[str, str] = {}
    cls = np.zeros(MAX_CP, dtype=np.uint8)
    word = [cp for cp in range(0x80) if chr(cp).isalnum() or cp == 0x5F]
    word += [cp for cp, c in zip(cps, chars) if c.isalnum() or unicodedata.category(c)[0] == "M"]
    for cp, c, s in zip(cps, chars, normal):
        if s == c:
            continue
        if len(s) == 1:
            lut[cp] = ord(s)
        else:
            expand[c] = s
    cls[word] = WORD
    for a, b in _SINGLE_RANGES:  # Han, kana, Hangul syllables: one token per character
        seg = cls[a:b + 1]
        seg[(seg == WORD) | ~todo[a:b + 1]] = SINGLE  # the blocks skipped above are all letters
    cls[0x3005] = SINGLE  # 々
    t2s = _t2s_map()
    conv = np.arange(MAX_CP, dtype=np.uint32)
    conv[[ord(k) for k in t2s]] = [ord(v) for v in t2s.values()]
    lut = conv[lut]
    # An expansion of separators only (… -> ..., ‥ -> ..) is one separator: only the token
    # boundaries matter, and keeping one character keeps offsets exact.
    for c, s in list(expand.items()):
        s = "".join(t2s.get(ch, ch) for ch in s)
        if s and not any(ch.isalnum() for ch in s):  # punctuation, or a space and combining marks
            lut[ord(c)] = ord(" ")
            del expand[c]
        else:
            expand[c] = s
    mask = np.zeros(MAX_CP, dtype=bool)
    mask[[ord(c) for c in expand]] = True
    expand_re = re.compile("[" + "".join(re.escape(c) for c in sorted(expand)) + "]") if expand else re.compile("(?!)")
    return Tables(lut, cls, expand, mask, expand_re)


def tables() -> Tables:
    """The normalisation tables, built once per process (about a second)."""
    global _TABLES
    if _TABLES is None:
        with _LOCK:
            if _TABLES is None:
                _TABLES = _build_tables()
    return _TABLES


def normalize_text(text: str) -> str:
    """The normalised form of ``text`` as a string (for tests and documentation; matching never
    builds it)."""
    t = tables()
    text = t.expand_re.sub(lambda m: t.expand[m.group()], text)
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return t.lut[np.minimum(cps, MAX_CP - 1)].tobytes().decode("utf-32-le") if len(cps) else ""


# -- powers of the bases, grown on demand ------------------------------------------------------

_POW: dict[int, np.ndarray] = {}


def _powers(base: int, n: int) -> np.ndarray:
    """``base**k mod 2^64`` for k in [0, n)."""
    have = _POW.get(base)
    if have is None or len(have) < n:
        size = max(n, 2 * len(have) if have is not None else 1 << 16)
        p = np.full(size, base, dtype=U64)
        p[0] = 1
        with np.errstate(over="ignore"):
            p = np.cumprod(p, dtype=U64)
        _POW[base] = have = p
    return have[:n]


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise."""
    with np.errstate(over="ignore"):
        z = x + U64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> U64(30))) * U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> U64(27))) * U64(0x94D049BB133111EB)
        return z ^ (z >> U64(31))


@dataclass
class Tokens:
    """The tokens of a list of texts, flattened. Token ``k`` of text ``d`` is
    ``hashes[offsets[d] + k]``; ``starts``/``ends`` are its characters in the *normalised* text,
    counted from the start of that text (end exclusive)."""

    hashes: np.ndarray  # uint64
    offsets: np.ndarray  # int64[n_texts + 1]
    starts: np.ndarray  # int64
    ends: np.ndarray  # int64
    expanded: np.ndarray  # bool[n_texts]: the text held characters that expand (offsets differ)

    @property
    def n_texts(self) -> int:
        return len(self.offsets) - 1

    def doc_of(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_texts, dtype=np.int64), np.diff(self.offsets))


def tokenize(texts: list[str]) -> Tokens:
    """Normalise and tokenise ``texts`` (None counts as empty) in one vectorised pass."""
    t = tables()
    texts = [x or "" for x in texts]
    lens = np.fromiter((len(x) for x in texts), dtype=np.int64, count=len(texts))
    joined = "".join(texts)
    cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32) if joined else np.zeros(0, np.uint32)
    cps = np.minimum(cps, MAX_CP - 1)
    expanded = np.zeros(len(texts), dtype=bool)
    if len(cps) and t.expand_mask[cps].any():
        char_doc = np.repeat(np.arange(len(texts)), lens)
        expanded[np.unique(char_doc[t.expand_mask[cps]])] = True
        texts = [t.expand_re.sub(lambda m: t.expand[m.group()], x) if e else x for x, e in zip(texts, expanded)]
        lens = np.fromiter((len(x) for x in texts), dtype=np.int64, count=len(texts))
        cps = np.minimum(np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32), MAX_CP - 1)
    doc_char_off = np.concatenate(([0], np.cumsum(lens))).astype(np.int64)
    norm = t.lut[cps]
    cls = t.cls[norm]
    n = len(norm)
    if n == 0:
        z = np.zeros(0, np.int64)
        return Tokens(np.zeros(0, U64), np.zeros(len(texts) + 1, np.int64), z, z, expanded)
    # a text boundary separates tokens: no word continues from one text into the next
    text_start = np.zeros(n, dtype=bool)
    text_start[doc_char_off[:-1][lens > 0]] = True
    word = cls == WORD
    cont = np.zeros(n, dtype=bool)
    cont[1:] = word[1:] & word[:-1]
    cont &= ~text_start
    is_tok = cls != SEPARATOR
    starts = np.flatnonzero(is_tok & ~cont)
    last = is_tok.copy()
    last[:-1] &= ~cont[1:]
    ends = np.flatnonzero(last) + 1
    # polynomial hash of each token's code points from prefix sums: sum c_j * B^(e-1-j)
    with np.errstate(over="ignore"):
        q = np.empty(n + 1, dtype=U64)
        q[0] = 0
        np.cumsum(norm.astype(U64) * _powers(CHAR_BASE_INV, n), out=q[1:])
        h = (q[ends] - q[starts]) * _powers(CHAR_BASE, n)[ends - 1]
        h = mix64(h ^ (ends - starts).astype(U64) * U64(LEN_MIX))
    tok_doc = np.searchsorted(doc_char_off, starts, side="right") - 1
    offsets = np.searchsorted(tok_doc, np.arange(len(texts) + 1), side="left").astype(np.int64)
    local = doc_char_off[tok_doc]
    return Tokens(h, offsets, (starts - local).astype(np.int64), (ends - local).astype(np.int64), expanded)


class GramHasher:
    """n-gram keys over one ``Tokens``: ``keys(pos, L)`` for the grams of ``L`` tokens starting at
    global token positions ``pos`` (which must fit inside their text)."""

    def __init__(self, tokens: Tokens):
        self.tokens = tokens
        n = len(tokens.hashes)
        with np.errstate(over="ignore"):
            self.r = np.empty(n + 1, dtype=U64)
            self.r[0] = 0
            np.cumsum(tokens.hashes * _powers(TOKEN_BASE_INV, n), out=self.r[1:])
        self.pow = _powers(TOKEN_BASE, max(n, 1))
        self.tok_end = np.repeat(tokens.offsets[1:], np.diff(tokens.offsets))  # end of each token's text

    def keys(self, pos: np.ndarray, length: np.ndarray | int) -> np.ndarray:
        length = np.asarray(length, dtype=np.int64)
        end = pos + length
        with np.errstate(over="ignore"):
            g = (self.r[end] - self.r[pos]) * self.pow[end - 1]
            return g ^ (length.astype(U64) * U64(LEN_MIX))

    def positions(self, length: int) -> np.ndarray:
        """Every start position whose ``length``-gram stays inside its text."""
        n = len(self.tokens.hashes)
        if n < length:
            return np.zeros(0, np.int64)
        pos = np.arange(n - length + 1, dtype=np.int64)
        return pos[pos + length <= self.tok_end[: n - length + 1]]


def gram_keys(texts: list[str], length: int) -> list[np.ndarray]:
    """Every ``length``-gram key of every text (a reference for tests)."""
    toks = tokenize(texts)
    gh = GramHasher(toks)
    pos = gh.positions(length)
    keys = gh.keys(pos, length)
    doc = toks.doc_of()[pos] if len(pos) else np.zeros(0, np.int64)
    return [keys[doc == d] for d in range(toks.n_texts)]


def token_count(texts: list[str]) -> np.ndarray:
    return np.diff(tokenize(texts).offsets)
