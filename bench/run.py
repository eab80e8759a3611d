"""Benchmark harness: runs named benchmarks and writes JSON results with the machine's description.

    python -m bench.run                 # every bench/bench_*.py
    python -m bench.run filters dedup   # some of them
    python -m bench.run --quick         # smaller inputs (smoke test)

Each benchmark is a module ``bench/bench_<name>.py`` with ``run(ctx) -> dict``. Results land in
``bench/results/<name>.json`` and ``bench/results/summary.json``. Benchmarks read real text from
``../shared/corpora`` (or $WINNOW_CORPORA) and skip what needs it when it is absent.
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(available())})")
    ap.add_argument("--quick", action="store_true", help="small inputs, for a smoke test")
    ap.add_argument("--skip", nargs="*", default=["gpu_train"], help="benchmarks to skip (default: gpu_train)")
    args = ap.parse_args(argv)
    names = args.names or [n for n in available() if n not in set(args.skip)]
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = BenchContext(find_corpora(), args.quick, out_dir)
    summary = {"machine": machine(), "corpora": str(ctx.corpora) if ctx.corpora else None, "results": {}}
    failed = 0
    for name in names:
        print(f"[bench] {name} ...", flush=True)
        t0 = time.time()
        try:
            result = importlib.import_module(f"bench.bench_{name}").run(ctx)
            status = "ok"
        except Exception:
            result, status = {"error": traceback.format_exc()}, "error"
            failed += 1
        record = {"name": name, "status": status, "seconds": round(time.time() - t0, 1),
                  "machine": summary["machine"], "result": result}
        (out_dir / f"{name}.json").write_text(json.dumps(record, indent=2, default=str))
        summary["results"][name] = record
        print(f"[bench] {name}: {status} in {record['seconds']}s\n{json.dumps(result, indent=2, default=str)[:3000]}",
              flush=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"[bench] results in {out_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
