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


# -- fused row-local stages -----------------------------------------------------------------------
# Consecutive row-local stages run as one pass over each Arrow batch: stage k sees only the rows
# stage k-1 kept. Every row leaves the pass once, tagged with the stage that rejected it (or
# ``FUSED_KEPT`` when it survived them all), so one Spark job yields every stage's rejected rows and
# the last stage's kept rows. Stage k's metrics are prefixed ``<k>`` + ``FUSED_SEP``; a surviving
# row carries its text length after every stage it passed (``fused_length_column(k)``) so each
# stage's kept characters are counted as that stage wrote them, not as a later stage left them.
FUSED_STAGE = "_fused_stage"
FUSED_KEPT = -1
FUSED_SEP = "\x1f"


def fused_length_column(k: int) -> str:
    return f"_fused_len_{k}"


def fused_schemas(ops: list[Operator], in_schema: pa.Schema) -> tuple[list[pa.Schema], pa.Schema]:
    """Each stage's output schema (as ``output_schema`` gives it, with the length columns of the
    stages before it) and the union schema every row of the fused pass is written in."""
    schemas = []
    cur = pa.schema([f for f in in_schema if f.name not in (S.METRICS, *(r.name for r in S.REJECT_FIELDS))])
    for k, op in enumerate(ops):
        out = output_schema(op, cur)
        schemas.append(out)
        cur = pa.schema([f for f in out if f.name not in (S.METRICS, *(r.name for r in S.REJECT_FIELDS))])
        cur = cur.append(pa.field(fused_length_column(k), pa.int64()))
    union = S.with_fields(cur, [*S.REJECT_FIELDS, pa.field(FUSED_STAGE, pa.int32(), nullable=False),
                                S.METRICS_FIELD])
    return schemas, union


def _batch_metrics(batch: pa.RecordBatch) -> dict[str, float]:
    col = batch.column(batch.schema.get_field_index(S.METRICS))
    first = col[0].as_py() if len(col) else None
    return dict(first or [])


def apply_fused_batch(ops: list[Operator], names: list[str], schemas: list[pa.Schema], union: pa.Schema,
                      batch: pa.RecordBatch) -> pa.RecordBatch:
    import pyarrow.compute as pc

    parts: list[pa.RecordBatch] = []
    metrics: dict[str, float] = {}
    cur = batch
    reject_names = {S.METRICS, *(r.name for r in S.REJECT_FIELDS)}
    for k, (op, name, schema) in enumerate(zip(ops, names, schemas)):
        if not cur.num_rows:
            break
        out = apply_batch(op, cur, schema, name)
        metrics.update({f"{k}{FUSED_SEP}{key}": v for key, v in _batch_metrics(out).items()})
        rejected = pc.is_valid(out.column(out.schema.get_field_index(S.REJECT_REASON)))
        if pc.any(rejected).as_py():
            rej = out.filter(rejected)
            parts.append(conform(rej.append_column(FUSED_STAGE, pa.array([k] * rej.num_rows, pa.int32())), union))
            out = out.filter(pc.invert(rejected))
        keep = [i for i, f in enumerate(out.schema) if f.name not in reject_names]
        cur = pa.RecordBatch.from_arrays([out.column(i) for i in keep], schema=pa.schema([out.schema.field(i) for i in keep]))
        cur = cur.append_column(fused_length_column(k), pc.utf8_length(cur.column(S.TEXT)).cast(pa.int64())
                                if S.TEXT in cur.schema.names else pa.nulls(cur.num_rows, pa.int64()))
    if cur.num_rows:
        parts.append(conform(cur.append_column(FUSED_STAGE, pa.array([FUSED_KEPT] * cur.num_rows, pa.int32())),
                             union))
    out = pa.Table.from_batches(parts, schema=union).combine_chunks().to_batches()[0]
    if metrics:
        column = [None] * out.num_rows
        column[0] = list(metrics.items())
        out = out.set_column(union.get_field_index(S.METRICS), S.METRICS_FIELD, pa.array(column, S.METRICS_FIELD.type))
    return out


def apply_fused_batches(ops: list[Operator], names: list[str], schemas: list[pa.Schema], union: pa.Schema,
                        batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The function body Spark's ``mapInArrow`` runs for a group of fused row-local stages."""
    for op in ops:
        op.setup()
    for batch in batches:
        if batch.num_rows:
            yield apply_fused_batch(ops, names, schemas, union, batch)
