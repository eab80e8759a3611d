"""The dedup stage: exact + MinHash-LSH near-duplicate removal on Spark, deterministic and quality-aware.

Plan (every arrow is a Spark job; only small aggregates reach the driver)::

    docs --mapInArrow(Signer)--> signature rows (id, node, exact hash, keeper keys, sig)  [parquet]
    signature rows --window by exact hash--> exact groups: head + exact edges (member -> head)
    exact heads --mapInArrow(band_rows)--> (band, band hash, node) --groupBy--> buckets
    bucket --star--> edges (smallest member -> each other member), capped at max_bucket_size
    [optional] edges --join signatures--> estimated Jaccard >= pair threshold
    exact edges + LSH edges --large-star/small-star--> components (node, root)       [parquet]
    component --window, keeper order--> survivor; everyone else rejected (dup_of = survivor)
    docs LEFT JOIN assignments (cluster members and flagged docs only) --> kept / rejected

The keeper order is a total order on data only (incremental reference first, then the ``prefer``
criteria, then a content hash, then the id), so the survivors do not depend on partitioning.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from contract import metrics as M
from contract import schema as S
from contract.operator import GlobalStage, StageOutput
from operators.dedup import minhash as mh
from operators.dedup.components import connected_components, local_components
from operators.dedup.signer import (
    BAND_SCHEMA,
    EXACT_PAIR_SCHEMA,
    PAIR_SCHEMA,
    SIG_SCHEMA,
    Signer,
    SignerConfig,
    band_rows,
    exact_jaccard_rows,
    jaccard_rows,
)
from redaction import scrub_text

EXACT = "exact_duplicate"
NEAR = "near_duplicate"
PREFER_CRITERIA = ("quality_score", "source_priority", "longest", "shortest")
SIGNATURES_DIR = "signatures"
SIGNATURES_META = "_dedup_signatures.json"
VERIFY_MODES = ("exact", "estimate", "none")
HIST_EDGES = (2, 3, 5, 9, 17, 33, 65, 129, 257, 513, 1025)
OWN_COLUMNS = ("dup_cluster", "dup_cluster_size", "minhash_flag")


def _hist_label(size: int) -> str:
    for lo, hi in zip(HIST_EDGES, HIST_EDGES[1:]):
        if lo <= size < hi:
            return str(lo) if hi - lo == 1 else f"{lo}-{hi - 1}"
    return f">={HIST_EDGES[-1]}"


@dataclass
class _Job:
    """What the phases of one ``run`` share: scratch dir, log, metrics and timings so far."""

    spark: Any
    out_dir: Path
    work: Path
    log: Callable[[str], None]
    started: float
    metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    n_refs: int = 0
    cc_rounds: int = 0
    exact_edges: int = 0  # documents below the head of their exact group
    near_edges: int = 0  # LSH pairs that passed verification (or candidates, unverified)
    candidates_upper: int = 0  # upper bound on candidate pairs (before distinct)

    @classmethod
    def start(cls, ctx) -> _Job:
        started = time.perf_counter()
        out_dir = Path(ctx.out_dir)
        work = out_dir / "_dedup_work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        return cls(ctx.spark, out_dir, work, getattr(ctx, "log", None) or (lambda m: None), started)

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        self.timings[phase] = time.perf_counter() - t0

    def materialize(self, frame, name: str):
        """Write ``frame`` to scratch Parquet and read it back: later phases reuse it without recomputing."""
        frame.write.mode("overwrite").parquet(str(self.work / name))
        return self.spark.read.parquet(str(self.work / name))


class DedupStage(GlobalStage):
    """Exact and near-duplicate removal. See ``docs/dedup.md`` for every option."""

    name = "dedup"
    metrics = {
        "dedup/docs_in": "documents in",
        "dedup/too_short": "documents with fewer shingles than one n-gram (exact dedup only)",
        "dedup/reference_docs": "documents of the reference corpora matched against",
        "dedup/lsh_buckets_shared": "LSH buckets holding more than one document",
        "dedup/oversized_buckets": "buckets larger than max_bucket_size (capped)",
        "dedup/oversized_bucket_members_unlinked": "members of capped buckets left unlinked",
        "dedup/largest_bucket": "members of the largest LSH bucket",
        "dedup/candidate_pairs": "candidate pairs from the LSH bands",
        "dedup/verified_pairs": "candidate pairs whose estimated Jaccard passed the threshold",
        "dedup/cc_rounds": "connected-component rounds until convergence (0: labelled in one task)",
        "dedup/graph_edges": "edges of the duplicate graph (exact + near)",
        "dedup/components_local": "1 when the graph was labelled in one task (union-find), else 0",
        "dedup/bands": "LSH bands",
        "dedup/rows": "rows per LSH band",
        "dedup/threshold": "Jaccard threshold",
        "dedup/candidate_threshold": "the lower threshold candidates are generated at",
        "dedup/{kind}_duplicates": "documents removed as exact / near duplicates",
        "dedup/removed/{kind}/{source}": "documents removed per duplicate kind and source",
        M.CLUSTER_SIZE_HIST: "duplicate clusters per size bin",
        "dedup/clusters": "duplicate clusters",
        "dedup/largest/{rank}/{field}": "the largest clusters: size, kept id and a scrubbed sample",
        "seconds/dedup_{phase}": "driver wall seconds per dedup phase",
    }

    def output_fields(self) -> list[pa.Field]:
        return [pa.field("dup_cluster", pa.string()), pa.field("dup_cluster_size", pa.int64()),
                S.category_field("minhash_flag")]

    def __init__(
        self,
        threshold: float = 0.8,
        num_perm: int = 128,
        seed: int = 1,
        hash: str = "fast",
        scheme: str = "affine32",
        ngram: int = 5,
        cjk_shingle: str = "char",
        cjk_ngram: int = 3,
        cjk_ratio: float = 0.3,
        code_ngram: int = 5,
        code_strip_comments: bool = True,
        exact: bool = True,
        exact_normalize: list[str] | tuple[str, ...] = ("case", "whitespace", "punctuation"),
        near: bool = True,
        thresholds: dict[str, float] | None = None,
        threshold_by: str = "source",
        lsh_threshold: float | None = None,
        lsh_margin: float = 0.1,
        false_positive_weight: float = 0.5,
        false_negative_weight: float = 0.5,
        verify: str = "exact",
        max_bucket_size: int = 1000,
        prefer: list[str] | tuple[str, ...] = ("quality_score", "source_priority", "longest"),
        source_priority: list[str] | tuple[str, ...] = (),
        reference_signatures: str | list[str] | None = None,
        save_signatures: bool = True,
        top_clusters: int = 10,
        sample_chars: int = 300,
        max_cc_iterations: int = 64,
        local_components_max_edges: int = 5_000_000,
        broadcast_max_rows: int = 2_000_000,
    ):
        self.threshold = float(threshold)
        self.num_perm = int(num_perm)
        self.seed = int(seed)
        self.hash = hash
        self.scheme = scheme
        self.ngram = int(ngram)
        self.cjk_shingle = cjk_shingle
        self.cjk_ngram = int(cjk_ngram)
        self.cjk_ratio = float(cjk_ratio)
        self.code_ngram = int(code_ngram)
        self.code_strip_comments = bool(code_strip_comments)
        self.exact = bool(exact)
        self.exact_normalize = list(exact_normalize)
        self.near = bool(near)
        self.thresholds = {str(k): float(v) for k, v in (thresholds or {}).items()}
        self.threshold_by = threshold_by
        self.lsh_threshold = None if lsh_threshold is None else float(lsh_threshold)
        self.false_positive_weight = float(false_positive_weight)
        self.false_negative_weight = float(false_negative_weight)
        if verify in (True, False, None):
            verify = "estimate" if verify else "none"
        if verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {VERIFY_MODES}, got {verify!r}")
        self.verify = verify
        self.lsh_margin = float(lsh_margin)
        self.max_bucket_size = int(max_bucket_size)
        bad = [p for p in prefer if p not in PREFER_CRITERIA]
        if bad:
            raise ValueError(f"unknown prefer criteria {bad}; known: {PREFER_CRITERIA}")
        self.prefer = list(prefer)
        self.source_priority = list(source_priority)
        if isinstance(reference_signatures, str):
            reference_signatures = [reference_signatures]
        self.reference_signatures = list(reference_signatures or [])
        self.save_signatures = bool(save_signatures)
        self.top_clusters = int(top_clusters)
        self.sample_chars = int(sample_chars)
        self.max_cc_iterations = int(max_cc_iterations)
        self.local_components_max_edges = int(local_components_max_edges)
        self.broadcast_max_rows = int(broadcast_max_rows)
        if self.max_bucket_size < 2:
            raise ValueError("max_bucket_size must be >= 2")
        self.signer_config().validate()
        self._bands = self.bands_rows()

    def input_files(self) -> list[str]:
        """The reference signature directories matched against (their content is in the stage hash)."""
        return list(self.reference_signatures)

    # -- configuration -------------------------------------------------------------------------
    def signer_config(self) -> SignerConfig:
        return SignerConfig(num_perm=self.num_perm, seed=self.seed, scheme=self.scheme, hash=self.hash,
                            ngram=self.ngram, cjk_shingle=self.cjk_shingle, cjk_ngram=self.cjk_ngram,
                            cjk_ratio=self.cjk_ratio, exact_normalize=tuple(self.exact_normalize),
                            code_ngram=self.code_ngram, code_strip_comments=self.code_strip_comments,
                            threshold=self.threshold, thresholds=dict(self.thresholds),
                            threshold_by=self.threshold_by, source_priority=tuple(self.source_priority))

    def candidate_threshold(self) -> float:
        """The similarity the bands are optimised for: ``lsh_threshold`` when given, else the lowest
        configured threshold, lowered by ``lsh_margin`` when candidates are verified (so pairs just
        above the threshold collide with high probability; verification removes the extra ones)."""
        if self.lsh_threshold is not None:
            return self.lsh_threshold
        low = min([self.threshold, *self.thresholds.values()])
        return max(round(low - (self.lsh_margin if self.verify != "none" else 0.0), 4), 0.05)

    def bands_rows(self) -> tuple[int, int]:
        return mh.optimal_bands(self.candidate_threshold(), self.num_perm, self.false_positive_weight,
                                self.false_negative_weight)

    def _verify_mode(self) -> str:
        """Per-group thresholds need a per-pair decision: "estimate" at least."""
        if self.verify == "none" and (self.thresholds or self.lsh_threshold is not None):
            return "estimate"
        return self.verify

    def _order(self, has_quality: bool):
        """The keeper order (best first): a total order on data only."""
        cols = [F.col("is_ref").desc()]
        for p in self.prefer:
            if p == "quality_score" and has_quality:
                cols.append(F.col("quality").desc_nulls_last())
            elif p == "source_priority" and self.source_priority:
                cols.append(F.col("prio").asc())
            elif p == "longest":
                cols.append(F.col("length").desc())
            elif p == "shortest":
                cols.append(F.col("length").asc())
        return [*cols, F.col("chash").asc(), F.col("id").asc()]

    # -- the stage: one method per phase, in the order the Spark jobs run ----------------------------
    def run(self, df, ctx) -> StageOutput:
        job = _Job.start(ctx)
        cfg = self.signer_config()
        if self.reference_signatures:
            self._check_references(cfg)  # before any work: a settings mismatch fails fast
        df = df.drop(*[c for c in OWN_COLUMNS if c in df.columns])
        order = self._order(has_quality=cfg.quality_column in df.columns)
        sigs = self._signatures(job, df, cfg)
        keys, edges = self._exact_groups(job, sigs, order)
        with job.timed("lsh"):
            if self.near:
                candidates = self._lsh_candidates(job, sigs, keys)
                edges = edges.unionByName(self._verified(job, candidates, sigs, df, cfg))
        labels = self._components(job, edges)
        assign = self._assign_survivors(job, keys, labels, order)
        self._report_and_save(job, df, sigs, assign, cfg)
        # assign holds cluster members (at most two per edge) and flagged documents only
        small = 2 * (job.exact_edges + job.near_edges) + job.metrics["dedup/too_short"] <= self.broadcast_max_rows
        return self._split(df, assign, job.metrics, broadcast=small)

    def _signatures(self, job: _Job, df, cfg: SignerConfig):
        """Signature rows of the input (+ the reference signatures), checked for duplicate ids."""
        with job.timed("signatures"):
            wanted = [c for c in (S.ID, S.TEXT, S.SOURCE, "lang", S.KIND, cfg.quality_column, self.threshold_by)
                      if c in df.columns]
            wanted = list(dict.fromkeys(wanted))
            sigs = df.select(*wanted).mapInArrow(Signer(cfg).map_batches, from_arrow_schema(SIG_SCHEMA))
            sigs = job.materialize(sigs, "sigs").withColumn("is_ref", F.lit(False))
        if self.reference_signatures:
            refs = self._load_references(job.spark)
            job.n_refs = refs.count()
            sigs = sigs.unionByName(refs)
        check = sigs.agg(F.count(F.lit(1)).alias("n"), F.countDistinct("node").alias("nodes"),
                         F.countDistinct("xhash").alias("xhashes"),
                         F.sum(F.col("flag").isNotNull().cast("long")).alias("short")).collect()[0]
        if check["n"] != check["nodes"]:
            raise ValueError(f"dedup: {check['n'] - check['nodes']} duplicate document ids in the input "
                             "(ids must be unique)")
        n_docs = int(check["n"]) - job.n_refs
        job.exact_edges = int(check["n"]) - int(check["xhashes"]) if self.exact else 0
        job.metrics["dedup/docs_in"] = float(n_docs)
        job.metrics["dedup/too_short"] = float(check["short"] or 0)
        if job.n_refs:
            job.metrics["dedup/reference_docs"] = float(job.n_refs)
        bands, rows = self._bands
        job.log(f"signatures of {n_docs:,} docs in {job.timings['signatures']:.1f}s "
                f"({bands} bands x {rows} rows)")
        return sigs

    def _exact_groups(self, job: _Job, sigs, order):
        """Keeper keys with each document's rank in its exact group (``_rn``) and the group head, and
        the exact edges (member -> head)."""
        with job.timed("exact"):
            keys = sigs.select("id", "node", "xhash", "chash", "length", "quality", "prio", "source", "flag",
                               "is_ref")
            if self.exact:
                w = Window.partitionBy("xhash").orderBy(*order)
                keys = keys.withColumn("_rn", F.row_number().over(w)) \
                    .withColumn("_head", F.first("node").over(w))
            else:
                keys = keys.withColumn("_rn", F.lit(1)).withColumn("_head", F.col("node"))
            keys = job.materialize(keys, "keys")
            exact_edges = keys.filter(F.col("_rn") > 1).select(F.col("node").alias("src"),
                                                               F.col("_head").alias("dst"))
        return keys, exact_edges

    def _lsh_candidates(self, job: _Job, sigs, keys):
        """Candidate pairs (src, dst) among exact-group heads: a star per shared LSH bucket, capped at
        ``max_bucket_size`` members."""
        num_perm = self.num_perm
        bands, rows = self._bands
        heads = keys.filter((F.col("_rn") == 1) & F.col("flag").isNull()).select("node")
        banded = sigs.join(heads, on="node", how="left_semi").select("node", "sig") \
            .mapInArrow(lambda it: band_rows(it, num_perm, bands, rows), from_arrow_schema(BAND_SCHEMA))
        buckets = banded.groupBy("band", "bhash").agg(F.array_sort(F.collect_list("node")).alias("m")) \
            .withColumn("n", F.size("m")).filter(F.col("n") > 1)
        buckets = job.materialize(buckets, "buckets")
        cap = self.max_bucket_size
        bstats = buckets.agg(F.count(F.lit(1)).alias("buckets"),
                             F.sum((F.col("n") > cap).cast("long")).alias("over"),
                             F.sum(F.greatest(F.col("n") - cap, F.lit(0))).alias("unlinked"),
                             F.max("n").alias("largest"),
                             F.sum(F.least(F.col("n"), F.lit(cap)) - 1).alias("pairs")).collect()[0]
        job.candidates_upper = int(bstats["pairs"] or 0)
        job.metrics["dedup/lsh_buckets_shared"] = float(bstats["buckets"] or 0)
        job.metrics["dedup/oversized_buckets"] = float(bstats["over"] or 0)
        job.metrics["dedup/oversized_bucket_members_unlinked"] = float(bstats["unlinked"] or 0)
        job.metrics["dedup/largest_bucket"] = float(bstats["largest"] or 0)
        if bstats["over"]:
            job.log(f"{bstats['over']} oversized LSH bucket(s) capped at {cap} members "
                    f"({bstats['unlinked']} memberships not linked; largest {bstats['largest']})")
        candidates = buckets.select(F.col("m")[0].alias("src"),
                                    F.explode(F.expr(f"slice(m, 2, least(n, {cap}) - 1)")).alias("dst")).distinct()
        return job.materialize(candidates, "candidates")

    def _verified(self, job: _Job, candidates, sigs, df, cfg: SignerConfig):
        """The candidate pairs whose similarity reaches the stricter of their two thresholds (all of them
        with ``verify: none``)."""
        mode = self._verify_mode()
        if mode == "none":
            job.near_edges = int(candidates.count())
            job.metrics["dedup/candidate_pairs"] = float(job.near_edges)
            return candidates
        estimated_pairs, exact_pairs = candidates, None
        if mode == "exact":
            if job.n_refs:  # reference texts are not at hand: pairs touching one are estimated
                ref_nodes = sigs.filter(F.col("is_ref")).select("node")
                estimated_pairs = candidates.join(ref_nodes.select(F.col("node").alias("src")), on="src",
                                                  how="left_semi") \
                    .unionByName(candidates.join(ref_nodes.select(F.col("node").alias("dst")), on="dst",
                                                 how="left_semi")).distinct()
                exact_pairs = candidates.join(estimated_pairs, on=["src", "dst"], how="left_anti")
            else:
                estimated_pairs, exact_pairs = None, candidates
        scored_parts = []
        if estimated_pairs is not None:
            scored_parts.append(_estimated_jaccard(estimated_pairs, sigs, self.num_perm))
        if exact_pairs is not None:
            small = 2 * job.candidates_upper <= self.broadcast_max_rows
            scored_parts.append(_exact_jaccard(exact_pairs, sigs, df, cfg, broadcast=small))
        scored = scored_parts[0] if len(scored_parts) == 1 else scored_parts[0].unionByName(scored_parts[1])
        scored = job.materialize(scored, "scored")
        passed = F.col("jaccard") >= F.col("thr")
        cnt = scored.agg(F.count(F.lit(1)).alias("n"), F.sum(passed.cast("long")).alias("ok")).collect()[0]
        job.metrics["dedup/candidate_pairs"] = float(cnt["n"])
        job.metrics["dedup/verified_pairs"] = float(cnt["ok"] or 0)
        job.near_edges = int(cnt["ok"] or 0)
        return scored.filter(passed).select("src", "dst")

    def _components(self, job: _Job, edges):
        """(node, root) for every node with an edge: labelled in one task when the graph has at most
        ``local_components_max_edges`` edges, else by large-star / small-star rounds."""
        with job.timed("components"):
            n_edges = job.exact_edges + job.near_edges
            local = n_edges <= self.local_components_max_edges
            if local:
                labels, job.cc_rounds = job.materialize(local_components(edges), "labels"), 0
            else:
                labels, job.cc_rounds = connected_components(edges, job.work / "cc", self.max_cc_iterations,
                                                             log=None)
            job.metrics["dedup/cc_rounds"] = float(job.cc_rounds)
            job.metrics["dedup/graph_edges"] = float(n_edges)
            job.metrics["dedup/components_local"] = float(local)
        return labels

    def _assign_survivors(self, job: _Job, keys, labels, order):
        """One row per input document in a cluster or flagged: id, survivor, cluster size, reject reason
        (null for survivors and flagged singletons), flag, source."""
        with job.timed("keeper"):
            members = keys.join(labels, on="node")
            wc = Window.partitionBy("root").orderBy(*order)
            wa = Window.partitionBy("root")
            members = members.withColumn("_survivor", F.first("id").over(wc)) \
                .withColumn("_survivor_node", F.first("node").over(wc)) \
                .withColumn("_size", F.count(F.lit(1)).over(wa))
            members = members.withColumn(
                "_reason", F.when(F.col("node") == F.col("_survivor_node"), F.lit(None).cast("string"))
                .when(F.col("_rn") > 1, F.lit(EXACT)).otherwise(F.lit(NEAR)))
            flagged = keys.join(labels, on="node", how="left_anti").filter(F.col("flag").isNotNull()) \
                .select("id", F.col("id").alias("_survivor"), F.lit(1).cast("long").alias("_size"),
                        F.lit(None).cast("string").alias("_reason"), "flag", "source", "is_ref")
            assign = members.select("id", "_survivor", "_size", "_reason", "flag", "source", "is_ref") \
                .unionByName(flagged).filter(~F.col("is_ref"))
            assign = job.materialize(assign, "assign")
        return assign

    def _report_and_save(self, job: _Job, df, sigs, assign, cfg: SignerConfig) -> None:
        """Cluster metrics and the saved signatures, scratch clean-up, then the summary metrics."""
        with job.timed("metrics_and_save"):
            job.metrics.update(self._cluster_metrics(assign, df))
            if self.save_signatures:
                self._save_signatures(sigs, assign, job.out_dir / SIGNATURES_DIR, cfg)
        for d in ("sigs", "keys", "buckets", "candidates", "scored", "cc", "labels"):  # "assign" feeds the lazy output
            shutil.rmtree(job.work / d, ignore_errors=True)
        bands, rows = self._bands
        job.metrics.update({"dedup/bands": float(bands), "dedup/rows": float(rows),
                            "dedup/threshold": self.threshold,
                            "dedup/candidate_threshold": self.candidate_threshold()})
        for k, v in job.timings.items():
            job.metrics[f"seconds/dedup_{k}"] = round(v, 3)
        job.metrics["seconds/dedup_driver_total"] = round(time.perf_counter() - job.started, 3)
        job.log(f"{int(job.metrics.get('dedup/exact_duplicates', 0)):,} exact and "
                f"{int(job.metrics.get('dedup/near_duplicates', 0)):,} near duplicates "
                f"({job.cc_rounds} CC rounds)")

    @staticmethod
    def _split(df, assign, metrics: dict[str, Any], broadcast: bool = False) -> StageOutput:
        """Kept (survivors, unclustered and flagged docs) and rejected rows, lazy: the runner writes them.
        With ``broadcast`` the (small) assignments are broadcast, so the documents are never shuffled."""
        a = assign.select(F.col("id").alias("_aid"), "_survivor", "_size", "_reason", F.col("flag").alias("_flag"))
        a = F.broadcast(a) if broadcast else a
        out = df.join(a, df[S.ID] == a["_aid"], "left")
        out = out.withColumn("dup_cluster", F.coalesce(F.col("_survivor"), F.col(S.ID))) \
            .withColumn("dup_cluster_size", F.coalesce(F.col("_size"), F.lit(1)).cast("long")) \
            .withColumn("minhash_flag", F.col("_flag").cast("string"))
        base_cols = [*df.columns, *OWN_COLUMNS]
        kept = out.filter(F.col("_reason").isNull()).select(*base_cols)
        detail = F.to_json(F.struct(F.col("_survivor").alias("dup_of"),
                                    F.col("dup_cluster_size").alias("cluster_size")))
        rejected = out.filter(F.col("_reason").isNotNull()) \
            .select(*base_cols, F.col("_reason").alias(S.REJECT_REASON), detail.alias(S.REJECT_DETAIL))
        return StageOutput(kept, rejected, metrics)

    # -- helpers -------------------------------------------------------------------------------
    def _cluster_metrics(self, assign, df) -> dict[str, Any]:
        m: dict[str, Any] = {}
        removed = assign.filter(F.col("_reason").isNotNull())
        for r in removed.groupBy("_reason", "source").count().collect():
            key = "exact" if r["_reason"] == EXACT else "near"
            m[f"dedup/removed/{key}/{r['source']}"] = float(r["count"])
            m[f"dedup/{key}_duplicates"] = m.get(f"dedup/{key}_duplicates", 0.0) + float(r["count"])
        m.setdefault("dedup/exact_duplicates", 0.0)
        m.setdefault("dedup/near_duplicates", 0.0)
        clusters = assign.filter(F.col("_size") > 1).groupBy("_survivor").agg(F.first("_size").alias("size"))
        hist: dict[str, float] = {}
        for r in clusters.groupBy("size").count().collect():
            lab = _hist_label(int(r["size"]))
            hist[lab] = hist.get(lab, 0.0) + float(r["count"])
        for lab, v in hist.items():
            m[f"dedup/cluster_size_hist/{lab}"] = v
        m["dedup/clusters"] = float(sum(hist.values()))
        top = clusters.orderBy(F.col("size").desc(), F.col("_survivor").asc()).limit(self.top_clusters).collect()
        if top:
            ids = [r["_survivor"] for r in top]
            texts = {r[S.ID]: r["t"] for r in df.filter(F.col(S.ID).isin(ids))
                     .select(S.ID, F.substring(S.TEXT, 1, self.sample_chars).alias("t")).collect()}
            for i, r in enumerate(top, 1):
                k = f"dedup/largest/{i:02d}"
                m[f"{k}/size"] = float(r["size"])
                m[f"{k}/kept_id"] = r["_survivor"]
                m[f"{k}/sample"] = scrub_text(texts.get(r["_survivor"]) or "")[: self.sample_chars]
        return m

    @staticmethod
    def _save_signatures(sigs, assign, path: Path, cfg: SignerConfig) -> None:
        removed = assign.filter(F.col("_reason").isNotNull()).select("id")
        kept = sigs.filter(~F.col("is_ref")).join(removed, on="id", how="left_anti").drop("is_ref")
        kept.write.mode("overwrite").parquet(str(path))
        (path / SIGNATURES_META).write_text(json.dumps(cfg.signature_params(), indent=2, sort_keys=True))

    def _check_references(self, cfg: SignerConfig) -> None:
        want = cfg.signature_params()
        for p in self.reference_signatures:
            meta_file = Path(p) / SIGNATURES_META
            if not meta_file.exists():
                raise ValueError(f"dedup: reference signatures {p} lack {SIGNATURES_META} (not a dedup output?)")
            meta = json.loads(meta_file.read_text())
            if meta != want:
                diff = {k: (meta.get(k), v) for k, v in want.items() if meta.get(k) != v}
                raise ValueError(f"dedup: reference signatures {p} were made with other settings: {diff}")

    def _load_references(self, spark):
        """The reference signature rows (already checked by ``run``), marked ``is_ref``."""
        frames = []
        for p in self.reference_signatures:
            ref = spark.read.parquet(str(p)).select(*[f.name for f in SIG_SCHEMA])
            # reference nodes live in their own id space: a re-submitted document is not confused
            # with its earlier copy (it is simply found to duplicate it).
            ref = ref.withColumn("node", F.xxhash64(F.lit("ref"), F.col("id"), F.col("node")))
            frames.append(ref)
        out = frames[0]
        for f in frames[1:]:
            out = out.unionByName(f)
        # the reference always wins: its "id" is reported as dup_of
        return out.withColumn("is_ref", F.lit(True))


def _estimated_jaccard(pairs, sigs, num_perm: int):
    """(src, dst, jaccard, thr) from the share of equal signature values."""
    sa = sigs.select(F.col("node").alias("src"), F.col("sig").alias("sig_a"), F.col("thr").alias("thr_a"))
    sb = sigs.select(F.col("node").alias("dst"), F.col("sig").alias("sig_b"), F.col("thr").alias("thr_b"))
    pairs = pairs.join(sa, on="src").join(sb, on="dst") \
        .select("src", "dst", "sig_a", "sig_b", F.greatest("thr_a", "thr_b").alias("thr"))
    return pairs.mapInArrow(lambda it: jaccard_rows(it, num_perm), from_arrow_schema(PAIR_SCHEMA))


def _exact_jaccard(pairs, sigs, df, cfg: SignerConfig, broadcast: bool = False):
    """(src, dst, jaccard, thr) recomputed from the two texts (only candidate documents' texts are joined
    in; with ``broadcast`` the candidate documents are broadcast, so the texts are never shuffled)."""
    involved = pairs.select(F.col("src").alias("node")) \
        .unionByName(pairs.select(F.col("dst").alias("node"))) \
        .distinct().join(sigs.select("node", "id", "thr"), on="node")
    involved = F.broadcast(involved) if broadcast else involved
    lang = F.col("lang") if "lang" in df.columns else F.lit(None).cast("string")
    kind = F.col(S.KIND) if S.KIND in df.columns else F.lit(None).cast("string")
    texts = df.select(F.col(S.ID).alias("id"), F.col(S.TEXT).alias("text"), lang.alias("lang"),
                      kind.alias("kind")).join(involved, on="id").drop("id")
    ta = texts.select(F.col("node").alias("src"), F.col("text").alias("text_a"), F.col("lang").alias("lang_a"),
                      F.col("kind").alias("kind_a"), F.col("thr").alias("thr_a"))
    tb = texts.select(F.col("node").alias("dst"), F.col("text").alias("text_b"), F.col("lang").alias("lang_b"),
                      F.col("kind").alias("kind_b"), F.col("thr").alias("thr_b"))
    pairs = pairs.join(ta, on="src").join(tb, on="dst") \
        .select("src", "dst", "text_a", "text_b", "lang_a", "lang_b", "kind_a", "kind_b",
                F.greatest("thr_a", "thr_b").alias("thr"))
    return pairs.mapInArrow(lambda it: exact_jaccard_rows(it, cfg), from_arrow_schema(EXACT_PAIR_SCHEMA))
