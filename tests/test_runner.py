"""The stage runner: layout, conservation, resume, atomic output, samples."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contract.errors import ConservationError
from pipeline.config import parse_config
from pipeline.runner import run_pipeline

ROOT = Path(__file__).resolve().parents[1]
MIN_CHARS = "tests.stage_fixtures:MinChars"
DUP_TEXT = "tests.stage_fixtures:DropDuplicateTexts"


def make_input(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    lines = [json.dumps({"id": f"d{i}", "text": f"document number {i % 30} " * (1 + i % 4), "source": f"s{i % 2}"})
             for i in range(120)]
    lines += ['{"id": "bad", "text": ', json.dumps({"id": "tiny", "text": "tiny"})]
    (d / "a.jsonl").write_text("\n".join(lines) + "\n")
    return d


def config(tmp_path, min_chars=25, stages=None):
    return parse_config({
        "input": {"paths": [str(tmp_path / "in")]},
        "workdir": str(tmp_path / "work"),
        "samples_per_reason": 3,
        "stages": stages or [{"stage": MIN_CHARS, "params": {"min_chars": min_chars}}, {"stage": DUP_TEXT, "name": "dedup"}],
    })


def test_layout_stats_and_conservation(spark, tmp_path):
    make_input(tmp_path)
    results = run_pipeline(config(tmp_path), spark=spark)
    assert [r.dir.name for r in results] == ["01-read", "02-minchars", "03-dedup"]
    read, minc, dedup = (r.stats for r in results)
    assert read["docs_in"] == 122 and read["rejected_by_reason"]["bad_json"]["docs"] == 1
    for prev, st in ((read, minc), (minc, dedup)):
        assert st["docs_in"] == prev["docs_kept"]
        assert st["docs_in"] == st["docs_kept"] + st["docs_rejected"]
    assert minc["rejected_by_reason"]["too_short"]["docs"] == 31  # "tiny" + 30 one-repeat docs of < 25 chars
    assert minc["metrics"]["seen"] == minc["docs_in"]
    assert dedup["docs_kept"] == 45 and dedup["rejected_by_reason"]["dup"]["docs"] == 45
    for r in results:
        assert (r.dir / "_SUCCESS").exists() and (r.dir / "kept").is_dir() and (r.dir / "rejected").is_dir()
        on_disk = json.loads((r.dir / "stats.json").read_text())
        assert on_disk["docs_kept"] == spark.read.parquet(str(r.dir / "kept")).count()
        assert on_disk["docs_rejected"] == spark.read.parquet(str(r.dir / "rejected")).count()
    rej = spark.read.parquet(str(results[1].dir / "rejected"))
    assert {r.reject_stage for r in rej.select("reject_stage").collect()} == {"minchars"}
    samples = [json.loads(line) for line in (results[1].dir / "samples" / "rejected.jsonl").read_text().splitlines()]
    assert len(samples) == 3 and {s["reject_reason"] for s in samples} == {"too_short"}
    by_source = {row["source"] for row in minc["by_group"]["rows"]}
    assert by_source == {"s0", "s1", "a"}


def test_resume_skips_finished_and_reruns_changed(spark, tmp_path):
    make_input(tmp_path)
    first = run_pipeline(config(tmp_path), spark=spark)
    again = run_pipeline(config(tmp_path), spark=spark)
    assert [r.skipped for r in again] == [True, True, True]
    changed = run_pipeline(config(tmp_path, min_chars=40), spark=spark)
    assert [r.skipped for r in changed] == [True, False, False]
    assert changed[1].stats["docs_kept"] < first[1].stats["docs_kept"]


def test_lost_rows_fail_loudly_and_leave_no_success(spark, tmp_path):
    make_input(tmp_path)
    cfg = config(tmp_path, stages=[{"stage": "tests.stage_fixtures:LosesRows"}])
    with pytest.raises(ConservationError, match="loses_rows"):
        run_pipeline(cfg, spark=spark)
    assert not (tmp_path / "work" / "02-losesrows").exists()


@pytest.mark.slow
def test_killed_job_leaves_no_success_and_resumes(tmp_path):
    make_input(tmp_path)
    sleep_file = tmp_path / "sleep"
    sleep_file.write_text("1")
    cfg = tmp_path / "p.yaml"
    cfg.write_text(json.dumps({
        "input": {"paths": [str(tmp_path / "in")]}, "workdir": str(tmp_path / "work"),
        "spark": {"master": "local[1]", "driver_memory": "1g"},
        "stages": [{"stage": MIN_CHARS, "params": {"min_chars": 5, "sleep_file": str(sleep_file)}}],
    }))
    cmd = [sys.executable, "-m", "jobs.run_pipeline", "--config", str(cfg)]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    work = tmp_path / "work"
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None and not list(work.glob(".tmp-02-minchars-*")):
        time.sleep(0.5)
    assert proc.poll() is None, proc.stdout.read().decode()
    assert list(work.glob(".tmp-02-minchars-*")), "stage 02 never started"
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (work / "01-read" / "_SUCCESS").exists()
    assert not (work / "02-minchars").exists()
    sleep_file.unlink()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "01-read: up to date, skipped" in out.stdout
    assert (work / "02-minchars" / "_SUCCESS").exists()
    assert not list(work.glob(".tmp-*"))
