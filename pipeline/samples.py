"""Samples for a person to judge: the one writer of ``samples/*.jsonl``.

Two pickers choose rows on Spark (never collecting more than they write): up to N rejected
documents per reason, and the N kept documents nearest a score threshold. One writer scrubs every
string of every picked row with the redaction module (text, id, source, details: PII may sit in
any of them) and truncates the text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contract import schema as S
from redaction import scrub_text

SAMPLE_CHARS = 1000
_PREFIX = "_text_prefix"


def _with_text_prefix(df, cols: list[str], F):
    # twice the kept length, so "truncated" is known without reading whole documents
    return df.select(*cols, F.substring(F.col(S.TEXT), 1, SAMPLE_CHARS * 2).alias(_PREFIX))


def pick_rejected(rejected, per_reason: int) -> tuple[list[Any], list[str]]:
    """Up to ``per_reason`` rejected rows per reason, chosen by a hash of the id (stable across runs)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    cols = [c for c in (S.ID, S.SOURCE, "lang", S.REJECT_REASON, S.REJECT_DETAIL) if c in rejected.columns]
    w = Window.partitionBy(S.REJECT_REASON).orderBy(F.xxhash64(F.col(S.ID)), F.col(S.ID))
    rows = (_with_text_prefix(rejected, cols, F).withColumn("_rank", F.row_number().over(w))
            .filter(F.col("_rank") <= per_reason).orderBy(S.REJECT_REASON, "_rank").collect())
    return rows, cols


def pick_lowest(kept, column: str, n: int) -> tuple[list[Any], list[str]]:
    """The ``n`` kept rows with the lowest ``column`` (ties by id): the ones nearest a minimum threshold."""
    from pyspark.sql import functions as F

    cols = [c for c in (S.ID, S.SOURCE, "lang", "domain", column) if c in kept.columns]
    rows = (_with_text_prefix(kept.filter(F.col(column).isNotNull()), cols, F)
            .orderBy(F.col(column).asc(), F.col(S.ID).asc()).limit(n).collect())
    return rows, cols


def write_samples(rows: list[Any], cols: list[str], path: Path, detail_column: str | None = None) -> int:
    """Picked rows as JSON lines, every string scrubbed, text truncated to ``SAMPLE_CHARS``.
    ``detail_column``: a numeric column written as ``detail = "<column>=<value>"``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            d: dict[str, Any] = {c: scrub_text(r[c]) if isinstance(r[c], str) else r[c] for c in cols}
            if detail_column is not None:
                d["detail"] = f"{detail_column}={float(r[detail_column]):.4f}"
            elif S.REJECT_DETAIL in d:
                d[S.REJECT_DETAIL] = d[S.REJECT_DETAIL] or ""
            text = r[_PREFIX] or ""
            d["text"] = scrub_text(text)[:SAMPLE_CHARS]
            d["truncated"] = len(text) > SAMPLE_CHARS
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    return len(rows)
