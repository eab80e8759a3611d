"""The run report: built from a real small pipeline run; numbers equal the stages' stats, every rejection
reason has a samples section, no raw PII anywhere in the report, and the page renders in a headless
browser (Debian's chromium)."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import re
import shutil
import sys
import types
from itertools import islice
from pathlib import Path

import pyarrow as pa
import pytest

from contract import metrics as M
from contract import schema as S
from contract.operator import BatchResult, GlobalStage, Operator, StageOutput, append_columns, split_batch

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
EMAIL = "jane.doe@example.com"
PHONE = "+1 415-555-0134"
PII_STRINGS = [EMAIL, PHONE, "415-555-0134", "jane.doe"]
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
MIX_TARGET = {"en": 0.5, "zh": 0.4, "other": 0.1}
# The fake quality gate: letters share of the text; 0.75 rejects a few of the prose documents that
# survive the filters (5% of them fall under 0.77), so the funnel has real low_quality rejections.
MIN_QUALITY = 0.75


# -- plug-in test stages (run on Spark workers: importable as tests.test_report:...) ---------------

class FakeQuality(Operator):
    """``quality_score`` = share of letters (any script) in the text; below ``min_quality``:
    reason ``low_quality``, detail the score."""

    name = "fake_quality"
    metrics = {"fake_quality/scored": "documents scored"}
    edge_sample_column = "quality_score"

    def __init__(self, min_quality: float = 0.6):
        self.min_quality = min_quality

    def output_fields(self):
        return [pa.field("quality_score", pa.float32())]

    def process(self, batch: pa.RecordBatch) -> BatchResult:
        texts = batch.column(S.TEXT).to_pylist()
        scores = [sum(ch.isalpha() for ch in t) / max(len(t), 1) for t in texts]
        batch = append_columns(batch, {"quality_score": pa.array(scores, pa.float32())})
        reasons = [None if s >= self.min_quality else "low_quality" for s in scores]
        kept, rej = split_batch(batch, reasons, [f"quality_score={s:.3f}" for s in scores])
        return BatchResult(kept, rej, {"fake_quality/scored": float(batch.num_rows)})


class FakeMix(GlobalStage):
    """Groups by ``lang``; drops every 4th English document (by id hash) as ``mix_budget``, repeats
    documents with quality >= 0.8 twice; writes ``mix/share_target|share_achieved|repeat_hist`` metrics."""

    name = "fake_mix"
    metrics = {"mix/" + M.SHARE_TARGET: "target share per group", "mix/" + M.SHARE_ACHIEVED: "achieved share per group",
               "mix/" + M.REPEAT_HIST: "documents per repeat count"}

    def output_fields(self):
        return [S.category_field("mix_group"), pa.field("repeat", pa.int32())]

    def __init__(self, targets: dict | None = None):
        self.targets = targets or MIX_TARGET

    def run(self, df, ctx) -> StageOutput:
        from pyspark.sql import functions as F

        grp = F.when(F.col("lang").isin("en", "zh"), F.col("lang")).otherwise(F.lit("other"))
        df = df.withColumn("mix_group", grp)
        drop = (F.col("mix_group") == "en") & (F.abs(F.xxhash64(S.ID)) % 4 == 0)
        df = df.withColumn("repeat", F.when(F.col("quality_score") >= 0.8, 2).otherwise(1).cast("int"))
        kept = df.filter(~drop)
        rej = df.filter(drop).withColumn(S.REJECT_REASON, F.lit("mix_budget")) \
            .withColumn(S.REJECT_DETAIL, F.concat(F.lit("group="), F.col("mix_group")))
        chars = {r["mix_group"]: r["c"] for r in
                 kept.groupBy("mix_group").agg(F.sum(F.length(S.TEXT) * F.col("repeat")).alias("c")).collect()}
        total = sum(chars.values()) or 1
        metrics = {}
        for g, t in self.targets.items():
            metrics[f"mix/share_target/{g}"] = t
            metrics[f"mix/share_achieved/{g}"] = chars.get(g, 0) / total
        for r in kept.groupBy("repeat").count().collect():
            metrics[f"mix/repeat_hist/{r['repeat']}"] = float(r["count"])
        return StageOutput(kept, rej, metrics)


# -- the run ----------------------------------------------------------------------------------------

def _head(path: Path, n: int) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [line for line in islice(f, n)]


GARDEN = ("Last year the group grew beans, tomatoes and pumpkins on the old car park behind the library, and "
          "the harvest was shared with the food bank in the town centre. This spring we would like to build two "
          "new raised beds, repair the fence and plant fruit trees along the path. If you have tools, seeds or "
          "a few free hours, we would be very glad to hear from you, and children are welcome as well.")
PII_DOCS = [
    # exact duplicates: the second copy is rejected by the dedup stage with the first one's id as detail
    {"id": "pii:a", "source": "pii_fixture", "text": f"Please write to {EMAIL} or call {PHONE} about the "
     "volunteer garden project. The garden opens every Saturday morning and everyone in the neighbourhood "
     "is welcome to help with planting, watering and harvesting the vegetables. " + GARDEN},
    {"id": "pii:b", "source": "pii_fixture", "text": f"Please write to {EMAIL} or call {PHONE} about the "
     "volunteer garden project. The garden opens every Saturday morning and everyone in the neighbourhood "
     "is welcome to help with planting, watering and harvesting the vegetables. " + GARDEN},
    # too little prose for the filters
    {"id": "pii:c", "source": "pii_fixture", "text": f"Contact: {EMAIL}\nTel: {PHONE}\n"},
    {"id": "pii:d", "source": "pii_fixture", "text": f"{PHONE} {PHONE} 12345 {EMAIL} ### $$$ 999 000 111 222"},
]


@pytest.fixture(scope="module")
def run(spark, tmp_path_factory):
    from pipeline.config import parse_config
    from pipeline.report import build_report
    from pipeline.runner import run_pipeline

    tmp = tmp_path_factory.mktemp("report")
    inp = tmp / "in"
    inp.mkdir()
    lines = _head(SAMPLE / "en.jsonl.gz", 60) + _head(SAMPLE / "zh.jsonl.gz", 40) + \
        _head(SAMPLE / "web_junk.jsonl.gz", 60) + _head(SAMPLE / "code.jsonl.gz", 6)
    lines += [json.dumps(d) + "\n" for d in PII_DOCS]
    (inp / "docs.jsonl").write_text("".join(lines), encoding="utf-8")
    shutil.copy(SAMPLE / "broken.jsonl", inp / "broken.jsonl")
    stages = [{"stage": "langid"}, {"stage": "filter", "params": {"preset": "mixed"}}]
    stages.append({"stage": "pii"})
    stages += [{"stage": "tests.test_report:FakeQuality", "name": "score", "params": {"min_quality": MIN_QUALITY}},
               {"stage": "tests.stage_fixtures:DropDuplicateTexts", "name": "dedup"},
               {"stage": "tests.test_report:FakeMix", "name": "mix"}]
    cfg_dict = {"name": "report-test", "input": {"paths": [str(inp)]}, "workdir": str(tmp / "work"),
                "seed": 7, "samples_per_reason": 50, "stages": stages}
    cfg_file = tmp / "pipeline.yaml"
    cfg_file.write_text(json.dumps(cfg_dict))
    console = io.StringIO()
    with contextlib.redirect_stdout(console):
        results = run_pipeline(parse_config(cfg_dict, str(cfg_file)), spark=spark)
    print(console.getvalue())
    work = tmp / "work"
    # a shard manifest and a training run that points at it (what tokenize / the trainer write)
    (work / "shards").mkdir()
    manifest = {"format": "winnow-shards/1", "complete": True,
                "tokenizer": {"path": "tok", "sha256": "ab" * 32, "vocab_size": 32000, "bos_id": 1, "eos_id": 2},
                "shards": [{"split": "train", "prefix": "train/shard-00000", "docs": 40, "tokens": 9000,
                            "dtype": "uint16", "sha256": {}},
                           {"split": "validation", "prefix": "validation/shard-00000", "docs": 3, "tokens": 700,
                            "dtype": "uint16", "sha256": {}}],
                "recipe": {"groups": MIX_TARGET}, "achieved": {"en": 0.52, "zh": 0.39, "other": 0.09},
                "totals": {"train": {"docs": 40, "tokens": 9000}, "validation": {"docs": 3, "tokens": 700}}}
    (work / "shards" / "manifest.json").write_text(json.dumps(manifest))
    train = work / "train-tiny"
    train.mkdir()
    rows = [{"kind": "train", "step": s, "tokens": 512 * s, "loss": 10.0 - 0.05 * s, "lr": 1e-3} for s in range(1, 101)]
    rows += [{"kind": "eval", "step": s, "tokens": 512 * s, "val_loss": 9.0 - 0.04 * s, "val_ppl": 2.0 ** (9 - 0.04 * s)}
             for s in (0, 50, 100)]
    (train / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (train / "manifest_summary.json").write_text(json.dumps({"manifest": str(work / "shards" / "manifest.json")}))
    (train / "summary.json").write_text(json.dumps({"initial_val_ppl": 512.0, "final_val_ppl": 32.0}))
    page = build_report(work, config=cfg_file)
    yield types.SimpleNamespace(results=results, work=work, page=page, out=page.parent,
                                data=json.loads((page.parent / "report.json").read_text()),
                                html=page.read_text(encoding="utf-8"),
                                console=console.getvalue())


def _stats(run):
    return {r.dir.name: json.loads((r.dir / "stats.json").read_text()) for r in run.results}


def test_report_numbers_equal_stage_stats(run):
    stats = _stats(run)
    data = run.data
    assert [s["dir"] for s in data["stages"]] == list(stats)
    for entry, funnel in zip(data["stages"], data["funnel"]):
        st = stats[entry["dir"]]
        for k in ("docs_in", "chars_in", "docs_kept", "chars_kept", "docs_rejected", "chars_rejected", "seconds"):
            assert entry[k] == st[k], (entry["dir"], k)
        for k in ("docs_in", "docs_kept", "docs_rejected", "chars_in", "chars_kept"):
            assert funnel[k] == st[k]
        assert entry["rejected_by_reason"] == st["rejected_by_reason"]
        reasons = {r["reason"]: r for r in data["reasons"] if r["stage"] == entry["name"]}
        assert set(reasons) == set(st["rejected_by_reason"])
        for reason, v in st["rejected_by_reason"].items():
            assert reasons[reason]["docs"] == v["docs"] and reasons[reason]["chars"] == v["chars"]
            assert reasons[reason]["docs_share"] == pytest.approx(v["docs"] / st["docs_in"], abs=1e-6)
        # per language and per source: the groups add up to the stage's totals
        for col, rows in (("lang", data["by_lang"]), ("source", data["by_source"])):
            mine = [g for g in rows if g["stage"] == entry["name"]]
            if col not in st["by_group"]["columns"]:
                assert not mine
                continue
            assert sum(g["docs_in"] for g in mine) == st["docs_in"]
            assert sum(g["docs_kept"] for g in mine) == st["docs_kept"]
            for reason, v in st["rejected_by_reason"].items():
                assert sum(g["rejected"].get(reason, {}).get("docs", 0) for g in mine) == v["docs"]
    first, last = stats[data["stages"][0]["dir"]], stats[data["stages"][-1]["dir"]]
    assert data["summary"]["docs_in"] == first["docs_in"] and data["summary"]["docs_out"] == last["docs_kept"]
    # the page shows the same numbers
    for st in stats.values():
        assert f"{st['docs_in']:,}" in run.html


def test_funnel_has_real_rejections(run):
    reasons = {(r["stage"], r["reason"]) for r in run.data["reasons"]}
    assert ("read", "bad_json") in reasons
    assert ("score", "low_quality") in reasons
    assert ("dedup", "dup") in reasons and ("mix", "mix_budget") in reasons
    assert any(stage == "filter" for stage, _ in reasons)


def test_distributions_come_from_stage_histograms(run):
    stats = _stats(run)
    d = run.data["distributions"]
    read = stats["01-read"]
    length = d["length"]["series"]
    assert sum(length[0]["counts"]) == read["docs_kept"]
    assert sum(length[-1]["counts"]) == stats[run.data["stages"][-1]["dir"]]["docs_kept"]
    lid = next(s for s in run.data["stages"] if s["name"] == "langid")
    ls = d["lang_score"]
    assert ls["stage"] == "langid"
    assert sum(ls["series"][0]["counts"]) == lid["docs_kept"]
    assert ls["series"][0]["edges"] == [i / 20 for i in range(21)]
    q = d["quality_score"]
    score = stats[next(s["dir"] for s in run.data["stages"] if s["name"] == "score")]
    kept_q = next(s for s in q["series"] if s["outcome"] == "kept")
    rej_q = next(s for s in q["series"] if s["outcome"] == "rejected")
    assert sum(kept_q["counts"]) == score["docs_kept"]
    assert sum(rej_q["counts"]) == score["rejected_by_reason"]["low_quality"]["docs"]
    # the threshold: nothing kept below it, nothing rejected above it
    assert kept_q["stats"]["min"] >= MIN_QUALITY - 1e-6 and rej_q["stats"]["max"] < MIN_QUALITY
    first_kept_bin = round(MIN_QUALITY * 20)  # 20 bins over [0, 1]
    assert sum(kept_q["counts"][:first_kept_bin]) == 0 and sum(rej_q["counts"][first_kept_bin:]) == 0
    assert "pii" in d


def test_quality_edge_samples_are_the_lowest_kept(run):
    extra = [g for g in run.data["extra_samples"] if g["file"].endswith("kept_edge.jsonl")]
    assert len(extra) == 1 and extra[0]["stage"] == "score"
    vals = [float(s["detail"].split("=")[1]) for s in extra[0]["samples"]]
    assert vals == sorted(vals) and len(vals) == 8 and min(vals) >= MIN_QUALITY
    hist = next(s for s in run.data["stages"] if s["name"] == "score")["histograms"]["numeric"]["quality_score"]
    assert vals[0] == pytest.approx(hist["kept"]["min"], abs=1e-3)
    assert "quality threshold" in run.html


def test_every_rejection_reason_has_a_samples_section(run):
    stats = _stats(run)
    want = {(st["stage"], reason) for st in stats.values() for reason in st["rejected_by_reason"]}
    got = {(g["stage"], g["reason"]) for g in run.data["samples"]}
    assert want == got and want
    for stage, reason in want:
        assert f'data-stage="{stage}" data-reason="{reason}"' in run.html
        group = next(g for g in run.data["samples"] if (g["stage"], g["reason"]) == (stage, reason))
        assert group["samples"], (stage, reason)
        assert all(s["reject_reason"] == reason for s in group["samples"])
    # the measured statistic is shown: filter and quality details are non-empty
    for g in run.data["samples"]:
        if g["stage"] in ("filter", "score", "dedup"):
            assert all(s.get("reject_detail") for s in g["samples"]), g["reason"]
    q = next(g for g in run.data["samples"] if g["reason"] == "low_quality")
    assert q["samples"][0]["reject_detail"].startswith("quality_score=")
    assert f"statistic <b>{q['samples'][0]['reject_detail']}</b>" in run.html


def test_no_raw_pii_anywhere_in_the_report(run):
    files = [p for p in run.out.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"index.html", "report.json"}
    for p in files:
        text = p.read_text(encoding="utf-8")
        for s in PII_STRINGS:
            assert s not in text, f"{s!r} in {p}"
        assert not EMAIL_RE.search(text), f"an e-mail address in {p}: {EMAIL_RE.search(text).group()}"
    # the fixture's PII documents are in the samples, scrubbed
    pii_samples = [s for g in run.data["samples"] for s in g["samples"] if str(s.get("id", "")).startswith("pii:")]
    assert pii_samples
    assert any("<" in s["text"] and ">" in s["text"] for s in pii_samples)


def test_mixture_shards_and_training_sections(run):
    m = run.data["mixture"]
    mix_stats = _stats(run)[next(s["dir"] for s in run.data["stages"] if s["name"] == "mix")]
    groups = {g["group"]: g for g in m["groups"]}
    assert set(groups) == set(MIX_TARGET)
    for g, t in MIX_TARGET.items():
        assert groups[g]["target"] == t
        assert groups[g]["achieved"] == mix_stats["metrics"][f"mix/share_achieved/{g}"]
    assert sum(m["repeats"].values()) == mix_stats["docs_kept"]
    assert m["manifest"]["recipe"] == {"groups": MIX_TARGET}
    sh = run.data["shards"][0]
    assert sh["splits"]["train"] == {"shards": 1, "docs": 40, "tokens": 9000}
    assert run.data["summary"]["tokens_out"] == 9700
    (tr,) = run.data["training"]
    assert tr["points_at_workdir"] is True
    assert len(tr["train"]) == 100 and [e["val_ppl"] for e in tr["eval"]] == [2.0 ** 9, 2.0 ** 7, 2.0 ** 5]
    dom = run.data["distributions"].get("domain")
    assert dom is None  # no domain column in this run: the section degrades, nothing invented
    for plot in ("funnel", "reasons", "length", "lang_score", "quality_score", "mixture", "repeats", "training"):
        assert plot in run.data["plots"]
        assert f'data-plot="{plot}"' in run.html


def test_console_progress_lines(run):
    """Every stage prints a start line and a finish line with its counts and rate."""
    for r in run.results:
        st = r.stats
        start = re.search(rf"^\[winnow\] {re.escape(r.dir.name)}: starting", run.console, re.M)
        assert start, r.dir.name
        m = re.search(rf"^\[winnow\] {re.escape(r.dir.name)}: finished in ([\d.]+)s \(([\d,]+) docs/s\): "
                      rf"([\d,]+) in -> ([\d,]+) kept, ([\d,]+) rejected", run.console, re.M)
        assert m, (r.dir.name, run.console)
        docs_in, kept, rej = (int(m.group(i).replace(",", "")) for i in (3, 4, 5))
        assert (docs_in, kept, rej) == (st["docs_in"], st["docs_kept"], st["docs_rejected"])


def test_spark_progress_bar_only_on_a_terminal(monkeypatch):
    from pipeline import spark as sp

    monkeypatch.delenv("WINNOW_SPARK_PROGRESS", raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert sp.console_progress() == "false"
    tty = io.StringIO()
    tty.isatty = lambda: True
    monkeypatch.setattr(sys, "stderr", tty)
    assert sp.console_progress() == "true"
    assert sp.default_conf(sp.SparkConfig())["spark.ui.showConsoleProgress"] == "true"
    monkeypatch.setenv("WINNOW_SPARK_PROGRESS", "0")
    assert sp.console_progress() == "false"
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setenv("WINNOW_SPARK_PROGRESS", "1")
    assert sp.console_progress() == "true"


def test_run_section(run):
    r = run.data["run"]
    assert r["config"]["seed"] == 7 and r["seeds"]["pipeline"] == 7
    assert r["input_paths"] and r["config_file"].endswith("pipeline.yaml")
    assert [t["stage"] for t in r["timings"]] == [s["name"] for s in run.data["stages"]]
    assert r["spark"]["session"]["master"].startswith("local")
    assert "pyspark" in r["versions"] and r["winnow_versions"]


def test_page_is_self_contained(run):
    html = run.html
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?:https?:|//|file:)""", html)
    assert "<link" not in html and "@import" not in html and "url(" not in html
    assert html.count("data:image/png;base64,") == len(run.data["plots"])
    assert "Content-Security-Policy" in html


def test_cli_writes_to_out(run, tmp_path, capsys):
    from jobs.cli import main

    assert main(["report", str(run.work), "--out", str(tmp_path / "r"), "--runs", str(run.work / "train-tiny")]) == 0
    assert (tmp_path / "r" / "index.html").exists() and (tmp_path / "r" / "report.json").exists()
    assert str(tmp_path / "r" / "index.html") in capsys.readouterr().out
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert len(data["training"]) == 1  # the same run, given twice, counted once


# -- the page in a real browser ---------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(
    __import__("pipeline.report.browser", fromlist=["find_chromium"]).find_chromium() is None,
    reason="chromium not installed: `make browser` (or `apt-get install -y chromium`) installs Debian's chromium")


@needs_chromium
def test_page_renders_in_headless_chromium(run, tmp_path):
    from pipeline.report import browser

    # the DOM after the page's script ran: load handler ran, no script errors, every section there
    dom = browser.dump_dom(run.page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    root = re.search(r"<html[^>]*>", html).group()
    assert 'data-rendered="1"' in root, "the page's load handler did not run"
    assert "data-js-errors" not in root, root
    for sid in ("summary", "funnel", "rejections", "languages", "sources", "distributions", "mixture", "samples",
                "training", "run"):
        assert f'id="{sid}"' in html
    assert html.count('class="reason-samples"') == len(run.data["samples"])
    assert html.count("data:image/png;base64,") == len(run.data["plots"])
    assert not dom.bad_log_lines(), "\n".join(dom.bad_log_lines())
    assert browser.check(run.page) == []
    # the screenshot: a real PNG of the requested size with more than a blank page in it
    shot = browser.screenshot(run.page, tmp_path / "report.png", 1280, 1600)
    assert shot.read_bytes()[:8] == browser.PNG_MAGIC
    assert browser.png_size(shot) == (1280, 1600)
    assert shot.stat().st_size > 20_000
    _assert_not_blank(shot)


def _assert_not_blank(png: Path) -> None:
    """Decode with matplotlib: the image has dark text pixels and coloured plot pixels, not one colour."""
    import matplotlib.image as mpimg
    import numpy as np

    img = mpimg.imread(str(png))[..., :3]
    assert img.std() > 0.05
    assert (img.max(axis=2) < 0.3).mean() > 0.001  # text
    sat = img.max(axis=2) - img.min(axis=2)
    assert (sat > 0.3).mean() > 0.005  # coloured bars / lines
    assert len(np.unique((img[::8, ::8] * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 20


@needs_chromium
def test_browser_check_catches_script_errors(tmp_path):
    from pipeline.report import browser
    from pipeline.report.html import SCRIPT

    bad = tmp_path / "bad.html"
    bad.write_text(f"<!doctype html><html><head><script>{SCRIPT}</script></head><body><p>x</p>"
                   "<script>undefinedFunction();</script></body></html>")
    problems = browser.check(bad)
    assert any("undefinedFunction" in p for p in problems), problems


@needs_chromium
def test_cli_screenshot(run, tmp_path, capsys):
    from jobs.cli import main
    from pipeline.report import browser

    png = tmp_path / "shots" / "report.png"
    assert main(["report", str(run.work), "--out", str(tmp_path / "r"), "--screenshot", str(png),
                 "--window-size", "1000x1400"]) == 0
    assert browser.png_size(png) == (1000, 1400) and png.stat().st_size > 20_000
    out = capsys.readouterr().out
    assert f"report screenshot: {png}" in out and "browser:" not in out


def test_browser_absent_is_a_clear_error(tmp_path, monkeypatch):
    from pipeline.report import browser

    monkeypatch.setenv("WINNOW_CHROMIUM", str(tmp_path / "no-such-chromium"))
    assert browser.find_chromium() is None
    with pytest.raises(browser.BrowserError, match="make browser"):
        (tmp_path / "index.html").write_text("<html></html>")
        browser.screenshot(tmp_path, tmp_path / "x.png")
