"""The operator contract.

A **row-local operator** turns one ``pyarrow.RecordBatch`` into a kept batch and a rejected batch.
It knows nothing about Spark: the runner calls it through ``DataFrame.mapInArrow`` and the local
executor calls it directly, so both give the same rows. Heavy resources (models, dictionaries) are
loaded in ``setup()``, which runs lazily once per Python worker process and must be idempotent.

A **global stage** is a Spark DataFrame transformation with shuffles (dedup, mix, tokenize). It
returns kept and rejected DataFrames and the runner writes and checks them like any other stage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from contract import schema as S

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame


@dataclass
class BatchResult:
    """What an operator makes of one batch. ``rejected`` carries ``reject_reason`` and
    ``reject_detail`` columns; ``reject_stage`` is filled in by the runner."""

    kept: pa.RecordBatch
    rejected: pa.RecordBatch | None = None
    metrics: dict[str, float] = field(default_factory=dict)


class Stage:
    """What every stage declares: the columns it adds and the metrics it emits (name -> one-line
    meaning; see ``contract/metrics.py`` for families). The runner checks both against what the
    stage really produced and writes them into ``stats.json``; the report reads them from there."""

    name: ClassVar[str] = "stage"
    metrics: ClassVar[dict[str, str]] = {}
    # The stage's behaviour version, part of its resume hash: bump it when the same parameters and
    # input files give different output (a fixed bug, a new rule), so finished runs re-run it.
    version: ClassVar[str] = "1"
    # A score column whose lowest kept values a person should see (samples/kept_edge.jsonl): set by
    # stages that keep documents above a minimum score.
    edge_sample_column: str | None = None

    def output_fields(self) -> list[pa.Field]:
        """Columns this stage adds to every row."""
        return []

    def declared_metrics(self) -> dict[str, str]:
        return dict(self.metrics)

    def params(self) -> dict[str, Any]:
        """The stage's settings, for stats.json and the stage hash."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def input_files(self) -> list[str]:
        """Files and directories the stage reads besides its input documents (models, word lists,
        tokenizers, reference data). The runner fingerprints their content into the stage hash, so
        a retrained model or an edited list re-runs the stage instead of reusing its old output."""
        return []


class Operator(Stage):
    """Base class of row-local operators. Subclasses set ``name`` and implement ``process``."""

    name: ClassVar[str] = "operator"

    def setup(self) -> None:
        """Load heavy resources. Called once per worker process before the first batch."""

    def process(self, batch: pa.RecordBatch) -> BatchResult:  # pragma: no cover - abstract
        raise NotImplementedError


def split_batch(
    batch: pa.RecordBatch,
    reasons: list[str | None],
    details: list[str | None] | None = None,
) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    """Split ``batch`` by per-row ``reasons`` (None = keep). Rejected rows gain reject columns."""
    if len(reasons) != batch.num_rows:
        raise ValueError(f"{len(reasons)} reasons for {batch.num_rows} rows")
    reason_arr = pa.array(reasons, pa.string())
    keep_mask = pc.is_null(reason_arr)
    kept = batch.filter(keep_mask)
    reject_mask = pc.invert(keep_mask)
    rej = batch.filter(reject_mask)
    detail_arr = pa.array(details if details is not None else [None] * len(reasons), pa.string())
    rej = append_columns(
        rej,
        {
            S.REJECT_REASON: reason_arr.filter(reject_mask),
            S.REJECT_DETAIL: detail_arr.filter(reject_mask),
        },
    )
    return kept, rej


def append_columns(batch: pa.RecordBatch, columns: dict[str, pa.Array]) -> pa.RecordBatch:
    """``batch`` with ``columns`` set (replaced when present, appended otherwise)."""
    arrays = list(batch.columns)
    names = list(batch.schema.names)
    for name, arr in columns.items():
        if name in names:
            arrays[names.index(name)] = arr
        else:
            arrays.append(arr)
            names.append(name)
    return pa.RecordBatch.from_arrays(arrays, names=names)


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` reordered and cast to ``schema``; columns it lacks become nulls."""
    n = batch.num_rows
    cols = []
    for f in schema:
        idx = batch.schema.get_field_index(f.name)
        if idx < 0:
            cols.append(pa.nulls(n, f.type))
        else:
            col = batch.column(idx)
            cols.append(col if col.type == f.type else col.cast(f.type))
    return pa.RecordBatch.from_arrays(cols, schema=schema)


class Chain(Operator):
    """Operators applied in order; a row rejected by one is not seen by the next.

    Records the wall time of every operator as ``seconds/<name>`` so the slowest rule shows in
    stats.json and benchmarks."""

    name = "chain"

    def __init__(self, operators: list[Operator]):
        self.operators = operators

    def output_fields(self) -> list[pa.Field]:
        out: dict[str, pa.Field] = {}
        for op in self.operators:
            for f in op.output_fields():
                out[f.name] = f
        return list(out.values())

    def declared_metrics(self) -> dict[str, str]:
        out = {"seconds/{operator}": "wall seconds spent in each operator of the chain (summed over tasks)"}
        for op in self.operators:
            out.update(op.declared_metrics())
        return out

    def setup(self) -> None:
        for op in self.operators:
            op.setup()

    def params(self) -> dict[str, Any]:
        return {"operators": [{"name": op.name, **op.params()} for op in self.operators]}

    def input_files(self) -> list[str]:
        return list(dict.fromkeys(f for op in self.operators for f in op.input_files()))

    def process(self, batch: pa.RecordBatch) -> BatchResult:
        metrics: dict[str, float] = {}
        rejected: list[pa.RecordBatch] = []
        current = batch
        for op in self.operators:
            if current.num_rows == 0:
                break
            t0 = time.perf_counter()
            res = op.process(current)
            metrics[f"seconds/{op.name}"] = metrics.get(f"seconds/{op.name}", 0.0) + time.perf_counter() - t0
            for k, v in res.metrics.items():
                metrics[k] = metrics.get(k, 0.0) + v
            if res.rejected is not None and res.rejected.num_rows:
                rejected.append(res.rejected)
            current = res.kept
        return BatchResult(kept=current, rejected=concat_batches(rejected), metrics=metrics)


def concat_batches(batches: list[pa.RecordBatch]) -> pa.RecordBatch | None:
    """One batch from batches whose schemas may differ by added columns (missing ones -> null)."""
    if not batches:
        return None
    if len(batches) == 1:
        return batches[0]
    fields: dict[str, pa.Field] = {}
    for b in batches:
        for f in b.schema:
            fields.setdefault(f.name, f)
    schema = pa.schema(list(fields.values()))
    table = pa.Table.from_batches([conform(b, schema) for b in batches], schema=schema)
    return table.combine_chunks().to_batches()[0] if table.num_rows else conform(batches[0], schema)


@dataclass
class StageContext:
    """What a global stage gets from the runner: Spark, the pipeline config, its own folders."""

    spark: Any
    config: Any  # pipeline.config.PipelineConfig
    stage: Any  # pipeline.config.StageConfig
    index: int
    out_dir: Path
    workdir: Path
    seed: int
    stage_dirs: dict[str, Path] = field(default_factory=dict)

    def stage_dir(self, name: str) -> Path | None:
        """Final directory of an earlier stage of this pipeline, by name (None if absent)."""
        return self.stage_dirs.get(name)

    def log(self, msg: str) -> None:
        print(f"[winnow] {self.index:02d}-{self.stage.name}: {msg}", flush=True)


@dataclass
class StageOutput:
    """What a global stage returns: DataFrames the runner writes, plus metrics for stats.json."""

    kept: DataFrame
    rejected: DataFrame | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


class GlobalStage(Stage):
    """Base class of Spark-level stages. ``run`` gets the previous stage's kept DataFrame."""

    name: ClassVar[str] = "global"

    def run(self, df: DataFrame, ctx: StageContext) -> StageOutput:  # pragma: no cover - abstract
        raise NotImplementedError
