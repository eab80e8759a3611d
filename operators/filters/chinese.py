"""Chinese rules that do not assume spaces between words.

There is no published Chinese equivalent of the Gopher/C4 defaults; the thresholds below were
chosen by measuring the Chinese texts in ``../shared/corpora`` (news, handbooks, help pages,
manpages, poetry) so that clean prose passes with a margin, and are documented in docs/filters.md.
Statistics are computed per batch with pyarrow/numpy; word segmentation is the one per-document
step. Without HMM (the default) it runs on ``rjieba``, the Rust port of jieba (jieba-rs) with jieba's
own dictionary: the same words, about 7x less CPU (bench/bench_filters_zh.py, tests/test_filters_zh.py
checks the words are identical); with ``jieba_hmm=True`` it runs on jieba itself, whose HMM for
unknown words is the reference. Either loads once per worker, in ``setup()``.
"""

from __future__ import annotations

import logging
import re
import threading

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contract.textstats import (
    DEFAULT_SIMPLIFIED_VIEW,
    HAN_RE2,
    URL_RE2,
    Segments,
    count_re,
    han_variant_classes,
    lengths,
    ngram_repetition,
    safe_div,
    simplified_view,
    split_lines,
)
from operators.filters.base import Check, Decision, RuleFilter, check_simplified_view
from operators.filters.gopher import (
    DEFAULT_DUP_NGRAMS,
    DEFAULT_TOP_NGRAMS,
    GopherRepetition,
    _pairs,
    repetition_checks,
)

_JIEBA = None
_JIEBA_LOCK = threading.Lock()
_SEG_CACHE: dict[tuple[str, int, bool], list[str]] = {}
_SEG_CACHE_MAX = 4096


def get_jieba():
    """jieba with its dictionary loaded, once per process (logging set to WARNING)."""
    global _JIEBA
    if _JIEBA is None:
        with _JIEBA_LOCK:
            if _JIEBA is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                logging.getLogger("jieba").setLevel(logging.WARNING)
                jieba.initialize()
                _JIEBA = jieba
    return _JIEBA


# Han runs go to jieba; everything else is split here (jieba walks Latin text one character at a
# time, which made mixed technical documents 3x slower than needed).
_HAN_PY = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_PY = re.compile(rf"([{_HAN_PY}]+)|[A-Za-z0-9_]+|[^\sA-Za-z0-9_{_HAN_PY}]")


def han_cutter(hmm: bool):
    """The function that cuts one run of Han characters into words: rjieba without HMM (jieba's
    dictionary, in Rust), jieba itself with HMM."""
    if not hmm:
        import rjieba

        return lambda run: rjieba.cut(run, False)
    cut = get_jieba().dt.cut
    return lambda run: cut(run, HMM=True)


def segment_one(text: str, hmm: bool) -> list[str]:
    cut = han_cutter(hmm)
    out: list[str] = []
    for m in _TOKEN_PY.finditer(text):
        if m.group(1):
            out.extend(cut(m.group(1)))
        else:
            out.append(m.group())
    return out


def segment(texts: list[str], max_chars: int, hmm: bool) -> list[list[str]]:
    """Words of every text (its first ``max_chars`` characters): jieba words for Han runs, Latin
    words/numbers and single punctuation marks otherwise. A small per-process cache lets the quality
    and repetition filters share one segmentation."""
    out = []
    for t in texts:
        key = (t, max_chars, hmm)
        words = _SEG_CACHE.get(key)
        if words is None:
            words = segment_one(t[:max_chars], hmm)
            if len(_SEG_CACHE) >= _SEG_CACHE_MAX:
                _SEG_CACHE.clear()
            _SEG_CACHE[key] = words
        out.append(words)
    return out


def word_segments(texts: pa.Array, max_chars: int, hmm: bool, view: str | None = DEFAULT_SIMPLIFIED_VIEW) -> Segments:
    """jieba words of every text; a text with Traditional-only characters is segmented in its
    Simplified view (OpenCC ``view``): jieba's dictionary is Simplified and cuts Traditional text into
    single characters (現/代/作/業/系/統). RuleFilter.process already hands the Chinese rules the view;
    this covers direct calls (``ChineseQuality.stats``)."""
    if view:
        texts = pc.utf8_slice_codeunits(texts, 0, max_chars)  # convert only what jieba reads
        trad = count_re(texts, han_variant_classes()[0])
        texts = simplified_view(texts, trad, view)
    words = segment(texts.to_pylist(), max_chars, hmm)
    counts = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
    flat = pa.array([w for ws in words for w in ws], pa.string())
    return Segments.from_parts(flat, counts)


# Line endings that count as terminal punctuation (full-width and ASCII), closing quotes allowed.
ZH_TERMINAL_RE2 = r"[。！？!?…；;.：:」』”’\"）)]$"
# Bullets / enumerators that start a list item.
ZH_BULLET_RE2 = (r"^\s*(?:[•·●○■□◆◇▪▶►\-*]|[0-9]{1,3}[.、)）]|[（(][0-9一二三四五六七八九十]{1,3}[)）]|[①-⑳]|"
                 r"[一二三四五六七八九十]{1,3}、)")
ZH_TABLE_LINE_RE2 = r"(?:[|｜│┃].*){2,}|^[┌├└┏┣┗╔╠╚+]|\t.*\t|\S {3,}\S.* {3,}\S"
# Box-drawing characters (text-rendered tables): not counted as symbols.
BOX_RE2 = r"[\x{2500}-\x{257F}]"
WHITESPACE_CODEPOINTS = np.array([9, 10, 11, 12, 13, 32, 0x85, 0xA0, 0x3000, 0x2028, 0x2029, 0xFEFF], np.uint32)


class ChineseQuality(RuleFilter):
    """Chinese document quality. Reasons (in this order), with the measured statistic as detail:

    - ``zh_short_doc`` / ``zh_long_doc``: non-space characters outside ``min_chars``..``max_chars`` (50..500000)
    - ``zh_high_digit_ratio``: digits / non-space characters > ``max_digit_ratio`` (0.3)
    - ``zh_high_symbol_ratio``: Unicode symbols (\\p{S}: emoji, ★, →, currency; box drawing and | excepted)
      / non-space characters > ``max_symbol_ratio`` (0.1)
    - ``zh_url_density``: characters inside URLs / characters > ``max_url_char_ratio`` (0.2)
    - ``zh_low_cjk_ratio``: Han characters / letters of any script < ``min_cjk_ratio`` (0.2)
    - ``zh_low_terminal_punct``: non-empty lines ending in terminal punctuation (。！？… and ASCII
      .!?) < ``min_terminal_punct_ratio`` (0.1) of lines
    - ``zh_table_page``: lines that look like table rows (|, tabs, aligned columns) >= ``max_table_lines_ratio`` (0.5)
    - ``zh_list_page``: list-item lines (bullets, enumerators) > ``max_bullet_lines_ratio`` (0.9), or short
      lines (<= ``short_line_chars``, 15) without terminal punctuation >= ``max_short_lines_ratio`` (0.67)
      of at least ``min_lines_for_page_rules`` (5) lines
    - ``zh_low_avg_word_length`` / ``zh_high_avg_word_length``: mean Han characters per jieba word
      containing Han outside ``min_avg_word_length``..``max_avg_word_length`` (1.2..4.0); garbled or
      random-character text segments into single characters. Checked last, and jieba runs only on
      the documents that passed every other rule (it is the costly part).

    Traditional Chinese is judged through its Simplified view (``simplified_view``: OpenCC ``tw2sp``,
    characters and Taiwan vocabulary, 軟體 -> 软件; ``t2s``: characters and a few phrases; None: the
    original text), so a zh-TW paragraph gets the decision of its zh-CN twin; ``convert_traditional``
    (off) makes kept Traditional documents leave the filter in Simplified (the view's text; later
    rules then see, and a row they reject keeps, the Simplified text: zh_repetition, last in the
    presets, takes the same option). The ``script`` column (Hans / Hant) is added by every Chinese rule.
    """

    name = "zh_quality"
    version = "2"  # 2: Traditional Chinese judged through its Simplified view
    default_languages = ("zh",)
    # Only jieba's statistics depend on the script: the view is made in ``_word_stats``, for the
    # documents that passed every cheaper rule and only for the characters jieba reads.
    view_in_decide = True

    def __init__(
        self,
        min_chars: int | None = 50,
        max_chars: int | None = 500_000,
        min_cjk_ratio: float | None = 0.2,
        max_digit_ratio: float | None = 0.3,
        max_symbol_ratio: float | None = 0.1,
        max_url_char_ratio: float | None = 0.2,
        min_avg_word_length: float | None = 1.2,
        max_avg_word_length: float | None = 4.0,
        min_terminal_punct_ratio: float | None = 0.1,
        max_table_lines_ratio: float | None = 0.5,
        max_bullet_lines_ratio: float | None = 0.9,
        max_short_lines_ratio: float | None = 0.67,
        short_line_chars: int = 15,
        min_lines_for_page_rules: int = 5,
        jieba_max_chars: int = 5_000,
        jieba_hmm: bool = False,
        simplified_view: str | None = DEFAULT_SIMPLIFIED_VIEW,
        convert_traditional: bool = False,
        languages: list[str] | None = None,
    ):
        super().__init__(languages)
        self.simplified_view = check_simplified_view(simplified_view)
        self.convert_traditional = convert_traditional
        self.min_chars = min_chars
        self.max_chars = max_chars
        self.min_cjk_ratio = min_cjk_ratio
        self.max_digit_ratio = max_digit_ratio
        self.max_symbol_ratio = max_symbol_ratio
        self.max_url_char_ratio = max_url_char_ratio
        self.min_avg_word_length = min_avg_word_length
        self.max_avg_word_length = max_avg_word_length
        self.min_terminal_punct_ratio = min_terminal_punct_ratio
        self.max_table_lines_ratio = max_table_lines_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_short_lines_ratio = max_short_lines_ratio
        self.short_line_chars = short_line_chars
        self.min_lines_for_page_rules = min_lines_for_page_rules
        self.jieba_max_chars = jieba_max_chars
        self.jieba_hmm = jieba_hmm

    def setup(self) -> None:
        if self.min_avg_word_length is not None or self.max_avg_word_length is not None:
            han_cutter(self.jieba_hmm)("中文")  # load the dictionary now, not in the first batch

    def stats(self, texts: pa.Array, segment_mask: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The measured statistics (one array per name), kept separate from the decisions. jieba
        statistics are computed for the documents in ``segment_mask`` only (default: all)."""
        nonspace = count_re(texts, r"\S").astype(np.float64)
        han = count_re(texts, HAN_RE2)
        box = count_re(texts, BOX_RE2)
        st = {
            "chars": nonspace,
            "cjk_ratio": safe_div(han, count_re(texts, r"\pL")),
            "digit_ratio": safe_div(count_re(texts, r"[0-9０-９]"), nonspace),
            "symbol_ratio": safe_div(count_re(texts, r"\p{S}") - box - count_re(texts, r"[|｜]"), nonspace),
        }
        total = lengths(texts)
        no_url = lengths(pc.replace_substring_regex(texts, URL_RE2, ""))
        st["url_char_ratio"] = safe_div(total - no_url, total)
        lines = split_lines(texts)
        stripped = pc.utf8_trim_whitespace(lines.values)
        llen = lengths(stripped)
        ne = llen > 0
        n_lines = lines.sum(ne)

        def m(pattern: str) -> np.ndarray:
            return np.asarray(pc.match_substring_regex(stripped, pattern).to_numpy(zero_copy_only=False), bool)

        term = m(ZH_TERMINAL_RE2) & ne
        st["terminal_punct_ratio"] = safe_div(lines.sum(term), n_lines)
        st["table_lines_ratio"] = safe_div(lines.sum(m(ZH_TABLE_LINE_RE2) & ne), n_lines)
        st["bullet_lines_ratio"] = safe_div(lines.sum(m(ZH_BULLET_RE2) & ne), n_lines)
        short = ne & (llen <= self.short_line_chars) & ~term
        st["short_lines_ratio"] = safe_div(lines.sum(short), n_lines)
        st["lines"] = n_lines
        if self.min_avg_word_length is not None or self.max_avg_word_length is not None:
            sel = np.ones(len(texts), bool) if segment_mask is None else segment_mask
            st.update(self._word_stats(texts, sel))
        return st

    def decide(self, batch: pa.RecordBatch, texts: pa.Array) -> Decision:
        # jieba (the costly part) only runs on documents that pass every cheaper rule
        st = self.stats(texts, segment_mask=np.zeros(len(texts), bool))
        cheap = self._checks(st, with_words=False)
        failed = np.zeros(len(texts), bool)
        for chk in cheap:
            failed |= chk.fail
        if (self.min_avg_word_length is not None or self.max_avg_word_length is not None) and (~failed).any():
            st.update(self._word_stats(texts, ~failed))
        return Decision(self._checks(st, with_words=True))

    def checks_all(self, texts: pa.Array) -> list[Check]:
        """Every rule on every document, jieba included (``decide`` segments only the documents that
        passed the cheaper rules), for ``winnow calibrate``: the word-length statistics are NaN
        where a document has no Chinese words (those rules do not apply to it)."""
        st = self.stats(texts)
        checks = self._checks(st, with_words=True)
        none = st["zh_words"] <= 0
        return [Check(c.reason, c.fail, np.where(none, np.nan, c.stat)) if c.reason.endswith("_avg_word_length")
                else c for c in checks]

    def _word_stats(self, texts: pa.Array, sel: np.ndarray) -> dict[str, np.ndarray]:
        n = len(texts)
        out = {"avg_word_length": np.zeros(n), "zh_words": np.zeros(n)}
        if not sel.any():
            return out
        sub = texts if sel.all() else texts.filter(pa.array(sel))
        words = word_segments(sub, self.jieba_max_chars, self.jieba_hmm, self.simplified_view)
        whan = count_re(words.values, HAN_RE2) if len(words.values) else np.zeros(0, np.int64)
        is_zh = whan > 0
        out["avg_word_length"][sel] = safe_div(words.sum(whan), words.sum(is_zh))
        out["zh_words"][sel] = words.sum(is_zh)
        return out

    def _checks(self, st: dict[str, np.ndarray], with_words: bool) -> list[Check]:
        c: list[Check] = []
        if self.min_chars is not None:
            c.append(Check("zh_short_doc", st["chars"] < self.min_chars, st["chars"]))
        if self.max_chars is not None:
            c.append(Check("zh_long_doc", st["chars"] > self.max_chars, st["chars"]))
        if self.max_digit_ratio is not None:
            c.append(Check("zh_high_digit_ratio", st["digit_ratio"] > self.max_digit_ratio, st["digit_ratio"]))
        if self.max_symbol_ratio is not None:
            c.append(Check("zh_high_symbol_ratio", st["symbol_ratio"] > self.max_symbol_ratio, st["symbol_ratio"]))
        if self.max_url_char_ratio is not None:
            c.append(Check("zh_url_density", st["url_char_ratio"] > self.max_url_char_ratio, st["url_char_ratio"]))
        if self.min_cjk_ratio is not None:
            c.append(Check("zh_low_cjk_ratio", st["cjk_ratio"] < self.min_cjk_ratio, st["cjk_ratio"]))
        if self.min_terminal_punct_ratio is not None:
            r = st["terminal_punct_ratio"]
            c.append(Check("zh_low_terminal_punct", r < self.min_terminal_punct_ratio, r))
        enough = st["lines"] >= self.min_lines_for_page_rules
        if self.max_table_lines_ratio is not None:
            r = st["table_lines_ratio"]
            c.append(Check("zh_table_page", enough & (r >= self.max_table_lines_ratio), r))
        if self.max_bullet_lines_ratio is not None:
            r = st["bullet_lines_ratio"]
            c.append(Check("zh_list_page", enough & (r > self.max_bullet_lines_ratio), r))
        if self.max_short_lines_ratio is not None:
            r = st["short_lines_ratio"]
            c.append(Check("zh_list_page", enough & (r >= self.max_short_lines_ratio), r))
        if with_words and "avg_word_length" in st:
            awl, has = st["avg_word_length"], st["zh_words"] > 0
            if self.min_avg_word_length is not None:
                c.append(Check("zh_low_avg_word_length", has & (awl < self.min_avg_word_length), awl))
            if self.max_avg_word_length is not None:
                c.append(Check("zh_high_avg_word_length", has & (awl > self.max_avg_word_length), awl))
        return c


class ChineseRepetition(GopherRepetition):
    """Repetition measured without spaces. Reasons (in this order):

    - ``zh_dup_para_frac`` / ``zh_dup_para_char_frac`` / ``zh_dup_line_frac`` / ``zh_dup_line_char_frac``:
      as Gopher (0.3 / 0.2 / 0.3 / 0.2)
    - ``zh_top_{n}_gram`` / ``zh_dup_{n}_gram``: Gopher's n-gram rules on jieba words (punctuation
      tokens dropped) with Gopher's thresholds: top 2/3/4-grams 0.20/0.18/0.16, duplicated 5..10-grams
      0.15..0.10
    - ``zh_dup_char_{n}_gram``: characters inside repeated character n-grams (whitespace removed)
      > threshold, default n=10 at 0.3 (``char_dup_n_grams``)

    Traditional Chinese is measured in its Simplified view (``simplified_view``, as zh_quality);
    ``convert_traditional`` as zh_quality's. Set it on the last Chinese rule of a chain (zh_repetition
    in the zh and mixed presets): a document a later rule rejects keeps its original text then.
    """

    name = "zh_repetition"
    version = "2"  # 2: Traditional Chinese measured in its Simplified view
    default_languages = ("zh",)

    def __init__(
        self,
        dup_para_frac: float | None = 0.3,
        dup_para_char_frac: float | None = 0.2,
        dup_line_frac: float | None = 0.3,
        dup_line_char_frac: float | None = 0.2,
        top_n_grams: list[tuple[int, float]] | tuple[tuple[int, float], ...] | dict[int, float] = DEFAULT_TOP_NGRAMS,
        dup_n_grams: list[tuple[int, float]] | tuple[tuple[int, float], ...] | dict[int, float] = DEFAULT_DUP_NGRAMS,
        char_dup_n_grams: list[tuple[int, float]] | tuple[tuple[int, float], ...] | dict[int, float] = ((10, 0.3),),
        jieba_max_chars: int = 5_000,
        jieba_hmm: bool = False,
        simplified_view: str | None = DEFAULT_SIMPLIFIED_VIEW,
        convert_traditional: bool = False,
        languages: list[str] | None = None,
    ):
        self.simplified_view = check_simplified_view(simplified_view)
        self.convert_traditional = convert_traditional
        super().__init__(dup_para_frac, dup_para_char_frac, dup_line_frac, dup_line_char_frac,
                         top_n_grams, dup_n_grams, languages)
        self.char_dup_n_grams = _pairs(char_dup_n_grams)
        self.jieba_max_chars = jieba_max_chars
        self.jieba_hmm = jieba_hmm

    def setup(self) -> None:
        if self.top_n_grams or self.dup_n_grams:
            han_cutter(self.jieba_hmm)("中文")

    def decide(self, batch: pa.RecordBatch, texts: pa.Array) -> Decision:
        if self.top_n_grams or self.dup_n_grams:
            words = word_segments(texts, self.jieba_max_chars, self.jieba_hmm, self.simplified_view)
            # Punctuation-only tokens do not count as words.
            is_word = np.asarray(
                pc.match_substring_regex(words.values, r"[\pL\pN]").to_numpy(zero_copy_only=False), bool
            ) if len(words.values) else np.zeros(0, bool)
            words = Segments.from_parts(words.values.filter(pa.array(is_word)), words.sum(is_word))
        else:
            words = Segments.from_parts(pa.array([], pa.string()), np.zeros(len(texts), np.int64))
        checks = repetition_checks(self, texts, words, prefix="zh")
        if self.char_dup_n_grams:
            cps, counts = codepoints(texts)
            ns = tuple(n for n, _ in self.char_dup_n_grams)
            offs = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
            _, dup = ngram_repetition(cps, np.ones(len(cps), np.int64), offs, (), ns)
            for n, thr in self.char_dup_n_grams:
                checks.append(Check(f"zh_dup_char_{n}_gram", dup[n] > thr, dup[n]))
        return Decision(checks)


def codepoints(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """All non-whitespace code points of all texts, concatenated, and the count per text."""
    lens = lengths(texts)
    joined = "".join(texts.to_pylist())
    cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    doc = np.repeat(np.arange(len(lens)), lens)
    keep = ~np.isin(cps, WHITESPACE_CODEPOINTS)
    return cps[keep].astype(np.uint64), np.bincount(doc[keep], minlength=len(lens))
