"""Document kind (prose or code) and, for code, its programming language. Rules, no model:
deterministic, no training data, measured in ``tests/test_code_kind.py`` (docs/code.md).

Where a document's kind comes from, first that applies (:func:`kind_of`):

1. a **hint**: the input config's ``kinds:`` entry for the file (the reader writes it into ``meta``
   as ``kind``: ``prose``, ``code`` or ``code:<language>``), or a field of the record itself, also in
   ``meta``: ``kind``, ``lang``/``language`` naming a programming language (``code:python``, The
   Stack's ``Python``, ``C++``), or a file name in ``path``/``ext`` (The Stack's
   ``max_stars_repo_path``, ``file_path``, ``filename``) whose extension is a programming language;
2. otherwise the **detector** (:func:`code_score`): the head of the text is read line by line; a
   line is *code-like* (ends in ``;`` ``{`` ``}``, starts with ``#include``, ``def``, ``}``, holds
   ``==`` ``->`` ``::`` ``&&``, is a Python block header or an assignment...), *prose-like* (at
   least ``min_prose_words`` words, mostly letters, or Han text without code punctuation), or
   neutral (blank, comments, docstrings, short). The score is code / (code + prose) lines; the
   document is code when the score is at least ``min_code_share`` and it has at least
   ``min_code_lines`` code-like lines.

For code the language comes from the hint (extension or name), else from content rules
(:func:`guess_language`: shebang, ``#include``, ``package main``, ``fn main``...), else ``unknown``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from contract import schema as S

# Extension -> language (lower case; a name without a dot is a whole file name).
EXTENSIONS: dict[str, str] = {
    ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp", ".hpp": "cpp", ".hh": "cpp",
    ".hxx": "cpp", ".py": "python", ".pyi": "python", ".pyx": "python", ".java": "java", ".js": "javascript",
    ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript", ".ts": "typescript", ".tsx": "typescript",
    ".go": "go", ".rs": "rust", ".sh": "shell", ".bash": "shell", ".zsh": "shell", ".ksh": "shell",
    ".rb": "ruby", ".php": "php", ".pl": "perl", ".pm": "perl", ".lua": "lua", ".swift": "swift",
    ".kt": "kotlin", ".kts": "kotlin", ".scala": "scala", ".cs": "csharp", ".sql": "sql", ".hs": "haskell",
    ".jl": "julia", ".dart": "dart", ".r": "r", ".ps1": "powershell", ".m": "objective-c", ".mm": "objective-c",
    ".f90": "fortran", ".f": "fortran", ".asm": "assembly", ".s": "assembly", ".vue": "vue", ".ex": "elixir",
    ".exs": "elixir", ".erl": "erlang", ".clj": "clojure", ".ml": "ocaml", ".html": "html", ".htm": "html",
    ".css": "css", ".scss": "css", ".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml",
    ".xml": "xml", ".ini": "ini", ".cfg": "ini", ".cmake": "cmake", ".mk": "makefile",
    "makefile": "makefile", "gnumakefile": "makefile", "dockerfile": "dockerfile", "cmakelists.txt": "cmake",
}
# Language names as data sets spell them (The Stack's ``lang``, GitHub linguist) -> Winnow's name.
NAMES: dict[str, str] = {
    "c++": "cpp", "c#": "csharp", "objective-c": "objective-c", "objective-c++": "objective-c",
    "bash": "shell", "shell": "shell", "zsh": "shell", "node": "javascript",
    "golang": "go", "python3": "python", "batchfile": "batch",
    "dockerfile": "dockerfile", "makefile": "makefile", "jupyter notebook": "python",
}
_CAPITALIZED = {"C": "c", "Go": "go", "R": "r", "D": "d"}
KNOWN = set(EXTENSIONS.values()) | set(NAMES.values()) | {"unknown"}
UNKNOWN = "unknown"
PATH_FIELDS = ("path", "max_stars_repo_path", "file_path", "filepath", "filename", "file_name")
EXT_FIELDS = ("ext", "extension")
LANG_FIELDS = ("lang", "language", "programming_language")

# --- the detector --------------------------------------------------------------------------------

_CODE_LINE = re.compile(
    r"""^\s*(?:
      \#\s*(?:include|define|if|ifdef|ifndef|endif|else|elif|undef|pragma)\b
    | (?:import|from)\s+[\w.]+(?:\s+import\s+\S.*|\s+as\s+\w+|\s*;|\s*\(|)\s*$
    | package\s+[\w.]+;?\s*$
    | (?:def|class|async\s+def)\s+\w+\s*[(:].*:\s*(?:\#.*)?$
    | (?:if|elif|else|for|while|try|except|finally|with)\b[^.!?]*:\s*(?:\#.*)?$
    | (?:return|raise|yield|break|continue|pass|goto)\b\s*[^\s\w]?.*[^.!?,]$
    | [}\])]
    | ['"][^'"]*['"]\s*[:,]
    | [\w'".+-]+\s*:\s*[\w'".+-]+,$
    | @\w[\w.]*(?:\(.*)?$
    | (?:fn|func|let|const|var|impl|use|mod|pub|struct|enum|typedef|static|extern|void|int|char|unsigned)\s+[\w*&<>:\[\]]+.*[;{(=,]\s*$
    | [A-Za-z_][\w.\[\]'"*>-]*\s*(?:[-+*/%|&^]|<<|>>|:)?=\s*[^=\s].*$
    | [\w.]+(?:->\w+)*\((?!\d+\)\s*$)[^()]*(?:\([^()]*\)[^()]*)*\)\s*;?\s*$
    )""",
    re.VERBOSE,
)
_CODE_END = re.compile(r"(?:[;{}]|\)\s*:|\bthen|\bdo|\\)\s*(?://.*|/\*.*)?$")
_CODE_INNER = re.compile(r"==|!=|->|::|&&|\|\||\+\+|\w\(\)|<\w+>|\w\[\w*\]|\w\.\w+\(|=>|:=")
_NEUTRAL = re.compile(r"^\s*(?:\$\s|>>>|//|/\*|\*|\#(?!include|define|if|endif)|--\s|;;|<!--|\"\"\"|''')")
_WORD = re.compile(r"[^\W\d_]{2,}")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_OPENING_COMMENT = re.compile(r"^(?:/\*|//|#!|#(?!include|define|if|endif)|\(\*|--\s)")
_TRAILING_COMMENT = re.compile(r"\s+(?:#\s|//|/\*).*$")
_TRIPLE = re.compile(r'"""|\'\'\'')


def _sentence_like(s: str, min_letter_share: float = 0.85) -> bool:
    """Letters and spaces make up most of the line (prose; code lines carry more symbols)."""
    letters = sum(ch.isalpha() or ch == " " for ch in s)
    return letters >= min_letter_share * len(s)


@dataclass(frozen=True)
class LineCounts:
    code: int
    prose: int
    neutral: int
    opening: str = ""  # "docstring" / "comment" when the text opens with one (a code file's header)


def count_lines(text: str, max_chars: int = 4000, max_lines: int = 200, min_prose_words: int = 5) -> LineCounts:
    """Code-like, prose-like and neutral lines in the head of ``text`` (see the module docstring)."""
    code = prose = neutral = 0
    in_doc = in_block = False
    opening = None
    for line in text[:max_chars].split("\n")[:max_lines]:
        s = line.strip()
        if not s:
            continue
        quotes = len(_TRIPLE.findall(s))
        if opening is None:
            opening = ("docstring" if quotes and s[:3] in ('"""', "'''") or s[1:4] in ('"""', "'''")
                       else "comment" if _OPENING_COMMENT.match(s) else "")
        if in_block:  # inside a /* ... */ comment
            neutral += 1
            in_block = "*/" not in s
            continue
        if s.startswith("/*") and "*/" not in s:
            neutral += 1
            in_block = True
            continue
        if in_doc or (quotes == 1 and s[:3] in ('"""', "'''")):
            neutral += 1  # a docstring: words, but inside code
            if quotes % 2:
                in_doc = not in_doc
            continue
        if quotes % 2:
            in_doc = True  # x = """ opens a string
        if _NEUTRAL.match(s):
            neutral += 1
            continue
        s = _TRAILING_COMMENT.sub("", s) or s  # "0x0080: 0x00c7,  # LATIN CAPITAL ..." reads as its code
        if _CODE_LINE.match(s):
            code += 1
        elif (words := len(_WORD.findall(s))) >= min_prose_words and _sentence_like(s):
            prose += 1  # a sentence that ends in ";" or mentions err(): words win
        elif _CODE_END.search(s):
            code += 1
        elif words >= min_prose_words or len(_HAN.findall(s)) >= 6:
            prose += 1
        elif _CODE_INNER.search(s):
            code += 1
        else:
            neutral += 1
    return LineCounts(code, prose, neutral, opening or "")


@dataclass(frozen=True)
class CodeDetector:
    """The rules detector; every threshold a keyword (docs/code.md has the measured accuracy).

    A text that opens with a docstring counts ``docstring_bonus`` extra code-like lines, one that
    opens with a comment block (``/*``, ``//``, ``#``) ``comment_bonus``: a source file's header
    comment or module docstring can fill the whole head that the detector reads."""

    min_code_share: float = 0.5
    min_code_lines: int = 3
    min_prose_words: int = 5
    max_chars: int = 4000
    docstring_bonus: int = 3
    comment_bonus: int = 3

    def score(self, text: str) -> tuple[float, int]:
        """(code-like share of the decisive lines, number of code-like lines), bonus included."""
        c = count_lines(text, self.max_chars, min_prose_words=self.min_prose_words)
        code = c.code + {"docstring": self.docstring_bonus, "comment": self.comment_bonus}.get(c.opening, 0)
        return (code / (code + c.prose) if code + c.prose else 0.0), code

    def is_code(self, text: str) -> bool:
        share, n = self.score(text)
        return share >= self.min_code_share and n >= self.min_code_lines


# --- languages -----------------------------------------------------------------------------------

# (language, regex, weight): content evidence, counted on the head of a code document.
_LANG_RULES: list[tuple[str, re.Pattern, float]] = [
    (lang, re.compile(rx, re.MULTILINE), w)
    for lang, rx, w in [
        ("python", r"^\s*(?:def|class)\s+\w+.*:\s*$|^\s*(?:from\s+[\w.]+\s+)?import\s+[\w.]+(?:\s+as\s+\w+)?\s*$|"
                   r"^\s*(?:elif|except\b.*|try|finally)\s*.*:\s*$|\bself\.|__name__|^\s*@\w+", 1.0),
        ("c", r"^\s*#\s*include\s*[<\"][\w/.]+\.h[>\"]|^\s*#\s*define\s|\b(?:printf|malloc|free|sizeof|NULL)\b|"
              r"^\s*(?:static\s+)?(?:int|void|char|unsigned|long|struct\s+\w+)\s*\*?\s*\w+\s*\(", 1.0),
        ("cpp", r"\bstd::|^\s*#\s*include\s*<\w+>\s*$|\btemplate\s*<|\bnamespace\s+\w+|\bcout\b|\bnullptr\b|"
                r"\bpublic:|\bvirtual\b|\w::\w+\s*\(", 1.5),
        ("java", r"^\s*package\s+[\w.]+;|^\s*import\s+java\.|\bpublic\s+(?:static\s+)?(?:class|void|final)\b|"
                 r"\bSystem\.out\.|@Override\b|\bnew\s+\w+<", 1.5),
        ("javascript", r"\bfunction\s*\w*\s*\(|\b(?:const|let|var)\s+\w+\s*=|=>|\bconsole\.log\b|\brequire\(|"
                       r"\bmodule\.exports\b|\bdocument\.|\bexport\s+(?:default|function|const)\b", 1.0),
        ("typescript", r":\s*(?:string|number|boolean|any|void)\b|\binterface\s+\w+\s*\{|\bexport\s+type\b|"
                       r"\bimport\s+.*\bfrom\s+['\"]|\bReadonly<|\bas\s+const\b", 1.2),
        ("go", r"^package\s+\w+\s*$|\bfunc\s+(?:\(\w+\s+\*?\w+\)\s*)?\w+\(|:=|\bfmt\.\w+|\berr\s*!=\s*nil\b|"
               r"^import\s*\(", 1.5),
        ("rust", r"\bfn\s+\w+\s*[<(]|\blet\s+mut\b|\bimpl\b|\buse\s+\w+(?:::\w+)+|\bpub\s+(?:fn|struct|enum)\b|"
                 r"\bprintln!|->\s*Result<|&mut\s|\bmatch\s+\w+\s*\{", 1.5),
        ("shell", r"^#!\s*/(?:usr/)?bin/(?:env\s+)?(?:ba|z|k|da)?sh\b|^\s*(?:fi|done|esac)\s*$|\$\{?\w+\}?|"
                  r"^\s*(?:if|while)\s+\[|^\s*echo\s|^\s*export\s+\w+=|\bthen\s*$|;\s*then\b", 1.0),
        ("ruby", r"^\s*(?:def\s+\w+[?!]?(?:\(.*\))?|end|require\s+['\"]|module\s+\w+|puts\s)\s*$|\.each\s+do\s*\|", 1.0),
        ("php", r"<\?php|\$this->|\bfunction\s+\w+\s*\(.*\$|\becho\s+\$", 2.0),
        ("perl", r"^#!.*\bperl\b|\bmy\s+[$@%]\w+|\buse\s+strict;", 2.0),
        ("sql", r"(?i)^\s*(?:select\s.+\sfrom|create\s+table|insert\s+into|update\s+\w+\s+set)\b", 1.5),
    ]
]
_PY_DOCSTRING_OPENING = re.compile(r"\A\s*(?:#.*\n\s*)*[rRuU]?(?:\"\"\"|\'\'\')")
_SHEBANG = re.compile(r"^#!\s*\S*?(?:env\s+)?(\w+)")
_SHEBANG_LANG = {"sh": "shell", "bash": "shell", "zsh": "shell", "ksh": "shell", "dash": "shell",
                 "python": "python", "python3": "python", "node": "javascript", "perl": "perl", "ruby": "ruby",
                 "php": "php"}


def guess_language(text: str, max_chars: int = 4000) -> str:
    """A code document's language from its content: the shebang, else the language whose rules
    match most (weighted); ``unknown`` when none matches. Ties go to the earlier rule."""
    head = text[:max_chars]
    if _PY_DOCSTRING_OPENING.match(head):
        return "python"
    m = _SHEBANG.match(head)
    if m:
        lang = _SHEBANG_LANG.get(m.group(1).rstrip("0123456789.") or m.group(1))
        if lang:
            return lang
    best, best_score = UNKNOWN, 0.0
    for lang, rx, w in _LANG_RULES:
        score = len(rx.findall(head)) * w
        if lang == "cpp" and best == "c" and score > 0:
            score += best_score  # C++ is C plus its own evidence
        if score > best_score:
            best, best_score = lang, score
    return best


# --- hints in the record's metadata --------------------------------------------------------------

def language_of_path(path: str) -> str | None:
    """The language of a file name by its extension (or whole name), None when not code."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1].lower()
    if name in EXTENSIONS:
        return EXTENSIONS[name]
    dot = name.rfind(".")
    return EXTENSIONS.get(name[dot:]) if dot > 0 else None


def language_of_name(name: str) -> str | None:
    """A programming language named by a record (``code:python``, ``Python``, ``C++``), else None."""
    if name.strip() in _CAPITALIZED:  # The Stack's "C", "Go", "R" (lower case they are too ambiguous)
        return _CAPITALIZED[name.strip()]
    n = name.strip().lower()
    if n.startswith(S.CODE_LANG_PREFIX):
        n = n[len(S.CODE_LANG_PREFIX):] or UNKNOWN
        return NAMES.get(n, n)
    if n in NAMES:
        return NAMES[n]
    if n in KNOWN and len(n) > 2:  # two letters could be a human language's ISO code (cs, ml, pl)
        return n
    return None


@dataclass(frozen=True)
class Kind:
    kind: str  # S.KIND_PROSE / S.KIND_CODE
    language: str | None  # for code: the language (UNKNOWN when not known)
    origin: str  # "config", "record", "detector"
    score: float  # 1.0 for hints; the detector's code share otherwise

    @property
    def lang(self) -> str | None:
        """``code:<language>`` for code, None for prose (langid decides)."""
        return S.CODE_LANG_PREFIX + (self.language or UNKNOWN) if self.kind == S.KIND_CODE else None


def hint_of(meta: dict) -> Kind | None:
    """The kind a record's metadata states: ``kind`` (the input config's hint, or the record's own
    field), a programming-language name, or a code file name; None when it states none."""
    kind = meta.get("kind")
    if isinstance(kind, str) and kind:
        k = kind.strip().lower()
        if k == S.KIND_PROSE:
            return Kind(S.KIND_PROSE, None, "config", 1.0)
        if k == S.KIND_CODE or k.startswith(S.CODE_LANG_PREFIX):
            lang = language_of_name(k) if k != S.KIND_CODE else None
            return Kind(S.KIND_CODE, lang or _lang_from_fields(meta), "config", 1.0)
    lang = _lang_from_fields(meta)
    return Kind(S.KIND_CODE, lang, "record", 1.0) if lang else None


def _lang_from_fields(meta: dict) -> str | None:
    for f in LANG_FIELDS:
        v = meta.get(f)
        if isinstance(v, str) and v and (lang := language_of_name(v)):
            return lang
    for f in PATH_FIELDS:
        v = meta.get(f)
        if isinstance(v, str) and v and (lang := language_of_path(v)):
            return lang
    for f in EXT_FIELDS:
        v = meta.get(f)
        if isinstance(v, str) and v and (lang := EXTENSIONS.get("." + v.lower().lstrip("."))):
            return lang
    return None


def _meta_hint(meta_json: str | None) -> Kind | None:
    """:func:`hint_of` the document's ``meta`` JSON; None when it is absent, not JSON or not a mapping."""
    if not meta_json:
        return None
    try:
        meta = json.loads(meta_json)
    except ValueError:
        return None
    return hint_of(meta) if isinstance(meta, dict) else None


def kind_of(text: str, meta_json: str | None, detector: CodeDetector, use_hints: bool = True) -> Kind:
    """The document's kind: its metadata hint, else the detector (module docstring)."""
    hint = _meta_hint(meta_json) if use_hints else None
    if hint is not None:
        if hint.kind == S.KIND_CODE and hint.language is None:
            return Kind(S.KIND_CODE, guess_language(text, detector.max_chars), hint.origin, 1.0)
        return hint
    share, n = detector.score(text)
    if share >= detector.min_code_share and n >= detector.min_code_lines:
        return Kind(S.KIND_CODE, guess_language(text, detector.max_chars), "detector", share)
    return Kind(S.KIND_PROSE, None, "detector", share)


# --- batches -------------------------------------------------------------------------------------

# A meta JSON that may hold a hint (checked for a whole batch with RE2 before any JSON is parsed).
_HINT_KEYS_RE2 = '"(?:' + "|".join(("kind", *LANG_FIELDS, *PATH_FIELDS, *EXT_FIELDS)) + r')"\s*:'
# Code signals: a text whose head has fewer than ``MIN_SIGNALS`` of them is prose without a Python
# pass (most prose has none of ; { } = or a line ending in ":", a docstring or a block comment).
_CODE_SIGNALS_RE2 = (r"(?m)[;{}=]|:[ \t]*$|^[ \t]*(?:def|class|import|from|package|func|fn|#[ \t]*include|"
                     r"#[ \t]*define)\b|" + '"""' + "|'''" + r"|^[ \t]*/\*|^#!")
MIN_SIGNALS = 2


def classify(texts, metas, detector: CodeDetector, use_hints: bool = True) -> list[Kind]:
    """:func:`kind_of` for arrays (pyarrow string arrays: texts without nulls, metas or None).
    RE2 finds, for the whole batch, the metas that may hold a hint and the texts that may be code;
    only those are read in Python."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(texts)
    head = pc.utf8_slice_codeunits(texts, 0, detector.max_chars)
    signals = np.asarray(pc.count_substring_regex(head, _CODE_SIGNALS_RE2).to_numpy(zero_copy_only=False))
    maybe_code = signals >= MIN_SIGNALS
    has_hint = np.zeros(n, dtype=bool)
    if use_hints and metas is not None:
        if isinstance(metas, pa.ChunkedArray):
            metas = metas.combine_chunks()
        has_hint = np.asarray(pc.fill_null(pc.match_substring_regex(metas, _HINT_KEYS_RE2), False)
                              .to_numpy(zero_copy_only=False), dtype=bool)
    prose = Kind(S.KIND_PROSE, None, "detector", 0.0)
    out = [prose] * n
    todo = np.nonzero(maybe_code | has_hint)[0]
    if len(todo):
        text_vals = texts.take(pa.array(todo)).to_pylist()
        meta_vals = metas.take(pa.array(todo)).to_pylist() if use_hints and metas is not None else [None] * len(todo)
        for j, i in enumerate(todo):
            out[i] = kind_of(text_vals[j], meta_vals[j] if has_hint[i] else None, detector, use_hints)
    return out


def kinds_of(texts, metas, detector: CodeDetector, use_hints: bool = True) -> list[str]:
    """The ``kind`` column for a batch (see :func:`classify`)."""
    return [k.kind for k in classify(texts, metas, detector, use_hints)]


def code_language(text: str, meta_json: str | None, max_chars: int = 4000) -> str:
    """A code document's language: its metadata hint, else :func:`guess_language`."""
    hint = _meta_hint(meta_json)
    if hint is not None and hint.language:
        return hint.language
    return guess_language(text, max_chars)
