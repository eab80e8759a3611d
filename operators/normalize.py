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

import pyarrow as pa

from operators.base import BatchResult, Operator, append_columns, split_batch
from pipeline import schema as S

# --- Unicode ---------------------------------------------------------------------------------

# A UTF-8 lead byte read as Latin-1/cp1252 followed by a continuation byte read the same way.
_MOJIBAKE_HINT = re.compile(
    "[\u00c2-\u00c3\u00c5\u00ce\u00cf\u00d0\u00d1\u00d8\u00d9\u00e0-\u00ef]"
    "[\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u203a\u20ac\u2122]"
)
_PROTECTED = (
    [*range(0xFF01, 0xFF10), *range(0xFF1A, 0xFF21), *range(0xFF3B, 0xFF41), *range(0xFF5B, 0xFF61), 0x2026]
)
_PUA_BASE = 0xF0000  # Supplementary Private Use Area-A: placeholders NFKC leaves alone
_PROTECT = {cp: _PUA_BASE + i for i, cp in enumerate(_PROTECTED)}
_UNPROTECT = {v: k for k, v in _PROTECT.items()}
_PROTECTED_RE = re.compile("[" + "".join(map(chr, _PROTECTED)) + "]")
_PUA_RE = re.compile(f"[{chr(_PUA_BASE)}-{chr(_PUA_BASE + len(_PROTECTED))}]")

_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u200b\u2060\ufeff\u00ad]")
_NEWLINES_RE = re.compile("\r\n?|[\x0b\x0c\x85\u2028\u2029]")
_TRAILING_WS_RE = re.compile(r"[ \t]+(?=\n|$)")
_INNER_WS_RE = re.compile(r"(?<=\S)[ \t]{2,}(?=\S)|(?<=\S)\t(?=\S)")


def nfkc_safe(text: str) -> str:
    """NFKC that keeps full-width punctuation and "…" (see module docstring)."""
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return text
    if not _PROTECTED_RE.search(text):
        return unicodedata.normalize("NFKC", text)
    if _PUA_RE.search(text):  # the text already uses our placeholders: fold segment by segment
        parts = _PROTECTED_RE.split(text)
        seps = _PROTECTED_RE.findall(text)
        out = [unicodedata.normalize("NFKC", parts[0])]
        for sep, part in zip(seps, parts[1:]):
            out.append(sep)
            out.append(unicodedata.normalize("NFKC", part))
        return "".join(out)
    return unicodedata.normalize("NFKC", text.translate(_PROTECT)).translate(_UNPROTECT)


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


class Normalizer(Operator):
    """Unicode repair, safe NFKC, control characters, whitespace and boilerplate lines; see module doc."""

    name = "normalize"

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
        self._blank_re = re.compile("\n{" + str(max_blank_lines + 2) + ",}")
        self._blank_sub = "\n" * (max_blank_lines + 1)

    def setup(self) -> None:
        if self.fix_mojibake:
            import ftfy  # noqa: F401  (import once per worker)

    def normalize(self, text: str, m: dict[str, float]) -> str:
        """One document; ``m`` collects metrics."""
        if self.fix_mojibake and not text.isascii() and _MOJIBAKE_HINT.search(text):
            import ftfy

            fixed = ftfy.fix_encoding(text)
            if fixed != text:
                m["normalize/mojibake_fixed"] = m.get("normalize/mojibake_fixed", 0.0) + 1
                text = fixed
        if self.nfkc != "none" and not text.isascii():
            folded = nfkc_safe(text) if self.nfkc == "safe" else unicodedata.normalize("NFKC", text)
            if folded != text:
                m["normalize/nfkc_changed"] = m.get("normalize/nfkc_changed", 0.0) + 1
                text = folded
        if self.remove_control:
            text = _NEWLINES_RE.sub("\n", text)
            text, k = _CONTROL_RE.subn("", text)
            if k:
                m["normalize/control_chars_removed"] = m.get("normalize/control_chars_removed", 0.0) + k
        if self.remove_boilerplate:
            text, k = _WIKI_INLINE_RE.subn("", text)
            if k:
                m["removed_markers/wiki"] = m.get("removed_markers/wiki", 0.0) + k
            if self._patterns and _ANY_BOILERPLATE.search(text):
                text = self._remove_lines(text, m)
        if self.remove_references:
            text = self._remove_references(text, m)
        text = _TRAILING_WS_RE.sub("", text)
        if self.collapse_spaces:
            text = _INNER_WS_RE.sub(" ", text)
        text = self._blank_re.sub(self._blank_sub, text)
        return text.strip()

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
        texts = batch.column(S.TEXT).to_pylist()
        m: dict[str, float] = {}
        out: list[str | None] = []
        reasons: list[str | None] = []
        details: list[str | None] = []
        chars_in = chars_out = 0
        for t in texts:
            if t is None:
                out.append(None)
                reasons.append("normalize_empty")
                details.append("0")
                continue
            n = self.normalize(t, m)
            chars_in += len(t)
            chars_out += len(n)
            if n:
                out.append(n)
                reasons.append(None)
                details.append(None)
            else:
                out.append(t)  # rejected rows keep the original text for the audit
                reasons.append("normalize_empty")
                details.append(str(len(t)))
        m["normalize/chars_in"] = float(chars_in)
        m["normalize/chars_out"] = float(chars_out)
        batch = append_columns(batch, {S.TEXT: pa.array(out, pa.string())})
        if all(r is None for r in reasons):
            return BatchResult(batch, None, m)
        kept, rej = split_batch(batch, reasons, details)
        return BatchResult(kept, rej, m)
