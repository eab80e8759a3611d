"""FineWeb rules (Penedo et al. 2024, "The FineWeb Datasets"), English documents.

Defaults are the published ones (datatrove's ``FineWebQualityFilter``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contract.textstats import (
    Segments,
    count_sub,
    duplicate_elements,
    lengths,
    safe_div,
    split_lines,
    split_words,
)
from operators.filters.base import Check, Decision, RuleFilter

# Characters a line may end with to count as "ending in punctuation".
STOP_CHARS_RE2 = r"[.!?\"'”’)\]»。！？…；;:：）」』]$"


class FineWebQuality(RuleFilter):
    """FineWeb quality rules over non-empty lines. Reasons (in this order):

    - ``fineweb_line_punct_ratio``: share of lines ending in punctuation < ``line_punct_thr`` (0.12)
      (documents where it is exactly 0 are kept when ``line_punct_exclude_zero``, default False)
    - ``fineweb_short_line_ratio``: share of lines of at most ``short_line_length`` (30) characters
      >= ``short_line_thr`` (0.67)
    - ``fineweb_char_dup_ratio``: characters in duplicated lines / characters >= ``char_duplicates_ratio`` (0.01)
    - ``fineweb_list_ratio``: newlines per word > ``new_line_ratio`` (0.3)
    """

    name = "fineweb_quality"

    def __init__(
        self,
        line_punct_thr: float | None = 0.12,
        line_punct_exclude_zero: bool = False,
        short_line_thr: float | None = 0.67,
        short_line_length: int = 30,
        char_duplicates_ratio: float | None = 0.01,
        new_line_ratio: float | None = 0.3,
        languages: list[str] | None = None,
    ):
        super().__init__(languages)
        self.line_punct_thr = line_punct_thr
        self.line_punct_exclude_zero = line_punct_exclude_zero
        self.short_line_thr = short_line_thr
        self.short_line_length = short_line_length
        self.char_duplicates_ratio = char_duplicates_ratio
        self.new_line_ratio = new_line_ratio

    def decide(self, batch: pa.RecordBatch, texts: pa.Array) -> Decision:
        lines = split_lines(texts)
        stripped = pc.utf8_rtrim_whitespace(lines.values)
        llen = lengths(stripped)
        non_empty = np.asarray(
            pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(lines.values)), 0).to_numpy(zero_copy_only=False),
            bool,
        )
        n_lines = lines.sum(non_empty)
        punct = np.asarray(pc.match_substring_regex(stripped, STOP_CHARS_RE2).to_numpy(zero_copy_only=False), bool)
        punct_ratio = safe_div(lines.sum(punct & non_empty), n_lines)
        short_ratio = safe_div(lines.sum(non_empty & (llen <= self.short_line_length)), n_lines)
        ne = Segments.from_parts(lines.values.filter(pa.array(non_empty)), n_lines)
        _, _, dup_chars = duplicate_elements(ne)
        n_chars = lengths(texts) - count_sub(texts, "\n")
        dup_ratio = safe_div(dup_chars, n_chars)
        n_words = split_words(texts).counts
        nl_ratio = safe_div(count_sub(texts, "\n"), n_words)
        checks: list[Check] = []
        empty = n_lines == 0
        checks.append(Check("fineweb_empty", empty, n_lines))
        if self.line_punct_thr is not None:
            fail = punct_ratio < self.line_punct_thr
            if self.line_punct_exclude_zero:
                fail &= punct_ratio > 0
            checks.append(Check("fineweb_line_punct_ratio", fail, punct_ratio))
        if self.short_line_thr is not None:
            checks.append(Check("fineweb_short_line_ratio", short_ratio >= self.short_line_thr, short_ratio))
        if self.char_duplicates_ratio is not None:
            checks.append(Check("fineweb_char_dup_ratio", dup_ratio >= self.char_duplicates_ratio, dup_ratio))
        if self.new_line_ratio is not None:
            checks.append(Check("fineweb_list_ratio", nl_ratio > self.new_line_ratio, nl_ratio))
        return Decision(checks)

