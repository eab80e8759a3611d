"""Secrets and PII in source code, scrubbed without breaking the code (docs/pii.md, docs/code.md).

A small lexer splits a source file into string literals, comments and the rest (``code_regions``), by
the comment and string syntax of its language (``code:python`` -> ``python``; unknown languages get
C-style comments and quotes). :class:`CodeScrubber` finds PII with the usual detectors plus the
code-only :class:`KeywordSecret` and rewrites each finding piece by piece:

- inside a string literal or a comment, the typed placeholder (``<SECRET>``, ``<EMAIL>``...), whose
  characters are safe in every literal and comment (no quote, backslash, ``$``, ``{``, ``}``, ``%``,
  backtick, newline, ``*/``): the literal stays a literal of the same length class and quotes;
- in code (a bare token in YAML, shell or a config file, a key block in a heredoc), a ``secret``
  becomes the identifier ``REDACTED_SECRET`` when the piece holds nothing that shapes code (no quote,
  backslash, backtick, ``$``, bracket, ``;``, ``,``, ``#``); else it is left and counted. The other
  types are looked for only inside literals and comments (``a@b.cd`` in code is an expression, a long
  number a constant).

The lexer is a heuristic, not a parser; the rules above are chosen so that a file that parsed before
still parses after (a placeholder only ever replaces characters inside one literal or comment, or a
run of plain characters in code by one identifier). ``tests/test_pii_code.py`` and
``bench/bench_code.py`` check it on real Python files.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from redaction.detectors import (
    DEFAULT_DETECTORS,
    BankCard,
    ChineseID,
    CreditCode,
    Detector,
    Email,
    IPAddress,
    Phone,
    Secret,
    Span,
)
from redaction.replacer import PIIReplacer

CODE_LANG_PREFIX = "code:"  # as contract.schema.CODE_LANG_PREFIX (redaction is a leaf: it imports nothing of Winnow)
CODE_PLACEHOLDER = "REDACTED_SECRET"  # a secret that is a bare token in code becomes this identifier
STRING, COMMENT = "string", "comment"
DOCSTRING = "docstring"  # a Python triple-quoted string that opens its line: documentation, like a comment
# Characters a placeholder may not hold: they could end, escape or interpolate a literal or a comment.
UNSAFE_IN_LITERAL = set("\"'`\\$%{}\n\r")


def check_placeholder(p: str) -> str:
    """``p`` when it is safe inside any string literal and comment (else ValueError)."""
    bad = sorted(set(p) & UNSAFE_IN_LITERAL)
    if bad or "*/" in p or "-->" in p:
        raise ValueError(f"placeholder {p!r} is not safe inside code literals (holds {bad or '*/ or -->'})")
    return p


# --- the lexer --------------------------------------------------------------------------------------

# Unrolled loops (normal* (special normal*)*): no per-character alternation, so long literals lex fast.
_DQ = r'"[^"\\\n]*(?:\\[\s\S][^"\\\n]*)*"'
_SQ = r"'[^'\\\n]*(?:\\[\s\S][^'\\\n]*)*'"
_CHAR = r"'(?:\\[^\n]{1,10}?|[^'\\\n])'"  # C/Java/Rust character literal (not a Rust lifetime)
_TRIPLE = r'"""[^"\\]*(?:(?:\\[\s\S]|"(?!""))[^"\\]*)*"""'
_TRIPLE_SQ = r"'''[^'\\]*(?:(?:\\[\s\S]|'(?!''))[^'\\]*)*'''"
_BACKTICK = r"`[^`\\]*(?:\\[\s\S][^`\\]*)*`"
_LINE_C = r"//[^\n]*"
_BLOCK_C = r"/\*[^*]*\*+(?:[^/*][^*]*\*+)*/"
_HASH = r"#[^\n]*"
_HASH_WORD = r"(?<![^\s;|&(])#[^\n]*"  # shell: '#' starts a comment only at a word start ($#, ${#x} are code)
_DASH = r"--[^\n]*"
_XML = r"<!--[\s\S]*?-->"

# Per syntax: (regex, kind, opening length, closing length) in order; opening None = a Python string
# whose prefix letters and quote run are measured on the match.
_SYNTAX: dict[str, list[tuple[str, str, int | None, int]]] = {
    "python": [(_HASH, COMMENT, 1, 0),
               (r"(?<![A-Za-z0-9_])[rRbBuUfF]{0,2}(?:" + "|".join((_TRIPLE, _TRIPLE_SQ, _DQ, _SQ)) + ")",
                STRING, None, 0)],
    "hash": [(_HASH, COMMENT, 1, 0), (_DQ, STRING, 1, 1), (_SQ, STRING, 1, 1)],
    "shell": [(_HASH_WORD, COMMENT, 1, 0), (r"'[^']*'", STRING, 1, 1), (r'"(?:\\[\s\S]|[^"\\])*"', STRING, 1, 1)],
    "c": [(_LINE_C, COMMENT, 2, 0), (_BLOCK_C, COMMENT, 2, 2), (_DQ, STRING, 1, 1), (_CHAR, STRING, 1, 1)],
    "c_triple": [(_LINE_C, COMMENT, 2, 0), (_BLOCK_C, COMMENT, 2, 2), (_TRIPLE, STRING, 3, 3), (_DQ, STRING, 1, 1),
                 (_CHAR, STRING, 1, 1)],
    "js": [(_LINE_C, COMMENT, 2, 0), (_BLOCK_C, COMMENT, 2, 2), (_DQ, STRING, 1, 1), (_SQ, STRING, 1, 1),
           (_BACKTICK, STRING, 1, 1)],
    "go": [(_LINE_C, COMMENT, 2, 0), (_BLOCK_C, COMMENT, 2, 2), (_DQ, STRING, 1, 1), (_CHAR, STRING, 1, 1),
           (r"`[^`]*`", STRING, 1, 1)],
    "php": [(_LINE_C, COMMENT, 2, 0), (_BLOCK_C, COMMENT, 2, 2), (_HASH, COMMENT, 1, 0), (_DQ, STRING, 1, 1),
            (_SQ, STRING, 1, 1)],
    "dash": [(_DASH, COMMENT, 2, 0), (_BLOCK_C, COMMENT, 2, 2), (_DQ, STRING, 1, 1), (_SQ, STRING, 1, 1)],
    "xml": [(_XML, COMMENT, 4, 3), (_DQ, STRING, 1, 1), (_SQ, STRING, 1, 1)],
    "css": [(_BLOCK_C, COMMENT, 2, 2), (_DQ, STRING, 1, 1), (_SQ, STRING, 1, 1)],
}
# The characters each syntax's tokens can start with (a regex class body).
_FIRST = {"python": "#\"'rRbBuUfF", "hash": "#\"'", "shell": "#\"'", "c": "/\"'", "c_triple": "/\"'",
          "js": "/\"'`", "go": "/\"'`", "php": "/#\"'", "dash": "-/\"'", "xml": "<\"'", "css": "/\"'"}
assert set(_FIRST) == set(_SYNTAX)
# language (the part after ``code:``) -> syntax; anything else: "c".
LANGUAGE_SYNTAX: dict[str, str] = {
    **dict.fromkeys(("python", "py", "cython", "starlark"), "python"),
    **dict.fromkeys(("shell", "bash", "sh", "zsh", "ksh", "fish", "dockerfile", "makefile", "make"), "shell"),
    **dict.fromkeys(("ruby", "perl", "r", "yaml", "toml", "cmake", "julia", "elixir", "nim", "powershell",
                     "coffeescript", "tcl", "awk", "ini", "conf"), "hash"),
    **dict.fromkeys(("c", "cpp", "c++", "objective-c", "objc", "cuda", "rust", "csharp", "c#", "d", "zig"), "c"),
    **dict.fromkeys(("java", "kotlin", "scala", "swift", "dart", "groovy"), "c_triple"),
    **dict.fromkeys(("javascript", "js", "typescript", "ts", "jsx", "tsx", "json"), "js"),
    "go": "go",
    "php": "php",
    **dict.fromkeys(("sql", "lua", "haskell", "ada", "vhdl", "elm"), "dash"),
    **dict.fromkeys(("html", "xml", "markdown", "svg", "vue"), "xml"),
    **dict.fromkeys(("css", "scss", "less"), "css"),
}
_COMPILED: dict[str, tuple[re.Pattern, list[tuple[str, int | None, int]]]] = {}


def language_of(lang: str | None) -> str:
    """``code:python`` -> ``python``; ``None``/empty -> ``""``."""
    lang = (lang or "").strip().lower()
    return lang[len(CODE_LANG_PREFIX):] if lang.startswith(CODE_LANG_PREFIX) else lang


def _compiled(syntax: str):
    if syntax not in _COMPILED:
        spec = _SYNTAX[syntax]
        # a look-ahead on the characters a token can start with lets the scan skip everything else fast
        pattern = re.compile(f"(?=[{_FIRST[syntax]}])(?:" +
                             "|".join(f"(?P<t{i}>{rx})" for i, (rx, *_rest) in enumerate(spec)) + ")")
        _COMPILED[syntax] = (pattern, [(kind, o, c) for _rx, kind, o, c in spec])
    return _COMPILED[syntax]


_PY_OPEN = re.compile(r"[rRbBuUfF]{0,2}(?:\"\"\"|'''|\"|')")


def code_regions(text: str, language: str | None = "") -> list[tuple[int, int, str]]:
    """``(start, end, kind)`` of the inside of every string literal and comment of ``text`` (delimiters
    excluded), in order; ``kind`` is ``"string"``, ``"comment"`` or (Python) ``"docstring"``: a
    triple-quoted string that opens its line."""
    pattern, kinds = _compiled(LANGUAGE_SYNTAX.get(language_of(language), "c"))
    out = []
    for m in pattern.finditer(text):
        i = int(m.lastgroup[1:])
        kind, open_len, close_len = kinds[i]
        start, end = m.span()
        if open_len is None:  # a Python string: prefix letters and a quote run of 1 or 3
            opening = _PY_OPEN.match(text, start).group()
            q = 3 if opening.endswith(('"""', "'''")) else 1
            line_start = text.rfind("\n", 0, start) + 1
            if q == 3 and not text[line_start:start].strip():
                kind = DOCSTRING
            out.append((start + len(opening), end - q, kind))
        else:
            out.append((start + open_len, end - close_len, kind))
    return out


def comment_chars(text: str, language: str | None = "") -> int:
    """Characters of ``text`` inside comments and docstrings (delimiters excluded)."""
    return sum(e - s for s, e, k in code_regions(text, language) if k != STRING)


# --- code-only secret detector ----------------------------------------------------------------------


def shannon_entropy(s: str) -> float:
    """Bits per character of ``s``'s character distribution."""
    if not s:
        return 0.0
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


class KeywordSecret(Detector):
    """A quoted value assigned to a secret-sounding name (``aws_secret_access_key = "..."``,
    ``"client_secret": '...'``, ``password="..."``, ``DB_TOKEN := `...```), an ``Authorization: Bearer``
    token and Slack webhook URLs, the way detect-secrets' keyword plugin and gitleaks' generic rule
    look for them. A value counts when it has at least ``min_length`` characters and ``min_entropy`` bits
    per character, is not one lower-case word (``"access_token"`` names a field) and holds no
    template or placeholder marker (``<...>``, ``${...}``, ``xxxx``, ``your_``, ``changeme``)."""

    type = "secret"
    placeholder = "<SECRET>"
    trigger = (r"(?i)(?:secret|token|passw|pwd|api[_\-]?key|access[_\-]?key|private[_\-]?key|credential|"
               r"bearer|hooks\.slack\.com)")
    _NAME = (r"[A-Za-z0-9_.\-]*(?:secret|token|passw(?:or)?d|pass_?phrase|pwd|api[_\-]?key|access[_\-]?key|"
             r"private[_\-]?key|auth[_\-]?key|credentials?|signing[_\-]?key|encryption[_\-]?key)[A-Za-z0-9_]*")
    _assignment = re.compile(
        rf"(?i)(?<![A-Za-z0-9]){_NAME}[\"'`\]]?\s*(?::=|=>|==|=|:|,)\s*[A-Za-z]{{0,2}}(?P<q>[\"'`])"
        r"(?P<value>[^\s\"'`\\<>{}()$%]{1,256})(?P=q)")
    _bearer = re.compile(r"(?<![A-Za-z])[Bb]earer\s+(?P<value>[A-Za-z0-9\-._~+/]{20,}=*)")
    _slack_webhook = re.compile(r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{16,}")
    _STOP = ("xxxx", "****", "....", "your_", "your-", "changeme", "placeholder", "redacted", "example",
             "dummy")

    def __init__(self, min_length: int = 8, min_entropy: float = 2.5):
        self.min_length = min_length
        self.min_entropy = min_entropy

    def is_secret(self, value: str) -> bool:
        low = value.lower()
        if len(value) < self.min_length or any(w in low for w in self._STOP):
            return False
        if re.fullmatch(r"[a-z_.\-]+|[A-Z_.\-]+", value):  # a field or constant name, not a secret
            return False
        return shannon_entropy(value) >= self.min_entropy

    def find(self, text: str) -> list[Span]:
        spans = [m.span("value") for m in self._assignment.finditer(text) if self.is_secret(m.group("value"))]
        spans += [m.span("value") for m in self._bearer.finditer(text) if self.is_secret(m.group("value"))]
        spans += [m.span() for m in self._slack_webhook.finditer(text)]
        return spans


# Priority on overlap: earlier wins (as DEFAULT_DETECTORS, with the keyword rule after the formats).
CODE_DETECTORS: list[type[Detector]] = [Secret, KeywordSecret, Email, ChineseID, CreditCode, BankCard, Phone,
                                        IPAddress]
assert {d.type for d in CODE_DETECTORS} == {d.type for d in DEFAULT_DETECTORS}


# --- the scrubber -----------------------------------------------------------------------------------

# A secret piece in code may become the identifier when it holds nothing that shapes code: no quote,
# backslash, backtick, ``$``, bracket, ``;``, ``,``, ``#`` (a bare token, a PEM block in a heredoc).
_REPLACEABLE_IN_CODE = re.compile(r"[^\"'`\\$(){}\[\];,#]+")


class _OnView(Detector):
    """``det`` reading ``view`` (the text with code blanked out) instead of the text it is given."""

    def __init__(self, det: Detector, view: str):
        self.det, self.view = det, view
        self.type, self.placeholder, self.trigger = det.type, det.placeholder, det.trigger

    def find(self, text: str) -> list[Span]:
        return self.det.find(self.view)


def literal_view(text: str, regions: list[tuple[int, int, str]]) -> str:
    """``text`` with everything outside string literals and comments blanked to spaces (newlines kept):
    same length, so spans found in it are spans of ``text``."""
    parts, pos = [], 0
    for s, e, _ in regions:
        gap = text[pos:s]
        parts.append(re.sub(r"[^\n]", " ", gap))
        parts.append(text[s:e])
        pos = e
    parts.append(re.sub(r"[^\n]", " ", text[pos:]))
    return "".join(parts)


@dataclass
class CodeScrub:
    text: str
    counts: Counter
    pii_chars: int
    kept_in_code: int  # secrets left alone because they stood in code in a form that cannot be replaced


class CodeScrubber:
    """Rewrites the findings of a :class:`PIIReplacer` in source code so that the code still parses
    (module docstring). ``replacer.mode`` and ``salt`` give the placeholder or pseudonym as for prose."""

    def __init__(self, replacer: PIIReplacer):
        for det in replacer.detectors:
            check_placeholder(det.placeholder)
        self.replacer = replacer

    def _code_token(self, value: str, det: Detector) -> str:
        if self.replacer.mode == "placeholder":
            return CODE_PLACEHOLDER
        return CODE_PLACEHOLDER + self.replacer.replacement(value, det)[len(det.placeholder) - 1:-1]

    def scrub(self, text: str, language: str | None, active: list[Detector] | None = None) -> CodeScrub:
        regions = code_regions(text, language)
        # Secrets are looked for everywhere; the other types only inside literals and comments (in code,
        # ``a@b.cd`` is an expression and 2147483647 a constant), which also spares the phone and card
        # patterns the digits of the code.
        view = None
        dets = []
        for det in active if active is not None else self.replacer.detectors:
            if det.type == "secret":
                dets.append(det)
            else:
                view = literal_view(text, regions) if view is None else view
                dets.append(_OnView(det, view))
        found = self.replacer.find(text, dets)
        if not found:
            return CodeScrub(text, Counter(), 0, 0)
        parts, pos, counts, pii_chars, kept = [], 0, Counter(), 0, 0
        r = 0
        for start, end, det in found:
            while r < len(regions) and regions[r][1] <= start:
                r += 1
            # cut the finding at literal/comment boundaries: (piece start, piece end, inside a literal)
            pieces, cur, k = [], start, r
            while cur < end:
                if k < len(regions) and regions[k][0] <= cur < regions[k][1]:
                    stop = min(end, regions[k][1])
                    pieces.append((cur, stop, True))
                    k += 1
                else:
                    nxt = regions[k][0] if k < len(regions) else end
                    stop = min(end, max(nxt, cur + 1))
                    pieces.append((cur, stop, False))
                cur = stop
            replaced = False
            for ps, pe, inside in pieces:
                value = text[ps:pe]
                if inside:
                    new = self.replacer.replacement(value, det)
                elif det.type == "secret" and _REPLACEABLE_IN_CODE.fullmatch(value) and value.strip():
                    new = self._code_token(value, det)
                else:
                    continue
                parts.append(text[pos:ps])
                parts.append(new)
                pos = pe
                pii_chars += pe - ps
                replaced = True
            if replaced:
                counts[det.type] += 1
            else:
                kept += 1
        parts.append(text[pos:])
        return CodeScrub("".join(parts), counts, pii_chars, kept)


__all__ = ["CODE_DETECTORS", "CODE_PLACEHOLDER", "COMMENT", "DOCSTRING", "STRING", "CodeScrub", "CodeScrubber", "KeywordSecret", "code_regions",
           "comment_chars", "check_placeholder", "language_of", "shannon_entropy"]
