"""The document contract, declared in one place.

Readers produce the base columns; each stage may add the typed columns declared here. Rejected
rows carry the same columns plus the three ``reject_*`` columns. Operators import their column
definitions from here so that Spark, the local executor and Parquet files agree on types.
"""

from __future__ import annotations

import pyarrow as pa

# Base columns every document has from the reader on.
ID = "id"
TEXT = "text"
SOURCE = "source"
META = "meta"  # JSON string: everything else the input record carried, plus file/line provenance

BASE_FIELDS: list[pa.Field] = [
    pa.field(ID, pa.string(), nullable=False),
    pa.field(TEXT, pa.string()),
    pa.field(SOURCE, pa.string()),
    pa.field(META, pa.string()),
]
BASE_SCHEMA = pa.schema(BASE_FIELDS)

# Columns added by stages. A stage that adds a column must declare it here.
STAGE_FIELDS: dict[str, pa.Field] = {
    f.name: f
    for f in [
        pa.field("lang", pa.string()),
        pa.field("lang_score", pa.float32()),
        pa.field("pii_counts", pa.map_(pa.string(), pa.int32())),
        pa.field("quality_score", pa.float32()),
        pa.field("domain", pa.string()),
        pa.field("domain_score", pa.float32()),
        pa.field("quality_score_fasttext", pa.float32()),
        pa.field("domain_fasttext", pa.string()),
        pa.field("domain_score_fasttext", pa.float32()),
        pa.field("dup_cluster", pa.string()),
        pa.field("dup_cluster_size", pa.int64()),
        pa.field("minhash_flag", pa.string()),
        pa.field("mix_group", pa.string()),
        pa.field("repeat", pa.int32()),
        pa.field("n_tokens", pa.int64()),
    ]
}

# Columns of rejected rows, on top of the document's own columns.
REJECT_STAGE = "reject_stage"
REJECT_REASON = "reject_reason"
REJECT_DETAIL = "reject_detail"
REJECT_FIELDS: list[pa.Field] = [
    pa.field(REJECT_STAGE, pa.string()),
    pa.field(REJECT_REASON, pa.string()),
    pa.field(REJECT_DETAIL, pa.string()),
]

# Per-document metrics an operator may emit; the runner sums them per key into stats.json and
# never writes the column to kept/ or rejected/. Exact under task retries, unlike accumulators.
METRICS = "_metrics"
METRICS_FIELD = pa.field(METRICS, pa.map_(pa.string(), pa.float64()))


def stage_field(name: str) -> pa.Field:
    """The declared field for a stage column; a clear error for an undeclared one."""
    try:
        return STAGE_FIELDS[name]
    except KeyError:
        raise KeyError(f"column {name!r} is not declared in pipeline/schema.py STAGE_FIELDS") from None


def with_fields(schema: pa.Schema, fields: list[pa.Field]) -> pa.Schema:
    """``schema`` plus ``fields`` (replacing same-named ones, keeping order)."""
    for f in fields:
        idx = schema.get_field_index(f.name)
        schema = schema.set(idx, f) if idx >= 0 else schema.append(f)
    return schema


def rejected_schema(schema: pa.Schema) -> pa.Schema:
    return with_fields(schema, REJECT_FIELDS)
