"""Normalizer: Unicode repair, safe NFKC, control characters, whitespace, boilerplate lines."""

import pytest

from operators.normalize import Normalizer, nfkc_safe
from pipeline.local import make_table, run_operator
from tests.filter_docs import EN_CLEAN, ZH_CLEAN


def norm(text, **kw):
    m = {}
    return Normalizer(**kw).normalize(text, m), m


def test_mojibake_is_repaired_and_counted():
    out, m = norm("The cafÃ© was open. It\u00e2\u20ac\u2122s nice.")
    assert out == "The café was open. It\u2019s nice."
    assert m["normalize/mojibake_fixed"] == 1
    clean, m2 = norm(ZH_CLEAN)
    assert clean == ZH_CLEAN and "normalize/mojibake_fixed" not in m2


def test_safe_nfkc_keeps_fullwidth_chinese_punctuation():
    text = "Ｗｉｎｄｏｗｓ　１０：你好，世界！这是什么？（测试）……ﬁne"
    out = nfkc_safe(text)
    assert out == "Windows 10：你好，世界！这是什么？（测试）……fine"
    full, _ = norm(text, nfkc="full")
    assert "，" not in full and "..." in full  # plain NFKC folds them, which is why "safe" is the default
    none, _ = norm(text, nfkc="none")
    assert none == text
    assert nfkc_safe("plain ascii") == "plain ascii"


def test_control_characters_and_newlines():
    out, m = norm("line one\r\nline\x00 two\x07\u200b\x0cline three\u2028four\ufeff")
    assert out == "line one\nline two\nline three\nfour"
    assert m["normalize/control_chars_removed"] == 4


def test_whitespace_runs_and_blank_lines():
    out, _ = norm("  Title   with   gaps \t\n\n\n\n\nBody text.   \n    indented   code\n\n\n")
    assert out == "Title with gaps\n\nBody text.\n    indented code"
    out2, _ = norm("a\n\n\n\nb", max_blank_lines=0)
    assert out2 == "a\nb"


@pytest.mark.parametrize(
    "line,pattern",
    [
        ("转载自：新华网", "zh_repost"),
        ("本文经作者授权转载，如需转载请联系原作者。", "zh_repost"),
        ("原标题：江南小镇迎来旅游旺季", "zh_repost"),
        ("来源：人民日报", "zh_repost"),
        ("相关推荐", "zh_widget"),
        ("点击关注，获取更多精彩内容", "zh_widget"),
        ("打赏", "zh_widget"),
        ("Share this:", "en_widget"),
        ("This site uses cookies to improve your experience.", "cookie"),
        ("By continuing to use this website you agree to our Privacy Policy.", "cookie"),
    ],
)
def test_boilerplate_lines_removed_per_pattern(line, pattern):
    body = ZH_CLEAN if pattern.startswith("zh") else EN_CLEAN
    out, m = norm(body + "\n" + line + "\n" + body[:60])
    assert line not in out
    assert m[f"removed_lines/{pattern}"] == 1
    assert out.startswith(body[:30])


def test_prose_mentioning_boilerplate_words_is_kept():
    prose = ("他在文章里写道，很多公众号喜欢在结尾放上相关推荐和打赏按钮，但读者往往并不在意这些内容，"
             "真正留住读者的还是文章本身的质量。")
    out, m = norm(prose)
    assert out == prose and not any(k.startswith("removed_lines") for k in m)


def test_inline_wiki_markers_and_trailing_references():
    doc = EN_CLEAN + " It is the oldest port in the region.[citation needed]\n\nReferences\n1. Smith, J. (1990). Ports.\n2. Doe, A. (2001). Rivers."
    out, m = norm(doc)
    assert "[citation needed]" not in out and "Smith" not in out and out.endswith("in the region.")
    assert m["removed_markers/wiki"] == 1
    assert m["removed_lines/references"] == 3  # the heading and two entries
    early = "Notes\n" + EN_CLEAN  # a heading near the start is not a trailing reference list
    assert norm(early)[0].startswith("Notes")
    zh = ZH_CLEAN + "\n\n参考文献\n[1] 张三. 江南水乡研究[M]. 北京: 科学出版社, 2001."
    assert norm(zh)[0] == ZH_CLEAN


def test_operator_metrics_and_empty_documents():
    op = Normalizer()
    res = run_operator(op, make_table([EN_CLEAN + "\nShare this:", "  \n\u200b\n ", "相关推荐"]))
    assert res.kept.num_rows == 1
    assert res.reasons() == ["normalize_empty", "normalize_empty"]
    assert res.rejected.column("text").to_pylist()[1] == "相关推荐"  # rejected rows keep the original
    assert res.metrics["removed_lines/en_widget"] == 1
    assert res.metrics["removed_lines/zh_widget"] == 1
    assert res.metrics["normalize/chars_in"] > res.metrics["normalize/chars_out"]


def test_options_validated():
    with pytest.raises(ValueError):
        Normalizer(nfkc="sometimes")
    with pytest.raises(ValueError):
        Normalizer(disable_patterns=["nope"])
    out, m = norm("相关推荐\n" + ZH_CLEAN, disable_patterns=["zh_widget"])
    assert out.startswith("相关推荐")
