"""The stage runner: every stage's output layout, conservation check, resume and atomic output.

::

    <workdir>/<NN>-<stage>/kept/part-*.parquet
    <workdir>/<NN>-<stage>/rejected/part-*.parquet   # + reject_stage, reject_reason, reject_detail
    <workdir>/<NN>-<stage>/samples/rejected.jsonl    # up to N scrubbed rejects per reason
    <workdir>/<NN>-<stage>/stats.json
    <workdir>/<NN>-<stage>/_SUCCESS                  # {"hash": ...}: config + input fingerprint

A stage is written under ``<workdir>/.tmp-<NN>-<stage>-<uuid>`` and renamed into place only once
it is complete and its counts add up, so a killed job never leaves a finished-looking stage.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract import schema as S
from contract.errors import ConfigError, ConservationError
from contract.operator import GlobalStage, Operator, Stage, StageContext, StageOutput
from pipeline import __version__
from pipeline.config import PipelineConfig, StageConfig, stable_json
from pipeline.declarations import check_declarations, declaration
from pipeline.io import READ_FIELDS, READ_METRICS
from pipeline.registry import build_stage
from pipeline.samples import pick_rejected, write_samples

log = logging.getLogger("winnow")
SUCCESS = "_SUCCESS"


def say(msg: str) -> None:
    """Progress line on the console (flushed, so it interleaves with Spark's progress bar)."""
    print(f"[winnow] {msg}", flush=True)


@dataclass
class StageResult:
    name: str
    dir: Path
    skipped: bool
    stats: dict[str, Any]


def stage_dirname(index: int, name: str) -> str:
    return f"{index:02d}-{name}"


def _hash(obj: Any) -> str:
    return hashlib.sha256(stable_json(obj).encode()).hexdigest()


def _read_success(d: Path) -> str | None:
    try:
        return json.loads((d / SUCCESS).read_text())["hash"]
    except (OSError, ValueError, KeyError):
        return None


class PipelineRunner:
    def __init__(self, config: PipelineConfig, spark=None, until: str | None = None, force: bool = False):
        self.config = config
        self.until = until
        self.force = force
        self._spark = spark
        self.workdir = Path(config.workdir)
        names = ["read", *(s.name for s in config.stages)]
        if until is not None and until not in names:
            raise ConfigError(f"--until {until!r}: no such stage in {config.source_file} (stages: {', '.join(names)})")

    @property
    def spark(self):
        if self._spark is None:
            from pipeline.spark import get_spark

            self._spark = get_spark(self.config.spark)
        return self._spark

    # -- the pipeline ---------------------------------------------------------------------------
    def run(self) -> list[StageResult]:
        from pipeline.io import input_fingerprint, list_input_files

        cfg = self.config
        self.workdir.mkdir(parents=True, exist_ok=True)
        files = list_input_files(cfg.input.paths, cfg.input.format)
        stage_dirs: dict[str, Path] = {}
        results: list[StageResult] = []
        prev_hash = _hash({"version": __version__, "read": input_fingerprint(files, cfg.input),
                           "batch": cfg.spark.arrow_batch_size})
        plan: list[tuple[int, StageConfig | None]] = [(1, None)] + [(i + 2, s) for i, s in enumerate(cfg.stages)]
        # Every stage is built (parameters checked) before the first one runs: a typo in the last
        # stage's parameters must not cost the hours of the stages before it.
        built = {i + 2: self._build(i, st) for i, st in enumerate(cfg.stages)}
        declared_fields: dict[str, dict[str, Any]] = {}
        say(f"pipeline {cfg.name!r}: {len(files)} input file(s), {len(plan)} stage(s), workdir {self.workdir}")
        for index, st in plan:
            name = "read" if st is None else st.name
            if st is not None:
                prev_hash = _hash({"prev": prev_hash, "stage": st.stage, "params": st.params,
                                   "seed": cfg.seed, "version": __version__})
            final = self.workdir / stage_dirname(index, name)
            if not self.force and _read_success(final) == prev_hash:
                stats = json.loads((final / "stats.json").read_text())
                say(f"{final.name}: up to date, skipped ({stats['docs_kept']:,} kept)")
                results.append(StageResult(name, final, True, stats))
            else:
                results.append(self._run_stage(index, st, built.get(index), final, prev_hash, stage_dirs,
                                               declared_fields))
            for f in (results[-1].stats.get("declared") or {}).get("fields") or []:
                declared_fields[f["name"]] = f
            stage_dirs[name] = final
            if name == self.until:
                break
        say(f"done: output in {results[-1].dir / 'kept'}")
        return results

    def _build(self, i: int, st: StageConfig) -> Stage:
        where = f"{self.config.source_file}: stages[{i}] ({st.name}): "
        stage = build_stage(st.stage, st.params, where)
        if not isinstance(stage, (Operator, GlobalStage)):
            raise ConfigError(f"{where}factory returned {type(stage).__name__}, not an Operator or GlobalStage")
        return stage

    def _run_stage(self, index: int, st: StageConfig | None, stage: Stage | None, final: Path, stage_hash: str,
                   stage_dirs: dict[str, Path], declared_fields: dict[str, dict[str, Any]]) -> StageResult:
        try:
            return self._run_stage_unchecked(index, st, stage, final, stage_hash, stage_dirs, declared_fields)
        except Exception as e:
            raise _winnow_error_from_worker(e) from e

    def _run_stage_unchecked(self, index: int, st: StageConfig | None, stage: Stage | None, final: Path,
                             stage_hash: str, stage_dirs: dict[str, Path],
                             declared_fields: dict[str, dict[str, Any]]) -> StageResult:
        from pyspark.sql import functions as F

        cfg = self.config
        name = "read" if st is None else st.name
        for stale in self.workdir.glob(f".tmp-{final.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = self.workdir / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        spark = self.spark  # JVM start-up is not the stage's time
        t0 = time.time()
        ctx = StageContext(spark, cfg, st or StageConfig("read"), index, tmp, self.workdir, cfg.seed, dict(stage_dirs))
        metrics: dict[str, Any] = {}
        params: dict[str, Any] = {}
        if st is None:
            from pipeline.io import read_dataframe

            say(f"{final.name}: starting")
            out, _files = read_dataframe(spark, cfg.input, cfg.spark.arrow_batch_size)
            kept_df, rej_df, metrics = self._split_row_output(out, F)
            docs_in_expected = None  # the reader's own record count, checked below
            declared = declaration(READ_FIELDS, READ_METRICS, None)
        else:
            prev = self.workdir / stage_dirname(index - 1, ([None, "read", *[s.name for s in cfg.stages]])[index - 1])
            in_df = spark.read.parquet(str(prev / "kept"))
            docs_in_expected = in_df.count()
            params = stage.params()
            declared = declaration(stage.output_fields(), stage.declared_metrics(), stage.edge_sample_column)
            say(f"{final.name}: starting ({docs_in_expected:,} docs in)")
            if isinstance(stage, Operator):
                kept_df, rej_df, metrics = self._run_row_stage(stage, in_df, name, F)
            else:
                result: StageOutput = stage.run(in_df, ctx)
                kept_df, rej_df, metrics = result.kept, result.rejected, dict(result.metrics)
            check_declarations(final.name, declared, metrics, kept_df.columns)
        try:
            kept_df.write.mode("overwrite").parquet(str(tmp / "kept"))
            if rej_df is None:
                rej_df = self._empty_rejected(kept_df)
            rej_df = rej_df.withColumn(S.REJECT_STAGE, F.coalesce(F.col(S.REJECT_STAGE), F.lit(name))) \
                if S.REJECT_STAGE in rej_df.columns else rej_df.withColumn(S.REJECT_STAGE, F.lit(name))
            rej_df.write.mode("overwrite").parquet(str(tmp / "rejected"))
        finally:
            for df in (getattr(self, "_persisted", None),):
                if df is not None:
                    df.unpersist()
            self._persisted = None
        categorical = [f["name"] for f in {**declared_fields, **{f["name"]: f for f in declared["fields"]}}.values()
                       if f["category"]]
        stats = self._stats(tmp, name, index, metrics, params, stage_hash, t0, F, categorical,
                            declared["edge_sample_column"])
        stats["declared"] = declared
        docs_in = stats["docs_in"] if docs_in_expected is None else docs_in_expected
        if docs_in_expected is None:
            docs_in = int(metrics.get("records", 0))
        stats["docs_in"] = docs_in
        if docs_in != stats["docs_kept"] + stats["docs_rejected"]:
            raise ConservationError(
                f"stage {final.name}: docs_in {docs_in:,} != kept {stats['docs_kept']:,} + rejected "
                f"{stats['docs_rejected']:,}; output left in {tmp} for inspection"
            )
        self._write_samples(tmp)
        (tmp / "stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True, default=str))
        (tmp / SUCCESS).write_text(json.dumps({"hash": stage_hash}))
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        top = sorted(stats["rejected_by_reason"].items(), key=lambda kv: -kv[1]["docs"])[:4]
        reasons = ", ".join(f"{r} {v['docs']:,}" for r, v in top) or "none"
        rate = docs_in / max(stats["seconds"], 1e-9)
        say(f"{final.name}: finished in {stats['seconds']:.1f}s ({rate:,.0f} docs/s): "
            f"{docs_in:,} in -> {stats['docs_kept']:,} kept, {stats['docs_rejected']:,} rejected ({reasons})")
        return StageResult(name, final, False, stats)

    # -- row-local stages -----------------------------------------------------------------------
    def _run_row_stage(self, op: Operator, in_df, stage: str, F):
        from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

        from pipeline.execute import apply_batches, output_schema

        out_schema = output_schema(op, to_arrow_schema(in_df.schema))
        out = in_df.mapInArrow(lambda it: apply_batches(op, it, out_schema, stage), from_arrow_schema(out_schema))
        return self._split_row_output(out, F)

    def _split_row_output(self, out, F):
        """Persist the combined output once, sum its metrics, and split kept from rejected."""
        out = out.persist()
        self._persisted = out
        metrics = {
            r["key"]: r["value"]
            for r in out.select(F.explode(S.METRICS)).groupBy("key").agg(F.sum("value").alias("value")).collect()
        }
        reject_cols = [f.name for f in S.REJECT_FIELDS]
        kept = out.filter(F.col(S.REJECT_REASON).isNull()).drop(S.METRICS, *reject_cols)
        rejected = out.filter(F.col(S.REJECT_REASON).isNotNull()).drop(S.METRICS)
        return kept, rejected, metrics

    def _empty_rejected(self, kept_df):
        from pyspark.sql import functions as F

        df = kept_df.limit(0)
        for f in S.REJECT_FIELDS:
            df = df.withColumn(f.name, F.lit(None).cast("string"))
        return df

    # -- stats and samples ----------------------------------------------------------------------
    def _stats(self, tmp: Path, name: str, index: int, metrics: dict, params: dict, stage_hash: str,
               t0: float, F, categorical: list[str], edge_sample_column: str | None) -> dict[str, Any]:
        from pipeline.histograms import stage_histograms

        spark = self.spark
        kept = spark.read.parquet(str(tmp / "kept"))
        rej = spark.read.parquet(str(tmp / "rejected"))
        group_cols = [c for c in ("source", "lang") if c in kept.columns and c in rej.columns]

        def agg(df, reason_col):
            cols = [*(F.col(c) for c in group_cols), reason_col.alias("outcome")]
            return df.groupBy(*cols).agg(F.count(F.lit(1)).alias("docs"),
                                         F.sum(F.length(F.coalesce(F.col(S.TEXT), F.lit("")))).alias("chars"))

        rows = [r.asDict() for r in agg(kept, F.lit("kept")).unionByName(agg(rej, F.col(S.REJECT_REASON))).collect()]
        rows.sort(key=lambda r: tuple(str(r.get(c)) for c in (*group_cols, "outcome")))
        by_reason: dict[str, dict[str, int]] = {}
        docs_kept = chars_kept = 0
        for r in rows:
            r["chars"] = int(r["chars"] or 0)
            if r["outcome"] == "kept":
                docs_kept += r["docs"]
                chars_kept += r["chars"]
            else:
                slot = by_reason.setdefault(r["outcome"], {"docs": 0, "chars": 0})
                slot["docs"] += r["docs"]
                slot["chars"] += r["chars"]
        docs_rej = sum(v["docs"] for v in by_reason.values())
        chars_rej = sum(v["chars"] for v in by_reason.values())
        return {
            "stage": name,
            "index": index,
            "docs_in": docs_kept + docs_rej,
            "chars_in": chars_kept + chars_rej,
            "docs_kept": docs_kept,
            "chars_kept": chars_kept,
            "docs_rejected": docs_rej,
            "chars_rejected": chars_rej,
            "rejected_by_reason": dict(sorted(by_reason.items())),
            "by_group": {"columns": group_cols, "rows": rows},
            "histograms": stage_histograms(kept, rej, categorical, edge_sample_column, stage=name,
                                           out_dir=tmp),  # for `winnow report`
            "metrics": {k: metrics[k] for k in sorted(metrics)},
            "params": params,
            "hash": stage_hash,
            "seconds": round(time.time() - t0, 3),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "winnow_version": __version__,
            "spark": {"master": spark.sparkContext.master, "version": spark.version,
                      "default_parallelism": spark.sparkContext.defaultParallelism},
        }

    def _write_samples(self, tmp: Path) -> None:
        """Up to N rejected documents per reason, PII-scrubbed and truncated, for a person to judge."""
        rows, cols = pick_rejected(self.spark.read.parquet(str(tmp / "rejected")), self.config.samples_per_reason)
        write_samples(rows, cols, tmp / "samples" / "rejected.jsonl")


def _winnow_error_from_worker(e: Exception) -> Exception:
    """A Winnow error raised inside a Spark Python worker comes back wrapped in Java and Python
    tracebacks; recover it so the user sees the one-line message (and tests can match it)."""
    import re

    from contract import errors

    if isinstance(e, errors.WinnowError):
        return e
    m = re.search(r"contract\.errors\.(\w+): ([^\n]*)", str(e))
    cls = getattr(errors, m.group(1), None) if m else None
    if cls is not None and isinstance(cls, type) and issubclass(cls, errors.WinnowError):
        return cls(m.group(2))
    return e


def run_pipeline(config: PipelineConfig, spark=None, until: str | None = None, force: bool = False):
    return PipelineRunner(config, spark=spark, until=until, force=force).run()
