"""``winnow report WORKDIR``: the run report, rebuilt from what the stages wrote (never the corpus).

Writes ``<out>/index.html`` (one self-contained page: inline CSS and PNG plots, no network) and
``<out>/report.json`` (the same figures), ``<out>`` defaulting to ``WORKDIR/report``. See
``docs/report.md``.

    winnow report work/demo [--out DIR] [--train-dir RUN_DIR ...] [--config configs/demo.yaml]
                            [--screenshot PNG [--window-size 1280x2400]]

Training curves: every ``WORKDIR/train*/metrics.jsonl`` (and ``WORKDIR/train*/*/metrics.jsonl``) is
found automatically (``make train`` writes ``WORKDIR/train``); ``--train-dir`` adds runs elsewhere.
``--screenshot`` renders the written page in headless chromium (``pipeline/report/browser.py``),
checks it rendered without errors and saves a PNG.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from pipeline.report.collect import collect

__all__ = ["build_report", "collect", "main"]


def build_report(workdir: str | os.PathLike, out: str | os.PathLike | None = None,
                 runs: list[str | os.PathLike] | None = None, config: str | os.PathLike | None = None) -> Path:
    """Write the report of the run in ``workdir``; returns the path of ``index.html``."""
    from pipeline.report import html, plots

    workdir = Path(workdir)
    out_dir = Path(out) if out is not None else workdir / "report"
    data: dict[str, Any] = collect(workdir, runs=runs, config=config)
    images = plots.make_all(data)
    data["plots"] = sorted(images)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write(out_dir / "report.json", json.dumps(data, indent=1, ensure_ascii=False, sort_keys=False, default=str))
    page = out_dir / "index.html"
    _write(page, html.render(data, images))
    return page


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="winnow report", description="HTML + JSON report of a finished run.")
    ap.add_argument("workdir", help="the pipeline's workdir (holds NN-stage/ directories)")
    ap.add_argument("--out", help="output directory (default: WORKDIR/report)")
    ap.add_argument("--train-dir", "--runs", dest="runs", action="append", default=[], metavar="DIR",
                    help="a training run directory (or a directory of runs) trained on these shards; repeatable. "
                         "WORKDIR/train*/metrics.jsonl is always looked at")
    ap.add_argument("--screenshot", metavar="PNG",
                    help="also render the page in headless chromium, check it for errors and save a screenshot")
    ap.add_argument("--window-size", default="1280x2400", metavar="WxH", help="screenshot size (default 1280x2400)")
    ap.add_argument("--config", help="the pipeline YAML (default: the configs/*.yaml whose workdir is WORKDIR)")
    args = ap.parse_args(argv)
    if not Path(args.workdir).is_dir():
        print(f"winnow report: no such workdir: {args.workdir}")
        return 2
    size = None
    if args.screenshot:
        try:
            w, h = (int(x) for x in args.window_size.lower().split("x"))
            size = (w, h)
        except ValueError:
            print(f"winnow report: --window-size wants WIDTHxHEIGHT, got {args.window_size!r}")
            return 2
    page = build_report(args.workdir, out=args.out, runs=args.runs, config=args.config)
    print(f"[winnow] report: {page}")
    if size is not None:
        from pipeline.report import browser

        try:
            problems = browser.check(page)
            png = browser.screenshot(page, args.screenshot, *size)
        except browser.BrowserError as e:
            print(f"winnow report: {e}")
            return 1
        for p in problems:
            print(f"[winnow] report: browser: {p}")
        pw, ph = browser.png_size(png)
        print(f"[winnow] report screenshot: {png} ({pw}x{ph})")
        return 1 if problems else 0
    return 0
