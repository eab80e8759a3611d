"""Text normalization: Unicode repair, NFKC where safe, control characters, whitespace, boilerplate.

Steps, in order, for every document (each can be switched off by its keyword):

1. ``fix_mojibake``: text decoded with the wrong codec ("cafÃ©", "â€™") is repaired with
   ``ftfy.fix_encoding``. Only documents that show a mojibake signature are handed to ftfy (ftfy
   is the slowest step; clean text skips it). ftfy's other fixes are not used: its "uncurl quotes"
   and "fix character width" would rewrite Chinese quotes and full-width punctuation.
2. ``nfkc``: ``"safe"`` (default) applies NFKC except to full-width punctuation (U+FF01-FF0F,
   FF1A-FF20, FF3B-FF40, FF5B-FF60) and the ellipsis "…", which NFKC would fold to ASCII: Chinese
   text keeps ，！？：；（） and …… while full-width letters and digits (ＡＢＣ１２３), ligatures,
   compatibility ideographs and exotic spaces are folded. ``"full"`` is plain NFKC, ``"none"`` skips.
3. ``remove_control``: C0/C1 control characters (tab and newline kept), zero-width spaces, BOMs
   and soft hyphens are removed; CR/LF variants, form feeds and Unicode line separators become "\\n".
4. Whitespace: trailing spaces are stripped, runs of spaces/tabs inside a line become one space
   (``collapse_spaces``; leading indentation is kept for code), runs of blank lines are cut to
   ``max_blank_lines`` (1), and the text is stripped.
5. ``remove_boilerplate``: whole lines matching a boilerplate pattern are removed, counted per
   pattern in the metrics ``removed_lines/<pattern>``: ``zh_repost`` (转载自…, 本文经授权转载,
   原标题：…, 来源：…, 责任编辑：…), ``zh_widget`` (相关推荐, 打赏, 点击关注, 扫码关注, 分享到, 阅读原文 …, only
   on short lines), ``en_widget`` (Share this, Follow us, Subscribe …, short lines), ``cookie`` (cookie
   and privacy-policy notices, "All rights reserved"); "[edit]" / "[citation needed]" / "[编辑]"
   markers are removed wherever they stand and counted as ``removed_markers/wiki``. ``remove_references``: a trailing reference section (a "References",
   "External links", "参考文献", "参考资料" … heading in the last half of the lines, and everything
   after it) is removed and counted as ``removed_lines/references``.

A document left empty is rejected with reason ``normalize_empty`` (detail: its original length).
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contract import schema as S
from contract.operator import BatchResult, Operator, append_columns, split_batch

# --- Unicode ---------------------------------------------------------------------------------

# Full-width punctuation and the ellipsis: NFKC would fold them to ASCII; "safe" mode keeps them.
_PROTECTED = (
    [*range(0xFF01, 0xFF10), *range(0xFF1A, 0xFF21), *range(0xFF3B, 0xFF41), *range(0xFF5B, 0xFF61), 0x2026]
)



def _nfkc_changing_ranges(skip: set[int]) -> list[tuple[int, int]]:
    """Code point ranges NFKC changes on their own (planes 0-1 and the compatibility ideographs
    supplement), minus ``skip``."""
    cps = [
        cp
        for cp in (*range(0x80, 0x20000), *range(0x2F800, 0x2FA20))
        if not 0xD800 <= cp <= 0xDFFF and cp not in skip and unicodedata.normalize("NFKC", chr(cp)) != chr(cp)
    ]
    ranges: list[tuple[int, int]] = []
    for cp in cps:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return ranges


def _re2_class(ranges: list[tuple[int, int]]) -> str:
    return "[" + "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges) + "]"


def _py_class(ranges: list[tuple[int, int]]) -> str:
    return "[" + "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges) + "]"


# Characters NFKC folds, except the protected punctuation: a document without any of them is left
# as it is (checked for the whole batch at once with RE2), and in one with some, only they change.
_SAFE_RANGES = _nfkc_changing_ranges(set(_PROTECTED))
_ALL_RANGES = _nfkc_changing_ranges(set())
NFKC_SAFE_RE2 = _re2_class(_SAFE_RANGES)
NFKC_ALL_RE2 = _re2_class(_ALL_RANGES)
_NFKC_SAFE_RUN = re.compile(_py_class(_SAFE_RANGES) + "+")



def nfkc_safe(text: str) -> str:
    """NFKC that keeps full-width punctuation and "…" (see module docstring): runs of characters
    that NFKC folds are folded, everything else is left as it is."""
    if text.isascii():
        return text
    return _NFKC_SAFE_RUN.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)


# --- Boilerplate -----------------------------------------------------------------------------

# (name, pattern, max line length the pattern may remove). Patterns see the stripped line.
BOILERPLATE_PATTERNS: list[tuple[str, str, int]] = [
    (
        "zh_repost",
        r"^[【\[（(]?(?:本文)?(?:转载自|转自|文章转自|来源[:：]|文章来源|本文来源|消息来源|原文链接|原文地址|原文出处|"
        r"原标题[:：]|责任编辑[:：]|编辑[:：]|版权声明|本文经.{0,30}授权转载|本文(?:系|为|由).{0,20}转载|"
        r"未经(?:许可|授权).{0,12}(?:不得|禁止)转载|转载请注明|如需转载)",
        200,
    ),
    (
        "zh_widget",
        r"相关推荐|相关阅读|相关文章|猜你喜欢|延伸阅读|热门推荐|热门文章|为你推荐|打赏|赞赏|点击关注|关注我们|扫码关注|"
        r"扫一扫|长按(?:识别)?二维码|识别二维码|分享到|一键分享|分享至|点赞|在看|阅读原文|上一篇|下一篇|返回顶部|返回首页|"
        r"收藏本文|我要评论|发表评论|评论[（(]\d+[)）]|阅读[（(]\d+[)）]|微信公众号|公众号[:：]",
        30,
    ),
    (
        "en_widget",
        r"(?i)^(?:share (?:this|on|via)|tweet(?: this)?$|pin it$|follow us|subscribe(?: to| now|$)|"
        r"sign up for (?:our|the) newsletter|click here to|read more$|related (?:posts|articles|stories)|"
        r"advertisement$|skip to (?:main )?content|back to top|print this|email this|leave a (?:comment|reply))",
        80,
    ),
    (
        "cookie",
        r"(?i)(?:this (?:web)?site uses cookies|we use cookies|use of cookies|cookies? (?:policy|settings|preferences)|"
        r"accept (?:all )?cookies|by (?:continuing|using) (?:to (?:use|browse) )?(?:this|our) (?:web)?site|"
        r"privacy policy|terms of (?:use|service)|all rights reserved|隐私政策|隐私条款|使用条款|版权所有|"
        r"本站使用cookie|接受cookie)",
        300,
    ),
]
# Prefilter: anchors and flags dropped, so it matches whenever any line pattern could.
_ANY_BOILERPLATE = re.compile(
    "|".join(f"(?:{p})" for _, p, _ in BOILERPLATE_PATTERNS).replace("(?i)", "").replace("^", "").replace("$", ""),
    re.IGNORECASE,
)
_WIKI_INLINE_RE = re.compile(
    r"\[(?:edit|citation needed|clarification needed|dubious(?: – discuss)?|編輯|编辑|来源请求|需要引用)\]",
    re.IGNORECASE,
)
_REFERENCES_RE = re.compile(
    r"^[ \t#=*]*(?:references|notes and references|notes|citations|bibliography|external links|further reading|"
    r"sources|参考文献|参考资料|参考来源|外部链接|注释|脚注|延伸阅读)[ \t=*]*[:：]?[ \t=*]*$",
    re.IGNORECASE | re.MULTILINE,
)


# RE2 (pyarrow) versions used to find, for a whole batch at once, the documents that need work.
# Mojibake hint: a UTF-8 lead byte read as Latin-1/cp1252, then a continuation byte read the same way.
MOJIBAKE_HINT_RE2 = (
    r"[\x{c2}-\x{c3}\x{c5}\x{ce}\x{cf}\x{d0}\x{d1}\x{d8}\x{d9}\x{e0}-\x{ef}]"
    r"[\x{80}-\x{bf}\x{152}\x{153}\x{160}\x{161}\x{178}\x{17d}\x{17e}\x{192}\x{2c6}\x{2dc}\x{2013}-\x{203a}"
    r"\x{20ac}\x{2122}]"
)
NEWLINES_RE2 = r"\r\n?|[\x{0b}\x{0c}\x{85}\x{2028}\x{2029}]"
CONTROL_RE2 = r"[\x{00}-\x{08}\x{0e}-\x{1f}\x{7f}-\x{84}\x{86}-\x{9f}\x{200b}\x{2060}\x{feff}\x{ad}]"
WIKI_INLINE_RE2 = "(?i)" + _WIKI_INLINE_RE.pattern
ANY_BOILERPLATE_RE2 = "(?i)" + _ANY_BOILERPLATE.pattern
REFERENCES_RE2 = "(?im)" + _REFERENCES_RE.pattern


class Normalizer(Operator):
    """Unicode repair, safe NFKC, control characters, whitespace and boilerplate lines; see module doc."""

    name = "normalize"
    metrics = {
        "normalize/mojibake_fixed": "documents whose mojibake ftfy repaired",
        "normalize/nfkc_changed": "documents changed by Unicode normalization",
        "normalize/control_chars_removed": "control characters removed",
        "removed_markers/wiki": "wiki inline markers removed ([edit], [1], ...)",
        "removed_lines/{pattern}": "boilerplate lines removed, per pattern",
        "normalize/chars_in": "characters before normalization",
        "normalize/chars_out": "characters after normalization",
    }

    def __init__(
        self,
        fix_mojibake: bool = True,
        nfkc: str = "safe",
        remove_control: bool = True,
        collapse_spaces: bool = True,
        max_blank_lines: int = 1,
        remove_boilerplate: bool = True,
        remove_references: bool = True,
        references_min_position: float = 0.5,
        disable_patterns: list[str] | None = None,
    ):
        if nfkc not in ("safe", "full", "none"):
            raise ValueError(f"nfkc must be 'safe', 'full' or 'none', got {nfkc!r}")
        known = {n for n, _, _ in BOILERPLATE_PATTERNS}
        for p in disable_patterns or []:
            if p not in known:
                raise ValueError(f"unknown boilerplate pattern {p!r} (known: {', '.join(sorted(known))})")
        self.fix_mojibake = fix_mojibake
        self.nfkc = nfkc
        self.remove_control = remove_control
        self.collapse_spaces = collapse_spaces
        self.max_blank_lines = max_blank_lines
        self.remove_boilerplate = remove_boilerplate
        self.remove_references = remove_references
        self.references_min_position = references_min_position
        self.disable_patterns = list(disable_patterns or [])
        self._patterns = [
            (name, re.compile(p), max_len) for name, p, max_len in BOILERPLATE_PATTERNS if name not in self.disable_patterns
        ]

    def setup(self) -> None:
        if self.fix_mojibake:
            import ftfy  # noqa: F401  (import once per worker)

    def normalize(self, text: str, m: dict[str, float]) -> str:
        """One document; ``m`` collects metrics."""
        return self.normalize_array(pa.array([text], pa.string()), m)[0].as_py()

    def normalize_array(self, texts: pa.Array, m: dict[str, float]) -> pa.Array:
        """A batch of texts (no nulls). Detection runs on the whole batch with RE2 (pyarrow); only
        the documents that need a fix go through Python."""

        def add(key: str, v: float) -> None:
            if v:
                m[key] = m.get(key, 0.0) + float(v)

        def fix_some(arr: pa.Array, mask_re2: str, fn) -> tuple[pa.Array, int]:
            mask = np.asarray(pc.match_substring_regex(arr, mask_re2).to_numpy(zero_copy_only=False), bool)
            if not mask.any():
                return arr, 0
            vals = arr.to_pylist()
            changed = 0
            for i in np.nonzero(mask)[0]:
                new = fn(vals[i])
                if new != vals[i]:
                    vals[i] = new
                    changed += 1
            return pa.array(vals, pa.string()), changed

        if self.fix_mojibake:
            import ftfy

            texts, k = fix_some(texts, MOJIBAKE_HINT_RE2, ftfy.fix_encoding)
            add("normalize/mojibake_fixed", k)
        if self.nfkc == "safe":
            texts, k = fix_some(texts, NFKC_SAFE_RE2, nfkc_safe)
            add("normalize/nfkc_changed", k)
        elif self.nfkc == "full":
            texts, k = fix_some(texts, NFKC_ALL_RE2, lambda t: unicodedata.normalize("NFKC", t))
            add("normalize/nfkc_changed", k)
        if self.remove_control:
            texts = pc.replace_substring_regex(texts, NEWLINES_RE2, "\n")
            add("normalize/control_chars_removed", pc.sum(pc.count_substring_regex(texts, CONTROL_RE2)).as_py())
            texts = pc.replace_substring_regex(texts, CONTROL_RE2, "")
        if self.remove_boilerplate:
            add("removed_markers/wiki", pc.sum(pc.count_substring_regex(texts, WIKI_INLINE_RE2)).as_py())
            texts = pc.replace_substring_regex(texts, WIKI_INLINE_RE2, "")
            if self._patterns:
                texts, _ = fix_some(texts, ANY_BOILERPLATE_RE2, lambda t: self._remove_lines(t, m))
        if self.remove_references:
            texts, _ = fix_some(texts, REFERENCES_RE2, lambda t: self._remove_references(t, m))
        texts = pc.replace_substring_regex(texts, r"[ \t]+(\n|$)", r"\1")
        if self.collapse_spaces:
            texts = pc.replace_substring_regex(texts, r"([^ \t\n])(?:[ \t]{2,}|\t)", r"\1 ")
        texts = pc.replace_substring_regex(texts, "\n{" + str(self.max_blank_lines + 2) + ",}",
                                           "\n" * (self.max_blank_lines + 1))
        return pc.utf8_trim_whitespace(texts)

    def _remove_lines(self, text: str, m: dict[str, float]) -> str:
        out = []
        for line in text.split("\n"):
            s = line.strip()
            hit = None
            if s:
                for name, rx, max_len in self._patterns:
                    if len(s) <= max_len and rx.search(s):
                        hit = name
                        break
            if hit is None:
                out.append(line)
            else:
                key = f"removed_lines/{hit}"
                m[key] = m.get(key, 0.0) + 1
        return "\n".join(out)

    def _remove_references(self, text: str, m: dict[str, float]) -> str:
        if not _REFERENCES_RE.search(text):
            return text
        lines = text.split("\n")
        start = int(len(lines) * self.references_min_position)
        for i in range(max(start, 1), len(lines)):
            if _REFERENCES_RE.match(lines[i]):
                m["removed_lines/references"] = m.get("removed_lines/references", 0.0) + (len(lines) - i)
                return "\n".join(lines[:i])
        return text

    def process(self, batch: pa.RecordBatch) -> BatchResult:
        col = batch.column(S.TEXT)
        original = pc.fill_null(col, "") if col.null_count else col
        m: dict[str, float] = {}
        out = self.normalize_array(original, m)
        in_len = np.asarray(pc.utf8_length(original).to_numpy(zero_copy_only=False), np.int64)
        out_len = np.asarray(pc.utf8_length(out).to_numpy(zero_copy_only=False), np.int64)
        m["normalize/chars_in"] = float(in_len.sum())
        m["normalize/chars_out"] = float(out_len.sum())
        empty = out_len == 0
        if not empty.any():
            return BatchResult(append_columns(batch, {S.TEXT: out}), None, m)
        # rejected rows keep the original text for the audit
        text = pc.if_else(pa.array(empty), col, out)
        batch = append_columns(batch, {S.TEXT: text})
        reasons = ["normalize_empty" if e else None for e in empty]
        details = [str(int(n)) if e else None for e, n in zip(empty, in_len)]
        kept, rej = split_batch(batch, reasons, details)
        return BatchResult(kept, rej, m)
