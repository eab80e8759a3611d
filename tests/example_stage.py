"""The worked example of docs/architecture.md ("Adding a stage"): a complete row-local stage.

It measures the longest line of every document (a score, kept as a column) and rejects documents
whose longest line is over ``max_line_chars`` (a decision that reads the score), with reason
``line_too_long`` and the measured length as the detail.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contract.operator import BatchResult, Operator, append_columns, split_batch
from contract.textstats import split_lines, texts_of

LONGEST_LINE = pa.field("longest_line_chars", pa.int32())


class LongestLine(Operator):
    name = "longest_line"
    metrics = {"longest_line/over_limit": "documents whose longest line is over max_line_chars"}

    def __init__(self, max_line_chars: int = 1000):
        self.max_line_chars = max_line_chars

    def output_fields(self) -> list[pa.Field]:
        return [LONGEST_LINE]

    def process(self, batch: pa.RecordBatch) -> BatchResult:
        lines = split_lines(texts_of(batch))
        per_line = pc.utf8_length(lines.values).to_numpy(zero_copy_only=False)
        longest = np.array([per_line[a:b].max(initial=0) for a, b in zip(lines.offsets[:-1], lines.offsets[1:])],
                           dtype=np.int32)
        batch = append_columns(batch, {LONGEST_LINE.name: pa.array(longest, LONGEST_LINE.type)})
        over = longest > self.max_line_chars
        reasons = ["line_too_long" if o else None for o in over]
        kept, rejected = split_batch(batch, reasons, [str(n) if o else None for n, o in zip(longest, over)])
        return BatchResult(kept, rejected, {"longest_line/over_limit": float(over.sum())})


class UndeclaredMetric(LongestLine):
    """A broken stage: emits a metric it does not declare."""

    def process(self, batch: pa.RecordBatch) -> BatchResult:
        res = super().process(batch)
        res.metrics["surprise"] = 1.0
        return res
