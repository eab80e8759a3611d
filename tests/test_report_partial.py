"""The report degrades gracefully on partial runs and never trusts sample text (no Spark needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.report import build_report
from pipeline.report.collect import collect
from redaction import scrub_text


def _stage(work: Path, name: str, stats: dict, samples: list[dict] | None = None) -> Path:
    d = work / name
    d.mkdir(parents=True)
    (d / "stats.json").write_text(json.dumps(stats))
    if samples is not None:
        (d / "samples").mkdir()
        (d / "samples" / "rejected.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    return d


def _old_stats(stage: str, index: int, docs_in: int, kept: int, reasons: dict) -> dict:
    """A stats.json as an older runner wrote it: no histograms, no lang column."""
    rej = sum(v["docs"] for v in reasons.values())
    assert kept + rej == docs_in
    rows = [{"source": "s", "outcome": "kept", "docs": kept, "chars": 10 * kept}]
    rows += [{"source": "s", "outcome": r, "docs": v["docs"], "chars": v["chars"]} for r, v in reasons.items()]
    return {"stage": stage, "index": index, "docs_in": docs_in, "chars_in": 10 * kept + sum(v["chars"] for v in
            reasons.values()), "docs_kept": kept, "chars_kept": 10 * kept, "docs_rejected": rej,
            "chars_rejected": sum(v["chars"] for v in reasons.values()), "rejected_by_reason": reasons,
            "by_group": {"columns": ["source"], "rows": rows}, "metrics": {"seconds/x": 0.5}, "params": {"seed": 3},
            "seconds": 1.5, "finished_at": "2026-01-01T00:00:00Z"}


def test_partial_run_builds_with_warnings(tmp_path):
    work = tmp_path / "work"
    _stage(work, "01-read", _old_stats("read", 1, 10, 9, {"bad_json": {"docs": 1, "chars": 0}}))
    evil = "<script>alert('x')</script> write to jane.doe@example.com"
    _stage(work, "02-filter", _old_stats("filter", 2, 9, 6, {"too_short": {"docs": 2, "chars": 5},
                                                            "no_samples": {"docs": 1, "chars": 3}}),
           samples=[{"id": "a", "source": "s", "reject_reason": "too_short", "reject_detail": "3", "text": evil,
                     "truncated": False}])
    (work / ".tmp-03-dedup-123").mkdir()  # an unfinished stage is ignored
    page = build_report(work)
    data = json.loads((page.parent / "report.json").read_text())
    assert [s["dir"] for s in data["stages"]] == ["01-read", "02-filter"]
    assert any("no histograms" in w for w in data["warnings"])
    assert data["distributions"] == {} and data["training"] == [] and data["mixture"] == {}
    assert data["by_lang"] == [] and len(data["by_source"]) == 2
    groups = {(g["stage"], g["reason"]): g for g in data["samples"]}
    assert set(groups) == {("read", "bad_json"), ("filter", "too_short"), ("filter", "no_samples")}
    assert groups[("filter", "no_samples")]["samples"] == []
    html = page.read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "jane.doe@example.com" not in html and "jane.doe@example.com" not in (page.parent / "report.json").read_text()
    assert "No sample written for this reason." in html
    assert data["run"]["seeds"] == {"read.seed": 3, "filter.seed": 3}


def test_empty_workdir(tmp_path):
    data = collect(tmp_path)
    assert data["stages"] == [] and any("no finished stage" in w for w in data["warnings"])
    page = build_report(tmp_path, out=tmp_path / "r")
    assert page.exists() and "Winnow run report" in page.read_text()


def test_cli_rejects_a_missing_workdir(tmp_path, capsys):
    from pipeline.report import main

    assert main([str(tmp_path / "nope")]) == 2


def test_report_scrubber_is_the_redaction_module():
    s = scrub_text("mail jane.doe@example.com, call +1 415-555-0134 or 010-6552 1234, ip 10.1.2.3; year 2024")
    assert "jane" not in s and "415" not in s and "6552" not in s and "10.1.2.3" not in s and "2024" in s


def test_training_run_in_workdir_train_is_found(tmp_path, capsys):
    """``make train`` writes WORKDIR/train: the report finds it without flags, with the trainer's own writers;
    ``--train-dir`` adds a run kept elsewhere."""
    from trainer.data import manifest_summary
    from trainer.metrics import MetricsLogger

    work = tmp_path / "work"
    _stage(work, "01-read", _old_stats("read", 1, 10, 10, {}))
    shards = work / "02-tokenize" / "shards"
    shards.mkdir(parents=True)
    manifest = {"format": "winnow-shards/1", "complete": True, "tokenizer": {"vocab_size": 512, "eos_id": 2},
                "shards": [{"split": "train", "prefix": "train/shard-00000", "docs": 9, "tokens": 4000},
                           {"split": "validation", "prefix": "validation/shard-00000", "docs": 1, "tokens": 300}]}
    (shards / "manifest.json").write_text(json.dumps(manifest))

    def train_run(out: Path, steps: int) -> None:
        out.mkdir(parents=True)
        (out / "manifest_summary.json").write_text(json.dumps(manifest_summary(shards / "manifest.json", manifest)))
        log = MetricsLogger(out, tensorboard=False)
        for s in range(0, steps + 1, 5):
            log.log({"kind": "eval", "step": s, "tokens": 64 * s, "val_loss": 6.0 - 0.02 * s,
                     "val_ppl": 2.718281828 ** (6.0 - 0.02 * s)})
            if s:
                row = {"kind": "train", "step": s, "tokens": 64 * s, "loss": 6.2 - 0.02 * s, "lr": 1e-3,
                       "grad_norm": 1.0, "tokens_per_s": 900.0, "tgs": 900.0, "mfu": None}
                log.log(row)
                log.progress(row, steps, 1.0)
        log.close()

    train_run(work / "train", 20)
    elsewhere = tmp_path / "runs" / "other"
    train_run(elsewhere, 10)
    assert "step" in capsys.readouterr().out  # the trainer's console progress line

    data = collect(work)
    (tr,) = data["training"]
    assert Path(tr["dir"]) == work / "train" and tr["points_at_workdir"] is True
    assert [r["step"] for r in tr["train"]] == [5, 10, 15, 20]
    assert [r["step"] for r in tr["eval"]] == [0, 5, 10, 15, 20]
    assert tr["eval"][-1]["val_ppl"] == pytest.approx(2.718281828 ** 5.6)

    from pipeline.report import main

    assert main([str(work), "--train-dir", str(elsewhere), "--out", str(tmp_path / "r")]) == 0
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert {Path(t["dir"]).name for t in data["training"]} == {"train", "other"}
    assert "training" in data["plots"]
    assert 'data-plot="training"' in (tmp_path / "r" / "index.html").read_text()
