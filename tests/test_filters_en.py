"""English rule filters: each rule on both sides of its published threshold; hard-wrapped and
bilingual real pages (issue 15); presets and preset files."""

import gzip
import json
import re
from pathlib import Path

import pytest

from operators.filters import (
    C4BadWords,
    C4Quality,
    FineWebQuality,
    GopherQuality,
    GopherRepetition,
    build_filters,
    preset_chain,
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
    op = GopherQuality(tokens="whitespace")
    assert reason(op, words(49)) == "gopher_short_doc"
    assert reason(op, words(50)) is None
    assert outcome(op, words(49))[1] == "49"
    assert reason(op, words(100_001)) == "gopher_long_doc"
    assert reason(op, words(100_000)) is None


def test_gopher_mean_word_length():
    op = GopherQuality(tokens="whitespace")
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
    op = GopherQuality(tokens="whitespace")
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
    op = GopherQuality(tokens="whitespace")
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
    # Characters in duplicated paragraphs over len(text), as datatrove (issue 15: Winnow divided by
    # non-space characters while counting the paragraph's spaces, 245/1023 = 0.24 instead of 0.19).
    one_dup = EN_CLEAN + "\n\n" + paras[2]  # 245 / 1263 = 0.194
    assert reason(only_char, one_dup) is None
    old_measure = GopherRepetition(dup_para_frac=None, dup_line_frac=None, dup_line_char_frac=None,
                                   top_n_grams=[], dup_n_grams=[], char_fraction_of="non_space")
    assert outcome(old_measure, one_dup)[:2] == ("gopher_dup_para_char_frac", "0.2395")
    two_dup = one_dup + "\n\n" + paras[3]
    expected = (len(paras[2]) + len(paras[3])) / len(two_dup)
    assert outcome(only_char, two_dup)[:2] == ("gopher_dup_para_char_frac", f"{expected:.4g}")
    note = EN_SENTENCES[0] + " " + EN_SENTENCES[1]  # 150 characters, repeated once: ~0.12
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
    lists = FineWebQuality(short_line_thr=None, tokens="whitespace")
    two_words = "\n".join(f"Item {w}." for w in ["one", "two", "three", "four", "five", "six"])
    three_words = "\n".join(f"Item number {w}." for w in ["one", "two", "three", "four", "five", "six"])
    assert outcome(lists, two_words)[:2] == ("fineweb_list_ratio", "0.4167")  # 5 newlines / 12 words
    assert reason(lists, three_words) is None  # 5 / 18


def test_english_rules_skip_chinese_documents():
    op = build_filters("en")
    res = run_operator(op, make_table([ZH_CLEAN, "短"], lang=["zh", None]))
    assert res.reasons() == []


@pytest.mark.parametrize("preset", ["en", "zh", "mixed", "gopher", "c4", "fineweb"])
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


# --- issue 15: hard-wrapped and bilingual real pages, script-aware sentence ends, parity fixes ---------

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
HAN = re.compile(r"[\u4e00-\u9fff]")


def sample_docs(name: str, ids: list[str]) -> dict[str, str]:
    want = set(ids)
    with gzip.open(SAMPLE / name, "rt", encoding="utf-8") as f:
        rows = (json.loads(line) for line in f)
        return {r["id"]: r["text"] for r in rows if r["id"] in want}


def kept_share(preset_or_op, text: str) -> float:
    """Share of the document's characters kept (0 when the document is dropped)."""
    op = build_filters(preset_or_op) if isinstance(preset_or_op, str) else preset_or_op
    res = run_operator(op, make_table([text], lang=["en"]))
    return len(res.kept.column("text")[0].as_py()) / len(text) if res.kept.num_rows else 0.0


# Hard-wrapped real pages from the bundled sample: the GPL (plain-text licence), a GNOME help page
# and a Jargon File entry (with {cross-references}).
WRAPPED = ["legal_common_licenses:8#s0", "en_gnome_help:81", "en_dict_jargon:1984"]


def test_hard_wrapped_pages_are_shredded_by_the_c4_line_rule():
    """The defect, reproduced with the published C4 rules (the ``c4`` preset): every wrapped line
    that does not end a sentence is removed, or the page is dropped (curly bracket)."""
    docs = sample_docs("en.jsonl.gz", WRAPPED)
    shares = {i: kept_share("c4", docs[i]) for i in WRAPPED}
    assert shares["legal_common_licenses:8#s0"] < 0.3
    assert shares["en_gnome_help:81"] < 0.3
    assert shares["en_dict_jargon:1984"] == 0.0  # c4_curly_bracket
    assert outcome(build_filters("c4"), docs["en_dict_jargon:1984"])[0] == "c4_curly_bracket"


def test_hard_wrapped_pages_keep_most_of_their_text_in_en():
    docs = sample_docs("en.jsonl.gz", WRAPPED)
    for i in WRAPPED:
        assert kept_share("en", docs[i]) > 0.8, i
        assert kept_share("mixed", docs[i]) > 0.8, i


def test_reflow_joins_wrapped_paragraphs_only():
    import pyarrow as pa

    from contract.textstats import Reflow, split_lines

    wrapped = ("The licenses for most software and other practical works are designed\n"
               "to take away your freedom to share and change the works.  By contrast,\n"
               "the GNU General Public License is intended to guarantee your freedom to\n"
               "share and change all versions of a program.\n\n"
               "Home\nAbout us\nContact\n"
               "- first item of a list that is long enough to reach the wrap column\n"
               "- second item")
    rf = Reflow(split_lines(pa.array([wrapped])))
    logical = rf.logical.values.to_pylist()
    assert logical[0].startswith("The licenses") and logical[0].endswith("of a program.")
    assert logical[1:6] == ["", "Home", "About us", "Contact",
                            "- first item of a list that is long enough to reach the wrap column"]
    assert rf.joins.tolist() == [3]
    # Repeated lines are not merged away: the repetition rules still see them.
    spam = "\n".join(["Buy cheap watches online at the best prices from our store today"] * 12)
    assert reason(build_filters("en"), spam + "\n" + EN_CLEAN) is not None


def test_c4_line_rules_judge_logical_lines_when_reflowed():
    doc = sample_docs("en.jsonl.gz", ["legal_common_licenses:8#s0"])["legal_common_licenses:8#s0"]
    published = C4Quality(min_num_sentences=None)
    reflowed = C4Quality(min_num_sentences=None, reflow=True)
    assert kept_share(published, doc) < 0.3
    r, _, text = outcome(reflowed, doc)
    assert r is None and len(text) / len(doc) > 0.8
    assert "\n" in text  # kept text keeps its line breaks


BILINGUAL = "zh_gnome_help:0"  # a GNOME help page, English with Chinese paragraphs (routed "en")


def test_bilingual_page_loses_its_chinese_in_published_c4():
    """The defect, reproduced with the reference implementation: datatrove's C4 line rule counts only
    ASCII sentence ends, so every Chinese line goes."""
    pytest.importorskip("datatrove")
    from datatrove.data import Document
    from datatrove.pipeline.filters import C4QualityFilter

    text = sample_docs("zh.jsonl.gz", [BILINGUAL])[BILINGUAL]
    assert len(HAN.findall(text)) == 167
    doc = Document(text=text, id="x")
    assert C4QualityFilter(min_num_sentences=-1).filter(doc) is True
    assert len(HAN.findall(doc.text)) == 0


def test_bilingual_page_keeps_its_chinese_lines():
    text = sample_docs("zh.jsonl.gz", [BILINGUAL])[BILINGUAL]
    zh_lines = [ln.strip() for ln in text.splitlines() if HAN.search(ln) and ln.strip().endswith("。")]
    assert zh_lines
    for preset in ("en", "mixed"):
        r, _, kept = outcome(build_filters(preset), text)
        assert r is None and len(HAN.findall(kept)) == 167, preset
    # Even the published C4 line rule keeps Chinese lines that end a sentence (script-aware ends).
    r, _, kept = outcome(C4Quality(min_num_sentences=None), text)
    assert r is None and all(ln in kept for ln in zh_lines)


def test_script_aware_sentence_ends():
    zh = "这是第一句话，内容很完整。\n第二句话也在这里结束！\n第三句呢？\n最后一句以省略号结尾……"
    latin = "Read the rest of this story…"
    op = C4Quality(min_num_sentences=None, min_words_per_line=None)
    r, _, kept = outcome(op, zh + "\n" + latin, lang="en")
    assert r is None and kept == zh  # all four Chinese lines end a sentence; the Latin "…" does not
    # A CJK character counts as a word: short Chinese sentences are not "lines of < 3 words".
    r, _, kept = outcome(C4Quality(min_num_sentences=None), zh)
    assert kept == zh
    # FineWeb: 。！？ are terminal in both modes, "……" in the sentence mode.
    assert FineWebQuality(line_end="sentence").stats(make_table([zh])["text"].combine_chunks())[
        "line_punct_ratio"].tolist() == [1.0]
    # Gopher: "……" after Chinese ends a sentence, it is not an ellipsis line.
    gq = GopherQuality(tokens="whitespace")
    st = gq.stats(make_table(["\n".join(["中文句子……"] * 4 + ["An English line."])])["text"].combine_chunks())
    assert st["end_ellipsis_lines_ratio"].tolist() == [0.0]


def test_c4_sentence_count_knows_abbreviations():
    four = ("The U.S. Census Bureau counts people. It was named by the U.S. Congress. "
            "Dr. Smith lives on St. Marys River. It is big.")
    assert outcome(C4Quality(), four)[:2] == ("c4_too_few_sentences", "4")
    # A kept line without final punctuation is a sentence too (FineWeb's C4 keeps such lines).
    op = C4Quality(filter_no_terminal_punct=False)
    assert outcome(op, four + "\nAnd a last line without a period")[0] is None


def test_stop_words_are_distinct():
    """Gopher: "at least two of the following words": distinct words, as datatrove counts them.
    Winnow counted occurrences, so "the" three times passed."""
    base = ("Fresh bread, local cheese, smoked fish, ripe pears, wild honey, green beans, "
            "sweet onions, dark chocolate, strong coffee, black tea. ") * 4
    op = GopherQuality(tokens="whitespace")
    assert outcome(op, base + " the market, the harbour, the town")[:2] == ("gopher_few_stop_words", "1")
    assert reason(op, base + " the market and the harbour") is None
    # Case: datatrove compares tokens as written ("The" is not "the"); the en preset ignores case.
    dt = GopherQuality(min_alpha_words_ratio=None)  # the list's commas are tokens of their own here
    assert reason(dt, base + " The market And harbour") == "gopher_few_stop_words"
    assert reason(GopherQuality(min_alpha_words_ratio=None, stop_words_ignore_case=True),
                  base + " The market And harbour") is None


def test_datatrove_tokens_count_punctuation():
    """Class default (datatrove): punctuation split off words counts in the ratio denominators."""
    import pyarrow as pa

    from contract.textstats import split_tokens_datatrove

    toks = split_tokens_datatrove(pa.array(['(hello), "world." ...yes!!! e-mail 9am +1 @user']))
    assert toks.values.to_pylist() == ["(", "hello", ")", ",", '"', "world", ".", '"', "...", "yes", "!", "!",
                                       "!", "e", "-", "mail", "9", "am", "+1", "@user"]
    st = GopherQuality().stats(make_table([EN_CLEAN])["text"].combine_chunks())
    st_ws = GopherQuality(tokens="whitespace").stats(make_table([EN_CLEAN])["text"].combine_chunks())
    assert st["alpha_words_ratio"][0] + 0.05 < st_ws["alpha_words_ratio"][0]


def test_published_presets_are_the_published_defaults():
    assert preset_chain("gopher") == {"gopher_quality": {}, "gopher_repetition": {}}
    assert preset_chain("c4") == {"c4_quality": {}, "c4_badwords": {}}
    assert list(preset_chain("fineweb")) == ["gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality"]
    assert preset_chain("fineweb")["c4_quality"] == {"filter_no_terminal_punct": False}
    c4 = build_filters("c4").operators[0]
    assert c4.filter_no_terminal_punct and c4.min_num_sentences == 5 and c4.filter_curly_bracket and not c4.reflow
    en = {op.name: op for op in build_filters("en").operators}
    assert not en["c4_quality"].filter_no_terminal_punct
    assert en["c4_quality"].min_num_sentences is None and not en["c4_quality"].filter_curly_bracket
    assert en["c4_quality"].reflow and en["fineweb_quality"].reflow
    mixed = {op.name: op for op in build_filters("mixed").operators}
    assert mixed["c4_quality"].params() == en["c4_quality"].params()
    # an override updates the preset's parameters instead of replacing them
    chain = build_filters("en", c4_quality={"min_num_sentences": 3})
    c4_en = [op for op in chain.operators if op.name == "c4_quality"][0]
    assert c4_en.min_num_sentences == 3 and c4_en.reflow


def test_preset_file(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("filters:\n  gopher_quality: {min_doc_words: 7, tokens: whitespace}\n  c4_badwords: {}\n")
    chain = build_filters(str(f), c4_badwords={"min_hits": 2})
    assert [op.name for op in chain.operators] == ["gopher_quality", "c4_badwords"]
    assert chain.operators[0].min_doc_words == 7 and chain.operators[1].min_hits == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("filters:\n  no_such_filter: {}\n")
    with pytest.raises(ValueError, match="no_such_filter"):
        build_filters(str(bad))
    with pytest.raises(ValueError, match="not found"):
        build_filters(str(tmp_path / "missing.yaml"))
