"""The document contract, declared in one place.

Readers produce the base columns; each stage declares the typed columns it adds
(``Stage.output_fields``). Rejected rows carry the same columns plus the three ``reject_*`` columns.
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

# Document kind, set by the langid stage: "prose" or "code" (room for more). For code, ``lang`` is
# ``code:<language>`` (``code:python``, ``code:c``...). Prose stages pass code through untouched.
KIND = "kind"
KIND_PROSE = "prose"
KIND_CODE = "code"
CODE_LANG_PREFIX = "code:"

# Columns added by stages are declared by the stage that adds them (``Stage.output_fields``). A
# low-cardinality string column worth counting per value in the report carries this metadata.
CATEGORY = {b"winnow.role": b"category"}


def category_field(name: str) -> pa.Field:
    """A string column whose values the report counts (``lang``, ``domain``, ``mix_group``...)."""
    return pa.field(name, pa.string(), metadata=CATEGORY)


def is_category(f: pa.Field) -> bool:
    return bool(f.metadata) and f.metadata.get(b"winnow.role") == b"category"


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


def with_fields(schema: pa.Schema, fields: list[pa.Field]) -> pa.Schema:
    """``schema`` plus ``fields`` (replacing same-named ones, keeping order)."""
    for f in fields:
        idx = schema.get_field_index(f.name)
        schema = schema.set(idx, f) if idx >= 0 else schema.append(f)
    return schema


def rejected_schema(schema: pa.Schema) -> pa.Schema:
    return with_fields(schema, REJECT_FIELDS)
