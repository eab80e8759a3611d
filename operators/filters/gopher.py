"""Gopher rules (Rae et al. 2021, "Scaling Language Models", appendix A), English documents.

Class defaults are the published ones as datatrove 0.10.1 implements them (``GopherQualityFilter``,
``GopherRepetitionFilter``); ``tests/test_filters_parity.py`` compares the decisions on real
documents. The ``en`` preset changes the tokenization (``tokens="whitespace"``), stop-word case and
bullet characters (see ``operators/filters/__init__.py`` and docs/filters.md).

Tokens (``tokens``):

- ``"datatrove"``: whitespace tokens with leading/trailing punctuation split off as tokens of their
  own (an approximation of datatrove's spaCy tokenizer, :func:`contract.textstats.split_tokens_datatrove`).
  Words are the tokens with a character outside datatrove's ``PUNCTUATION_SET``; the ratios of "#",
  ellipses and alphabetic words are taken over all tokens, punctuation tokens included.
- ``"whitespace"``: whitespace-separated tokens; words are tokens with punctuation trimmed from
  both ends (non-empty); the ratios are taken over whitespace tokens.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contract.textstats import (
    CJK_RE2,
    DATATROVE_WORD_RE2,
    count_re,
    count_sub,
    duplicate_elements,
    lengths,
    mask_of,
    ngram_repetition,
    re2_class,
    safe_div,
    split_lines,
    split_paragraphs,
    split_tokens_datatrove,
    split_words,
    token_ids,
    top_ngram_chars,
)
from operators.filters.base import Check, Decision, RuleFilter

# Punctuation trimmed from both ends of a word (ASCII + common Unicode quotes/dashes/brackets).
PUNCT_CHARS = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~«»‘’‚“”„…–—·•¡¿§¶†‡′″‹›「」『』【】〔〕（）［］｛｝《》〈〉，。、；：？！"
GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
DATATROVE_BULLETS = "•-"
EN_BULLETS = "•-‣◦⁃●▪∙*"
TOKEN_MODES = ("datatrove", "whitespace")


def word_tokens(texts: pa.Array, mode: str):
    """(tokens, words mask, word strings) of every document for a ``tokens`` mode (see module doc)."""
    if mode == "datatrove":
        toks = split_tokens_datatrove(texts)
        is_word = mask_of(pc.match_substring_regex(toks.values, DATATROVE_WORD_RE2)) if len(toks.values) \
            else np.zeros(0, bool)
        return toks, is_word, toks.values
    if mode == "whitespace":
        toks = split_words(texts)
        trimmed = pc.utf8_trim(toks.values, characters=PUNCT_CHARS)
        return toks, lengths(trimmed) > 0, trimmed
    raise ValueError(f"tokens must be one of {TOKEN_MODES}, got {mode!r}")


def distinct_hits(words: pa.Array, doc: np.ndarray, n_docs: int, vocabulary: list[str]) -> np.ndarray:
    """Per document, how many distinct entries of ``vocabulary`` occur among ``words``."""
    if len(words) == 0 or not vocabulary:
        return np.zeros(n_docs)
    idx = pc.index_in(words, value_set=pa.array(vocabulary))
    valid = mask_of(pc.is_valid(idx))
    sid = np.asarray(pc.fill_null(idx, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    keys = np.unique(doc[valid] * len(vocabulary) + sid[valid])
    return np.bincount(keys // len(vocabulary), minlength=n_docs).astype(np.float64)


def physical_line_counts(texts: pa.Array, lines) -> np.ndarray:
    """Lines as ``str.splitlines`` counts them: a final newline does not start another line."""
    return lines.counts - mask_of(pc.ends_with(texts, "\n"))


class GopherQuality(RuleFilter):
    """Gopher quality rules. Reasons (first failing wins, in this order):

    - ``gopher_short_doc`` / ``gopher_long_doc``: words outside ``min_doc_words``..``max_doc_words`` (50..100000)
    - ``gopher_below_avg_word_length`` / ``gopher_above_avg_word_length``: mean word length outside 3..10
    - ``gopher_too_many_hashes``: "#" per token > ``max_symbol_word_ratio`` (0.1)
    - ``gopher_too_many_ellipsis``: "..." or "…" per token > ``max_symbol_word_ratio`` (0.1)
    - ``gopher_too_many_bullets``: lines starting with one of ``bullet_chars`` ("•-") > ``max_bullet_lines_ratio`` (0.9)
    - ``gopher_too_many_end_ellipsis``: lines ending in an ellipsis > ``max_ellipsis_lines_ratio`` (0.3);
      "…" after a CJK character ends a Chinese sentence and is not counted
    - ``gopher_below_alpha_threshold``: tokens with a letter < ``min_alpha_words_ratio`` (0.8)
    - ``gopher_few_stop_words``: fewer than ``min_stop_words`` (2) distinct words of the, be, to, of,
      and, that, have, with (case-sensitive as datatrove unless ``stop_words_ignore_case``)
    """

    name = "gopher_quality"
    version = "2"

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
        tokens: str = "datatrove",
        stop_words_ignore_case: bool = False,
        bullet_chars: str = DATATROVE_BULLETS,
    ):
        super().__init__(languages)
        if tokens not in TOKEN_MODES:
            raise ValueError(f"tokens must be one of {TOKEN_MODES}, got {tokens!r}")
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
        self.tokens = tokens
        self.stop_words_ignore_case = stop_words_ignore_case
        self.bullet_chars = bullet_chars

    def stats(self, texts: pa.Array) -> dict[str, np.ndarray]:
        """Every statistic the rules compare, one value per document."""
        toks, is_word, words = word_tokens(texts, self.tokens)
        wlen = lengths(words)
        n_tokens = toks.counts.astype(np.float64)
        n_words = toks.sum(is_word)
        measured = is_word
        if self.tokens == "whitespace" and len(words):
            # A run of CJK text is one whitespace token but not one long English word.
            measured = is_word & ~mask_of(pc.match_substring_regex(words, CJK_RE2))
        mean_len = safe_div(toks.sum(np.where(measured, wlen, 0)), toks.sum(measured))
        has_alpha = mask_of(pc.match_substring_regex(toks.values, r"\pL")) if len(toks.values) else np.zeros(0, bool)
        alpha_ratio = safe_div(toks.sum(has_alpha), n_tokens)
        cmp = pc.utf8_lower(words) if self.stop_words_ignore_case else words
        vocab = [w.lower() for w in self.stop_words] if self.stop_words_ignore_case else list(self.stop_words)
        word_vals = cmp.filter(pa.array(is_word)) if len(is_word) else cmp
        word_doc = toks.doc_index()[is_word] if len(is_word) else np.zeros(0, np.int64)
        n_stop = distinct_hits(word_vals, word_doc, toks.n_docs, vocab)
        hash_ratio = safe_div(count_sub(texts, "#"), n_tokens)
        ellipsis_ratio = safe_div(count_sub(texts, "...") + count_sub(texts, "…"), n_tokens)
        lines = split_lines(texts)
        n_lines = physical_line_counts(texts, lines)
        bullets = mask_of(pc.match_substring_regex(lines.values, r"^\s*" + re2_class(self.bullet_chars))) \
            if self.bullet_chars else np.zeros(len(lines.values), bool)
        end_ell = mask_of(pc.match_substring_regex(lines.values, r"(\.\.\.|…)\s*$")) & ~mask_of(
            pc.match_substring_regex(lines.values, CJK_RE2 + r"…+\s*$"))
        return {
            "words": n_words,
            "mean_word_length": mean_len,
            "hash_ratio": hash_ratio,
            "ellipsis_ratio": ellipsis_ratio,
            "bullet_lines_ratio": safe_div(lines.sum(bullets), n_lines),
            "end_ellipsis_lines_ratio": safe_div(lines.sum(end_ell), n_lines),
            "alpha_words_ratio": alpha_ratio,
            "stop_words": n_stop,
        }

    def decide(self, batch: pa.RecordBatch, texts: pa.Array) -> Decision:
        st = self.stats(texts)
        n_words, mean_len = st["words"], st["mean_word_length"]
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
            hr, er = st["hash_ratio"], st["ellipsis_ratio"]
            checks.append(Check("gopher_too_many_hashes", hr > self.max_symbol_word_ratio, hr))
            checks.append(Check("gopher_too_many_ellipsis", er > self.max_symbol_word_ratio, er))
        if self.max_bullet_lines_ratio is not None:
            br = st["bullet_lines_ratio"]
            checks.append(Check("gopher_too_many_bullets", br > self.max_bullet_lines_ratio, br))
        if self.max_ellipsis_lines_ratio is not None:
            el = st["end_ellipsis_lines_ratio"]
            checks.append(Check("gopher_too_many_end_ellipsis", el > self.max_ellipsis_lines_ratio, el))
        if self.min_alpha_words_ratio is not None:
            ar = st["alpha_words_ratio"]
            checks.append(Check("gopher_below_alpha_threshold", ar < self.min_alpha_words_ratio, ar))
        if self.min_stop_words is not None:
            sw = st["stop_words"]
            checks.append(Check("gopher_few_stop_words", sw < self.min_stop_words, sw))
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

    Measured as datatrove does by default: character fractions are of ``len(text)``
    (``char_fraction_of="text"``; ``"non_space"``: of non-space characters, and of token
    characters for the n-gram rules, Winnow's measure before issue 15), the top n-gram is the most
    frequent n-gram written with spaces, counted even when it occurs once (``top_ngram="datatrove"``;
    ``"repeated"``: only n-grams seen at least twice, token characters only), tokens as ``tokens``
    (see the module doc). A subclass with another ``name`` (``zh_repetition``) keeps
    ``non_space``/``repeated`` unless it passes them.
    """

    name = "gopher_repetition"
    version = "2"

    def __init__(
        self,
        dup_para_frac: float | None = 0.3,
        dup_para_char_frac: float | None = 0.2,
        dup_line_frac: float | None = 0.3,
        dup_line_char_frac: float | None = 0.2,
        top_n_grams: list[tuple[int, float]] | tuple[tuple[int, float], ...] | dict[int, float] = DEFAULT_TOP_NGRAMS,
        dup_n_grams: list[tuple[int, float]] | tuple[tuple[int, float], ...] | dict[int, float] = DEFAULT_DUP_NGRAMS,
        languages: list[str] | None = None,
        tokens: str = "datatrove",
        char_fraction_of: str | None = None,
        top_ngram: str | None = None,
    ):
        super().__init__(languages)
        published = self.name == "gopher_repetition"
        char_fraction_of = char_fraction_of or ("text" if published else "non_space")
        top_ngram = top_ngram or ("datatrove" if published else "repeated")
        if tokens not in TOKEN_MODES:
            raise ValueError(f"tokens must be one of {TOKEN_MODES}, got {tokens!r}")
        if char_fraction_of not in ("text", "non_space"):
            raise ValueError(f"char_fraction_of must be 'text' or 'non_space', got {char_fraction_of!r}")
        if top_ngram not in ("datatrove", "repeated"):
            raise ValueError(f"top_ngram must be 'datatrove' or 'repeated', got {top_ngram!r}")
        self.tokens = tokens
        self.char_fraction_of = char_fraction_of
        self.top_ngram = top_ngram
        self.dup_para_frac = dup_para_frac
        self.dup_para_char_frac = dup_para_char_frac
        self.dup_line_frac = dup_line_frac
        self.dup_line_char_frac = dup_line_char_frac
        self.top_n_grams = _pairs(top_n_grams)
        self.dup_n_grams = _pairs(dup_n_grams)

    def decide(self, batch: pa.RecordBatch, texts: pa.Array) -> Decision:
        return Decision(repetition_checks(self, texts, word_tokens(texts, self.tokens)[0], prefix="gopher"))


def repetition_checks(rule, texts: pa.Array, tokens, prefix: str) -> list[Check]:
    """Paragraph, line and n-gram repetition checks (shared by the English and Chinese filters);
    ``tokens`` is a :class:`Segments` of word tokens. ``rule.char_fraction_of`` and ``rule.top_ngram``
    choose the measure (see :class:`GopherRepetition`)."""
    checks: list[Check] = []
    of_text = getattr(rule, "char_fraction_of", "non_space") == "text"
    n_chars = (lengths(texts) if of_text else count_re(texts, r"\S")).astype(np.float64)
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
        datatrove_top = getattr(rule, "top_ngram", "repeated") == "datatrove"
        legacy_top = () if datatrove_top else top_ns
        top, dup = ngram_repetition(ids, tok_lens, tokens.offsets, legacy_top, dup_ns) if legacy_top or dup_ns \
            else ({}, {})
        if of_text or datatrove_top:
            tok_total = tokens.sum(tok_lens)
            denom = n_chars if of_text else tok_total
            if datatrove_top:
                top = {n: safe_div(v, denom) for n, v in top_ngram_chars(ids, tok_lens, tokens.offsets, top_ns).items()}
            else:
                top = {n: safe_div(v * tok_total, denom) for n, v in top.items()}
            dup = {n: safe_div(v * tok_total, denom) for n, v in dup.items()}
        for n, thr in rule.top_n_grams:
            checks.append(Check(f"{prefix}_top_{n}_gram", top[n] > thr, top[n]))
        for n, thr in rule.dup_n_grams:
            checks.append(Check(f"{prefix}_dup_{n}_gram", dup[n] > thr, dup[n]))
    return checks
