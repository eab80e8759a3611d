"""Connected components on Spark DataFrames: alternating large-star / small-star.

Kiveris et al., "Connected Components in MapReduce and Beyond" (SoCC 2014). Node ids are int64;
every round is a few ``groupBy`` / ``join`` shuffles, the edge set of each round is written to
Parquet and read back (cutting the lineage so the plan never grows with the number of rounds), and
the loop stops when a round leaves the edge set unchanged (compared by count and two order-free
64-bit fingerprints). Nothing is collected to the driver except those three numbers per round.

At the fixed point every component is a star around its smallest node, so ``root = min(node,
neighbour)``.

:func:`local_components` is the small-graph path: when the whole edge set fits one task (the stage's
``local_components_max_edges``), a single Spark task reads every edge and labels the components with
scipy's union-find (``scipy.sparse.csgraph.connected_components``), in one job instead of a few jobs
per round. Both give the same labels: ``root`` is the smallest node of the component.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def _canonical(edges: DataFrame) -> DataFrame:
    """(a, b) with a > b, no self-loops, no duplicates."""
    return (edges.select(F.greatest("a", "b").alias("a"), F.least("a", "b").alias("b"))
            .filter(F.col("a") != F.col("b")).distinct())


def large_star(edges: DataFrame) -> DataFrame:
    """Every node links its larger neighbours to the smallest node of its closed neighbourhood."""
    both = edges.select("a", "b").unionByName(edges.select(F.col("b").alias("a"), F.col("a").alias("b")))
    m = both.groupBy("a").agg(F.least(F.min("b"), F.first("a")).alias("m"))
    return _canonical(both.filter(F.col("b") > F.col("a")).join(m, on="a")
                      .select(F.col("b").alias("a"), F.col("m").alias("b")))


def small_star(edges: DataFrame) -> DataFrame:
    """Every node links itself and its smaller neighbours to the smallest of them."""
    oriented = edges.select(F.greatest("a", "b").alias("u"), F.least("a", "b").alias("v"))
    m = oriented.groupBy("u").agg(F.min("v").alias("m"))
    linked = oriented.join(m, on="u").select(F.col("v").alias("a"), F.col("m").alias("b"))
    return _canonical(linked.unionByName(m.select(F.col("u").alias("a"), F.col("m").alias("b"))))


def _fingerprint(edges: DataFrame) -> tuple:
    row = edges.agg(F.count(F.lit(1)).alias("n"),
                    F.sum(F.xxhash64("a", "b").cast("decimal(38,0)")).alias("h1"),
                    F.sum(F.hash("a", "b").cast("long")).alias("h2")).collect()[0]
    return int(row["n"]), row["h1"], row["h2"]


def connected_components(edges: DataFrame, work_dir: Path, max_iterations: int = 64,
                         log=None) -> tuple[DataFrame, int]:
    """``edges`` has int64 columns ``src``, ``dst``. Returns (DataFrame(node, root), rounds) for
    every node that has at least one edge; ``root`` is the smallest node of its component."""
    spark = edges.sparkSession
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    current = _canonical(edges.select(F.col("src").alias("a"), F.col("dst").alias("b")))
    path = work_dir / "round-000"
    current.write.mode("overwrite").parquet(str(path))
    current = spark.read.parquet(str(path))
    prev = _fingerprint(current)
    rounds = 0
    for i in range(1, max_iterations + 1):
        nxt = small_star(large_star(current))
        new_path = work_dir / f"round-{i:03d}"
        nxt.write.mode("overwrite").parquet(str(new_path))
        nxt = spark.read.parquet(str(new_path))
        fp = _fingerprint(nxt)
        if log:
            log(f"connected components round {i}: {fp[0]:,} edges")
        shutil.rmtree(path, ignore_errors=True)
        current, path, rounds = nxt, new_path, i
        if fp == prev:
            break
        prev = fp
    else:
        raise RuntimeError(f"connected components did not converge in {max_iterations} rounds")
    labels = current.select(F.col("a").alias("node"), F.col("b").alias("root")) \
        .unionByName(current.select(F.col("b").alias("node"), F.col("b").alias("root"))) \
        .groupBy("node").agg(F.min("root").alias("root"))
    return labels, rounds


LABEL_SCHEMA = pa.schema([pa.field("node", pa.int64()), pa.field("root", pa.int64())])


def label_components(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nodes ascending, root of each) for an undirected edge list; root = smallest node of the component."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as cc

    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    if len(src) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    nodes, inv = np.unique(np.concatenate([src, dst]), return_inverse=True)
    k = len(src)
    graph = coo_matrix((np.ones(k, np.int8), (inv[:k], inv[k:])), shape=(len(nodes), len(nodes)))
    n_comp, lab = cc(graph, directed=False)
    first = np.full(n_comp, len(nodes), dtype=np.int64)
    np.minimum.at(first, lab, np.arange(len(nodes), dtype=np.int64))  # nodes ascend: first index = min node
    return nodes, nodes[first[lab]]


def _label_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    src, dst = [], []
    for b in batches:
        src.append(b.column("src").to_numpy(zero_copy_only=False))
        dst.append(b.column("dst").to_numpy(zero_copy_only=False))
    if not src:
        return
    nodes, roots = label_components(np.concatenate(src), np.concatenate(dst))
    if len(nodes):
        yield pa.RecordBatch.from_arrays([pa.array(nodes), pa.array(roots)], schema=LABEL_SCHEMA)


def local_components(edges: DataFrame) -> DataFrame:
    """(node, root) for every node with an edge, computed in one Spark task (``coalesce(1)``): for edge
    sets small enough for one worker's memory (16 bytes an edge, a few times over)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return edges.select(F.col("src").cast("long"), F.col("dst").cast("long")).coalesce(1) \
        .mapInArrow(_label_batches, from_arrow_schema(LABEL_SCHEMA))
