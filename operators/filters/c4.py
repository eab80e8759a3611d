"""C4 rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning", section 2.2), English.

Line rules remove lines from the document (as C4 does); document rules drop the whole document.
Defaults are the published ones (as in datatrove's ``C4QualityFilter`` / ``C4BadWordsFilter``).
Rewritten text goes to the kept rows; rejected rows keep their original text for the audit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contract.textstats import Segments, count_re, lengths, split_lines
from operators.filters.base import Check, Decision, RuleFilter
from operators.filters.gopher import PUNCT_CHARS

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
DEFAULT_BADWORDS_FILE = RESOURCES / "en_badwords.txt"

C4_POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
# A line "ends in terminal punctuation": period, question mark, exclamation mark or closing quote.
_TERMINAL_RE2 = r"[.?!\"”’]$"
_CITATION_RE2 = r"\[\d*\]|\[edit\]|\[citation needed\]"
# Sentence ends for the sentence count (approximates C4's sentence splitter).
_SENTENCE_END_RE2 = r"[.!?。！？]+[\"”’')\]]*(?:\s|$)"


def _mask(arr: pa.Array) -> np.ndarray:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)


class C4Quality(RuleFilter):
    """C4 line and document rules.

    Line removal (counted as metrics ``c4/removed_lines/<rule>``): a line without terminal
    punctuation or ending in "..." (``filter_no_terminal_punct``), with fewer than
    ``min_words_per_line`` (3) words, with a word longer than ``max_word_length`` (1000) characters,
    mentioning "javascript" (``filter_javascript``), or a policy/cookie line (``filter_policy``).
    Citation markers like "[1]", "[edit]" are stripped first (``remove_citations``).

    Reasons: ``c4_lorem_ipsum`` ("lorem ipsum" in a kept line), ``c4_curly_bracket`` ("{" in a kept
    line), ``c4_too_few_sentences`` (fewer than ``min_num_sentences`` (5) sentences left).
    ``remove_lines=False`` measures the same rules without rewriting the text.
    """

    name = "c4_quality"
    metrics = {"c4/removed_lines/{rule}": "lines removed by each C4 line rule"}

    def __init__(
        self,
        remove_citations: bool = True,
        filter_no_terminal_punct: bool = True,
        min_num_sentences: int | None = 5,
        min_words_per_line: int | None = 3,
        max_word_length: int | None = 1000,
        filter_lorem_ipsum: bool = True,
        filter_javascript: bool = True,
        filter_curly_bracket: bool = True,
        filter_policy: bool = True,
        remove_lines: bool = True,
        languages: list[str] | None = None,
    ):
        super().__init__(languages)
        self.remove_citations = remove_citations
        self.filter_no_terminal_punct = filter_no_terminal_punct
        self.min_num_sentences = min_num_sentences
        self.min_words_per_line = min_words_per_line
        self.max_word_length = max_word_length
        self.filter_lorem_ipsum = filter_lorem_ipsum
        self.filter_javascript = filter_javascript
        self.filter_curly_bracket = filter_curly_bracket
        self.filter_policy = filter_policy
        self.remove_lines = remove_lines

    def decide(self, batch: pa.RecordBatch, texts: pa.Array) -> Decision:
        src = pc.replace_substring_regex(texts, _CITATION_RE2, "") if self.remove_citations else texts
        lines = split_lines(src)
        stripped = pc.utf8_trim_whitespace(lines.values)
        n = len(stripped)
        keep = np.ones(n, dtype=bool)
        metrics: dict[str, float] = {}

        def drop(rule: str, bad: np.ndarray) -> None:
            nonlocal keep
            hit = keep & bad
            metrics[f"c4/removed_lines/{rule}"] = float(hit.sum())
            keep &= ~bad

        if self.max_word_length is not None or self.min_words_per_line is not None:
            words = Segments(pc.utf8_split_whitespace(stripped))
            if self.max_word_length is not None:
                longest = np.zeros(n)
                if len(words.values):
                    np.maximum.at(longest, words.doc_index(), lengths(words.values))
                drop("long_word", longest > self.max_word_length)
        if self.filter_no_terminal_punct:
            term = _mask(pc.match_substring_regex(stripped, _TERMINAL_RE2))
            ell = _mask(pc.ends_with(stripped, "..."))
            drop("no_terminal_punct", ~term | ell)
        if self.min_words_per_line is not None:
            n_words = words.counts
            drop("few_words", n_words < self.min_words_per_line)
        lower = pc.utf8_lower(stripped)
        lorem = _mask(pc.match_substring(lower, "lorem ipsum")) & keep if self.filter_lorem_ipsum else None
        if self.filter_javascript:
            drop("javascript", _mask(pc.match_substring(lower, "javascript")))
        curly = _mask(pc.match_substring(stripped, "{")) & keep if self.filter_curly_bracket else None
        if self.filter_policy:
            pol = np.zeros(n, dtype=bool)
            for s in C4_POLICY_SUBSTRINGS:
                pol |= _mask(pc.match_substring(lower, s))
            drop("policy", pol)
        new_text = Segments.from_parts(stripped, lines.counts).rebuild(keep, "\n")
        n_sent = count_re(new_text, _SENTENCE_END_RE2)
        checks: list[Check] = []
        if lorem is not None:
            hits = lines.sum(lorem)
            checks.append(Check("c4_lorem_ipsum", hits > 0, hits))
        if curly is not None:
            hits = lines.sum(curly)
            checks.append(Check("c4_curly_bracket", hits > 0, hits))
        if self.min_num_sentences is not None:
            checks.append(Check("c4_too_few_sentences", n_sent < self.min_num_sentences, n_sent))
        return Decision(checks, new_text=new_text if self.remove_lines else None, metrics=metrics)


def load_word_list(path: str | Path) -> list[str]:
    """One entry per line; blank lines and lines starting with '#' are ignored."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line.lower())
    return out


class C4BadWords(RuleFilter):
    """Drops documents containing at least ``min_hits`` (1, as C4) words from a bad-words list.

    The list (``badwords_file``, default ``operators/resources/en_badwords.txt``, one word or phrase
    per line) is matched case-insensitively on whole words (single words by exact token match after
    trimming punctuation, phrases by substring). Reason ``c4_badwords``, detail: number of hits.
    """

    name = "c4_badwords"

    def __init__(
        self,
        badwords_file: str | None = None,
        min_hits: int = 1,
        languages: list[str] | None = None,
    ):
        super().__init__(languages)
        self.badwords_file = str(badwords_file or DEFAULT_BADWORDS_FILE)
        self.min_hits = min_hits
        words = load_word_list(self.badwords_file)
        self._single = pa.array(sorted({w for w in words if " " not in w}))
        self._phrases = sorted({w for w in words if " " in w})

    def decide(self, batch: pa.RecordBatch, texts: pa.Array) -> Decision:
        words = Segments(pc.utf8_split_whitespace(pc.utf8_lower(texts)))
        trimmed = pc.utf8_trim(words.values, characters=PUNCT_CHARS)
        hit = _mask(pc.is_in(trimmed, value_set=self._single))
        hits = words.sum(hit)
        if self._phrases:
            lower = pc.utf8_lower(texts)
            for p in self._phrases:
                hits = hits + np.asarray(pc.count_substring(lower, p).to_numpy(zero_copy_only=False))
        return Decision([Check("c4_badwords", hits >= self.min_hits, hits)])
