"""docs/architecture.md's "Adding a stage", proved: a stage module (tests/example_stage.py) plus one
registry line is all the framework needs. The runner writes its declared columns and metrics into
stats.json, the report finds the stage and its columns without knowing its name, `make` derives the
stage targets from the registry, and a stage that emits an undeclared metric is stopped."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from contract.errors import StageContractError
from pipeline import registry
from pipeline.config import parse_config
from pipeline.local import make_table, run_operator
from pipeline.report.collect import collect
from pipeline.runner import run_pipeline
from tests.example_stage import LongestLine

ROOT = Path(__file__).resolve().parents[1]


def test_the_example_stage_alone():
    res = run_operator(LongestLine(max_line_chars=10), make_table(["short\nlines", "x" * 11 + "\nok"]))
    assert res.kept.column("longest_line_chars").to_pylist() == [5]
    assert res.reasons() == ["line_too_long"] and res.rejected.column("reject_detail").to_pylist() == ["11"]
    assert res.metrics == {"longest_line/over_limit": 1.0}


@pytest.fixture
def registered(monkeypatch):
    # the one registry line a new stage adds
    monkeypatch.setitem(registry.STAGES, "longest_line", "tests.example_stage:LongestLine")


def _config(tmp_path, stage: str):
    inp = tmp_path / "in"
    inp.mkdir()
    docs = [{"id": f"d{i}", "text": ("word " * (5 + i * 40)).strip() + "\nend.", "source": "s"} for i in range(12)]
    (inp / "a.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    return parse_config({"input": {"paths": [str(inp)]}, "workdir": str(tmp_path / "work"),
                         "samples_per_reason": 2, "stages": [{"stage": stage, "params": {"max_line_chars": 1000}}]})


def test_a_registered_stage_runs_and_is_discovered(spark, tmp_path, registered):
    results = run_pipeline(_config(tmp_path, "longest_line"), spark=spark)
    st = results[-1].stats
    assert results[-1].dir.name == "02-longest_line"
    assert st["declared"]["fields"] == [{"name": "longest_line_chars", "type": "int32", "category": False}]
    assert st["declared"]["metrics"] == LongestLine.metrics
    over = st["rejected_by_reason"]["line_too_long"]["docs"]
    assert over == st["metrics"]["longest_line/over_limit"] > 0 and st["docs_kept"] > 0
    assert "longest_line_chars" in st["histograms"]["numeric"]
    report = collect(tmp_path / "work")
    assert [s["name"] for s in report["stages"]] == ["read", "longest_line"]
    assert any(r["reason"] == "line_too_long" for r in report["reasons"])


def test_undeclared_metric_stops_the_stage(spark, tmp_path):
    with pytest.raises(StageContractError, match="surprise"):
        run_pipeline(_config(tmp_path, "tests.example_stage:UndeclaredMetric"), spark=spark)
    assert not (tmp_path / "work" / "02-undeclaredmetric").exists()


def test_make_derives_stage_targets_from_the_registry():
    out = subprocess.run(["make", "-s", "--no-print-directory", "stages"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["read", *registry.STAGES]
