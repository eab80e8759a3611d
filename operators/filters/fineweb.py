"""FineWeb rules (Penedo et al. 2024, "The FineWeb Datasets"), English documents.

Class defaults are the published ones as datatrove 0.10.1's ``FineWebQualityFilter`` implements them
(compared in ``tests/test_filters_parity.py``). The ``en``/``mixed`` presets judge hard-wrapped
paragraphs as one line (``reflow``), count a line ending a sentence in any script, after closing
quotes or brackets too, as ending in punctuation (``line_end="sentence"``) and count whitespace
words (``tokens="whitespace"``), and measure short lines in display columns (``cjk_double_width``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contract.textstats import (
    CJK_RE2,
    DATATROVE_TERMINAL_PUNCTUATION,
    SENTENCE_END_RE2,
    Reflow,
    Segments,
    count_re,
    count_sub,
    duplicate_elements,
    lengths,
    mask_of,
    re2_class,
    safe_div,
    split_lines,
)
from operators.filters.base import Check, Decision, RuleFilter
from operators.filters.gopher import TOKEN_MODES, word_tokens

DATATROVE_LINE_END_RE2 = re2_class(DATATROVE_TERMINAL_PUNCTUATION) + "$"
LINE_END_MODES = {"datatrove": DATATROVE_LINE_END_RE2, "sentence": SENTENCE_END_RE2}


class FineWebQuality(RuleFilter):
    """FineWeb quality rules over non-empty lines. Reasons (in this order):

    - ``fineweb_empty``: no non-empty line
    - ``fineweb_line_punct_ratio``: share of lines ending in punctuation < ``line_punct_thr`` (0.12)
      (documents where it is exactly 0 are kept when ``line_punct_exclude_zero``, default False).
      ``line_end``: ``"datatrove"`` (a sentence terminator of any script, datatrove's
      ``TERMINAL_PUNCTUATION``, as the last character) or ``"sentence"`` (the same ends, "…" too,
      optionally followed by closing quotes/brackets)
    - ``fineweb_short_line_ratio``: share of lines of at most ``short_line_length`` (30) characters
      > ``short_line_thr`` (0.67); with ``cjk_double_width`` a CJK character counts two columns (a
      30-character Chinese line is a sentence, not a menu item)
    - ``fineweb_char_dup_ratio``: characters in duplicated lines / non-newline characters > ``char_duplicates_ratio`` (0.01)
    - ``fineweb_list_ratio``: newlines per word token > ``new_line_ratio`` (0.3); tokens as ``tokens``
      (see ``operators/filters/gopher.py``)

    ``reflow`` (default False): the punctuation, short-line and newline statistics count logical
    lines, hard-wrapped paragraphs joined (:class:`contract.textstats.Reflow`); duplicated lines
    are always physical lines.
    """

    name = "fineweb_quality"
    version = "2"

    def __init__(
        self,
        line_punct_thr: float | None = 0.12,
        line_punct_exclude_zero: bool = False,
        short_line_thr: float | None = 0.67,
        short_line_length: int = 30,
        char_duplicates_ratio: float | None = 0.01,
        new_line_ratio: float | None = 0.3,
        languages: list[str] | None = None,
        line_end: str = "datatrove",
        tokens: str = "datatrove",
        reflow: bool = False,
        reflow_min_line_chars: int = 30,
        cjk_double_width: bool = False,
    ):
        super().__init__(languages)
        if line_end not in LINE_END_MODES:
            raise ValueError(f"line_end must be one of {tuple(LINE_END_MODES)}, got {line_end!r}")
        if tokens not in TOKEN_MODES:
            raise ValueError(f"tokens must be one of {TOKEN_MODES}, got {tokens!r}")
        self.line_punct_thr = line_punct_thr
        self.line_punct_exclude_zero = line_punct_exclude_zero
        self.short_line_thr = short_line_thr
        self.short_line_length = short_line_length
        self.char_duplicates_ratio = char_duplicates_ratio
        self.new_line_ratio = new_line_ratio
        self.line_end = line_end
        self.tokens = tokens
        self.reflow = reflow
        self.reflow_min_line_chars = reflow_min_line_chars
        self.cjk_double_width = cjk_double_width

    def stats(self, texts: pa.Array) -> dict[str, np.ndarray]:
        """Every statistic the rules compare, one value per document."""
        phys = split_lines(texts)
        rf = Reflow(phys, self.reflow_min_line_chars, enabled=self.reflow)
        # Lines as datatrove sees them (not stripped); logical lines are stripped joins.
        lines = rf.logical if self.reflow else phys
        vals = lines.values
        non_empty = lengths(pc.utf8_trim_whitespace(vals)) > 0
        n_lines = lines.sum(non_empty)
        punct = mask_of(pc.match_substring_regex(vals, LINE_END_MODES[self.line_end]))
        punct_ratio = safe_div(lines.sum(punct & non_empty), n_lines)
        width = lengths(vals)
        if self.cjk_double_width:
            width = width + count_re(vals, CJK_RE2)
        short_ratio = safe_div(lines.sum(non_empty & (width <= self.short_line_length)), n_lines)
        ne_phys = lengths(pc.utf8_trim_whitespace(phys.values)) > 0
        ne = Segments.from_parts(phys.values.filter(pa.array(ne_phys)), phys.sum(ne_phys))
        _, _, dup_chars = duplicate_elements(ne)
        newlines = count_sub(texts, "\n")
        dup_ratio = safe_div(dup_chars, lengths(texts) - newlines)
        n_words = word_tokens(texts, self.tokens)[0].counts
        nl_ratio = safe_div(newlines - rf.joins, n_words)
        return {
            "lines": n_lines,
            "line_punct_ratio": punct_ratio,
            "short_line_ratio": short_ratio,
            "char_dup_ratio": dup_ratio,
            "list_ratio": nl_ratio,
        }

    def decide(self, batch: pa.RecordBatch, texts: pa.Array) -> Decision:
        st = self.stats(texts)
        n_lines, punct_ratio = st["lines"], st["line_punct_ratio"]
        checks: list[Check] = [Check("fineweb_empty", n_lines == 0, n_lines)]
        if self.line_punct_thr is not None:
            fail = punct_ratio < self.line_punct_thr
            if self.line_punct_exclude_zero:
                fail &= punct_ratio > 0
            checks.append(Check("fineweb_line_punct_ratio", fail, punct_ratio))
        if self.short_line_thr is not None:
            sr = st["short_line_ratio"]
            checks.append(Check("fineweb_short_line_ratio", sr > self.short_line_thr, sr))
        if self.char_duplicates_ratio is not None:
            dr = st["char_dup_ratio"]
            checks.append(Check("fineweb_char_dup_ratio", dr > self.char_duplicates_ratio, dr))
        if self.new_line_ratio is not None:
            nr = st["list_ratio"]
            checks.append(Check("fineweb_list_ratio", nr > self.new_line_ratio, nr))
        return Decision(checks)
