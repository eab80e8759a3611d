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
