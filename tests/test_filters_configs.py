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
