"""Gopher rules (Rae et al. 2021, "Scaling Language Models", appendix A), English documents.

Defaults are the published ones (as in datatrove's ``GopherQualityFilter`` and
``GopherRepetitionFilter``). Words are whitespace-separated tokens with surrounding punctuation
trimmed; "characters" in the repetition rules are token characters (whitespace excluded).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contract.textstats import (
    count_re,
    count_sub,
    duplicate_elements,
    lengths,
    ngram_repetition,
    safe_div,
    split_lines,
    split_paragraphs,
    split_words,
    token_ids,
)
from operators.filters.base import Check, Decision, RuleFilter

# Punctuation trimmed from both ends of a word (ASCII + common Unicode quotes/dashes/brackets).
PUNCT_CHARS = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~«»‘’‚“”„…–—·•¡¿§¶†‡′″‹›「」『』【】〔〕（）［］｛｝《》〈〉，。、；：？！"
GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


class GopherQuality(RuleFilter):
    """Gopher quality rules. Reasons (first failing wins, in this order):

    - ``gopher_short_doc`` / ``gopher_long_doc``: words outside ``min_doc_words``..``max_doc_words`` (50..100000)
    - ``gopher_below_avg_word_length`` / ``gopher_above_avg_word_length``: mean word length outside 3..10
    - ``gopher_too_many_hashes``: "#" per word > ``max_symbol_word_ratio`` (0.1)
    - ``gopher_too_many_ellipsis``: "..." or "…" per word > ``max_symbol_word_ratio`` (0.1)
    - ``gopher_too_many_bullets``: lines starting with a bullet > ``max_bullet_lines_ratio`` (0.9)
    - ``gopher_too_many_end_ellipsis``: lines ending in an ellipsis > ``max_ellipsis_lines_ratio`` (0.3)
    - ``gopher_below_alpha_threshold``: words with a letter < ``min_alpha_words_ratio`` (0.8)
    - ``gopher_few_stop_words``: fewer than ``min_stop_words`` (2) of the, be, to, of, and, that, have, with
    """

    name = "gopher_quality"

    def __init__(
        self,
        min_doc_words: int | None = 50,
        max_doc_words: int | None = 100_000,
        min_avg_word_length: float | None = 3,
        max_avg_word_length: float | None = 10,
        max_symbol_word_ratio: float | None = 0.1,
        max_bullet_lines_ratio: float | None = 0.9,
        max_ellipsis_lines_ratio: float | None = 0.3,
        min_alpha_words_ratio: float | None = 0.8,
        min_stop_words: int | None = 2,
        stop_words: list[str] | tuple[str, ...] = GOPHER_STOP_WORDS,
        languages: list[str] | None = None,
    ):
        super().__init__(languages)
        self.min_doc_words = min_doc_words
        self.max_doc_words = max_doc_words
        self.min_avg_word_length = min_avg_word_length
        self.max_avg_word_length = max_avg_word_length
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_ellipsis_lines_ratio = max_ellipsis_lines_ratio
        self.min_alpha_words_ratio = min_alpha_words_ratio
        self.min_stop_words = min_stop_words
        self.stop_words = tuple(stop_words)

    def decide(self, batch: pa.RecordBatch, texts: pa.Array) -> Decision:
        words = split_words(texts)
        trimmed = pc.utf8_trim(words.values, characters=PUNCT_CHARS)
        wlen = lengths(trimmed)
        is_word = wlen > 0  # "non-symbol" words
        n_tokens = words.counts.astype(np.float64)
        n_words = words.sum(is_word)
        mean_len = safe_div(words.sum(np.where(is_word, wlen, 0)), n_words)
        has_alpha = np.asarray(pc.match_substring_regex(words.values, r"\pL").to_numpy(zero_copy_only=False), bool)
        alpha_ratio = safe_div(words.sum(has_alpha), n_tokens)
        stop = np.asarray(
            pc.is_in(pc.utf8_lower(trimmed), value_set=pa.array(list(self.stop_words))).to_numpy(zero_copy_only=False),
            bool,
        )
        n_stop = words.sum(stop)
        hash_ratio = safe_div(count_sub(texts, "#"), n_tokens)
        ellipsis_ratio = safe_div(count_sub(texts, "...") + count_sub(texts, "…"), n_tokens)
        lines = split_lines(texts)
        n_lines = lines.counts
        bullets = np.asarray(
            pc.match_substring_regex(lines.values, r"^\s*[•\-‣◦⁃●▪∙*]").to_numpy(zero_copy_only=False), bool
        )
        end_ell = np.asarray(
            pc.match_substring_regex(lines.values, r"(\.\.\.|…)\s*$").to_numpy(zero_copy_only=False), bool
        )
        bullet_ratio = safe_div(lines.sum(bullets), n_lines)
        end_ell_ratio = safe_div(lines.sum(end_ell), n_lines)
        checks: list[Check] = []
        if self.min_doc_words is not None:
            checks.append(Check("gopher_short_doc", n_words < self.min_doc_words, n_words))
        if self.max_doc_words is not None:
            checks.append(Check("gopher_long_doc", n_words > self.max_doc_words, n_words))
        if self.min_avg_word_length is not None:
            checks.append(Check("gopher_below_avg_word_length", mean_len < self.min_avg_word_length, mean_len))
        if self.max_avg_word_length is not None:
            checks.append(Check("gopher_above_avg_word_length", mean_len > self.max_avg_word_length, mean_len))
        if self.max_symbol_word_ratio is not None:
            checks.append(Check("gopher_too_many_hashes", hash_ratio > self.max_symbol_word_ratio, hash_ratio))
            checks.append(
                Check("gopher_too_many_ellipsis", ellipsis_ratio > self.max_symbol_word_ratio, ellipsis_ratio)
            )
        if self.max_bullet_lines_ratio is not None:
            checks.append(Check("gopher_too_many_bullets", bullet_ratio > self.max_bullet_lines_ratio, bullet_ratio))
        if self.max_ellipsis_lines_ratio is not None:
            checks.append(
                Check("gopher_too_many_end_ellipsis", end_ell_ratio > self.max_ellipsis_lines_ratio, end_ell_ratio)
            )
        if self.min_alpha_words_ratio is not None:
            checks.append(
                Check("gopher_below_alpha_threshold", alpha_ratio < self.min_alpha_words_ratio, alpha_ratio)
            )
        if self.min_stop_words is not None:
            checks.append(Check("gopher_few_stop_words", n_stop < self.min_stop_words, n_stop))
        return Decision(checks)


DEFAULT_TOP_NGRAMS = ((2, 0.20), (3, 0.18), (4, 0.16))
DEFAULT_DUP_NGRAMS = ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))


def _pairs(value) -> tuple[tuple[int, float], ...]:
    """YAML gives lists of lists or a mapping; normalise to ((n, threshold), ...)."""
    if isinstance(value, dict):
        return tuple((int(k), float(v)) for k, v in value.items())
    return tuple((int(n), float(t)) for n, t in value)


class GopherRepetition(RuleFilter):
    """Gopher repetition rules. Reasons (in this order):

    - ``gopher_dup_para_frac`` / ``gopher_dup_para_char_frac``: duplicated paragraphs > 0.3 of
      paragraphs / > 0.2 of characters
    - ``gopher_dup_line_frac`` / ``gopher_dup_line_char_frac``: duplicated lines > 0.3 / > 0.2
    - ``gopher_top_{n}_gram``: characters in the most repeated n-gram > 0.20, 0.18, 0.16 for n = 2, 3, 4
    - ``gopher_dup_{n}_gram``: characters in repeated n-grams > 0.15 .. 0.10 for n = 5 .. 10
    """

    name = "gopher_repetition"

    def __init__(
        self,
        dup_para_frac: float | None = 0.3,
        dup_para_char_frac: float | None = 0.2,
        dup_line_frac: float | None = 0.3,
        dup_line_char_frac: float | None = 0.2,
        top_n_grams=DEFAULT_TOP_NGRAMS,
        dup_n_grams=DEFAULT_DUP_NGRAMS,
        languages: list[str] | None = None,
    ):
        super().__init__(languages)
        self.dup_para_frac = dup_para_frac
        self.dup_para_char_frac = dup_para_char_frac
        self.dup_line_frac = dup_line_frac
        self.dup_line_char_frac = dup_line_char_frac
        self.top_n_grams = _pairs(top_n_grams)
        self.dup_n_grams = _pairs(dup_n_grams)

    def decide(self, batch: pa.RecordBatch, texts: pa.Array) -> Decision:
        return Decision(repetition_checks(self, texts, split_words(texts), prefix="gopher"))


def repetition_checks(rule, texts: pa.Array, tokens, prefix: str) -> list[Check]:
    """Paragraph, line and n-gram repetition checks (shared by the English and Chinese filters);
    ``tokens`` is a :class:`Segments` of word tokens."""
    checks: list[Check] = []
    n_chars = count_re(texts, r"\S").astype(np.float64)
    if rule.dup_para_frac is not None or rule.dup_para_char_frac is not None:
        n_par, dup_par, dup_par_chars = duplicate_elements(split_paragraphs(texts))
        if rule.dup_para_frac is not None:
            frac = safe_div(dup_par, n_par)
            checks.append(Check(f"{prefix}_dup_para_frac", frac > rule.dup_para_frac, frac))
        if rule.dup_para_char_frac is not None:
            frac = safe_div(dup_par_chars, n_chars)
            checks.append(Check(f"{prefix}_dup_para_char_frac", frac > rule.dup_para_char_frac, frac))
    if rule.dup_line_frac is not None or rule.dup_line_char_frac is not None:
        n_lin, dup_lin, dup_lin_chars = duplicate_elements(split_lines(texts))
        if rule.dup_line_frac is not None:
            frac = safe_div(dup_lin, n_lin)
            checks.append(Check(f"{prefix}_dup_line_frac", frac > rule.dup_line_frac, frac))
        if rule.dup_line_char_frac is not None:
            frac = safe_div(dup_lin_chars, n_chars)
            checks.append(Check(f"{prefix}_dup_line_char_frac", frac > rule.dup_line_char_frac, frac))
    top_ns = tuple(n for n, _ in rule.top_n_grams)
    dup_ns = tuple(n for n, _ in rule.dup_n_grams)
    if top_ns or dup_ns:
        ids = token_ids(tokens.values)
        tok_lens = lengths(tokens.values)
        top, dup = ngram_repetition(ids, tok_lens, tokens.offsets, top_ns, dup_ns)
        for n, thr in rule.top_n_grams:
            checks.append(Check(f"{prefix}_top_{n}_gram", top[n] > thr, top[n]))
        for n, thr in rule.dup_n_grams:
            checks.append(Check(f"{prefix}_dup_{n}_gram", dup[n] > thr, dup[n]))
    return checks
