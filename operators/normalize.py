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
   pattern in the metrics ``removed_lines/<pattern>``. Every pattern has a line-length limit and a
   line-shape condition, and most keep a line that reads as a sentence, so an article sentence that
   merely mentions 首页, 版权所有 or 扫码 stays. Chinese page furniture: ``zh_repost`` (转载自…,
   原标题：…, 来源：…), ``zh_icp`` (京ICP备…号, 公网安备, 许可证 lines), ``zh_disclaimer`` (本站部分内容来源于
   网络，如有侵权请联系删除…), ``zh_copyright`` (© / Copyright / 版权所有 footers), ``zh_breadcrumb``
   (当前位置：首页 > …), ``zh_nav`` (link runs between | · separators, labelled link lists, channel
   bars, vertical menus), ``zh_prevnext`` (上一篇：…), ``zh_pagination`` (首页 上一页 1 2 3 下一页),
   ``zh_contact`` (联系电话：…, contact blocks), ``zh_share`` (分享到, 扫一扫关注, 二维码, 设为首页),
   ``zh_meta`` (发布时间：… 来源：… 浏览次数：…), ``zh_widget`` (相关推荐, 打赏, 点击关注…); Chinese
   keywords match in Simplified, Traditional and Taiwan spellings. Others: ``en_widget`` (Share
   this, Follow us, Subscribe …, short lines), ``cookie`` (cookie and privacy-policy notices, "All
   rights reserved"); "[edit]" / "[citation needed]" / "[编辑]" markers are removed wherever they
   stand and counted as ``removed_markers/wiki``. ``remove_references``: a trailing reference section
   (a "References", "External links", "参考文献", "参考资料" … heading in the last half of the lines,
   and everything after it) is removed and counted as ``removed_lines/references``.

A document left empty is rejected with reason ``normalize_empty`` (detail: its original length).

**Code** (docs/code.md):

- ``detect_code``: decide each document's ``kind`` first (``prose``/``code``: the reader's hint in
  ``meta``, a record field such as ``path``/``lang``, else the rules of
  ``classifiers/code_detect.py``) and write it as the ``kind`` column; off, every document is prose.
- ``min_code_share``: the detector calls a document code when at least this share (0.5) of its
  lines that are not neutral (blank, comment-only, prompts) look like code.
- ``min_code_lines``: and at least this many (3) of its lines look like code.

The kind is decided before anything else. Code takes :meth:`Normalizer.normalize_code_array` instead of
the steps above: CR/CRLF become "\\n", C0 control characters (not tab, newline, form feed) and
BOMs are removed, trailing spaces are stripped and leading blank lines dropped; indentation, blank
lines, long lines, string literals and comments stay exactly as they are (no NFKC, no ftfy, no
boilerplate or reference removal).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from classifiers.code_detect import CodeDetector, kinds_of
from contract import schema as S
from contract.operator import BatchResult, Operator, append_columns, split_batch
from contract.textstats import HAN_RE2

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
#
# A pattern removes a whole line (stripped) when the line is at most ``max_len`` characters long,
# its regex matches, its line-shape condition (``shape``) holds and, for patterns with
# ``keep_sentences``, the line does not read as a sentence (:func:`reads_as_sentence`): keywords
# alone never remove an article sentence that mentions them. Chinese keywords are written in
# Simplified; their Traditional, Taiwan and Hong Kong spellings are added when the pattern is built
# (:func:`zh_regex`, from OpenCC's dictionary files), so zh-TW / zh-HK pages lose the same
# furniture. ``hint`` is an RE2 regex (a necessary condition: keywords or separators) that finds,
# for a whole batch at once, the documents and then the lines that may hold such a line; Python
# confirms only those.

_HAN_PY = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_CHAR = re.compile(f"[{_HAN_PY}]")
_SENTENCE_END = re.compile(r"[。！？!?…][”’」』）)\"'】]*$")
_CLAUSE_PUNCT = re.compile(r"[，；,;。！？!?]")


def _han_count(s: str) -> int:
    return len(_HAN_CHAR.findall(s))


def reads_as_sentence(s: str) -> bool:
    """A Chinese line that reads as running text: it ends a sentence (。！？…) with at least 10 Han
    characters, or it holds two clauses of at least 6 Han characters each (a wrapped sentence).
    Page furniture is made of fragments: labels, names, numbers, links and separators."""
    han = _han_count(s)
    if han < 10:
        return False
    if _SENTENCE_END.search(s):
        return True
    return sum(_han_count(c) >= 6 for c in _CLAUSE_PUNCT.split(s)) >= 2


@functools.cache
def _han_variants() -> dict[str, str]:
    """Simplified character -> all its spellings (itself, its Traditional forms from OpenCC's
    STCharacters, and their Taiwan and Hong Kong variants)."""
    from contract.textstats import opencc_dictionary

    st = opencc_dictionary("STCharacters.txt")
    regional = {**opencc_dictionary("TWVariants.txt"), **opencc_dictionary("HKVariants.txt")}
    out: dict[str, str] = {}
    for s, trads in st.items():
        if len(s) != 1:
            continue
        forms = [s]
        for t in trads:
            for f in (t, *regional.get(t, [])):
                if len(f) == 1 and f not in forms:
                    forms.append(f)
        if len(forms) > 1:
            out[s] = "".join(forms)
    return out


@functools.cache
def _tw_phrases() -> dict[str, tuple[str, ...]]:
    """Simplified word -> its Taiwan words (OpenCC TWPhrases: 联系 -> 聯絡, 发布 -> 釋出, 链接 -> 連結)."""
    from contract.textstats import opencc_dictionary

    ts = opencc_dictionary("TSCharacters.txt")
    out: dict[str, tuple[str, ...]] = {}
    for trad, tw in opencc_dictionary("TWPhrases.txt").items():
        if len(trad) < 2 or not all(_HAN_CHAR.match(c) for c in trad):
            continue
        simp = "".join(ts.get(c, [c])[0] for c in trad)
        out[simp] = tuple(dict.fromkeys((*out.get(simp, ()), *tw)))
    return out


@functools.cache
def zh_regex(pattern: str) -> str:
    """A regex (Python or RE2 syntax) whose Chinese characters also match their Traditional
    spellings: outside a character class 页 becomes [页頁] and a word with a Taiwan form becomes
    (?:[联聯][系係繫]|聯絡); inside a class the forms are added."""
    var = _han_variants()
    phrases = _tw_phrases()
    longest = max(map(len, phrases), default=0)
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if not in_class and _HAN_CHAR.match(c):
            for n in range(min(longest, len(pattern) - i), 1, -1):
                word = pattern[i:i + n]
                if word in phrases and pattern[i + n:i + n + 1] not in ("?", "*", "+", "{"):
                    chars = "".join(f"[{var[x]}]" if x in var else x for x in word)
                    out.append("(?:" + "|".join((chars, *phrases[word])) + ")")
                    i += n
                    break
            else:
                n = 0
            if n > 1:
                continue
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if c == "]" and not (out and out[-1] == "["):
                in_class = False
            out.append(var.get(c, c))
        elif c == "[":
            in_class = True
            out.append(c)
            if pattern[i + 1:i + 2] == "^":
                out.append("^")
                i += 1
        else:
            forms = var.get(c)
            out.append(f"[{forms}]" if forms else c)
        i += 1
    return "".join(out)


def zh_words(words: str) -> re.Pattern:
    """A full-match regex of "|"-separated Chinese words, in Simplified and Traditional spellings."""
    return re.compile(f"(?:{zh_regex(words)})", re.IGNORECASE)


@dataclass(frozen=True)
class LinePattern:
    name: str
    regex: str  # Python regex searched in the stripped line ("" = the shape decides)
    max_len: int
    hint: str = ""  # RE2 regex finding candidate documents ("" = the regex without anchors/flags)
    shape: Callable[[str], bool] | None = None
    keep_sentences: bool = False
    zh: bool = True  # add Traditional spellings
    han_lines: bool | None = None  # only lines with Han characters (default: when ``zh``)

    def compile(self) -> CompiledPattern:
        flags = re.IGNORECASE if self.regex.startswith("(?i)") else 0
        regex = self.regex.removeprefix("(?i)")
        hint = self.hint.removeprefix("(?i)") or regex.replace("^", "").replace("$", "")
        if self.zh:
            regex, hint = zh_regex(regex), zh_regex(hint)
        # Shape-only patterns test their hint on the line first (the shape functions cost more).
        hint_rx = None if regex else re.compile(hint, re.IGNORECASE)
        return CompiledPattern(self.name, re.compile(regex, flags) if regex else None,
                               self.max_len, hint, self.shape, self.keep_sentences,
                               self.zh if self.han_lines is None else self.han_lines, hint_rx)


@dataclass(frozen=True)
class CompiledPattern:
    name: str
    rx: re.Pattern | None
    max_len: int
    hint: str
    shape: Callable[[str], bool] | None
    keep_sentences: bool
    zh: bool = False  # a Chinese pattern: only lines with Han characters
    hint_rx: re.Pattern | None = None

    def matches(self, s: str) -> bool:
        """Whether the pattern removes the (stripped) line ``s``."""
        if self.zh and not _HAN_CHAR.search(s):
            return False
        if self.hint_rx is not None and not self.hint_rx.search(s):
            return False
        return self.confirm(s)

    def confirm(self, s: str) -> bool:
        """``matches`` for a line whose hint (and Han characters, for a Chinese pattern) is known to match."""
        if len(s) > self.max_len or (self.rx is not None and not self.rx.search(s)):
            return False
        if self.shape is not None and not self.shape(s):
            return False
        return not (self.keep_sentences and reads_as_sentence(s))


# Chinese page furniture. Words lists are "|"-separated, Simplified.
_SENT_PUNCT = re.compile(r"[，。！？；,;!?]")
_NAV_WORDS_ZH = (
    "首页|网站首页|主页|返回首页|回到首页|关于我们|关于本站|联系我们|联系方式|网站地图|加入我们|新闻中心|新闻动态|"
    "产品中心|产品展示|产品介绍|公司简介|企业简介|公司介绍|解决方案|服务支持|客户服务|客服中心|在线留言|留言板|帮助中心|"
    "登录|注册|免费注册|登录注册|设为首页|加入收藏|收藏本站|隐私政策|隐私条款|使用条款|服务条款|"
    "用户协议|免责声明|法律声明|版权声明|意见反馈|投诉建议|友情链接|广告服务|广告合作|商务合作|人才招聘|招聘信息|诚聘英才|"
    "合作伙伴|网站导航|手机版|移动版|简体中文|繁体中文|返回顶部|下载中心|会员中心|个人中心|我要投稿|网站公告|站点地图|"
    "上一页|下一页"
)
_NAV_WORDS_EN = frozenset("home|about|about us|contact|contact us|login|log in|sign in|register|sign up|english|"
                          "sitemap|rss|faq|help|privacy|terms|中文".split("|"))
_NAV_LABEL = (r"^(?:网站导航|栏目导航|快速导航|频道导航|导航|友情链接|合作伙伴|合作媒体|热门标签|相关标签|文章标签|标签|"
              r"热门搜索|热搜|热门关键词|tags?)\s*[:：]\s*")
# Separators of a navigation run: bars and spaced dots always; spaced / and - (menu paths, ranges,
# "A / B" alternatives in prose) only when navigation words make up the run.
_NAV_SEP = re.compile(r"\s*[|｜¦]\s*|\s+[·•・]\s+")
_NAV_SEP_WEAK = re.compile(r"\s+[/／\\\-–—]\s+")
_BRACKET_RUN = re.compile(r"^(?:\s*[【\[]\s*[^】\]\n]{1,10}?\s*[】\]]\s*){2,}$")
_DIGIT = re.compile(r"[0-9０-９]")
_CHANNEL = re.compile(f"[{_HAN_PY}]{{1,4}}|[A-Za-z]+")
# Characters a link label does not hold: quotes, code and title marks (《书名》, 「菜单」).
_NOT_LABEL = re.compile(r"[\"'“”‘’$=<>{}()（）《》「」『』*#@]|^-")


@functools.cache
def _nav_tables() -> tuple[re.Pattern, re.Pattern]:
    return zh_words(_NAV_WORDS_ZH), re.compile(zh_regex(_NAV_LABEL), re.IGNORECASE)


def _is_nav_word(item: str) -> bool:
    words, _ = _nav_tables()
    return bool(words.fullmatch(item)) or item.lower() in _NAV_WORDS_EN


def _nav_items_ok(items: list[str], max_item: int) -> bool:
    """Link labels: short, no quotes/code/title marks, mostly Chinese, mostly not numbers."""
    if not items or any(not it or len(it) > max_item or _NOT_LABEL.search(it) for it in items):
        return False
    han = sum(bool(_HAN_CHAR.search(it)) for it in items)
    digits = sum(bool(_DIGIT.search(it)) for it in items)
    return han * 2 >= len(items) and digits * 2 < len(items)


def _nav_words_share(items: list[str]) -> tuple[int, float]:
    k = sum(_is_nav_word(x) for x in items)
    return k, k / max(len(items), 1)


def nav_line(s: str) -> bool:
    """A navigation run on one line. Labels are at most 12 characters (8 when only spaces separate
    them), hold no quotes, code or title marks, are mostly Chinese and mostly not numbers:

    - >= 3 labels between bars (| ｜ ¦) or spaced dots (·); a labelled list (导航：, 友情链接：,
      标签：…) needs 2;
    - >= 2 bracketed labels (【打印】【关闭】);
    - >= 3 labels between spaced / or -, or between spaces, of which >= 3 (or >= 2 and half) are
      navigation words (首页, 关于我们, 联系我们, 网站地图…).

    A line that starts with a table rule (| │) or holds sentence punctuation is never a navigation run."""
    _, label_rx = _nav_tables()
    if s[:1] in "|│┃" or _SENT_PUNCT.search(s):
        return False
    m = label_rx.match(s)
    body = s[m.end():] if m else s
    if not body:
        return False
    if _BRACKET_RUN.match(body):
        items = [x.strip() for x in re.findall(r"[【\[]([^】\]]+)[】\]]", body)]
        return _nav_items_ok(items, 10)
    items = [x.strip() for x in _NAV_SEP.split(body)]
    if len(items) >= (2 if m else 3):
        return _nav_items_ok(items, 12)
    for items, max_item in (([x.strip() for x in _NAV_SEP_WEAK.split(body)], 12), (body.split(), 8)):
        if len(items) >= 2 and m:
            return _nav_items_ok(items, 12)
        if len(items) >= 3:
            k, share = _nav_words_share(items)
            if (k >= 3 or (k >= 2 and share >= 0.5)) and _nav_items_ok(items, max_item):
                return True
    # a channel bar: >= 4 space-separated channel names of <= 4 Han characters (新闻 体育 财经 …)
    # or single Latin words, one of them a navigation word (首页, 联系我们…)
    items = body.split()
    if (len(items) >= 4 and any(_is_nav_word(x) for x in items)
            and all(_is_nav_word(x) or _CHANNEL.fullmatch(x) for x in items) and _nav_items_ok(items, 8)):
        return True
    return False


def nav_item(s: str) -> bool:
    """One link label on its own line (a vertical menu): <= 8 characters, no punctuation."""
    return len(s) <= 8 and not re.search(r"[，。！？；：,.!?;:]", s) and not s.isdigit()


_HOME_ZH = "首页|网站首页|主页|返回首页"
_DETAIL_ZH = "正文|详情|内容|详细内容|文章详情|新闻详情|阅读文章|文章列表|列表|内容详情|阅读全文"
_CRUMB_PREFIX = (r"^[【\[]?(?:当前位置|您的位置|你的位置|您当前的位置|您现在的位置|你现在的位置|当前所在位置|所在位置|"
                 r"现在位置|位置|导航)\s*[:：]")
_CRUMB_SEP = re.compile(r"\s*(?:>>|>|＞|»|›|→|/|／|\\|-|—|::)\s*")


@functools.cache
def _crumb_tables() -> tuple[re.Pattern, re.Pattern, re.Pattern]:
    return (zh_words(_HOME_ZH + "|home"), zh_words(_DETAIL_ZH),
            re.compile(zh_regex(_CRUMB_PREFIX)))


def breadcrumb_line(s: str) -> bool:
    """A breadcrumb: 当前位置：/您的位置： followed by anything but a sentence, or >= 2 parts of at
    most 20 characters between > » › → / - separators that start at a home link (首页 > …) or end at
    an article placeholder (… > 正文)."""
    home, detail, prefix = _crumb_tables()
    if _SENT_PUNCT.search(s):
        return False
    if prefix.match(s):
        return True
    parts = [p.strip(" []【】") for p in _CRUMB_SEP.split(s)]
    if len(parts) < 2 or any(not p or len(p) > 20 for p in parts) or not _HAN_CHAR.search(s):
        return False
    return bool(home.fullmatch(parts[0]) or detail.fullmatch(parts[-1]))


_PAGE_TOKEN = re.compile(r"^(?:首页|尾页|末页|上一页|下一页|上页|下页|前页|后页|第?\d+页?|共\d+页|\d+/\d+|…+|\.{2,}|[«»<>‹›]+|"
                         r"跳转|到第|GO|go|确定)$")


@functools.cache
def _page_rx() -> re.Pattern:
    return re.compile(zh_regex(_PAGE_TOKEN.pattern))


def pagination_line(s: str) -> bool:
    """Page links: >= 3 tokens, all page tokens (numbers, 上一页, 下一页, 首页, 尾页, 共N页), at least
    one of them a word."""
    toks = s.replace("[", " ").replace("]", " ").split()
    rx = _page_rx()
    return len(toks) >= 3 and all(rx.match(t) for t in toks) and any(_HAN_CHAR.search(t) for t in toks)


_SHARE_TARGETS_ZH = ("微信|朋友圈|微信好友|微博|新浪微博|腾讯微博|QQ|QQ空间|QQ好友|豆瓣|人人网|开心网|百度贴吧|贴吧|知乎|"
                     "抖音|复制链接|更多|分享|收藏|打印|Facebook|Twitter|LinkedIn|WhatsApp|Telegram")


@functools.cache
def _share_targets() -> re.Pattern:
    return zh_words(_SHARE_TARGETS_ZH)


def share_targets_line(s: str) -> bool:
    """A row of share buttons: >= 3 tokens, all share targets (微信 微博 QQ空间 豆瓣 …)."""
    toks = [t for t in re.split(r"[\s|｜/、,，·]+", s.removeprefix("分享").strip(":： ")) if t]
    targets = _share_targets()
    return len(toks) >= 3 and all(targets.fullmatch(t) for t in toks)


_CONTACT_STRONG = (r"联系电话|客服电话|客服热线|服务热线|热线电话|咨询电话|咨询热线|投诉电话|投诉热线|举报电话|服务电话|"
                   r"销售热线|销售电话|订购热线|联系邮箱|投稿邮箱|客服邮箱|举报邮箱|商务合作|违法和不良信息举报|"
                   r"联系QQ|客服QQ|联系地址|公司地址|通讯地址|办公地址|总部地址|联系我们")
_CONTACT_WEAK = r"电话|手机|座机|传真|邮箱|电子邮箱|电子邮件|E-?mail|邮编|邮政编码|QQ群?|微信号?|联系人|网址|地址|Tel|Fax|Phone"
_FIELD_VALUE = r"\s*[:：]\s*[^\s:：]"
# A field label starts the line or follows a separator (space, bar, comma, bracket, bullet), so
# "网关的 IP 地址：" is not an address field.
_FIELD_START = r"(?:^|[\s|｜，,；;、【\[（(•·*])"


@functools.cache
def _contact_rx() -> tuple[re.Pattern, re.Pattern, re.Pattern]:
    strong = re.compile(zh_regex(f"{_FIELD_START}(?:{_CONTACT_STRONG}){_FIELD_VALUE}"), re.IGNORECASE)
    any_field = re.compile(zh_regex(f"{_FIELD_START}(?:{_CONTACT_STRONG}|{_CONTACT_WEAK}){_FIELD_VALUE}"),
                           re.IGNORECASE)
    first = re.compile(zh_regex(f"^[•·*\\-]?\\s*(?:{_CONTACT_STRONG}|{_CONTACT_WEAK}){_FIELD_VALUE}"), re.IGNORECASE)
    return strong, any_field, first


def contact_fields(s: str) -> tuple[int, int]:
    """(strong, all) labelled contact fields on a line (联系电话：…, 邮箱：…, 地址：…)."""
    strong, any_field, _ = _contact_rx()
    return len(strong.findall(s)), len(any_field.findall(s))


def contact_line(s: str) -> bool:
    """A contact footer line of a Chinese page: a strong contact field (客服热线：, 联系邮箱：…) or
    >= 2 contact fields, and no sentence (the line is fields, not prose about them)."""
    if not _HAN_CHAR.search(s):
        return False
    st, n = contact_fields(s)
    return (st >= 1 or n >= 2) and not reads_as_sentence(s)


def contact_field_line(s: str) -> bool:
    """A line that starts with one contact field (地址：…, 电话：…): furniture in a block of them."""
    return (len(s) <= 100 and bool(_contact_rx()[2].match(s)) and contact_fields(s)[1] == 1
            and bool(_HAN_CHAR.search(s)) and not reads_as_sentence(s))


_META_FIELDS = (r"发布时间|发布日期|发表时间|发表日期|发表于|发布于|更新时间|更新日期|日期|时间|作者|来源|出处|浏览|浏览次数|"
                r"浏览量|阅读|阅读量|阅读数|阅读次数|点击|点击数|点击量|点击率|人气|字号|字体|编辑|责任编辑|评论|评论数|分类|栏目|"
                r"所属栏目|所属分类|关键词|标签")


@functools.cache
def _meta_rx() -> re.Pattern:
    return re.compile(zh_regex(f"(?:^|[\\s|｜【\\[（(])(?:{_META_FIELDS})\\s*[:：]"))


def meta_line(s: str) -> bool:
    """Article metadata: >= 2 labelled fields (发布时间：, 来源：, 作者：, 浏览次数：…) on one line that
    is not a sentence, or a font-size switch (字号：大 中 小)."""
    if re.search(zh_regex(r"(?:字号|字体)\s*[:：]\s*[【\[]?大[】\]]?\s*[【\[]?中[】\]]?\s*[【\[]?小"), s):
        return True
    return len(_meta_rx().findall(s)) >= 2 and not reads_as_sentence(s)


def has_han(s: str) -> bool:
    return bool(_HAN_CHAR.search(s))


_COPYRIGHT_MARK = re.compile(r"(?i)©(?![\"'”’」)])|copyright\s*(?:©|\(c\)|(?:19|20)\d\d)|\(c\)\s*(?:19|20)\d\d")


def copyright_line(s: str) -> bool:
    """A Chinese copyright line: not a sentence, or a short one with a © / Copyright 2023 mark."""
    if not has_han(s):
        return False
    return not reads_as_sentence(s) or (_han_count(s) <= 40 and bool(_COPYRIGHT_MARK.search(s)))


_PREVNEXT_COLON = re.compile(r"^[【\[（(<«‹]?\s*\S{1,6}?\s*[】\]）)>»›]?\s*[:：]")


@functools.cache
def _prevnext_strong() -> re.Pattern:
    return re.compile(zh_regex(r"^[【\[（(<«‹]?\s*(?:上一篇|下一篇|上一页|下一页|前一篇|后一篇|上篇|下篇|上一章|下一章)"))


def prevnext_line(s: str) -> bool:
    """上一篇：<title> and 上一篇 <title> always (link labels); a weaker word (上一个, 下一条…) before a
    space only when the line is not a sentence (a manpage line "下一个 服务器, 直到 …" is)."""
    return bool(_PREVNEXT_COLON.match(s) or _prevnext_strong().match(s)) or not reads_as_sentence(s)


def cookie_line(s: str) -> bool:
    """English cookie/policy lines always; a Chinese line only when it is not a sentence, or it is a
    consent notice (继续浏览即表示您同意…, 接受cookie)."""
    if not _HAN_CHAR.search(s):
        return True
    if len(s) <= 40 and not reads_as_sentence(s):
        return True
    return bool(_consent_rx().search(s))


@functools.cache
def _consent_rx() -> re.Pattern:
    return re.compile(zh_regex(r"(?:继续|使用|浏览|访问).{0,12}(?:即|则|就)?(?:表示|视为|代表)(?:您)?(?:已)?(?:同意|接受)|"
                               r"(?:同意|接受).{0,4}cookie|使用cookie"), re.IGNORECASE)


_META_HINT = rf"(?:{_META_FIELDS})\s*[:：][^\n]{{0,140}}(?:{_META_FIELDS})\s*[:：]|(?:字号|字体)\s*[:：]"
_SEPS = r"(?:>>|>|＞|»|›|→|/|／|\\|-|—|::)"
_CRUMB_HINT = (rf"位置|导航|(?:{_HOME_ZH}|home)[\]】]?\s*{_SEPS}|{_SEPS}\s*[\[【]?(?:{_DETAIL_ZH})")

# (Patterns are tried in this order; the first that removes a line counts it.)
BOILERPLATE_PATTERNS: list[LinePattern] = [
    LinePattern(
        "zh_repost",
        r"^[【\[（(]?(?:本文)?(?:转载自|转自|文章转自|来源[:：]|文章来源|本文来源|消息来源|原文链接|原文地址|原文出处|"
        r"原标题[:：]|责任编辑[:：]|编辑[:：]|版权声明|本文经.{0,30}授权转载|本文(?:系|为|由).{0,20}转载|"
        r"未经(?:许可|授权).{0,12}(?:不得|禁止)转载|转载请注明|如需转载)",
        200,
    ),
    LinePattern(
        # ICP licence and public-security filing lines (京ICP备12345678号-1, 京公网安备 11010502030143号,
        # 增值电信业务经营许可证：京B2-…); a sentence about a licence is kept.
        "zh_icp",
        r"(?i)(?:[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]\s*ICP\s*[备证]\s*[:：]?\s*\d{5,}|"
        r"ICP\s*(?:备案|许可证|经营许可证|证)\s*(?:号|编号)?\s*[:：]|公网安备\s*[:：]?\s*\d{6,}|"
        r"(?:公安|网安)(?:机关|局)?(?:联网)?备案(?:号|编号)?\s*[:：]?\s*\d|网站备案(?:号|编号)?\s*[:：]|"
        r"(?:增值电信业务经营|网络文化经营|互联网新闻信息服务|信息网络传播视听节目|网络出版服务|广播电视节目制作经营|"
        r"互联网药品信息服务)许可证)",
        200,
        hint=r"ICP|公网安备|备案|许可证",
        keep_sentences=True,
    ),
    LinePattern(
        # Site disclaimers: a line that starts with the site or the article (本站, 本网, 本文, 文章,
        # 图片, 部分内容, 免责声明：…) and says what disclaimers say (来源于网络, 如有侵权, 联系删除,
        # 仅供参考, 不代表本站观点, 版权归原作者所有 …).
        "zh_disclaimer",
        r"^[【\[（(]?\s*(?:(?:免责|特别|郑重|法律|版权)?声明|温馨提示|提示|注|备注|说明)?\s*[:：】\]）)]?\s*"
        r"(?:本站|本网|本网站|本平台|本号|本公众号|本文|本页|本刊|本帖|文章|文中|图片|图文|部分(?:内容|图片|文章|资料|素材|信息)|"
        r"以上(?:内容|信息|文章)?|凡本网|凡注明|转载|内容|所有(?:内容|文章|资料)).{0,80}?"
        r"(?:如有侵权|若有侵权|如涉及侵权|侵权(?:请|必)?(?:联系|告知|删)|侵删|联系(?:我们|本站|本网|小编|作者|管理员)?(?:进行)?删除|"
        r"(?:来源|来自|源自|源于|转载自|取自|收集自|整理自)(?:于)?(?:互联)?网络|仅供(?:参考|学习|交流|个人学习|研究)|"
        r"不代表本(?:站|网|平台|号|刊|网站)|仅代表作者(?:个人|本人)?(?:观点|立场)|不(?:承担|负)(?:任何)?(?:法律)?责任|"
        r"版权归(?:原)?作者|版权归.{1,12}所有|转载(?:的)?目的在于传递|与本(?:站|网|平台)无关|不构成(?:任何)?投资建议)",
        300,
        hint=r"侵权|侵删|删除|网络|仅供|不代表|仅代表|责任|版权|传递|无关|投资建议|声明",
    ),
    LinePattern(
        # Copyright footers: © / Copyright / (c) 2023 anywhere, 版权所有 / 保留所有权利 at the start or
        # the end of the line or beside a year; Chinese lines only; a sentence is kept.
        "zh_copyright",
        r"(?i)(?:©(?![\"'”’」)])|copyright\s*(?:©|\(c\)|(?:19|20)\d\d)|\(c\)\s*(?:19|20)\d\d|"
        r"all rights reserved|^\s*(?:版权所有|保留所有权利|保留一切权利)\s*(?:$|[^\s(（])|"
        r"(?:版权所有|保留所有权利|保留一切权利)\s*[.。!！]?\s*$|(?:19|20)\d\d\s*[-–~至]?\s*(?:(?:19|20)\d\d)?\s*.{0,30}版权所有|"
        r"版权所有\s*[:：©]|版权所有\s*[|｜]|[|｜]\s*版权所有)",
        200,
        hint=r"©|copyright|\(c\)|all rights reserved|版权所有|保留所有权利|保留一切权利",
        shape=copyright_line,
    ),
    LinePattern("zh_breadcrumb", "", 120, hint=_CRUMB_HINT, shape=breadcrumb_line),
    LinePattern(
        # Previous / next links (上一篇：…, 下一页) and pagination rows (首页 上一页 1 2 3 下一页 尾页).
        "zh_prevnext",
        r"^[【\[（(<«‹]?\s*(?:上一篇|下一篇|上一页|下一页|上一章|下一章|上一节|下一节|上一条|下一条|上一个|下一个|前一篇|后一篇|"
        r"上篇|下篇|上一则|下一则|上一主题|下一主题|上一帖|下一帖|返回列表|返回目录)(?:文章|新闻|内容)?\s*[】\]）)>»›]?\s*(?:[:：]|$|\s)",
        120,
        hint=r"上一|下一|前一篇|后一篇|上篇|下篇|返回列表|返回目录|首页|尾页|末页",
        shape=prevnext_line,
    ),
    LinePattern("zh_pagination", "", 120, hint=r"[上下前后首尾末]页|[第共]\d+页|跳转|到第", shape=pagination_line),
    LinePattern(
        # Share / QR / follow footers: the call to action starts the line (扫一扫关注, 扫描二维码,
        # 长按识别二维码, 关注微信公众号, 分享到：, 设为首页 | 加入收藏 …), or a row of share targets.
        "zh_share",
        r"^[【\[（(]?\s*(?:请|欢迎|敬请|可|可以|您可以|点击|手机|用手机|用微信|打开微信|微信|更多精彩[，,]?\s*请?)?\s*"
        r"(?:(?:扫一扫|扫码|扫描.{0,6}二维码|长按.{0,6}二维码|识别.{0,4}二维码)(?:.{0,8}(?:关注|下载|加入|添加|进群|领取|阅读|"
        r"查看|观看|收听|订阅|获取|了解|分享|咨询|报名|访问|打开)|\s*$|[，,:：\s])|"
        r"关注(?:我们的?)?(?:官方)?(?:微信)?(?:公众号|公众平台|官方微信|官方微博|微博|抖音号|视频号)|"
        r"分享到|分享至|一键分享|分享给(?:好友|朋友)|转发到|设为首页|加入收藏|收藏本站|收藏本页|官方微信|官方微博|微信公众号|"
        r"手机版|手机访问|移动端访问|下载(?:客户端|APP|App|app))",
        80,
        hint=r"扫一扫|扫码|二维码|关注|分享|转发|设为首页|加入收藏|收藏本|官方微信|官方微博|公众号|手机版|手机访问|移动端|客户端|APP",
    ),
    LinePattern("zh_share", "", 80, hint=_SHARE_TARGETS_ZH, shape=share_targets_line),
    LinePattern("zh_nav", "", 160,
                hint=(r"[|｜¦][^\n]{0,40}[|｜¦]|\s[·•・]\s|[】\]][ \t]*[【\[]|"
                      r"(?:导航|友情链接|合作伙伴|合作媒体|标签|热门搜索|热搜|关键词|tags?)\s*[:：]|"
                      + _NAV_WORDS_ZH + "|" + "|".join(sorted(_NAV_WORDS_EN))),
                shape=nav_line),
    LinePattern("zh_contact", "", 160,
                hint=r"(?i)(?:" + _CONTACT_STRONG + "|" + _CONTACT_WEAK + r")\s*[:：]", shape=contact_line),
    LinePattern("zh_meta", "", 150, hint=_META_HINT, shape=meta_line),
    LinePattern(
        # Other page widgets, at the start of a short line (相关推荐, 猜你喜欢, 打赏, 点击关注, 阅读原文…).
        "zh_widget",
        r"^[【\[（(]?\s*(?:相关推荐|相关阅读|相关文章|相关新闻|相关链接|猜你喜欢|延伸阅读|热门推荐|热门文章|热点推荐|为你推荐|"
        r"推荐阅读|精彩推荐|打赏|赞赏|点击关注|关注我们|点赞|在看|阅读原文|返回顶部|返回首页|收藏本文|我要评论|发表评论|网友评论|"
        r"查看评论|评论[（(]\d+[)）]|阅读[（(]\d+[)）]|公众号[:：])",
        30,
    ),
    LinePattern(
        "en_widget",
        r"(?i)^(?:share (?:this|on|via)|tweet(?: this)?$|pin it$|follow us|subscribe(?: to| now|$)|"
        r"sign up for (?:our|the) newsletter|click here to|read more$|related (?:posts|articles|stories)|"
        r"advertisement$|skip to (?:main )?content|back to top|print this|email this|leave a (?:comment|reply))",
        80,
        zh=False,
    ),
    LinePattern(
        "cookie",
        r"(?i)(?:this (?:web)?site uses cookies|we use cookies|use of cookies|cookies? (?:policy|settings|preferences)|"
        r"accept (?:all )?cookies|by (?:continuing|using) (?:to (?:use|browse) )?(?:this|our) (?:web)?site|"
        r"privacy policy|terms of (?:use|service)|all rights reserved|隐私政策|隐私条款|使用条款|服务条款|用户协议|"
        r"本站使用cookie|接受cookie|使用cookie)",
        300,
        shape=cookie_line,
        han_lines=False,
    ),
]
PATTERN_NAMES = [p.name for p in BOILERPLATE_PATTERNS]
# Line kinds that are furniture only in a run (a vertical menu, a block of contact fields).
RUN_PATTERNS = {"zh_nav": "vertical menus: >= 3 consecutive one-label lines, >= 2 of them navigation words",
                "zh_contact": "contact blocks: >= 2 consecutive lines of one contact field (地址：…, 电话：…)"}
_CONTACT_HEADINGS_ZH = "(?:联系我们|联系方式|联系信息)[:：]?"


@functools.cache
def _contact_headings() -> re.Pattern:
    return zh_words(_CONTACT_HEADINGS_ZH)


@functools.cache
def _bare_prevnext() -> re.Pattern:
    return re.compile(zh_regex(r"^[【\[（(<«‹]?\s*(?:上一篇|下一篇|上一页|下一页|上一章|下一章|上一节|下一节|上一条|"
                                     r"下一条|上一个|下一个|上篇|下篇)\s*[】\]）)>»›:：]?$"))


def keep_bare_prevnext(stripped: list[str], hit: list[str | None]) -> None:
    """A bare 上一页 / 下一篇 line (no title after it) followed by its description is a heading (a
    help page describing the 上一页 button), not a link: it stays. A description is a line that reads
    as a sentence, ends with 。 or ".", or names the same button (上一页 -> 切换到上一页)."""
    for i, s in enumerate(stripped):
        if hit[i] != "zh_prevnext" or not _bare_prevnext().match(s):
            continue
        j = i + 1
        while j < len(stripped) and not stripped[j]:
            j += 1
        if j == len(stripped) or hit[j] is not None:
            continue
        nxt = stripped[j]
        word = s.strip("【[（(<«‹】]）)>»›:： ")
        if reads_as_sentence(nxt) or (len(nxt) >= 8 and nxt.endswith(("。", "."))) or word in nxt:
            hit[i] = None


SMALL_BATCH = 16  # fewer documents than this: boilerplate hints are tested in Python


@functools.cache
def compiled_patterns() -> tuple[CompiledPattern, ...]:
    """The boilerplate patterns with their Traditional spellings, compiled once per process."""
    return tuple(p.compile() for p in BOILERPLATE_PATTERNS)


def mark_runs(stripped: list[str], hit: list[str | None], kinds: set[str]) -> None:
    """Mark (in ``hit``) the lines that are furniture only as part of a run: a vertical menu (>= 3
    consecutive one-label lines, >= 2 of them navigation words) and a contact block (>= 2
    consecutive contact lines, one field each, with a 联系我们 / 联系方式 heading just above it).
    Blank lines and lines another pattern removed do not break a run."""

    def kind(s: str) -> str | None:
        if "zh_contact" in kinds and contact_field_line(s):
            return "zh_contact"
        if "zh_nav" in kinds and nav_item(s):
            return "zh_nav"
        return None

    def close(k: str | None, members: list[int], extra: int, start: int) -> None:
        if k == "zh_nav":
            if (len(members) >= 3 and sum(_is_nav_word(stripped[i]) for i in members) >= 2
                    and 2 * sum(bool(_HAN_CHAR.search(stripped[i])) for i in members) >= len(members)):
                for i in members:
                    hit[i] = "zh_nav"
        elif k == "zh_contact" and len(members) + extra >= 2:
            for i in members:
                hit[i] = "zh_contact"
            before = start - 1
            while before >= 0 and not stripped[before]:
                before -= 1
            if before >= 0 and hit[before] is None and _contact_headings().fullmatch(stripped[before]):
                hit[before] = "zh_contact"

    cur: str | None = None
    members: list[int] = []
    extra = 0  # lines of the run a pattern already removed as contact lines
    start = 0
    for i, s in enumerate(stripped):
        if not s:
            continue
        if hit[i] is not None:
            if cur == "zh_contact" and hit[i] == "zh_contact":
                extra += 1
            elif hit[i] == "zh_contact" and cur is None:
                cur, members, extra, start = "zh_contact", [], 1, i
            continue
        k = kind(s)
        if k != cur:
            close(cur, members, extra, start)
            cur, members, extra, start = k, [], 0, i
        if k is not None:
            members.append(i)
    close(cur, members, extra, start)


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
REFERENCES_RE2 = "(?im)" + _REFERENCES_RE.pattern
# What the code path removes: C0 controls but tab, newline and form feed; DEL; BOMs.
CODE_CONTROL_RE2 = r"[\x{00}-\x{08}\x{0b}\x{0e}-\x{1f}\x{7f}\x{feff}]"


class Normalizer(Operator):
    """Unicode repair, safe NFKC, control characters, whitespace and boilerplate lines; see module doc."""

    name = "normalize"
    version = "3"  # 2: Chinese page furniture patterns (...), sentence guards; 3: the kind column, code kept intact
    metrics = {
        "normalize/code_docs": "documents of kind code (normalized by the code path)",
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
        detect_code: bool = True,
        min_code_share: float = 0.5,
        min_code_lines: int = 3,
    ):
        # Code detection (docs/code.md): hints in meta, else the rules detector; False: all prose.
        self.detect_code = detect_code
        self.detector = CodeDetector(min_code_share=min_code_share, min_code_lines=min_code_lines)
        if nfkc not in ("safe", "full", "none"):
            raise ValueError(f"nfkc must be 'safe', 'full' or 'none', got {nfkc!r}")
        known = set(PATTERN_NAMES)
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
        self._patterns = [p for p in compiled_patterns() if p.name not in self.disable_patterns]
        # RE2 prefilters for a whole batch: Chinese patterns only look at documents with Han characters.
        zh_hints = [p.hint for p in self._patterns if p.zh]
        other_hints = [p.hint for p in self._patterns if not p.zh]
        self._hint_zh_re2 = "(?i)" + "|".join(f"(?:{h})" for h in zh_hints) if zh_hints else ""
        self._hint_re2 = "(?i)" + "|".join(f"(?:{h})" for h in other_hints) if other_hints else ""
        self._runs = {k for k in RUN_PATTERNS if k not in self.disable_patterns}
        # Run pre-checks (RE2, all lines of a batch at once): a vertical menu needs two lines that are
        # one navigation word each, a contact block a line the zh_contact hint matches. A document
        # with neither, and no hinted line, is left as it is without a Python pass over its lines.
        self._nav_word_re2 = ("(?i)^[\\s\\p{Z}]*(?:" + zh_regex(_NAV_WORDS_ZH) + "|" + "|".join(sorted(_NAV_WORDS_EN))
                              + ")[\\s\\p{Z}]*$")
        self._contact_k = next((k for k, p in enumerate(self._patterns) if p.name == "zh_contact"), None)

    def output_fields(self) -> list[pa.Field]:
        return [S.category_field(S.KIND)]

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
                texts = self._remove_boilerplate_lines(texts, m)
        if self.remove_references:
            texts, _ = fix_some(texts, REFERENCES_RE2, lambda t: self._remove_references(t, m))
        texts = pc.replace_substring_regex(texts, r"[ \t]+(\n|$)", r"\1")
        if self.collapse_spaces:
            texts = pc.replace_substring_regex(texts, r"([^ \t\n])(?:[ \t]{2,}|\t)", r"\1 ")
        texts = pc.replace_substring_regex(texts, "\n{" + str(self.max_blank_lines + 2) + ",}",
                                           "\n" * (self.max_blank_lines + 1))
        return pc.utf8_trim_whitespace(texts)

    def _remove_boilerplate_lines(self, texts: pa.Array, m: dict[str, float]) -> pa.Array:
        """Boilerplate lines out of a batch. RE2 (pyarrow) finds the documents that may hold such a
        line, then tests every pattern's hint on every line of those at once; Python confirms only
        the (line, pattern) pairs a hint matched. Other documents stay as they are."""

        def mask(arr: pa.Array, pattern: str) -> np.ndarray:
            return np.asarray(pc.match_substring_regex(arr, pattern).to_numpy(zero_copy_only=False), bool)

        if len(texts) < SMALL_BATCH:
            # A few documents: compiling the RE2 hints would cost more than testing lines in Python.
            vals = texts.to_pylist()
            return pa.array([self._remove_lines_py(t, m) for t in vals], pa.string())
        todo = mask(texts, self._hint_re2) if self._hint_re2 else np.zeros(len(texts), bool)
        if self._hint_zh_re2:
            han = mask(texts, HAN_RE2)
            if han.any():
                sub = np.nonzero(han)[0]
                todo[sub] |= mask(texts.take(pa.array(sub)), self._hint_zh_re2)
        if not todo.any():
            return texts
        idx = np.nonzero(todo)[0]
        lists = pc.split_pattern(texts.take(pa.array(idx)), "\n")
        offsets = np.asarray(lists.offsets.to_numpy(zero_copy_only=False), np.int64)
        lines = lists.flatten()
        han_line = mask(lines, HAN_RE2)
        hinted = np.zeros((len(self._patterns), len(lines)), bool)
        for k, p in enumerate(self._patterns):
            sel = han_line if p.zh else np.ones(len(lines), bool)
            if sel.any():
                sub = np.nonzero(sel)[0]
                hinted[k, sub] = mask(lines.take(pa.array(sub)), "(?i)" + p.hint)
        # Per document: any hinted line, and which runs (mark_runs) it may hold.
        any_hint = np.add.reduceat(hinted.any(axis=0), offsets[:-1]) if len(lines) else np.zeros(len(idx), int)
        nav_words = (np.add.reduceat(mask(lines, self._nav_word_re2), offsets[:-1])
                     if "zh_nav" in self._runs and len(lines) else np.zeros(len(idx), int))
        contact = (np.add.reduceat(hinted[self._contact_k], offsets[:-1])
                   if "zh_contact" in self._runs and self._contact_k is not None and len(lines)
                   else np.zeros(len(idx), int))
        empty_doc = offsets[1:] == offsets[:-1]  # reduceat gives the next row's value for an empty slice
        vals = texts.to_pylist()
        line_vals = lines.to_pylist()
        for j, i in enumerate(idx):
            if empty_doc[j]:
                continue
            runs = {k for k, ok in (("zh_nav", nav_words[j] >= 2), ("zh_contact", contact[j] > 0)) if ok}
            if not any_hint[j] and not runs:
                continue  # nothing a pattern could remove
            a, b = offsets[j], offsets[j + 1]
            vals[i] = self._remove_lines(line_vals[a:b], hinted[:, a:b], m, runs)
        return pa.array(vals, pa.string())

    def _remove_lines(self, lines: list[str], hinted: np.ndarray, m: dict[str, float],
                      runs: set[str] | None = None) -> str:
        """One document's lines without its boilerplate lines; ``hinted[k, i]``: pattern k's hint
        matches line i (a necessary condition); ``runs``: the run kinds to look for (default: all)."""
        stripped = [line.strip() for line in lines]
        hit: list[str | None] = [None] * len(lines)
        for i in np.nonzero(hinted.any(axis=0))[0]:
            s = stripped[i]
            if s:
                hit[i] = next((p.name for k, p in enumerate(self._patterns) if hinted[k, i] and p.confirm(s)), None)
        runs = self._runs if runs is None else runs
        if runs:
            mark_runs(stripped, hit, runs)
        keep_bare_prevnext(stripped, hit)
        out = []
        for line, name in zip(lines, hit):
            if name is None:
                out.append(line)
            else:
                key = f"removed_lines/{name}"
                m[key] = m.get(key, 0.0) + 1
        return "\n".join(out)

    def _remove_lines_py(self, text: str, m: dict[str, float]) -> str:
        """``_remove_lines`` with the hints tested in Python, line by line (for a few documents)."""
        lines = text.split("\n")
        hinted = np.zeros((len(self._patterns), len(lines)), bool)
        for i, line in enumerate(lines):
            s = line.strip()
            if s:
                han = _HAN_CHAR.search(s) is not None
                for k, p in enumerate(self._patterns):
                    hinted[k, i] = (han or not p.zh) and (p.hint_rx is None or p.hint_rx.search(s) is not None)
        return self._remove_lines(lines, hinted, m)

    def remove_lines(self, text: str, m: dict[str, float]) -> str:
        """Boilerplate lines out of one text (counted in ``m``)."""
        return self._remove_boilerplate_lines(pa.array([text], pa.string()), m)[0].as_py()

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

    def normalize_code_array(self, texts: pa.Array) -> pa.Array:
        """Code documents (no nulls): line ends, control characters, trailing spaces and leading
        blank lines; nothing else changes (module docstring)."""
        texts = pc.replace_substring_regex(texts, r"\r\n?", "\n")
        texts = pc.replace_substring_regex(texts, CODE_CONTROL_RE2, "")
        texts = pc.replace_substring_regex(texts, r"[ \t]+(\n|$)", r"\1")
        texts = pc.replace_substring_regex(texts, r"^\n+", "")
        return pc.utf8_rtrim_whitespace(texts)

    def process(self, batch: pa.RecordBatch) -> BatchResult:
        col = batch.column(S.TEXT)
        original = pc.fill_null(col, "") if col.null_count else col
        m: dict[str, float] = {}
        # The code path is chosen first: code documents never see the prose steps.
        meta = batch.column(S.META) if S.META in batch.schema.names else None
        kinds = kinds_of(original, meta, self.detector) if self.detect_code else [S.KIND_PROSE] * len(original)
        code = np.array([k == S.KIND_CODE for k in kinds], dtype=bool)
        if code.any():
            m["normalize/code_docs"] = float(code.sum())
            order = np.concatenate([np.nonzero(~code)[0], np.nonzero(code)[0]])
            parts = [self.normalize_array(original.filter(pa.array(~code)), m),
                     self.normalize_code_array(original.filter(pa.array(code)))]
            out = pa.concat_arrays(parts).take(pa.array(np.argsort(order, kind="stable")))
        else:
            out = self.normalize_array(original, m)
        batch = append_columns(batch, {S.KIND: pa.array(kinds, pa.string())})
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
