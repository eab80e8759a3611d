"""C4 rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning", section 2.2), English.

Line rules remove lines from the document (as C4 does); document rules drop the whole document.
Class defaults are the published ones (as in datatrove's ``C4QualityFilter`` / ``C4BadWordsFilter``,
compared in ``tests/test_filters_parity.py``). The ``en`` and ``mixed`` presets turn off the
terminal-punctuation line removal (as FineWeb does), the five-sentence and curly-bracket document
rules, and judge hard-wrapped paragraphs as one line (``reflow``); the ``c4`` preset keeps C4.
Rewritten text goes to the kept rows; rejected rows keep their original text for the audit.

Script-aware in every mode: a line ending in 。！？．｡ (or "…" after a CJK character) ends a
sentence, a CJK character counts as a word for ``min_words_per_line``, and a token with CJK
characters is not a "word longer than ``max_word_length``".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contract.textstats import CJK_RE2, Reflow, Segments, count_re, lengths, mask_of, split_lines
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
# A line "ends in terminal punctuation" (C4: . ? ! " and datatrove's '; typographic ” ’ too; CJK
# sentence ends). A line ending in "..." or a Latin "…" is an ellipsis, not an end.
_TERMINAL_RE2 = r"(?:[.?!\"'”’。！？．｡]|" + CJK_RE2 + r"…+)$"
_ELLIPSIS_RE2 = r"(?:\.\.\.|…)$"
_CJK_ELLIPSIS_RE2 = CJK_RE2 + r"…+$"
_CITATION_RE2 = r"\[\d*\]|\[edit\]|\[citation needed\]"
# Sentence ends for the sentence count (approximates C4's sentence splitter): ASCII ends before a
# space or the end of the line, CJK ends anywhere. A line whose text runs on after its last end
# counts one more sentence (as a sentence splitter counts a line without final punctuation).
_CLOSERS = r"[\"”’')\]」』）》]*"
_SENTENCE_END_RE2 = r"[.!?]+" + _CLOSERS + r"(?:\s|$)|[。！？．｡]+" + _CLOSERS + "|" + CJK_RE2 + "…+" + _CLOSERS
# A period after an initial or a common abbreviation ("U.S. Census", "St. Marys", "Dr. Smith") does not
# end a sentence (a sentence splitter knows them).
_ABBREV_END_RE2 = (r"\b(?:(?:[A-Za-z]\.)+|(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Mt|Ft|vs|Prof|Gen|Gov|Sen|Rep|Col|Lt|Sgt|"
                   r"Capt|Inc|Ltd|Co|Corp|No|Nos|Vol|Fig|Jan|Feb|Mar|Apr|Aug|Sep|Sept|Oct|Nov|Dec|approx|ca|cf|al)\.)\s")
_ENDS_WITH_SENTENCE_RE2 = r"(?:[.!?。！？．｡]|" + CJK_RE2 + r"…)" + _CLOSERS + "$"


def _mask(arr: pa.Array) -> np.ndarray:
    return mask_of(arr)


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

    ``reflow`` (default False, True in the ``en``/``mixed`` presets): the line rules judge logical
    lines, hard-wrapped paragraphs joined (:class:`contract.textstats.Reflow`, ``reflow_min_line_chars``);
    removing a logical line removes all its physical lines, and kept text keeps its line breaks.
    """

    name = "c4_quality"
    version = "2"
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
        reflow: bool = False,
        reflow_min_line_chars: int = 30,
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
        self.reflow = reflow
        self.reflow_min_line_chars = reflow_min_line_chars

    def decide(self, batch: pa.RecordBatch, texts: pa.Array) -> Decision:
        src = pc.replace_substring_regex(texts, _CITATION_RE2, "") if self.remove_citations else texts
        phys = split_lines(src)
        rf = Reflow(phys, self.reflow_min_line_chars, enabled=self.reflow)
        lines = rf.logical  # logical lines, stripped (the physical lines when reflow is off)
        stripped = lines.values
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
                wl = lengths(words.values)
                wl = np.where(_mask(pc.match_substring_regex(words.values, CJK_RE2)), 0, wl) if len(wl) else wl
                longest = np.zeros(n)
                if len(words.values):
                    np.maximum.at(longest, words.doc_index(), wl)
                drop("long_word", longest > self.max_word_length)
        if self.filter_no_terminal_punct:
            term = _mask(pc.match_substring_regex(stripped, _TERMINAL_RE2))
            ell = _mask(pc.match_substring_regex(stripped, _ELLIPSIS_RE2)) & ~_mask(
                pc.match_substring_regex(stripped, _CJK_ELLIPSIS_RE2))
            drop("no_terminal_punct", ~term | ell)
        if self.min_words_per_line is not None:
            # A CJK character counts as a word: Chinese lines have no spaces between words.
            is_latin_word = (lengths(words.values) > 0) & ~_mask(
                pc.match_substring_regex(words.values, CJK_RE2)) if len(words.values) else np.zeros(0, bool)
            n_words = words.sum(is_latin_word) + count_re(stripped, CJK_RE2)
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
        if self.reflow:
            phys_keep = rf.to_physical(keep)
            new_text = Segments.from_parts(pc.utf8_trim_whitespace(phys.values), phys.counts).rebuild(phys_keep, "\n")
        else:
            new_text = lines.rebuild(keep, "\n")
        checks: list[Check] = []
        if lorem is not None:
            hits = lines.sum(lorem)
            checks.append(Check("c4_lorem_ipsum", hits > 0, hits))
        if curly is not None:
            hits = lines.sum(curly)
            checks.append(Check("c4_curly_bracket", hits > 0, hits))
        if self.min_num_sentences is not None:
            per_line = count_re(stripped, _SENTENCE_END_RE2) - count_re(stripped, _ABBREV_END_RE2) + (
                (lengths(stripped) > 0) & ~_mask(pc.match_substring_regex(stripped, _ENDS_WITH_SENTENCE_RE2)))
            n_sent = lines.sum(np.where(keep, per_line, 0))
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

    def input_files(self) -> list[str]:
        return [self.badwords_file]

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
