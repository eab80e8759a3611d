"""Parity with the reference: Winnow's published rule sets against datatrove 0.10.1's filters on
the same real documents (the bundled sample's English pages and web junk).

Two comparisons for every rule that claims a published default:

* ``tokenizer="winnow"``: datatrove's rule code with its word splitter replaced by Winnow's
  (``contract.textstats.split_tokens_datatrove``). This compares the rules themselves: the decisions
  must be the same, except the differences named in docs/filters.md ("Parity with datatrove"),
  each asserted below.
* ``tokenizer="spacy"``: datatrove exactly as shipped (spaCy's English tokenizer and sentencizer;
  skipped where spaCy is not installed). The remaining disagreements come from Winnow's
  vectorised approximation of spaCy's tokenizer and sentence splitter; they are bounded and
  limited to the rules that count tokens or sentences.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

pytest.importorskip("datatrove")

from datatrove.data import Document  # noqa: E402
from datatrove.pipeline.filters import (  # noqa: E402
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)

from contract.textstats import script_langs, split_tokens_datatrove  # noqa: E402
from operators.filters import C4Quality, FineWebQuality, GopherQuality, GopherRepetition  # noqa: E402
from pipeline.local import make_table, run_operator  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
EVERY = 4  # every fourth English document of the sample: ~350 real documents, deterministic

# datatrove reason -> Winnow reason
REASONS = {
    "gopher_below_avg_threshold": "gopher_below_avg_word_length",
    "gopher_above_avg_threshold": "gopher_above_avg_word_length",
    "gopher_enough_stop_words": "gopher_few_stop_words",
    "lorem_ipsum": "c4_lorem_ipsum",
    "curly_bracket": "c4_curly_bracket",
    "too_few_sentences": "c4_too_few_sentences",
    "empty": "fineweb_empty",
}


def winnow_reason(dt_reason: str, rule: str) -> str:
    if dt_reason in REASONS:
        return REASONS[dt_reason]
    if dt_reason.startswith("duplicated_"):  # duplicated_5_n_grams
        return f"gopher_dup_{dt_reason.split('_')[1]}_gram"
    if rule == "gopher_repetition":
        return f"gopher_{dt_reason}"
    if rule == "fineweb_quality":
        return f"fineweb_{dt_reason}"
    return dt_reason


def load_docs() -> tuple[list[str], list[str]]:
    texts, sources = [], []
    for name in ("en.jsonl.gz", "web_junk.jsonl.gz"):
        with gzip.open(SAMPLE / name, "rt", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                texts.append(r["text"])
                sources.append(r["source"])
    english = script_langs(pa.array(texts)) == "en"
    idx = [i for i in range(len(texts)) if english[i]][::EVERY]
    return [texts[i] for i in idx], [sources[i] for i in idx]


TEXTS, SOURCES = load_docs()


def run_winnow(op) -> list[tuple[str | None, str | None]]:
    """(reason, kept text) per document."""
    table = make_table(TEXTS, lang=["en"] * len(TEXTS))
    res = run_operator(op, table)
    out: dict[str, tuple[str | None, str | None]] = {}
    for row in res.kept.select(["id", "text"]).to_pylist():
        out[row["id"]] = (None, row["text"])
    if res.rejected.num_rows:
        for row in res.rejected.select(["id", "reject_reason"]).to_pylist():
            out[row["id"]] = (row["reject_reason"], None)
    return [out[i] for i in table.column("id").to_pylist()]


def run_datatrove(flt, rule: str) -> list[tuple[str | None, str | None]]:
    out = []
    for t in TEXTS:
        doc = Document(text=t, id="x")
        r = flt.filter(doc)
        if r is True:
            out.append((None, doc.text))
        else:
            out.append((winnow_reason(r[1] if isinstance(r, tuple) else "dropped", rule), None))
    return out


def winnow_words(text, language=None):
    return split_tokens_datatrove(pa.array([text])).values.to_pylist()


@pytest.fixture(params=["winnow", "spacy"])
def tokenizer(request, monkeypatch):
    if request.param == "spacy":
        pytest.importorskip("spacy", reason="datatrove's English tokenizer needs spaCy (pip install spacy)")
    else:
        import datatrove.pipeline.filters.fineweb_quality_filter as fq
        import datatrove.pipeline.filters.gopher_quality_filter as gq
        import datatrove.pipeline.filters.gopher_repetition_filter as gr

        for mod in (gq, gr, fq):
            monkeypatch.setattr(mod, "split_into_words", winnow_words)
    return request.param


def dup_n(reason: str) -> int:
    """n of a gopher_dup_{n}_gram reason (0 for other reasons)."""
    return int(reason.split("_")[2]) if reason.startswith("gopher_dup_") and reason.endswith("_gram") else 0


def disagreements(ours, theirs) -> Counter:
    """(winnow reason, datatrove reason, source) of every document where the keep/drop decision or
    the first failing rule differs."""
    c: Counter = Counter()
    for (a, _), (b, _), s in zip(ours, theirs, SOURCES):
        if a != b:
            c[(a, b, s)] += 1
    return c


def test_sample_is_real_and_mixed():
    assert len(TEXTS) > 300
    assert {"en_wikipedia_vital_summaries", "en_gnome_help", "en_dict_jargon", "synthetic_en_spam"} <= set(SOURCES)


def test_gopher_quality(tokenizer):
    ours = run_winnow(GopherQuality())
    theirs = run_datatrove(GopherQualityFilter(), "gopher_quality")
    assert sum(r is not None for r, _ in theirs) > 100  # the comparison covers drops, not just keeps
    diff = disagreements(ours, theirs)
    if tokenizer == "winnow":
        assert diff == Counter()  # same rules, same tokens: same decisions and reasons
    else:
        # spaCy splits some tokens Winnow's approximation keeps whole ("U.S", "it's", URLs) and the
        # other way round: the rules that count tokens move near their thresholds, the line rules
        # (bullets, ellipsis lines) never differ.
        token_rules = {None, "gopher_short_doc", "gopher_below_avg_word_length", "gopher_above_avg_word_length",
                       "gopher_below_alpha_threshold", "gopher_too_many_hashes", "gopher_too_many_ellipsis",
                       "gopher_few_stop_words"}
        assert all({a, b} <= token_rules for a, b, _ in diff), diff
        assert sum(diff.values()) <= 0.04 * len(TEXTS), diff


def test_gopher_repetition(tokenizer):
    ours = run_winnow(GopherRepetition())
    theirs = run_datatrove(GopherRepetitionFilter(), "gopher_repetition")
    assert sum(r is not None for r, _ in theirs) > 30
    diff = disagreements(ours, theirs)
    # Named difference: duplicated n-gram characters are the union of every n-gram that repeats an
    # earlier one; datatrove scans left to right and jumps n tokens after a repeat (and never adds
    # the jumped n-grams to its set), so it counts fewer. Winnow drops, datatrove keeps.
    union = {k: v for k, v in diff.items() if (k[0] or "").startswith("gopher_dup_") and k[0].endswith("_gram")
             and (k[1] is None or dup_n(k[1]) > dup_n(k[0]))}
    rest = {k: v for k, v in diff.items() if k not in union}
    assert sum(union.values()) <= 0.01 * len(TEXTS), union
    if tokenizer == "winnow":
        assert rest == {}
    else:
        assert sum(rest.values()) <= 0.02 * len(TEXTS), rest
        assert all("gram" in (a or "") + (b or "") for a, b, _ in rest), rest


def test_c4_quality_lines_and_text(tokenizer):
    """The line rules and the rewritten text (sentence count off: compared below with spaCy)."""
    ours = run_winnow(C4Quality(min_num_sentences=None))
    theirs = run_datatrove(C4QualityFilter(min_num_sentences=-1), "c4_quality")
    assert disagreements(ours, theirs) == Counter()
    same_text = sum(a == b for (_, a), (_, b) in zip(ours, theirs))
    differ = [(a, b) for (_, a), (_, b) in zip(ours, theirs) if a != b]
    # Named differences in the kept text: lines ending in a typographic quote (” ’) or a CJK sentence
    # end are kept by Winnow; citation markers are removed before the line is stripped.
    for a, b in differ:
        extra = set(a.split("\n")) - set(b.split("\n"))
        assert all(line.endswith(("”", "’", "。", "！", "？")) or "[" in line or line.rstrip() != line
                   for line in extra), extra
    assert same_text >= 0.97 * len(TEXTS)


def test_c4_quality_sentences():
    pytest.importorskip("spacy", reason="datatrove's sentence splitter needs spaCy (pip install spacy)")
    ours = run_winnow(C4Quality())
    theirs = run_datatrove(C4QualityFilter(), "c4_quality")
    assert sum(r == "c4_too_few_sentences" for r, _ in theirs) > 100
    diff = disagreements(ours, theirs)
    # Sentences are counted with a regex that knows common abbreviations, not spaCy's sentencizer.
    assert all({a, b} <= {None, "c4_too_few_sentences"} for a, b, _ in diff), diff
    assert sum(diff.values()) <= 0.01 * len(TEXTS), diff


def test_fineweb_quality(tokenizer):
    ours = run_winnow(FineWebQuality())
    theirs = run_datatrove(FineWebQualityFilter(), "fineweb_quality")
    assert sum(r is not None for r, _ in theirs) > 50
    assert disagreements(ours, theirs) == Counter()
