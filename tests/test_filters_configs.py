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
