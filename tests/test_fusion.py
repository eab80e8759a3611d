"""Fused row-local stages (the default) give the same kept and rejected rows and the same stats as
running every stage on its own (``materialize: true``)."""

import gzip
import itertools
import json
from pathlib import Path

import pytest

from pipeline.config import parse_config
from pipeline.runner import run_pipeline

ROOT = Path(__file__).resolve().parents[1]
# Wall-clock fields, and the fused run's own bookkeeping, are the only allowed differences.
VOLATILE = {"seconds", "finished_at", "fused", "spark"}


def _slice_of_sample(dst: Path, per_file: int = 120) -> None:
    dst.mkdir()
    for name in ("en", "zh", "web_junk", "code"):
        with gzip.open(ROOT / "data" / "sample" / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
            lines = list(itertools.islice(f, per_file))
        # a record with PII in its id and source, so the PII stage rewrites them inside the fused pass
        if name == "en":
            rec = json.loads(lines[0])
            rec["id"], rec["source"] = "mail-ivan.petrov@example.com", "contact ivan.petrov@example.com"
            lines[0] = json.dumps(rec, ensure_ascii=False) + "\n"
        (dst / f"{name}.jsonl").write_text("".join(lines), encoding="utf-8")


def _config(tmp_path: Path, workdir: str, materialize: bool):
    return parse_config({
        "input": {"paths": [str(tmp_path / "in")]},
        "workdir": str(tmp_path / workdir),
        "samples_per_reason": 3,
        "materialize": materialize,
        "stages": [
            {"stage": "normalize"},
            {"stage": "langid", "params": {"keep_langs": ["en", "zh"], "min_score": 0.65}},
            {"stage": "filter", "params": {"preset": "mixed"}},
            {"stage": "pii"},
        ],
    })


def _rows(spark, path: Path) -> list[dict]:
    df = spark.read.parquet(str(path))
    return sorted((r.asDict(recursive=True) for r in df.collect()), key=lambda r: r["id"]), sorted(df.columns)


def _stable_stats(stats: dict) -> dict:
    out = {k: v for k, v in stats.items() if k not in VOLATILE}
    out["metrics"] = {k: v for k, v in stats["metrics"].items() if not k.startswith("seconds/")}
    out["histograms"] = {k: v for k, v in stats["histograms"].items() if k != "seconds"}
    return out


@pytest.mark.slow
def test_fused_and_materialized_runs_agree(spark, tmp_path):
    _slice_of_sample(tmp_path / "in")
    fused = run_pipeline(_config(tmp_path, "fused", False), spark=spark)
    alone = run_pipeline(_config(tmp_path, "alone", True), spark=spark)
    assert [r.dir.name for r in fused] == [r.dir.name for r in alone]
    # the fused group (normalize..pii) wrote kept/ only for its last stage
    assert [(r.dir / "kept").is_dir() for r in fused] == [True, False, False, False, True]
    assert fused[2].stats["fused"]["stages"] == ["02-normalize", "03-langid", "04-filter", "05-pii"]
    for f, a in zip(fused, alone):
        assert _rows(spark, f.dir / "rejected") == _rows(spark, a.dir / "rejected"), f.dir.name
        assert _stable_stats(f.stats) == _stable_stats(a.stats), f.dir.name
        assert (f.dir / "samples" / "rejected.jsonl").read_text() == (a.dir / "samples" / "rejected.jsonl").read_text()
    assert _rows(spark, fused[-1].dir / "kept") == _rows(spark, alone[-1].dir / "kept")
    # every stage rejected something, so the comparison above covers each stage's own rows
    assert all(r.stats["docs_rejected"] for r in fused[1:4]), [r.stats["rejected_by_reason"] for r in fused]


@pytest.mark.slow
def test_fused_group_reruns_from_its_first_stage_when_a_later_member_changes(spark, tmp_path):
    _slice_of_sample(tmp_path / "in", per_file=30)
    cfg = _config(tmp_path, "w", False)
    run_pipeline(cfg, spark=spark)
    cfg.stages[2].params = {"preset": "gopher"}  # filter changes; its input (langid's kept/) was not written
    again = run_pipeline(cfg, spark=spark)
    # filter's input (langid's kept/) and langid's (normalize's) were never written: the group re-runs
    # from its first stage, which reads the read stage's kept/
    assert [r.skipped for r in again] == [True, False, False, False, False]
    assert again[1].stats["fused"]["stages"] == ["02-normalize", "03-langid", "04-filter", "05-pii"]
    assert again[3].stats["rejected_by_reason"] and all(r.startswith("gopher_") for r in again[3].stats["rejected_by_reason"])
    # --until a middle member: it finished without kept/ above, so its group re-runs to write it
    upto = run_pipeline(cfg, spark=spark, until="langid")
    assert [r.skipped for r in upto] == [True, False, False]
    assert (upto[-1].dir / "kept").is_dir()
    assert upto[-1].stats["docs_kept"] == again[2].stats["docs_kept"]
