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


# --- Chinese page furniture (issue 15) ---------------------------------------------------------------
# Pages are built from real articles of the bundled sample (People's Daily, January 1998) with page
# furniture around them; the zh-TW twin of every page is made with OpenCC (s2t: characters; s2twp:
# characters and Taiwan vocabulary, 联系 -> 聯絡, 链接 -> 連結).

import functools  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import opencc  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
NEW_ZH_PATTERNS = ["zh_icp", "zh_disclaimer", "zh_copyright", "zh_breadcrumb", "zh_nav", "zh_prevnext",
                   "zh_pagination", "zh_contact", "zh_share", "zh_meta"]


@functools.cache
def sample_docs(name="zh"):
    with gzip.open(SAMPLE / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
        return tuple(json.loads(line) for line in f)


def news_articles(n):
    docs = sorted((d for d in sample_docs() if d["source"] == "zh_peoples_daily_199801"), key=lambda d: d["id"])
    return [d["text"] for d in docs[:n]]


@functools.cache
def converter(config):
    return opencc.OpenCC(config)


def twin(text, config):
    return converter(config).convert(text) if config else text


HEADER = [
    ("zh_share", "设为首页 | 加入收藏 | 手机版"),
    ("zh_nav", "首页 | 新闻中心 | 国内 | 国际 | 财经 | 体育 | 关于我们"),
    ("zh_breadcrumb", "当前位置：首页 > 社会新闻 > 正文"),
    ("zh_meta", "发布时间：1998-01-12 09:30  来源：人民日报  作者：本报记者  浏览次数：1024"),
]
FOOTER = [
    ("zh_prevnext", "上一篇：{prev}"),
    ("zh_prevnext", "下一篇：{next}"),
    ("zh_pagination", "首页 上一页 1 2 3 下一页 尾页"),
    ("zh_share", "分享到：微信 新浪微博 QQ空间"),
    ("zh_share", "扫一扫，关注我们的微信公众号"),
    ("zh_disclaimer", "免责声明：本站部分内容来源于网络，如有侵权请联系删除。"),
    ("zh_nav", "关于我们 | 联系我们 | 网站地图 | 隐私政策 | 广告服务"),
    ("zh_nav", "友情链接：人民网 | 新华网 | 央视网"),
    ("zh_contact", "联系电话：010-65368888  邮箱：webmaster@example.cn"),
    ("zh_copyright", "Copyright © 2005-2024 示例传媒有限公司 版权所有"),
    ("zh_icp", "京ICP备05012345号-2  京公网安备 11010502030143号"),
]


def page(article, prev_title, next_title):
    lines = [line for _, line in HEADER] + [article] + [
        line.format(prev=prev_title, next=next_title) for _, line in FOOTER]
    return "\n".join(lines)


@pytest.mark.parametrize("config", [None, "s2t", "s2twp"])
def test_page_with_chinese_furniture_keeps_its_article_and_loses_its_furniture(config):
    articles = news_articles(6)
    expected = Counter(name for name, _ in HEADER + FOOTER)
    for i, art in enumerate(articles[:5]):
        titles = [articles[(i + 1) % 5].split("\n")[0], articles[(i + 2) % 5].split("\n")[0]]
        text = twin(page(art, *titles), config)
        clean = norm(twin(art, config))[0]
        out, m = norm(text)
        assert out == clean  # every article line kept, every furniture line gone
        assert {k.removeprefix("removed_lines/"): v for k, v in m.items() if k.startswith("removed_lines/")} == expected


def test_chinese_furniture_defect_reproduced_without_the_new_patterns():
    """Before these patterns only zh_repost / zh_widget / cookie existed: almost all furniture stayed."""
    articles = news_articles(3)
    text = page(articles[0], articles[1].split("\n")[0], articles[2].split("\n")[0])
    out, m = norm(text, disable_patterns=NEW_ZH_PATTERNS)
    left = [line for _, line in HEADER + FOOTER if line.split("{")[0] in out]
    assert len(left) >= 10  # of 15
    assert norm(text)[0] == norm(articles[0])[0]


@pytest.mark.parametrize("config", [None, "s2t", "s2twp"])
@pytest.mark.parametrize(
    "line,pattern",
    [
        ("网站首页 | 公司简介 | 新闻动态 | 产品展示 | 在线留言 | 联系方式", "zh_nav"),
        ("首页 · 新闻 · 体育 · 财经 · 娱乐", "zh_nav"),
        ("首页 新闻中心 产品展示 关于我们 联系我们", "zh_nav"),
        ("首页 新闻 体育 财经 娱乐 科技 汽车", "zh_nav"),
        ("【打印本页】【关闭窗口】", "zh_nav"),
        ("热门标签：旅游 美食 摄影", "zh_nav"),
        ("您的位置: 首页 » 新闻 » 国内新闻", "zh_breadcrumb"),
        ("首页 > 技术文档 > 安装指南", "zh_breadcrumb"),
        ("粤ICP备12345678号", "zh_icp"),
        ("ICP备案号：沪ICP备2021000000号-2", "zh_icp"),
        ("增值电信业务经营许可证：粤B2-20090059", "zh_icp"),
        ("声明：本文内容来源于网络，版权归原作者所有，如有侵权请联系我们删除。", "zh_disclaimer"),
        ("本文仅代表作者个人观点，不代表本站立场。", "zh_disclaimer"),
        ("图片来源于网络，侵删", "zh_disclaimer"),
        ("© 2023 示例网 版权所有", "zh_copyright"),
        ("版权所有：北京示例科技有限公司  技术支持：示例网络", "zh_copyright"),
        ("上一篇：关于2023年度国家科技进步奖评审结果的公示", "zh_prevnext"),
        ("« 上一篇", "zh_prevnext"),
        ("共10页 首页 上一页 下一页 尾页", "zh_pagination"),
        ("客服热线：400-123-4567", "zh_contact"),
        ("地址：北京市海淀区中关村大街1号  邮编：100080  电话：010-12345678", "zh_contact"),
        ("长按识别二维码，关注我们", "zh_share"),
        ("微信扫一扫 分享到朋友圈", "zh_share"),
        ("微信 微博 QQ空间 豆瓣 复制链接", "zh_share"),
        ("作者：张伟 发布时间：2023-05-12 浏览次数：1234", "zh_meta"),
        ("【字体：大 中 小】", "zh_meta"),
    ],
)
def test_chinese_furniture_lines_removed_per_pattern(line, pattern, config):
    art = news_articles(1)[0]
    line = twin(line, config)
    out, m = norm(twin(art, config) + "\n" + line)
    assert line not in out
    assert m[f"removed_lines/{pattern}"] == 1
    assert sum(v for k, v in m.items() if k.startswith("removed_lines/")) == 1


def test_vertical_menu_and_contact_block():
    art = news_articles(1)[0]
    menu = "\n".join(["首页", "新闻中心", "产品中心", "关于我们", "联系我们"])
    contact = "\n".join(["联系我们", "地址：上海市浦东新区世纪大道100号", "电话：021-68888888", "邮箱：info@example.cn"])
    out, m = norm(menu + "\n" + art + "\n" + contact)
    assert out == norm(art)[0]
    assert m["removed_lines/zh_nav"] == 5 and m["removed_lines/zh_contact"] == 4
    # one field alone is not a contact block; a short list without navigation words is not a menu
    for extra in ("地址：北京市朝阳区建国路88号", "\n".join(["第一章", "第二章", "第三章", "第四章"])):
        assert norm(art + "\n" + extra)[0] == norm(art)[0] + "\n" + extra


@pytest.mark.parametrize("config", [None, "s2t"])
def test_sentences_that_mention_furniture_words_stay(config):
    sentences = [
        "我们在首页上展示了新产品，并联系了客户。",
        "该网站的备案号为京ICP备12345678号，已被注销。",
        "律师指出，许多网站写着“如有侵权请联系删除”，但这并不能免除责任。",
        "这本书的版权所有者是一家出版社，他们拒绝了再版请求。",
        "上一篇文章中我们介绍了安装方法，这一篇讲配置。",
        "很多老人不会用手机扫码，只能排队买票。",
        "扫码支付已经成为很多人的习惯。",
        "公司更新了隐私政策，用户需要重新同意。",
        "他扫码关注了这个公众号，每天都会看推送。",
        "部分网友表示，这些内容仅供参考。",
        "他在看书。",
        "关于我们公司的发展历程，请参阅下文。",
        "床前明月光 疑是地上霜 举头望明月 低头思故乡",
        "选择 工具 - 选项 - LibreOffice Writer - 常规",
        "-- 刘希夷《代悲白头翁 / 白头吟 / 有所思》",
        "下一个 服务器, 直到 试遍 所有的 服务器. 然后 重复 这个过程, 直到",
        "* 网关的 IP 地址: 192.168.11.1",
        "* 电脑的 IP 地址: 192.168.11.100",
    ]
    art = news_articles(1)[0]
    text = twin("\n".join([art, *sentences]), config)
    out, m = norm(text)
    assert out == norm(text, remove_boilerplate=False)[0]
    assert not any(k.startswith("removed_lines/") for k in m)


def test_bare_prev_next_heading_with_its_description_stays():
    help_page = "打印预览\n上一页\n移到文档的上一页。此功能仅在您选择了「打印预览」时才可用。\n下一页\n切换到下一页"
    assert norm(help_page)[0] == help_page
    nav = "上一页\nDebian 管理员手册\n下一页\n" + news_articles(1)[0]
    assert norm(nav)[0] == "Debian 管理员手册\n" + norm(news_articles(1)[0])[0]


def test_clean_sample_documents_lose_only_real_navigation():
    """Over the 950 Chinese documents of the sample, the Chinese patterns remove nothing but the HTML
    navigation (上一页 / 下一页) of the Debian handbook pages; the 1126 English documents lose nothing
    to them."""
    import pyarrow as pa

    docs = sample_docs("zh")
    texts = pa.array([d["text"] for d in docs])
    full = Normalizer(remove_references=False).normalize_array(texts, {}).to_pylist()
    ref = Normalizer(remove_references=False, remove_boilerplate=False).normalize_array(texts, {}).to_pylist()
    removed = Counter()
    n_lines = 0
    for d, out, before in zip(docs, full, ref):
        left = Counter(out.split("\n"))
        for x in before.split("\n"):
            n_lines += bool(x.strip())
            if left[x] > 0:
                left[x] -= 1
            elif x.strip():
                removed[(d["source"], x.strip())] += 1
    assert set(removed) <= {("zh_debian_handbook", "上一页"), ("zh_debian_handbook", "下一页"),
                            ("zh_debian_handbook", "Please read the Terms of Service at")}  # English "cookie" line
    assert sum(removed.values()) / n_lines < 0.02
    m: dict[str, float] = {}
    Normalizer().normalize_array(pa.array([d["text"] for d in sample_docs("en")]), m)
    assert not any(k.startswith("removed_lines/zh_") for k in m)


def test_batch_and_single_document_paths_agree():
    """Batches of 16 documents or more test the pattern hints with RE2 over all lines at once; fewer
    go line by line in Python. Both give the same text and counts."""
    import pyarrow as pa

    arts = news_articles(6)
    docs = [twin(page(a, arts[(i + 1) % 6].split("\n")[0], "春风十里"), c)
            for c in (None, "s2t", "s2twp") for i, a in enumerate(arts)]
    docs += [d["text"] for d in sample_docs("zh")[:40]] + [d["text"] for d in sample_docs("en")[:10]]
    assert len(docs) >= 16
    m_batch: dict[str, float] = {}
    batch = Normalizer().normalize_array(pa.array(docs), m_batch).to_pylist()
    m_single: dict[str, float] = {}
    single = [Normalizer().normalize(d, m_single) for d in docs]
    assert batch == single
    assert {k: v for k, v in m_batch.items() if k.startswith("removed_")} == \
        {k: v for k, v in m_single.items() if k.startswith("removed_")}


def test_batch_path_run_precheck_finds_menus_and_contact_blocks():
    """The batch path looks for vertical menus and contact blocks only in documents whose lines pass
    an RE2 pre-check (two one-navigation-word lines; a contact-hinted line), and leaves documents with
    no hinted line alone: menus with English labels, Traditional spellings and indented labels are
    still found, and the output equals the line-by-line path."""
    import pyarrow as pa

    arts = news_articles(4)
    menus = ["\n".join(["首页", "新闻中心", "产品中心", "关于我们", "联系我们"]),
             "\n".join(["Home", "新闻", "体育", "About us"]),
             "\n".join(["  首頁", "\u3000新聞中心", "關於我們 ", "聯絡我們"]),
             "\n".join(["联系方式", "地址：上海市浦东新区世纪大道100号", "电话：021-68888888"])]
    docs = [f"{m}\n{a}" for m in menus for a in arts] + arts
    assert len(docs) >= 16
    m_batch: dict[str, float] = {}
    batch = Normalizer().normalize_array(pa.array(docs), m_batch).to_pylist()
    m_single: dict[str, float] = {}
    single = [Normalizer().normalize(d, m_single) for d in docs]
    assert batch == single
    bare = [Normalizer().normalize(a, {}) for a in arts]
    assert batch[:16] == bare * 4  # every menu and contact block removed, the articles intact
    assert m_batch["removed_lines/zh_nav"] == 4 * (5 + 4 + 4) and m_batch["removed_lines/zh_contact"] == 4 * 3
