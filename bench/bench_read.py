"""Reader throughput: jsonl.gz -> read stage -> Parquet (kept + rejected), in MB/s of raw text.

Compares the Spark read stage (local[N]) with the same reader in one plain Python process writing
Parquet with pyarrow, on the same files in the same run."""

from __future__ import annotations

import gzip
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

FILES = ["en_wikipedia_vital_summaries", "zh_peoples_daily_199801", "en_linux_doc_txt", "zh_manpages"]


def _raw_mb(paths: list[Path]) -> float:
    total = 0
    for p in paths:
        with gzip.open(p, "rb") as f:
            while chunk := f.read(1 << 22):
                total += len(chunk)
    return total / 1e6


def run(ctx) -> dict:
    if ctx.corpora is None:
        return {"skipped": "no ../shared/corpora"}
    from pipeline.config import InputConfig, parse_config
    from pipeline.io import read_local
    from pipeline.runner import run_pipeline
    from pipeline.spark import get_spark

    files = [ctx.corpora / f"{n}.jsonl.gz" for n in (FILES[:2] if ctx.quick else FILES)]
    mb = _raw_mb(files)
    tmp = Path(tempfile.mkdtemp(prefix="winnow-bench-read-"))
    try:
        t0 = time.perf_counter()
        table = read_local(InputConfig(paths=[str(f) for f in files]))
        pq.write_table(table, tmp / "local.parquet", compression="zstd")
        local_s = time.perf_counter() - t0
        cfg = parse_config({"input": {"paths": [str(f) for f in files]}, "workdir": str(tmp / "work"),
                            "spark": {"master": "local[2]"}, "stages": []})
        spark = get_spark(cfg.spark)
        t0 = time.perf_counter()
        res = run_pipeline(cfg, spark=spark)
        spark_s = time.perf_counter() - t0
        docs = res[0].stats["docs_in"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "input_files": [f.name for f in files],
        "raw_mb": round(mb, 1),
        "docs": docs,
        "local_python_mb_s": round(mb / local_s, 2),
        "spark_local2_mb_s_incl_stats_and_samples": round(mb / spark_s, 2),
        "spark_over_local_ratio": round(local_s / spark_s, 2),
        "note": "spark figure includes the runner's stats pass, samples and the count check; 2 workers vs 1",
    }


if __name__ == "__main__":
    import json

    from bench.run import BenchContext, find_corpora

    print(json.dumps(run(BenchContext(find_corpora(), False, Path("bench/results"))), indent=2))
