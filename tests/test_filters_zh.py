"""Chinese rule filters, the blacklist, and mixed zh/en documents."""

import random

import pyarrow as pa

from operators.filters import Blacklist, ChineseQuality, ChineseRepetition, build_filters
from operators.filters.blacklist import load_blacklist
from operators.langid import LangID
from pipeline.local import make_table, run_operator
from tests.filter_docs import EN_CLEAN, MIXED_TECH, ZH_CLEAN, ZH_SENTENCES, ZH_SPAM


def outcome(op, text, lang="zh"):
    res = run_operator(op, make_table([text], lang=[lang]))
    if res.rejected.num_rows:
        row = res.rejected.to_pylist()[0]
        return row["reject_reason"], row["reject_detail"]
    return None, None


def reason(op, text, lang="zh"):
    return outcome(op, text, lang)[0]


def stat(name, text):
    return float(ChineseQuality().stats(pa.array([text]))[name][0])


def test_clean_chinese_prose_passes_and_spam_fails_zh_preset():
    chain = build_filters("zh")
    res = run_operator(chain, make_table([ZH_CLEAN, ZH_SPAM, "\n".join(ZH_SENTENCES)], lang=["zh"] * 3))
    assert res.kept.column("id").to_pylist() == ["doc-0", "doc-2"]
    row = res.rejected.to_pylist()[0]
    assert row["reject_reason"] == "blacklist_hits"
    assert row["reject_detail"].startswith(tuple("0123456789")) and "gambling" in row["reject_detail"]


def test_chinese_length():
    op = ChineseQuality()
    clean = ZH_CLEAN.replace("\n", "")
    assert outcome(op, clean[:48] + "。") == ("zh_short_doc", "49")
    assert reason(op, clean[:49] + "。") is None
    assert reason(op, ZH_CLEAN * 10, ) is None
    assert reason(ChineseQuality(max_chars=1000), ZH_CLEAN * 10) == "zh_long_doc"


def test_cjk_ratio():
    op = ChineseQuality()
    english = "The configuration file is read at startup and reloaded when the service receives a signal."
    low = "说明：" + english + "详见下文。" + "这个配置文件。"  # few Han characters among many letters
    high = ZH_SENTENCES[0] + english + ZH_SENTENCES[1]
    assert stat("cjk_ratio", low) < 0.2 < stat("cjk_ratio", high)
    assert reason(op, low) == "zh_low_cjk_ratio"
    assert reason(op, high) is None


def test_digit_and_symbol_ratio():
    op = ChineseQuality()
    digits = "订单号：20230815001234567，金额：12345678.90元，电话：13800138000，日期：2023-08-15。" * 2
    assert stat("digit_ratio", digits) > 0.3
    assert reason(op, digits) == "zh_high_digit_ratio"
    some_digits = ZH_SENTENCES[0] + "订单号：20230815001234567，日期：2023年8月15日。" + ZH_SENTENCES[1]
    assert stat("digit_ratio", some_digits) < 0.3
    assert reason(op, some_digits) is None
    stars = "★☆★☆★超值特价★☆★☆★→→→全场五折←←←☆☆☆限时抢购☆☆☆◆◆◆包邮到家◆◆◆♥♥♥欢迎选购♥♥♥。"
    assert reason(op, stars + ZH_SENTENCES[0]) == "zh_high_symbol_ratio"
    assert reason(op, "★" + ZH_CLEAN + "★") is None


def test_url_density():
    op = ChineseQuality()
    links = "\n".join(f"下载地址：https://example.com/files/download/{i}/package-latest.tar.gz 。" for i in range(6))
    assert reason(op, links) == "zh_url_density"
    one = ZH_CLEAN + "\n详情请见 https://example.com/about 。"
    assert stat("url_char_ratio", one) < 0.2
    assert reason(op, one) is None


def test_garbled_text_low_average_word_length():
    op = ChineseQuality()
    chars = list("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经")
    rng = random.Random(0)
    garbled = "".join(rng.choice(chars) for _ in range(300)) + "。"
    assert stat("avg_word_length", garbled) < 1.2 < stat("avg_word_length", ZH_CLEAN)
    assert reason(op, garbled) == "zh_low_avg_word_length"
    assert reason(op, ZH_CLEAN) is None


def test_terminal_punctuation():
    op = ChineseQuality()
    lines = [s.rstrip("。") + "以及其他相关的情况说明" for s in ZH_SENTENCES]  # long lines, no end mark
    none = "\n".join(lines)
    one = "\n".join(lines[:9] + [ZH_SENTENCES[9]])  # 1 of 10 ends with 。
    assert outcome(op, none) == ("zh_low_terminal_punct", "0")
    assert reason(op, one) is None


def test_table_and_list_pages():
    op = ChineseQuality()
    rows = [f"| 型号 A{i} | 价格 {100 + i} 元 | 库存 {i} 件 |" for i in range(5)]
    table = "\n".join([ZH_SENTENCES[0], *rows, ZH_SENTENCES[1], ZH_SENTENCES[2]])  # 5 of 8 lines
    fewer = "\n".join([*ZH_SENTENCES[:5], *rows[:3]])  # 3 of 8 lines
    assert reason(op, table) == "zh_table_page"
    assert reason(op, fewer) is None
    items = "\n".join(f"{i + 1}. {s}" for i, s in enumerate(ZH_SENTENCES))
    assert reason(op, items) == "zh_list_page"  # 10 of 10 lines are list items
    mostly = "\n".join(f"{i + 1}. {s}" if i < 9 else s for i, s in enumerate(ZH_SENTENCES))
    assert reason(op, mostly) is None  # 9 of 10 is not > 0.9
    nav = "\n".join(["首页", "新闻中心", "产品展示", "关于我们", "联系我们", "加入我们", "网站地图",
                     ZH_SENTENCES[0], ZH_SENTENCES[1], ZH_SENTENCES[2]])
    assert reason(op, nav) == "zh_list_page"  # 7 of 10 short lines without punctuation
    assert reason(op, "\n".join(["首页", "新闻中心", "产品展示", *ZH_SENTENCES[:7]])) is None


def test_chinese_repetition():
    op = ChineseRepetition()
    body = "\n".join(ZH_SENTENCES[:7])
    assert reason(op, body + "\n" + "\n".join(ZH_SENTENCES[:4])) == "zh_dup_line_frac"
    assert reason(op, "\n".join(ZH_SENTENCES)) is None
    words_only = ChineseRepetition(dup_para_frac=None, dup_para_char_frac=None, dup_line_frac=None,
                                   dup_line_char_frac=None, top_n_grams=[], char_dup_n_grams=[])
    para = ZH_CLEAN.split("\n\n")[1]
    # a paragraph repeated inside the same line: jieba word 5..10-grams repeat
    assert reason(words_only, ZH_CLEAN + para) in {f"zh_dup_{n}_gram" for n in range(5, 11)}
    assert reason(words_only, ZH_CLEAN) is None
    chars_only = ChineseRepetition(dup_para_frac=None, dup_para_char_frac=None, dup_line_frac=None,
                                   dup_line_char_frac=None, top_n_grams=[], dup_n_grams=[])
    assert reason(chars_only, ZH_CLEAN + para + para) == "zh_dup_char_10_gram"
    assert reason(chars_only, ZH_CLEAN + para[:60]) is None
    top = ChineseRepetition(dup_para_frac=None, dup_para_char_frac=None, dup_line_frac=None,
                            dup_line_char_frac=None, dup_n_grams=[], char_dup_n_grams=[],
                            top_n_grams=[[2, 0.2]])
    assert reason(top, ZH_CLEAN + "特价手机" * 40) == "zh_top_2_gram"
    assert reason(top, ZH_CLEAN + "特价手机" * 5) is None


def test_blacklist_threshold_and_custom_file(tmp_path):
    op = Blacklist()
    news = ZH_CLEAN + "警方近日破获一起网络赌场案件，涉案的百家乐平台已被关闭。"  # 2 hits
    assert reason(op, news) is None
    assert reason(op, news + "另一处时时彩窝点也被查处。") == "blacklist_hits"  # 3 hits, > 1 per 1000 chars
    assert reason(Blacklist(min_hits=4), news + "另一处时时彩窝点也被查处。") is None
    custom = tmp_path / "list.txt"
    custom.write_text("[mine]\n桂花糕\n石桥\n", encoding="utf-8")
    assert load_blacklist(custom) == {"桂花糕": "mine", "石桥": "mine"}
    assert outcome(Blacklist(blacklist_file=str(custom), min_hits=2), ZH_CLEAN)[0] == "blacklist_hits"
    assert outcome(Blacklist(blacklist_file=str(custom), min_hits=2), ZH_CLEAN)[1].endswith("(mine:2)")


def test_chinese_rules_skip_english_and_route_without_lang():
    res = run_operator(build_filters("zh"), make_table([EN_CLEAN], lang=["en"]))
    assert res.reasons() == []
    # no lang column: routed by script, the spam page is still caught by the Chinese rules
    res = run_operator(build_filters("mixed"), make_table([ZH_SPAM, ZH_CLEAN, EN_CLEAN]))
    assert res.reasons() == ["blacklist_hits"]


def test_mixed_technical_article_is_chinese_and_kept():
    lid = LangID()
    tagged = run_operator(lid, make_table([MIXED_TECH]))
    assert tagged.reasons() == []
    assert tagged.kept.column("lang")[0].as_py() == "zh"
    res = run_operator(build_filters("mixed"), tagged.kept)
    assert res.reasons() == []
    assert res.kept.column("text")[0].as_py() == MIXED_TECH
    # the Chinese rules looked at it, the English ones did not
    assert res.metrics["docs_checked/zh_quality"] == 1
    assert res.metrics["docs_checked/gopher_quality"] == 0


# --- Traditional Chinese (issue 15) ------------------------------------------------------------------
# The zh-TW twins are made with OpenCC from real documents of the bundled sample: s2t (characters),
# s2twp (characters and Taiwan vocabulary: 软件 -> 軟體, 信息 -> 資訊). The sample also holds real
# Traditional text (classical poems among the fortunes).

import functools  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import opencc  # noqa: E402
import pytest  # noqa: E402

from contract import schema as S  # noqa: E402
from contract.metrics import undeclared  # noqa: E402
from contract.textstats import han_scripts  # noqa: E402

SAMPLE_ZH = Path(__file__).resolve().parents[1] / "data" / "sample" / "zh.jsonl.gz"


@functools.cache
def sample_zh():
    with gzip.open(SAMPLE_ZH, "rt", encoding="utf-8") as f:
        return tuple(json.loads(line) for line in f)


@functools.cache
def converter(config):
    return opencc.OpenCC(config)


def twin(text, config):
    return converter(config).convert(text)


def real_paragraphs(n):
    """Paragraphs (lines) of the sample's Chinese documents with >= 60 characters, >= 40 of them Han."""
    out = []
    for d in sample_zh():
        for p in d["text"].split("\n"):
            p = p.strip()
            if len(p) >= 60 and sum("\u4e00" <= c <= "\u9fff" for c in p) >= 40:
                out.append(p)
    return out[:n]


def news(n):
    return [d["text"] for d in sample_zh() if d["source"] == "zh_peoples_daily_199801"][:n]


def decisions(op, texts):
    res = run_operator(op, make_table(texts, lang=["zh"] * len(texts)))
    out = dict.fromkeys(res.kept.column("id").to_pylist())
    for row in res.rejected.select(["id", "reject_reason"]).to_pylist():
        out[row["id"]] = row["reject_reason"]
    return [out[f"doc-{i}"] for i in range(len(texts))]


def original_text_chain():
    """The zh preset judging the original text, as before Traditional support."""
    chain = build_filters("zh", zh_quality={"simplified_view": None}, zh_repetition={"simplified_view": None})
    for op in chain.operators:
        op.simplified_view = None
    return chain


def test_traditional_text_was_cut_into_single_characters_and_now_is_not():
    assert reason(ChineseQuality(), "现代操作系统") == "zh_short_doc"  # (too short: a statistics check only)
    hans, hant = "现代操作系统", twin("现代操作系统", "s2twp")
    assert hant == "現代作業系統"
    before = ChineseQuality(simplified_view=None)
    assert float(before.stats(pa.array([hant]))["avg_word_length"][0]) < 1.2
    assert float(ChineseQuality().stats(pa.array([hant]))["avg_word_length"][0]) == pytest.approx(
        float(ChineseQuality().stats(pa.array([hans]))["avg_word_length"][0]))
    # real articles: many of their zh-TW twins were rejected as "garbled"; now none is
    arts = news(20)
    tw = [twin(a, "s2twp") for a in arts]
    assert decisions(ChineseQuality(), arts) == [None] * 20
    assert decisions(before, tw).count("zh_low_avg_word_length") >= 3
    assert decisions(ChineseQuality(), tw) == [None] * 20


@pytest.mark.parametrize("config", ["s2t", "s2twp"])
def test_same_paragraph_in_zh_cn_and_zh_tw_gets_the_same_decision(config):
    paras = real_paragraphs(150)
    assert len(paras) == 150
    tw = [twin(p, config) for p in paras]
    hans = decisions(build_filters("zh"), paras)
    assert sum(r is None for r in hans) >= 100 and sum(r is not None for r in hans) >= 10  # both outcomes
    assert decisions(build_filters("zh"), tw) == hans  # identical reasons, paragraph by paragraph
    before = decisions(original_text_chain(), tw)
    assert sum(a != b for a, b in zip(before, hans)) >= 50  # the defect: a third of them or more differed


def test_real_traditional_text_gets_the_decision_of_its_simplified_twin():
    docs = [d["text"] for d in sample_zh()]
    script, _ = han_scripts(pa.array(docs))
    real = [t for t, s in zip(docs, script) if s == "Hant"]
    assert len(real) >= 3  # classical texts among the fortunes (詩經…)
    simp = [twin(t, "t2s") for t in real]
    assert decisions(build_filters("zh"), real) == decisions(build_filters("zh"), simp)
    assert "zh_low_avg_word_length" in decisions(original_text_chain(), real)


def test_blacklist_sees_traditional_spam():
    news_item = ZH_CLEAN + "警方近日破获一起网络赌场案件，涉案的百家乐平台已被关闭。另一处时时彩窝点也被查处。"
    tw = twin(news_item, "s2t")
    assert reason(Blacklist(), news_item) == "blacklist_hits"
    before = Blacklist()
    before.simplified_view = None
    assert reason(before, tw) is None  # 百家樂, 時時彩: no Simplified phrase matched
    assert reason(Blacklist(), tw) == "blacklist_hits"


def test_script_column_declared_and_metrics():
    art = news(1)[0]
    op = build_filters("mixed")
    assert S.is_category(next(f for f in op.output_fields() if f.name == "script"))
    res = run_operator(op, make_table([art, twin(art, "s2twp"), EN_CLEAN], lang=["zh", "zh", "en"]))
    assert res.reasons() == []
    assert res.kept.column("script").to_pylist() == ["Hans", "Hant", None]
    assert res.kept.column("text").to_pylist()[1] == twin(art, "s2twp")  # kept text is not converted
    assert res.metrics["script/zh_quality/Hans"] == 1 and res.metrics["script/zh_quality/Hant"] == 1
    assert res.metrics["script_view/zh_quality"] == 1
    assert undeclared(res.metrics, op.declared_metrics()) == []
    # without a lang column (routed by script) and on rejected rows too
    res = run_operator(build_filters("zh"), make_table([twin(ZH_SPAM, "s2t"), EN_CLEAN]))
    assert res.rejected.column("script").to_pylist() == ["Hant"]
    assert res.kept.column("script").to_pylist() == [None]
    # English-only chains add no script column
    assert not any(f.name == "script" for f in build_filters("en").output_fields())


def test_convert_traditional_option():
    art = news(1)[0]
    tw = twin(art, "s2twp")
    spam = twin(ZH_SPAM, "s2t")
    assert run_operator(build_filters("zh"), make_table([tw], lang=["zh"])).kept.column("text").to_pylist() == [tw]
    op = build_filters("zh", zh_repetition={"convert_traditional": True})  # the last Chinese rule
    res = run_operator(op, make_table([tw, art, spam], lang=["zh"] * 3))
    kept = res.kept.column("text").to_pylist()
    assert kept[0] == twin(tw, "tw2sp") and kept[1] == art  # the view: OpenCC tw2sp by default
    assert kept[0] != tw and han_scripts(pa.array([kept[0]]))[1][0] == 0  # no Traditional-only character left
    assert res.kept.column("script").to_pylist() == ["Hant", "Hans"]  # the original script
    assert res.rejected.column("text").to_pylist() == [spam]  # rejected rows keep the original
    assert res.metrics["script_converted/zh_repetition"] == 1
    assert undeclared(res.metrics, op.declared_metrics()) == []


def test_simplified_view_validated():
    with pytest.raises(ValueError):
        ChineseQuality(simplified_view="s2t")
    assert ChineseRepetition(simplified_view="t2s").simplified_view == "t2s"


@pytest.mark.parametrize("config", ["t2s", "tw2sp", "hk2s"])
def test_dictionary_converter_gives_opencc_output(config):
    """The view is converted by DictionaryConverter (OpenCC's dictionaries, a faster engine): its
    output must be OpenCC's, character for character."""
    from contract.textstats import DictionaryConverter

    docs = [d["text"] for d in sample_zh()][::4]
    texts = [twin(t, c) for c in ("s2t", "s2twp", "s2hk") for t in docs[:80]]
    script, _ = han_scripts(pa.array([d["text"] for d in sample_zh()]))
    texts += [d["text"] for d, s in zip(sample_zh(), script) if s == "Hant"]
    ref = converter(config)
    fast = DictionaryConverter(config)
    assert [fast.convert(t) for t in texts] == [ref.convert(t) for t in texts]


def test_checks_all_measures_word_length_on_every_document():
    """``decide`` segments only the documents that passed the cheaper rules (the others get word
    length 0); ``checks_all`` (for ``winnow calibrate``) measures every document, and says NaN where a
    document has no Chinese words, so a calibration does not propose a 0 minimum."""
    import numpy as np

    op = ChineseQuality()
    op.setup()
    texts = pa.array([ZH_CLEAN, ZH_CLEAN.replace("\n", "")[:30], "only English words in this one, nothing else"])
    dec = {c.reason: np.asarray(c.stat) for c in op.decide(None, texts).checks}
    full = {c.reason: (np.asarray(c.stat), np.asarray(c.fail)) for c in op.checks_all(texts)}
    awl, fail = full["zh_low_avg_word_length"]
    assert dec["zh_low_avg_word_length"][1] == 0 and full["zh_short_doc"][1][1]  # short: never segmented
    assert awl[1] > 1.2 and abs(awl[0] - dec["zh_low_avg_word_length"][0]) < 1e-9
    assert np.isnan(awl[2]) and not fail[2]
    assert [c.reason for c in op.checks_all(texts)] == [c.reason for c in op.decide(None, texts).checks]
