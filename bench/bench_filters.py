"""Rule-filter stage throughput: normalize -> langid -> filters (mixed preset), English and Chinese.

Measures, on real text from ``../shared/corpora`` in one run:

- documents/s and MB/s (UTF-8 text) per core of the operators applied directly to Arrow batches in
  one plain Python process (``pipeline.execute.apply_batches``), for an English and a Chinese sample;
- the cost of every operator and rule from the Chain's ``seconds/<name>`` metrics, so the slowest
  rules are visible;
- the same operators on Spark ``local[1]``-equivalent (one partition, one Python worker) through
  ``mapInArrow``, Parquet in and a no-op sink out; the target is Spark >= 60% of plain Python.

    .venv/bin/python -m bench.bench_filters [--quick]
"""

from __future__ import annotations

import gzip
import itertools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq

EN_FILES = ["en_wikipedia_vital_summaries", "en_debian_handbook", "en_linux_doc_txt", "en_manpages",
            "en_gnome_help", "en_libreoffice_help"]
ZH_FILES = ["zh_peoples_daily_199801", "zh_debian_handbook", "zh_manpages", "zh_libreoffice_help",
            "zh_gnome_help", "zh_reviews_pos"]
BATCH = 1024


def _load(corpora: Path, files: list[str], mb_per_file: float) -> list[str]:
    texts = []
    for name in files:
        path = corpora / f"{name}.jsonl.gz"
        if not path.exists():
            continue
        budget = mb_per_file * 1e6
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                t = json.loads(line).get("text") or ""
                texts.append(t)
                budget -= len(t.encode("utf-8"))
                if budget <= 0:
                    break
    return texts


def _table(texts: list[str], prefix: str) -> pa.Table:
    from pipeline.local import make_table

    t = make_table(texts)
    return t.set_column(0, "id", pa.array([f"{prefix}-{i}" for i in range(len(texts))]))


def _build_op():
    from contract.operator import Chain
    from operators.filters import build_filters
    from operators.langid import LangID
    from operators.normalize import Normalizer

    return Chain([Normalizer(), LangID(), build_filters("mixed")])


def _plain(op, table: pa.Table) -> dict:
    """The operators on Arrow batches in this process; returns throughput and per-rule seconds."""
    from contract import schema as S
    from operators.filters import chinese
    from pipeline.execute import apply_batches, output_schema

    op.setup()
    chinese._SEG_CACHE.clear()  # no segmentation left over from an earlier measurement
    out_schema = output_schema(op, table.schema)
    batches = table.to_batches(max_chunksize=BATCH)
    t0 = time.perf_counter()
    outs = list(apply_batches(op, batches, out_schema, "filter"))
    seconds = time.perf_counter() - t0
    out = pa.Table.from_batches(outs, schema=out_schema)
    metrics: dict[str, float] = {}
    for entry in out.column(S.METRICS).to_pylist():
        for k, v in entry or []:
            metrics[k] = metrics.get(k, 0.0) + v
    reasons: dict[str, int] = {}
    for r in out.column(S.REJECT_REASON).to_pylist():
        if r is not None:
            reasons[r] = reasons.get(r, 0) + 1
    mb = sum(pc_bytes(table)) / 1e6
    docs = table.num_rows
    rule_seconds = {k.removeprefix("seconds/"): round(v, 3) for k, v in sorted(metrics.items(), key=lambda kv: -kv[1])
                    if k.startswith("seconds/") and k != "seconds/chain"}
    checked = {k.removeprefix("docs_checked/"): int(v) for k, v in metrics.items() if k.startswith("docs_checked/")}
    return {
        "docs": docs,
        "mb": round(mb, 2),
        "seconds": round(seconds, 3),
        "docs_per_s_per_core": round(docs / seconds, 1),
        "mb_per_s_per_core": round(mb / seconds, 3),
        "kept": docs - sum(reasons.values()),
        "rejected_by_reason": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        "seconds_by_operator": rule_seconds,
        "docs_checked_by_rule": checked,
        "share_of_time_by_operator": {k: round(v / seconds, 3) for k, v in rule_seconds.items()},
    }


def pc_bytes(table: pa.Table):
    import pyarrow.compute as pc

    col = pc.fill_null(table.column("text"), "")
    yield int(pc.sum(pc.binary_length(col)).as_py() or 0)


def _spark(op, table: pa.Table, tmp: Path) -> dict:
    """The same chain through mapInArrow on one partition (one core), Parquet in, no-op sink out."""
    from pyspark.sql.pandas.types import from_arrow_schema

    from pipeline.config import SparkConfig
    from pipeline.execute import apply_batches, output_schema
    from pipeline.spark import get_spark

    spark = get_spark(SparkConfig(master="local[1]", app_name="winnow-bench-filters", driver_memory="4g",
                                  shuffle_partitions=1, arrow_batch_size=BATCH))
    path = tmp / "in.parquet"
    pq.write_table(table, path, row_group_size=BATCH * 8)
    out_schema = output_schema(op, table.schema)
    spark_schema = from_arrow_schema(out_schema)

    def job(df):
        return df.coalesce(1).mapInArrow(lambda it: apply_batches(op, it, out_schema, "filter"), spark_schema)

    # Warm-up on a slice: starts the Python worker and loads fastText and jieba once (worker reuse).
    pq.write_table(table.slice(0, min(200, table.num_rows)), tmp / "warm.parquet")
    job(spark.read.parquet(str(tmp / "warm.parquet"))).write.format("noop").mode("overwrite").save()
    df = spark.read.parquet(str(path))
    t0 = time.perf_counter()
    job(df).write.format("noop").mode("overwrite").save()
    seconds = time.perf_counter() - t0
    mb = sum(pc_bytes(table)) / 1e6
    return {
        "master": spark.sparkContext.master,
        "partitions": 1,
        "seconds": round(seconds, 3),
        "docs_per_s": round(table.num_rows / seconds, 1),
        "mb_per_s": round(mb / seconds, 3),
    }


def run(ctx) -> dict:
    if ctx.corpora is None:
        return {"skipped": "no ../shared/corpora"}
    mb_per_file = 0.3 if ctx.quick else 1.5
    en = _table(_load(ctx.corpora, EN_FILES, mb_per_file), "en")
    zh = _table(_load(ctx.corpora, ZH_FILES, mb_per_file * 0.6), "zh")
    result: dict = {"batch_rows": BATCH, "chain": "normalize -> langid -> filters(preset=mixed)"}
    op = _build_op()
    result["plain_python_en"] = _plain(op, en)
    result["plain_python_zh"] = _plain(op, zh)
    both = pa.concat_tables([en, zh])
    plain_both = _plain(op, both)
    result["plain_python_all"] = {k: plain_both[k] for k in ("docs", "mb", "seconds", "docs_per_s_per_core",
                                                            "mb_per_s_per_core")}
    tmp = Path(tempfile.mkdtemp(prefix="winnow-bench-filters-"))
    try:
        sp = _spark(op, both, tmp)
    except Exception as e:  # noqa: BLE001 - a benchmark reports instead of crashing the harness
        sp = {"error": f"{type(e).__name__}: {e}"}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["spark_one_core_all"] = sp
    if "seconds" in sp:
        ratio = plain_both["seconds"] / sp["seconds"]
        result["spark_over_plain_throughput_ratio"] = round(ratio, 3)
        result["target_ratio"] = 0.6
        result["meets_target"] = ratio >= 0.6
    slow = list(itertools.islice(result["plain_python_zh"]["seconds_by_operator"], 3))
    result["slowest_operators_zh"] = slow
    result["slowest_operators_en"] = list(itertools.islice(result["plain_python_en"]["seconds_by_operator"], 3))
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(__file__).resolve().parents[1]
    try:
        from bench.run import find_corpora
        corpora = find_corpora()
    except ImportError:  # pragma: no cover - harness not present
        cand = root.parent / "shared" / "corpora"
        corpora = cand if cand.is_dir() else None
    out_dir = root / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = SimpleNamespace(corpora=corpora, quick="--quick" in argv, out_dir=out_dir)
    res = run(ctx)
    (out_dir / "filters.json").write_text(json.dumps(res, indent=2, ensure_ascii=False))
    print(json.dumps(res, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
