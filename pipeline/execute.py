"""Apply a row-local operator to Arrow batches: the one code path shared by Spark and local runs.

The operator's kept and rejected rows come back as one batch in the stage's output schema (input
columns + operator columns + reject columns + ``_metrics``). The batch's metrics ride on its first
row, so Spark can sum them exactly afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from contract import schema as S
from contract.errors import ConservationError
from contract.operator import Operator, conform


def output_schema(op: Operator, in_schema: pa.Schema) -> pa.Schema:
    base = pa.schema([f for f in in_schema if f.name not in (S.METRICS, *(r.name for r in S.REJECT_FIELDS))])
    return S.with_fields(base, [*op.output_fields(), *S.REJECT_FIELDS, S.METRICS_FIELD])


def apply_batch(op: Operator, batch: pa.RecordBatch, out_schema: pa.Schema, stage: str) -> pa.RecordBatch:
    res = op.process(batch)
    n_rej = res.rejected.num_rows if res.rejected is not None else 0
    if res.kept.num_rows + n_rej != batch.num_rows:
        raise ConservationError(
            f"operator {op.name!r} in stage {stage!r}: {batch.num_rows} rows in, "
            f"{res.kept.num_rows} kept + {n_rej} rejected out"
        )
    parts = [conform(res.kept, out_schema)]
    if n_rej:
        rej = res.rejected
        stage_col = pa.array([stage] * n_rej, pa.string())
        idx = rej.schema.get_field_index(S.REJECT_STAGE)
        rej = rej.set_column(idx, S.REJECT_STAGE, stage_col) if idx >= 0 else rej.append_column(S.REJECT_STAGE, stage_col)
        parts.append(conform(rej, out_schema))
    out = pa.Table.from_batches(parts, schema=out_schema).combine_chunks()
    out = out.to_batches()[0] if out.num_rows else parts[0]
    if res.metrics and out.num_rows:
        metrics = [None] * out.num_rows
        metrics[0] = list(res.metrics.items())
        out = out.set_column(
            out.schema.get_field_index(S.METRICS), S.METRICS_FIELD, pa.array(metrics, S.METRICS_FIELD.type)
        )
    return out


def apply_batches(
    op: Operator, batches: Iterable[pa.RecordBatch], out_schema: pa.Schema, stage: str
) -> Iterator[pa.RecordBatch]:
    """The function body Spark's ``mapInArrow`` runs in every Python worker."""
    op.setup()
    for batch in batches:
        if batch.num_rows:
            yield apply_batch(op, batch, out_schema, stage)
