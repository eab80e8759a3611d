"""Benchmark harness: runs named benchmarks and writes JSON results with the machine's description.

    python -m bench.run                 # every bench/bench_*.py
    python -m bench.run filters dedup   # some of them
    python -m bench.run --quick         # smaller inputs (smoke test)

Each benchmark is a module ``bench/bench_<name>.py`` with ``run(ctx) -> dict``. Results land in
``bench/results/<name>.json`` and ``bench/results/summary.json``. Benchmarks read real text from
``../shared/corpora`` (or $WINNOW_CORPORA) and skip what needs it when it is absent.

A benchmark's status is ``skipped`` when its result has a top-level ``"skipped": <why>``, ``missed``
when any target it reports is false (a key named ``meets_target``, ``targets_met``, ``pass`` or
ending in ``_met``/``_pass``, at any depth), ``error`` when it raised, else ``ok``. Parts of a result
that were skipped (any string value starting with ``skipped``) are listed beside the status, so a
side-by-side comparison that could not run its reference never reads as a pass. The exit code is
non-zero when a benchmark errored or missed a target.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class BenchContext:
    corpora: Path | None
    quick: bool
    out_dir: Path
    device: str = "cpu"  # benchmarks with a GPU path read it (bench_score: --device cuda)


def find_corpora() -> Path | None:
    for cand in (os.environ.get("WINNOW_CORPORA"), ROOT.parent / "shared" / "corpora"):
        if cand and Path(cand).is_dir():
            return Path(cand)
    return None


def machine() -> dict:
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gib": mem, "python": platform.python_version(),
            "platform": platform.platform()}


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in (ROOT / "bench").glob("bench_*.py"))


TARGET_KEYS = ("meets_target", "targets_met", "pass")


def _walk(obj, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, obj


def targets_of(result: dict) -> dict[str, bool]:
    """Every target a result reports, by its path: ``{"dedup.meets_target": False, ...}``."""
    out = {}
    for path, v in _walk(result):
        key = path.rsplit(".", 1)[-1]
        if isinstance(v, bool) and (key in TARGET_KEYS or key.endswith(("_met", "_pass"))):
            out[path] = v
    return out


def skipped_parts(result: dict) -> dict[str, str]:
    return {p: v for p, v in _walk(result) if isinstance(v, str) and v.startswith("skipped")}


def status_of(result: dict) -> str:
    if isinstance(result.get("skipped"), str):
        return "skipped"
    return "missed" if not all(targets_of(result).values()) else "ok"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(available())})")
    ap.add_argument("--quick", action="store_true", help="small inputs, for a smoke test")
    ap.add_argument("--device", default="cpu", help="cpu or cuda, for benchmarks with a GPU path (score)")
    ap.add_argument("--skip", nargs="*", default=["gpu_train"], help="benchmarks to skip (default: gpu_train)")
    args = ap.parse_args(argv)
    names = args.names or [n for n in available() if n not in set(args.skip)]
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = BenchContext(find_corpora(), args.quick, out_dir, args.device)
    summary = {"machine": machine(), "corpora": str(ctx.corpora) if ctx.corpora else None, "results": {}}
    failed = 0
    for name in names:
        print(f"[bench] {name} ...", flush=True)
        t0 = time.time()
        try:
            result = importlib.import_module(f"bench.bench_{name}").run(ctx)
            status = status_of(result)
        except Exception:
            result, status = {"error": traceback.format_exc()}, "error"
        failed += status in ("error", "missed")
        record = {"name": name, "status": status, "seconds": round(time.time() - t0, 1),
                  "load_avg": os.getloadavg(), "machine": summary["machine"],
                  "targets": targets_of(result), "skipped_parts": skipped_parts(result), "result": result}
        (out_dir / f"{name}.json").write_text(json.dumps(record, indent=2, default=str))
        summary["results"][name] = record
        print(f"[bench] {name}: {status} in {record['seconds']}s\n{json.dumps(result, indent=2, default=str)[:3000]}",
              flush=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    for name, rec in summary["results"].items():
        missed = [p for p, ok in rec["targets"].items() if not ok]
        extra = f" missed: {', '.join(missed)}" if missed else ""
        extra += f" skipped parts: {', '.join(rec['skipped_parts'])}" if rec["skipped_parts"] else ""
        print(f"[bench] {rec['status']:>7}  {name}{extra}")
    print(f"[bench] results in {out_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
