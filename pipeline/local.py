"""Run a row-local operator without Spark: unit tests, benchmarks and small jobs."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from contract import schema as S
from contract.operator import Operator
from pipeline.execute import apply_batches, output_schema


@dataclass
class LocalResult:
    kept: pa.Table
    rejected: pa.Table
    metrics: dict[str, float] = field(default_factory=dict)

    def reasons(self) -> list[str]:
        return self.rejected.column(S.REJECT_REASON).to_pylist()


def run_operator(
    op: Operator, data: pa.Table | pa.RecordBatch, stage: str = "local", batch_size: int = 1024
) -> LocalResult:
    table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
    out_schema = output_schema(op, table.schema)
    outs = list(apply_batches(op, table.to_batches(max_chunksize=batch_size), out_schema, stage))
    out = pa.Table.from_batches(outs, schema=out_schema)
    metrics: dict[str, float] = {}
    for entry in out.column(S.METRICS).to_pylist():
        for k, v in entry or []:
            metrics[k] = metrics.get(k, 0.0) + v
    out = out.drop_columns([S.METRICS])
    is_kept = pc.is_null(out.column(S.REJECT_REASON))
    kept = out.filter(is_kept).drop_columns([f.name for f in S.REJECT_FIELDS])
    rejected = out.filter(pc.invert(is_kept))
    return LocalResult(kept=kept, rejected=rejected, metrics=metrics)


def make_table(texts: list[str], **columns) -> pa.Table:
    """A document table from texts (ids doc-0.., source "test"), plus extra columns by name."""
    n = len(texts)
    data = {
        S.ID: [f"doc-{i}" for i in range(n)],
        S.TEXT: texts,
        S.SOURCE: columns.pop("source", ["test"] * n),
        S.META: ["{}"] * n,
    }
    fields = list(S.BASE_FIELDS)
    for name, values in columns.items():
        data[name] = values
        fields.append(pa.field(name, pa.array(values).type))
    return pa.table(data, schema=pa.schema(fields))
