"""English rule filters: each rule on both sides of its published threshold."""

import pytest

from operators.filters import (
    C4BadWords,
    C4Quality,
    FineWebQuality,
    GopherQuality,
    GopherRepetition,
    build_filters,
)
from pipeline.local import make_table, run_operator
from tests.filter_docs import EN_CLEAN, EN_SENTENCES, ZH_CLEAN


def outcome(op, text, lang="en"):
    """(reason, detail, kept text) of one document."""
    res = run_operator(op, make_table([text], lang=[lang]))
    if res.rejected.num_rows:
        row = res.rejected.to_pylist()[0]
        return row["reject_reason"], row["reject_detail"], None
    return None, None, res.kept.column("text")[0].as_py()


def reason(op, text, lang="en"):
    return outcome(op, text, lang)[0]


def words(n):
    w = EN_CLEAN.split()
    return " ".join((w * (n // len(w) + 1))[:n])


def test_clean_english_passes_en_preset():
    res = run_operator(build_filters("en"), make_table([EN_CLEAN], lang=["en"]))
    assert res.reasons() == []
    assert res.kept.column("text")[0].as_py().startswith("The old harbour town")
    assert res.metrics["seconds/gopher_quality"] > 0


def test_gopher_doc_length():
    op = GopherQuality()
    assert reason(op, words(49)) == "gopher_short_doc"
    assert reason(op, words(50)) is None
    assert outcome(op, words(49))[1] == "49"
    assert reason(op, words(100_001)) == "gopher_long_doc"
    assert reason(op, words(100_000)) is None


def test_gopher_mean_word_length():
    op = GopherQuality()
    short = ["to", "of", "in", "it", "is", "we", "an", "at", "on", "be"]
    four = ["that", "with", "have", "this", "from", "they", "word", "time", "road", "tree"]
    below = " ".join(short * 6 + four * 3)  # mean 2.67
    above = " ".join(short * 4 + four * 5)  # mean 3.11
    assert reason(op, below) == "gopher_below_avg_word_length"
    assert reason(op, above) is None
    longw = ["internationalisation", "telecommunications", "responsibilities", "characteristically"]
    too_long = " ".join(longw * 15 + ["the", "of", "and", "to"] * 2)
    assert reason(op, too_long) == "gopher_above_avg_word_length"


def test_gopher_hash_and_ellipsis_ratio():
    op = GopherQuality()
    assert len(EN_CLEAN.split()) == 192
    assert reason(op, EN_CLEAN + " #travel" * 25) == "gopher_too_many_hashes"  # 25/217 > 0.1
    assert reason(op, EN_CLEAN + " #travel" * 15) is None
    assert reason(op, EN_CLEAN + " wait…" * 15) is None  # 15/207
    assert reason(op, EN_CLEAN + " wait..." * 25) == "gopher_too_many_ellipsis"  # 25/217


def test_gopher_bullets_and_end_ellipsis():
    op = GopherQuality()
    lines = EN_SENTENCES[:10]
    all_bullets = "\n".join("- " + s for s in lines)
    some = "\n".join(("- " + s) if i < 8 else s for i, s in enumerate(lines))
    assert reason(op, all_bullets) == "gopher_too_many_bullets"
    assert reason(op, some) is None
    four = "\n".join(s[:-1] + "..." if i < 4 else s for i, s in enumerate(lines))
    three = "\n".join(s[:-1] + "..." if i < 3 else s for i, s in enumerate(lines))
    assert reason(op, four) == "gopher_too_many_end_ellipsis"
    assert reason(op, three) is None


def test_gopher_alpha_words_and_stop_words():
    op = GopherQuality()
    nums = " ".join(str(1000 + i) for i in range(60))
    assert reason(op, EN_CLEAN + " " + nums) == "gopher_below_alpha_threshold"  # 190/250
    assert reason(op, EN_CLEAN + " " + nums[: 5 * 40]) is None  # 190/230
    no_stop = ("Fresh bread, local cheese, smoked fish, ripe pears, wild honey, green beans, "
               "sweet onions, dark chocolate, strong coffee, black tea. ") * 4
    assert reason(op, no_stop + " the market") == "gopher_few_stop_words"
    assert reason(op, no_stop + " the market and the harbour") is None


def test_gopher_repetition_paragraphs():
    op = GopherRepetition()
    thanks = "Thank you for reading."
    assert outcome(op, EN_CLEAN + ("\n\n" + thanks) * 4)[:2] == ("gopher_dup_para_frac", "0.375")  # 3/8
    assert reason(op, EN_CLEAN + ("\n\n" + thanks) * 3) is None  # 2/7
    paras = EN_CLEAN.split("\n\n")
    only_char = GopherRepetition(dup_para_frac=None, dup_line_frac=None, dup_line_char_frac=None,
                                 top_n_grams=[], dup_n_grams=[])
    assert reason(only_char, EN_CLEAN + "\n\n" + paras[2]) == "gopher_dup_para_char_frac"  # ~0.25
    note = EN_SENTENCES[0] + " " + EN_SENTENCES[1]  # 150 characters, repeated once: ~0.13
    assert reason(only_char, EN_CLEAN + "\n\n" + note + "\n\n" + note) is None


def test_gopher_repetition_lines():
    op = GopherRepetition(dup_para_frac=None, dup_para_char_frac=None, top_n_grams=[], dup_n_grams=[])
    body = "\n".join(EN_SENTENCES[:7])
    assert reason(op, body + "\n" + "\n".join(EN_SENTENCES[:4])) == "gopher_dup_line_frac"  # 4/11
    frac_only = GopherRepetition(dup_para_frac=None, dup_para_char_frac=None, dup_line_char_frac=None,
                                 top_n_grams=[], dup_n_grams=[])
    assert reason(frac_only, body + "\n" + "\n".join(EN_SENTENCES[:3])) is None  # 3/10 is not > 0.3
    char_only = GopherRepetition(dup_para_frac=None, dup_para_char_frac=None, dup_line_frac=None,
                                 top_n_grams=[], dup_n_grams=[])
    assert reason(char_only, body + "\n" + "\n".join(EN_SENTENCES[:2])) == "gopher_dup_line_char_frac"
    assert reason(char_only, body + "\n" + EN_SENTENCES[0]) is None


def test_gopher_ngram_repetition():
    top2 = GopherRepetition(dup_para_frac=None, dup_para_char_frac=None, dup_line_frac=None,
                            dup_line_char_frac=None, top_n_grams=[[2, 0.2]], dup_n_grams=[])
    spam = EN_CLEAN + " cheap flights" * 25  # 25 x 13 chars over ~1190
    ok = EN_CLEAN + " cheap flights" * 12
    assert reason(top2, spam) == "gopher_top_2_gram"
    assert reason(top2, ok) is None
    dup5 = GopherRepetition(dup_para_frac=None, dup_para_char_frac=None, dup_line_frac=None,
                            dup_line_char_frac=None, top_n_grams=[], dup_n_grams=[[5, 0.15]])
    paras = EN_CLEAN.split("\n\n")
    # Paragraph 4 repeated inside one line: ~0.22 of characters repeat earlier 5-grams.
    assert reason(dup5, EN_CLEAN + " " + paras[3]) == "gopher_dup_5_gram"
    assert reason(dup5, EN_CLEAN + " " + paras[1][:120]) is None
    detail = outcome(dup5, EN_CLEAN + " " + paras[3])[1]
    assert float(detail) > 0.15


def test_c4_rules():
    op = C4Quality()
    assert reason(op, EN_CLEAN + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.") == "c4_lorem_ipsum"
    assert reason(op, EN_CLEAN + "\nThe template prints {name} when the page loads.") == "c4_curly_bracket"
    # A code line without terminal punctuation is removed first, so the document survives (as in C4).
    r, _, text = outcome(op, EN_CLEAN + "\nif (ready) {")
    assert r is None and "{" not in text
    four = " ".join(EN_SENTENCES[:4])
    five = " ".join(EN_SENTENCES[:5])
    assert outcome(op, four)[:2] == ("c4_too_few_sentences", "4")
    assert reason(op, five) is None


def test_c4_line_removal_and_metrics():
    op = C4Quality()
    doc = (EN_CLEAN + "\nPlease enable JavaScript to view the comments below."
           + "\nThis site uses cookies to improve your experience, see our privacy policy."
           + "\nMenu\nHome | About | Contact")
    res = run_operator(op, make_table([doc], lang=["en"]))
    text = res.kept.column("text")[0].as_py()
    assert "JavaScript" not in text and "cookies" not in text and "Menu" not in text
    assert "The old harbour town" in text
    assert res.metrics["c4/removed_lines/javascript"] == 1
    assert res.metrics["c4/removed_lines/policy"] == 1
    assert res.metrics["c4/removed_lines/no_terminal_punct"] >= 2
    # remove_lines=False measures the same rules and keeps the text as it was
    r, _, same = outcome(C4Quality(remove_lines=False), doc)
    assert r is None and same == doc


def test_c4_badwords():
    op = C4BadWords()
    assert outcome(op, EN_CLEAN + " Free porn videos every day.")[:2] == ("c4_badwords", "1")
    assert reason(op, EN_CLEAN + " The team played in Scunthorpe on Saturday.") is None
    assert reason(op, EN_CLEAN) is None


def test_fineweb_rules():
    op = FineWebQuality()
    long_lines = [s[:-1] + " according to the notes" for s in EN_SENTENCES[:10]]  # no final punctuation
    one = "\n".join(long_lines[:9] + [EN_SENTENCES[9]])  # 1/10 lines end in punctuation
    two = "\n".join(long_lines[:8] + EN_SENTENCES[8:10])  # 2/10
    assert reason(op, one) == "fineweb_line_punct_ratio"
    assert reason(op, two) is None
    shorts = ["The train was late.", "It rained all day.", "We stayed inside.", "The tea was cold.",
              "Nobody said much.", "The dog slept.", "Then the sun came out.", "Seven seven seven."]
    seven = "\n".join(shorts[:7] + EN_SENTENCES[:3])
    six = "\n".join(shorts[:6] + EN_SENTENCES[:4])
    assert reason(op, seven) == "fineweb_short_line_ratio"
    assert reason(op, six) is None
    dup_long = EN_CLEAN + "\nThe museum is open.\nThe museum is open."  # 19 chars / ~1000
    dup_short = EN_CLEAN + "\nSee you.\nSee you."  # 8 chars / ~980
    assert reason(op, dup_long) == "fineweb_char_dup_ratio"
    assert reason(op, dup_short) is None
    lists = FineWebQuality(short_line_thr=None)
    two_words = "\n".join(f"Item {w}." for w in ["one", "two", "three", "four", "five", "six"])
    three_words = "\n".join(f"Item number {w}." for w in ["one", "two", "three", "four", "five", "six"])
    assert outcome(lists, two_words)[:2] == ("fineweb_list_ratio", "0.4167")  # 5 newlines / 12 words
    assert reason(lists, three_words) is None  # 5 / 18


def test_english_rules_skip_chinese_documents():
    op = build_filters("en")
    res = run_operator(op, make_table([ZH_CLEAN, "短"], lang=["zh", None]))
    assert res.reasons() == []


@pytest.mark.parametrize("preset", ["en", "zh", "mixed"])
def test_presets_build_and_override(preset):
    chain = build_filters(preset)
    assert chain.operators
    names = [op.name for op in chain.operators]
    assert len(names) == len(set(names))


def test_overrides_and_errors():
    chain = build_filters("en", gopher_quality={"min_doc_words": 10}, disable=["c4_badwords"])
    assert [op.name for op in chain.operators if op.name == "c4_badwords"] == []
    assert chain.operators[0].min_doc_words == 10
    with pytest.raises(ValueError):
        build_filters("nope")
    with pytest.raises(ValueError):
        build_filters("en", no_such_filter={})
    with pytest.raises(TypeError):
        build_filters("en", gopher_quality={"no_such_param": 1})
