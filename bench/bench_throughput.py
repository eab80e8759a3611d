"""Throughput side by side: Winnow's read + normalize + langid + filter against datatrove 0.10.1's
reader + Gopher + C4 + FineWeb chain + writer, on the same documents, in MB of text per CPU-second
of the whole process tree (this process, the JVM, the Python workers).

    python -m bench.bench_throughput            # about 3k and 30k documents
    python -m bench.bench_throughput --quick    # about 1k and 3k

Both sides read the same ``jsonl.gz`` files and write their kept documents. Winnow runs its pipeline
the way a user does (the runner, fused row-local stages, stats, samples, rejected rows written with
reasons); the Spark session's start-up (the JVM) is counted once, apart, as ``session_start_cpu_s``.
From two input sizes each side's cost is split into a fixed part and a per-MB part (a straight line
through the two points). datatrove runs without language ID (its LanguageFilter needs a model from the
hub), so Winnow does more work per document than the reference here.

Targets (issue 18): Winnow >= 2x datatrove's MB per CPU-second at ~30k documents, >= 1x at ~3k.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import tempfile
from pathlib import Path

from bench.proc import tree_cpu_seconds

SOURCES = {  # corpus file -> share of documents: English prose, Chinese prose, code
    "en_wikipedia_vital_summaries": 0.2, "en_linux_doc_txt": 0.15, "en_manpages": 0.15,
    "zh_peoples_daily_199801": 0.15, "zh_reviews_pos": 0.1, "zh_manpages": 0.1,
    "code_python_stdlib": 0.1, "code_linux_c": 0.05,
}
SIZES = (3_000, 30_000)
QUICK_SIZES = (1_000, 3_000)


def _docs(corpora: Path, n: int, seed: int = 18) -> list[dict]:
    """``n`` documents of about 2 KB (long ones cut at blank lines), drawn per source share."""
    from data.build_sample import sections

    rng = random.Random(seed)
    out: list[dict] = []
    for name, share in SOURCES.items():
        want = max(1, round(n * share))
        pieces: list[str] = []
        with gzip.open(corpora / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
            for line in f:
                text = json.loads(line).get("text") or ""
                pieces += sections(text, 2000) if len(text) > 3000 else [text]
                if len(pieces) >= want * 3:
                    break
        rng.shuffle(pieces)
        out += [{"id": f"{name}-{i}", "text": t, "source": name} for i, t in enumerate(pieces[:want])]
    rng.shuffle(out)
    return out[:n]


def _write_input(docs: list[dict], d: Path, files: int = 4) -> float:
    d.mkdir(parents=True)
    for k in range(files):
        with gzip.open(d / f"part-{k}.jsonl.gz", "wt", encoding="utf-8") as f:
            for r in docs[k::files]:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return sum(len(r["text"].encode()) for r in docs) / 1e6


def _winnow(spark, inp: Path, work: Path) -> dict:
    from pipeline.config import parse_config
    from pipeline.runner import run_pipeline

    cfg = parse_config({
        "input": {"paths": [str(inp)]}, "workdir": str(work),
        "spark": {"master": "local[2]", "shuffle_partitions": 4},
        "stages": [{"stage": "normalize"},
                   {"stage": "langid", "params": {"keep_langs": ["en", "zh"]}},
                   {"stage": "filter", "params": {"preset": "mixed"}}],
    })
    c0 = tree_cpu_seconds()
    res = run_pipeline(cfg, spark=spark)
    cpu = tree_cpu_seconds() - c0
    return {"cpu_s": round(cpu, 2), "kept": res[-1].stats["docs_kept"],
            "stage_seconds": {r.dir.name: r.stats["seconds"] for r in res}}


def _datatrove(inp: Path, out: Path) -> dict:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    c0 = tree_cpu_seconds()
    LocalPipelineExecutor(
        pipeline=[JsonlReader(str(inp)), GopherQualityFilter(), C4QualityFilter(), FineWebQualityFilter(),
                  GopherRepetitionFilter(), JsonlWriter(str(out / "kept"))],
        tasks=1, workers=1, logging_dir=str(out / "logs"),
    ).run()
    cpu = tree_cpu_seconds() - c0
    kept = 0
    for p in (out / "kept").rglob("*.jsonl.gz"):
        with gzip.open(p, "rt") as f:
            kept += sum(1 for _ in f)
    return {"cpu_s": round(cpu, 2), "kept": kept}


def _line(points: list[tuple[float, float]]) -> dict:
    (x0, y0), (x1, y1) = points
    per_mb = (y1 - y0) / (x1 - x0)
    return {"fixed_cpu_s": round(y0 - per_mb * x0, 2), "cpu_s_per_mb": round(per_mb, 3)}


def run(ctx) -> dict:
    if ctx.corpora is None:
        return {"skipped": "no ../shared/corpora"}
    try:
        import datatrove  # noqa: F401
    except ImportError as e:
        return {"skipped": f"datatrove not installed ({e}); `pip install -e .[dev]`"}
    from pipeline.config import SparkConfig
    from pipeline.spark import get_spark

    sizes = QUICK_SIZES if ctx.quick else SIZES
    tmp = Path(tempfile.mkdtemp(prefix="winnow-bench-throughput-"))
    result: dict = {"load_avg_start": os.getloadavg(), "sizes": {}}
    try:
        c0 = tree_cpu_seconds()
        spark = get_spark(SparkConfig(master="local[2]", shuffle_partitions=4))
        spark.range(1).count()
        result["session_start_cpu_s"] = round(tree_cpu_seconds() - c0, 2)
        w_pts, d_pts = [], []
        for n in sizes:
            inp = tmp / f"in-{n}"
            mb = _write_input(_docs(ctx.corpora, n), inp)
            w = _winnow(spark, inp, tmp / f"winnow-{n}")
            d = _datatrove(inp, tmp / f"datatrove-{n}")
            w["mb_per_cpu_s"] = round(mb / w["cpu_s"], 3)
            d["mb_per_cpu_s"] = round(mb / d["cpu_s"], 3)
            ratio = w["mb_per_cpu_s"] / d["mb_per_cpu_s"]
            target = 2.0 if n == max(sizes) else 1.0
            result["sizes"][str(n)] = {"docs": n, "mb": round(mb, 2), "winnow": w, "datatrove": d,
                                       "ratio_winnow_over_datatrove": round(ratio, 3), "target_ratio": target,
                                       "meets_target": ratio >= target}
            w_pts.append((mb, w["cpu_s"]))
            d_pts.append((mb, d["cpu_s"]))
        result["winnow_cost"] = _line(w_pts)
        result["datatrove_cost"] = _line(d_pts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["load_avg_end"] = os.getloadavg()
    return result


if __name__ == "__main__":
    import argparse

    from bench.run import BenchContext, find_corpora

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(json.dumps(run(BenchContext(find_corpora(), args.quick, Path("bench/results"))), indent=2))
