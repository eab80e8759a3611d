"""Per-stage distributions for the run report, computed once by the runner from a stage's written output.

``compute(kept_df, rejected_df)`` returns a small JSON-able dict that the runner stores as
``stats.json["histograms"]``; ``winnow report`` draws its distribution plots from it and never rescans
the corpus. Everything is generic over the columns a stage's output happens to have:

- ``numeric``: a fixed-bin histogram of every numeric column plus ``length`` (characters of ``text``),
  separately for kept and rejected rows, with min / p10 / p50 / p90 / max / mean. Bins are fixed so
  histograms of different stages and runs line up: score columns (name contains ``score``) use 20
  bins over [0, 1]; other columns use 1-2-5 edges (0, 1, 2, 5, 10, ...; integer columns also get
  1..5 exactly). Values below the first edge count in the first bin, above the last in the last.
- ``categorical``: docs, chars (and ``n_tokens`` when the column exists) per value of the
  string columns that stages declare as categories (``contract.schema.category_field``: ``lang``,
  ``domain``, ``mix_group``...), top
  ``MAX_CATEGORIES`` values, the rest summed under ``(other)``.
- ``maps``: per-key sums and document counts of ``map<string, number>`` columns (``pii_counts``).
- ``tokens``: summed ``n_tokens`` of kept and rejected rows, when the column exists.

Cost: one Spark aggregation over a projection of the output (text length, the numeric columns and
their bin indices: counts, quantiles, min/max/mean in one job), plus one more job for the category
values and map keys when the output has such columns (the projection is cached between the two,
so ``text`` is read once).

A stage that declares an ``edge_sample_column`` (a score stage that keeps documents above a minimum
quality) also gets ``samples/kept_edge.jsonl`` when ``out_dir`` is given: the kept documents with the
lowest score, i.e. the ones nearest the threshold, scrubbed and truncated like the rejected samples
(``pipeline/samples.py``), so a person can judge where the threshold sits.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from contract import schema as S
from pipeline.samples import pick_lowest, write_samples

LENGTH = "length"
UNIT_BINS = 20
EDGES_125 = [0.0] + [m * 10.0 ** e for e in range(0, 9) for m in (1, 2, 5)]
EDGES_INT = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] + [m * 10.0 ** e for e in range(1, 10) for m in (1, 2, 5)]
EDGES_LENGTH = [0.0] + [m * 10.0 ** e for e in range(1, 8) for m in (1, 2, 5)]
MAX_CATEGORIES = 40
QUANTILES = (0.1, 0.5, 0.9)
EDGE_SAMPLES = 8
# Bookkeeping columns that are numeric but not worth a histogram.
SKIP_NUMERIC = frozenset()


def unit_edges(n: int = UNIT_BINS) -> list[float]:
    return [round(i / n, 6) for i in range(n + 1)]


def edges_for(name: str, dtype: str) -> list[float]:
    """The fixed bin edges used for a column (``len(edges) - 1`` bins; the last edge closes the range)."""
    if name == LENGTH:
        return EDGES_LENGTH
    if "score" in name and dtype in ("float", "double"):
        return unit_edges()
    if dtype in ("tinyint", "smallint", "int", "bigint"):
        return EDGES_INT
    return EDGES_125


def _bin_expr(F, col, edges: list[float]):
    """Bin index of ``col`` for ``edges``: clamped into [0, len(edges) - 2], null stays null."""
    last = len(edges) - 2
    if edges == unit_edges():
        # least/greatest skip nulls (greatest(null, 0) = 0): nulls are kept out explicitly
        binned = F.least(F.greatest(F.floor(col * UNIT_BINS), F.lit(0)), F.lit(last))
    else:
        expr = None
        for i, hi in enumerate(edges[1:-1]):
            expr = F.when(col < hi, F.lit(i)) if expr is None else expr.when(col < hi, F.lit(i))
        binned = expr.otherwise(F.lit(last)) if expr is not None else F.lit(0)
    return F.when(col.isNull(), F.lit(None)).otherwise(binned).cast("int")


def _entry_struct(F, name: str):
    """A one-argument lambda for ``F.transform`` (a second argument would be taken as the index)."""
    return lambda x: F.struct(F.lit(name).alias("c"), x["key"].cast("string").alias("v"),
                              x["value"].cast("double").alias("w"))


def _numeric_columns(df) -> dict[str, str]:
    out = {}
    for f in df.schema.fields:
        t = f.dataType.simpleString()
        if t in ("tinyint", "smallint", "int", "bigint", "float", "double") and f.name not in SKIP_NUMERIC:
            out[f.name] = t
    return out


def _map_columns(df) -> list[str]:
    out = []
    for f in df.schema.fields:
        t = f.dataType.simpleString()
        if t.startswith("map<string,") and any(n in t for n in ("int", "bigint", "float", "double")):
            out.append(f.name)
    return out


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def compute(kept, rejected, categorical: list[str], edge_sample_column: str | None = None,
            out_dir: str | Path | None = None, edge_samples: int = EDGE_SAMPLES,
            kept_length_column: str | None = None) -> dict[str, Any]:
    """Histograms of a stage's written output (``kept`` and ``rejected`` Spark DataFrames).
    ``categorical``: the declared category columns (``contract.schema.category_field``).
    ``kept_length_column``: a column of ``kept`` holding each document's length as the stage wrote
    it (fused stages: a later stage may have changed ``text``); default: the length of ``text``."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    t0 = time.perf_counter()
    common = [c for c in kept.columns if c in rejected.columns]
    numeric = {c: t for c, t in _numeric_columns(kept).items() if c in common and c != kept_length_column}
    categorical = [c for c in categorical if c in common]
    maps = [c for c in _map_columns(kept) if c in common]
    has_tokens = "n_tokens" in numeric
    cols = {LENGTH: "bigint", **numeric}

    def project(df, outcome: str):
        length = F.col(kept_length_column).cast("bigint") if outcome == "kept" and kept_length_column \
            else F.length(F.coalesce(F.col(S.TEXT), F.lit(""))).cast("bigint") if S.TEXT in df.columns \
            else F.lit(None).cast("bigint")
        sel = [F.lit(outcome).alias("_o"), length.alias(LENGTH)]
        sel += [F.nanvl(F.col(c).cast("double"), F.lit(None).cast("double")).alias(c) for c in numeric]  # NaN -> null
        sel += [F.col(c).cast("string").alias(c) for c in categorical]
        sel += [F.col(c) for c in maps]
        return df.select(*sel)

    proj = project(kept, "kept").unionByName(project(rejected, "rejected"))
    proj = proj.select("*", *[_bin_expr(F, F.col(c), edges_for(c, t)).alias(f"_b_{c}") for c, t in cols.items()])
    proj = proj.persist(StorageLevel.MEMORY_AND_DISK) if categorical or maps else proj
    try:
        # 1. one job: every bin count, quantiles, min, max, mean per numeric column and outcome.
        aggs = []
        for c, t in cols.items():
            b = F.col(f"_b_{c}")
            aggs += [F.sum((b == i).cast("long")).alias(f"{c}__b{i}") for i in range(len(edges_for(c, t)) - 1)]
            aggs += [F.percentile_approx(c, list(QUANTILES), 1000).alias(f"{c}__q"), F.min(c).alias(f"{c}__min"),
                     F.max(c).alias(f"{c}__max"), F.avg(c).alias(f"{c}__mean"), F.count(c).alias(f"{c}__n"),
                     F.count(F.lit(1)).alias(f"{c}__rows")]
        if has_tokens:
            aggs.append(F.sum("n_tokens").alias("_tokens"))
        quant = {r["_o"]: r.asDict() for r in proj.groupBy("_o").agg(*aggs).collect()}
        # 2. one job (when there are any): docs/chars/tokens per category value and per map key.
        rows = []
        if categorical or maps:
            null_w = F.lit(None).cast("double")
            pairs = F.array(*[F.struct(F.lit(c).alias("c"), F.coalesce(F.col(c), F.lit("(null)")).alias("v"),
                                       null_w.alias("w")) for c in categorical]) if categorical else None
            arrays = [pairs] if pairs is not None else []
            for c in maps:
                empty = F.array_repeat(F.struct(F.lit(c).alias("c"), F.lit(None).cast("string").alias("v"),
                                                null_w.alias("w")), 0)
                entries = F.transform(F.map_entries(F.col(c)), _entry_struct(F, c))
                arrays.append(F.coalesce(entries, empty))
            tok = F.col("n_tokens") if has_tokens else F.lit(None).cast("double")
            exploded = proj.select("_o", F.col(LENGTH).alias("_len"), tok.alias("_tok"),
                                   F.explode(F.concat(*arrays) if len(arrays) > 1 else arrays[0]).alias("p"))
            rows = (exploded.groupBy("_o", F.col("p.c").alias("c"), F.col("p.v").alias("v"))
                    .agg(F.count(F.lit(1)).alias("docs"), F.sum("_len").alias("chars"), F.sum("_tok").alias("tokens"),
                         F.sum("p.w").alias("total"))
                    .collect())
    finally:
        if categorical or maps:
            proj.unpersist()

    out: dict[str, Any] = {"numeric": {}, "categorical": {}, "maps": {}}
    for c, t in cols.items():
        edges = edges_for(c, t)
        h: dict[str, Any] = {"edges": edges, "dtype": t}
        for o in ("kept", "rejected"):
            q = quant.get(o) or {}
            counts = [int(q.get(f"{c}__b{i}") or 0) for i in range(len(edges) - 1)]
            qs = q.get(f"{c}__q") or [None] * len(QUANTILES)
            n = int(q.get(f"{c}__n") or 0)
            h[o] = {"counts": counts, "nulls": int(q.get(f"{c}__rows") or 0) - n, "n": n,
                    "min": _clean(q.get(f"{c}__min")), "max": _clean(q.get(f"{c}__max")),
                    "mean": _clean(q.get(f"{c}__mean")),
                    **{f"p{int(p * 100)}": _clean(v) for p, v in zip(QUANTILES, qs)}}
        if sum(h["kept"]["counts"]) + sum(h["rejected"]["counts"]) or c == LENGTH:
            out["numeric"][c] = h
    for c in categorical:
        entry: dict[str, Any] = {}
        for o in ("kept", "rejected"):
            vals = sorted(((r["v"], r) for r in rows if r["_o"] == o and r["c"] == c), key=lambda kv: -kv[1]["docs"])
            d: dict[str, dict[str, int]] = {}
            for i, (v, r) in enumerate(vals):
                key = v if i < MAX_CATEGORIES else "(other)"
                slot = d.setdefault(key, {"docs": 0, "chars": 0, **({"tokens": 0} if has_tokens else {})})
                slot["docs"] += int(r["docs"])
                slot["chars"] += int(r["chars"] or 0)
                if has_tokens:
                    slot["tokens"] += int(r["tokens"] or 0)
            entry[o] = d
        out["categorical"][c] = entry
    for c in maps:
        out["maps"][c] = {o: {r["v"]: {"total": _clean(float(r["total"] or 0)), "docs": int(r["docs"])}
                              for r in sorted(rows, key=lambda r: str(r["v"])) if r["_o"] == o and r["c"] == c}
                          for o in ("kept", "rejected")}
    if has_tokens:
        out["tokens"] = {o: int((quant.get(o) or {}).get("_tokens") or 0) for o in ("kept", "rejected")}
    if out_dir is not None and edge_sample_column in common and edge_samples > 0:
        rows, picked_cols = pick_lowest(kept, edge_sample_column, edge_samples)
        n = write_samples(rows, picked_cols, Path(out_dir) / "samples" / "kept_edge.jsonl", edge_sample_column)
        out["edge_samples"] = {"file": "samples/kept_edge.jsonl", "column": edge_sample_column, "docs": n}
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def stage_histograms(kept, rejected, categorical: list[str], edge_sample_column: str | None = None,
                     stage: str | None = None, out_dir: str | Path | None = None,
                     kept_length_column: str | None = None) -> dict[str, Any]:
    """``compute`` for the runner: a failure here is reported in the stats, never fails the stage."""
    try:
        return compute(kept, rejected, categorical, edge_sample_column, out_dir=out_dir,
                       kept_length_column=kept_length_column)
    except Exception as e:  # noqa: BLE001 - the report degrades, the data run goes on
        import logging

        logging.getLogger("winnow").warning("histograms of stage %s failed: %s", stage, e)
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
