"""The en/zh/mixed pipeline presets parse, build, and run through the stage runner with an audit trail."""

import json
from pathlib import Path

import pytest

from contract.operator import Chain
from pipeline.config import load_config
from pipeline.registry import build_stage
from tests.filter_docs import EN_CLEAN, FR_CLEAN, MIXED_TECH, ZH_CLEAN, ZH_SENTENCES, ZH_SPAM

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["en_web", "zh_web", "mixed_web"])
def test_preset_configs_build(name):
    cfg = load_config(ROOT / "configs" / f"{name}.yaml")
    assert [s.stage for s in cfg.stages] == ["normalize", "langid", "filter"]
    ops = [build_stage(s.stage, s.params) for s in cfg.stages]
    assert isinstance(ops[2], Chain) and ops[2].operators


@pytest.mark.slow
def test_zh_web_pipeline_stats_and_samples(spark, tmp_path):
    pytest.importorskip("operators.pii", reason="the runner scrubs samples with operators.pii (issue 5)")
    from pipeline.runner import run_pipeline

    docs = [ZH_CLEAN, ZH_SPAM, MIXED_TECH, EN_CLEAN, FR_CLEAN, "转载自：新华网\n" + ZH_CLEAN + "\n点击关注",
            "\n".join(f"{i}. {s}" for i, s in enumerate(ZH_SENTENCES))]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": f"z{i}", "text": t}, ensure_ascii=False) + "\n"
                           for i, t in enumerate(docs)), encoding="utf-8")
    cfg = load_config(ROOT / "configs" / "zh_web.yaml",
                      {"workdir": str(tmp_path / "work"), "input.paths": [str(src)]})
    results = run_pipeline(cfg, spark=spark)
    by_name = {r.name: r for r in results}
    filt = by_name["filter"].stats
    lid = by_name["langid"].stats
    assert set(lid["rejected_by_reason"]) == {"lang_not_kept"}  # English and French
    assert lid["rejected_by_reason"]["lang_not_kept"]["docs"] == 2
    assert filt["rejected_by_reason"]["blacklist_hits"]["docs"] == 1
    assert filt["rejected_by_reason"]["zh_list_page"]["docs"] == 1
    assert filt["docs_kept"] == 3  # clean prose, the mixed technical article, the cleaned repost
    assert by_name["normalize"].stats["metrics"]["removed_lines/zh_repost"] == 1
    assert any(k.startswith("seconds/") for k in filt["metrics"])
    samples = [json.loads(line) for line in (by_name["filter"].dir / "samples" / "rejected.jsonl").open()]
    assert {s["reject_reason"] for s in samples} == {"blacklist_hits", "zh_list_page"}
    assert all(s["reject_detail"] for s in samples)


def test_shipped_calibrated_preset_builds():
    from operators.filters import build_filters, load_preset_file

    path = ROOT / "configs" / "presets" / "en_calibrated.yaml"
    chain = load_preset_file(path)
    assert list(chain)[:2] == ["gopher_quality", "gopher_repetition"]
    ops = build_filters(str(path)).operators
    assert [op.name for op in ops] == list(chain)
    # a pipeline config names it like any preset
    assert build_stage("filter", {"preset": "configs/presets/en_calibrated.yaml"}).operators


def test_calibrate_writes_a_loadable_preset_and_plots(tmp_path):
    """``winnow calibrate`` on a small trusted corpus (the bundled sample's English pages) and junk."""
    import gzip

    from jobs.calibrate import main
    from operators.filters import build_filters

    rows = [json.loads(line) for line in gzip.open(ROOT / "data" / "sample" / "en.jsonl.gz", "rt", encoding="utf-8")]
    trusted = tmp_path / "trusted.jsonl"
    trusted.write_text("".join(json.dumps({"id": r["id"], "text": r["text"]}) + "\n"
                               for r in rows if r["source"] == "en_wikipedia_vital_summaries"), encoding="utf-8")
    junk = tmp_path / "junk.jsonl"
    junk.write_text("".join(json.dumps({"text": t}) + "\n" for t in [ZH_SPAM, EN_CLEAN + "\nbuy now" * 40] * 5),
                    encoding="utf-8")
    out = tmp_path / "out"
    rc = main(["--trusted", str(trusted), "--junk", str(junk), "--preset", "en", "--lang", "script",
               "--max-docs", "120", "--out", str(out), "--name", "wiki", "--keep", "0.95"])
    assert rc == 0
    import yaml

    doc = yaml.safe_load((out / "wiki.yaml").read_text())
    assert doc["calibration"]["keep"] == 0.95 and doc["calibration"]["docs"] == 120
    rules = doc["calibration"]["rules"]["en"]
    short = rules["gopher_short_doc"]
    assert short["published"] == 50 and short["proposed"] is not None
    # the proposal keeps 95% of the trusted documents on that rule
    assert rules["fineweb_line_punct_ratio"]["trusted_kept_proposed"] >= 0.95
    assert doc["filters"]["gopher_quality"]["min_doc_words"] == int(short["proposed"])
    assert doc["filters"]["c4_quality"]["reflow"] is True  # the base preset's settings are kept
    chain = build_filters(str(out / "wiki.yaml"))
    assert [op.name for op in chain.operators][0] == "gopher_quality"
    assert (out / "plots" / "en" / "gopher_short_doc.png").stat().st_size > 1000
    assert json.loads((out / "wiki.json").read_text())["groups"]["en"]["docs"] == 120


SHIPPED_PRESETS = sorted((ROOT / "configs" / "presets").glob("*.yaml"))


def test_calibrated_presets_are_shipped_for_en_and_both_chinese_scripts():
    names = {p.stem for p in SHIPPED_PRESETS}
    assert {"en_calibrated", "zh_hans_calibrated", "zh_hant_calibrated"} <= names


@pytest.mark.parametrize("path", SHIPPED_PRESETS, ids=lambda p: p.stem)
def test_shipped_preset_loads_with_its_calibrated_thresholds(path):
    """Every shipped preset builds through the filter stage's preset mechanism, and every threshold
    its calibration put in the preset (``in_preset``) is the built filter's parameter: different
    from the published default wherever the calibration moved it."""
    import math

    import yaml

    from jobs.calibrate import RULES
    from operators.filters import FILTERS, build_filters

    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    cal = doc["calibration"]
    assert cal["command"].startswith("winnow calibrate ") and cal["docs"] >= 500 and cal["note"]
    header = path.read_text(encoding="utf-8").split("\nname:", 1)[0]
    assert "winnow calibrate" in header and "Trusted" in header  # the header says how it was computed
    rel = str(path.relative_to(ROOT))
    ops = {op.name: op for op in build_stage("filter", {"preset": rel}).operators}
    assert [op.name for op in build_filters(rel).operators] == list(doc["filters"])
    moved = 0
    for rules in cal["rules"].values():
        for reason, e in rules.items():
            if e.get("in_preset") is None:
                continue
            name, param = e["param"].split(".", 1)
            n = int(param.split("[")[1].rstrip("]")) if "[" in param else None
            param = param.split("[")[0]
            value = getattr(ops[name], param)
            default = getattr(FILTERS[name](), param)
            if n is not None:
                value, default = dict(value)[n], dict(default)[n]
            published = e["published"]
            assert math.isclose(float(default), float(published), rel_tol=1e-9), (reason, default, published)
            # rules that share a parameter (hashes and ellipsis) get the loosest of their thresholds
            v, p = float(value), float(e["in_preset"])
            direction = RULES[reason][2]
            assert math.isclose(v, p, rel_tol=1e-3, abs_tol=1e-4) or (direction == "min" and v < p) or \
                (direction == "max" and v > p), (reason, v, p)
            if not math.isclose(float(e["in_preset"]), float(published), rel_tol=1e-3, abs_tol=1e-4):
                moved += 1
                assert not math.isclose(float(value), float(published), rel_tol=1e-3, abs_tol=1e-4), reason
    assert moved >= 1  # a calibrated preset that moves no threshold would be the base preset


def test_calibrate_per_script_chinese_thresholds(tmp_path):
    """``--script`` takes the preset's Chinese thresholds from one script's documents; ``--convert``
    calibrates a zh-Hant preset from Simplified text. Traditional documents are measured through the
    rules' Simplified view, so the word statistics of the Traditional twins match the originals."""
    import gzip

    import yaml

    from jobs.calibrate import main
    from operators.filters import build_filters

    rows = [json.loads(line) for line in gzip.open(ROOT / "data" / "sample" / "zh.jsonl.gz", "rt", encoding="utf-8")]
    trusted = tmp_path / "trusted.jsonl"
    trusted.write_text("".join(json.dumps({"text": r["text"]}, ensure_ascii=False) + "\n" for r in rows[:150]),
                       encoding="utf-8")
    common = ["--trusted", str(trusted), "--preset", "zh", "--lang", "script", "--keep", "0.95", "--no-plots",
              "--min-docs", "40"]
    assert main([*common, "--out", str(tmp_path / "s"), "--name", "hans", "--script", "Hans"]) == 0
    assert main([*common, "--out", str(tmp_path / "t"), "--name", "hant", "--script", "Hant",
                 "--convert", "s2twp"]) == 0
    hans = yaml.safe_load((tmp_path / "s" / "hans.yaml").read_text(encoding="utf-8"))
    hant = yaml.safe_load((tmp_path / "t" / "hant.yaml").read_text(encoding="utf-8"))
    assert hant["calibration"]["script"] == "Hant" and hant["calibration"]["convert"] == "s2twp"
    assert "--convert s2twp" in hant["calibration"]["command"]
    groups = hant["calibration"]["groups"]
    assert groups["zh-Hant"]["docs"] == groups["zh"]["docs"] >= 100 and "zh-Hans" not in groups  # all converted
    assert hans["calibration"]["groups"]["zh-Hans"]["docs"] >= 100
    # the preset's thresholds are the script group's proposals (the whole-language group has none)
    t_rules = hant["calibration"]["rules"]
    assert all("in_preset" not in e for e in t_rules["zh"].values())
    word = t_rules["zh-Hant"]["zh_low_avg_word_length"]
    assert hant["filters"]["zh_quality"]["min_avg_word_length"] == pytest.approx(word["in_preset"], rel=1e-3)
    # measured through the Simplified view: jieba words of the twins are as long as the originals'
    # (on the original Traditional text they would be cut into single characters, ~1.1 per word)
    h_word = hans["calibration"]["rules"]["zh-Hans"]["zh_low_avg_word_length"]["proposed"]
    assert word["proposed"] == pytest.approx(h_word, abs=0.05)
    assert [op.name for op in build_filters(str(tmp_path / "t" / "hant.yaml")).operators] == \
        ["zh_quality", "blacklist", "zh_repetition"]
    # a script with too few trusted documents is an error, not a silent fallback to all Chinese
    with pytest.raises(SystemExit, match="fewer than --min-docs"):
        main([*common, "--out", str(tmp_path / "x"), "--name", "x", "--script", "Hant"])


def test_mixed_bench_targets_are_figures_that_can_fail():
    """The mixed-slice benchmark (bench.bench_filters.mixed_figures) turns the issue's targets into
    pass/fail figures: each one fails on outcomes that miss it."""
    from bench.bench_filters import mixed_figures

    page = [("nav", "首页 | 关于我们 | 联系我们"), ("article", "今天天气很好，我们去公园散步。"), ("icp", "京ICP备12345678号")]
    recs = [{"text": "word " * 100, "group": "en", "source": "a"},
            {"text": "中文句子。" * 20, "group": "zh-Hans", "source": "b"},
            {"text": "中文句子。" * 20, "group": "zh-Hant", "source": "b", "pair": 1},
            {"text": "junk", "group": "junk", "kind": "keyword_spam"},
            {"text": "junk", "group": "junk", "kind": "truncated"},
            {"text": "\n".join(x for _, x in page), "group": "page", "kind": "Hans", "lines": page},
            {"text": "\n".join(x for _, x in page), "group": "page", "kind": "Hant", "lines": page}]
    good = ["word " * 100, "中文句子。" * 20, "中文句子。" * 20, None, None, page[1][1], page[1][1]]
    t = mixed_figures(recs, good, [None] * 7, 1.0)["targets"]
    assert all(v["pass"] for k, v in t.items() if k != "junk_caught_per_kind")
    bad = ["word " * 10, "中文句子。" * 20, None, None, "junk", "\n".join(x for _, x in page), page[1][1]]
    fig = mixed_figures(recs, bad, [None, None, "zh_short_doc", "x", None, None, None], 1.0)
    t = fig["targets"]
    assert not t["zh_hant_keep_gap_points"]["pass"] and t["zh_hant_keep_gap_points"]["value"] == 100
    assert not t["en_chars_retained_in_kept"]["pass"] and t["en_chars_retained_in_kept"]["value"] == 0.1
    assert not t["junk_caught_min_per_kind"]["pass"] and not t["junk_caught_per_kind"]["truncated"]["pass"]
    assert not t["zh_furniture_removed_share_hans"]["pass"] and t["zh_furniture_removed_share_hant"]["pass"]
    assert fig["clean"]["zh-Hant"]["same_decision_as_zh_Hans_twin"] == 0
    # a reference chain's figures are reported, not graded (bench/run.py grades keys named "pass")
    ref = mixed_figures(recs, bad, [None] * 7, 1.0, graded=False)["targets"]
    assert ref["en_chars_retained_in_kept"]["pass_ungraded"] is False and "pass" not in ref["en_chars_retained_in_kept"]
