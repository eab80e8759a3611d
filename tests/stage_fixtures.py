"""Tiny stages used by the framework tests (registered under test-only names)."""

from __future__ import annotations

import os
import time

import pyarrow as pa
from pyspark.sql import functions as F

from contract import schema as S
from contract.operator import BatchResult, GlobalStage, Operator, StageOutput, split_batch


class MinChars(Operator):
    """Rejects documents shorter than ``min_chars`` with reason ``too_short``."""

    name = "min_chars"
    metrics = {"seen": "documents seen"}

    def __init__(self, min_chars: int = 10, sleep_file: str | None = None):
        self.min_chars = min_chars
        self.sleep_file = sleep_file

    def process(self, batch: pa.RecordBatch) -> BatchResult:
        if self.sleep_file and os.path.exists(self.sleep_file):
            time.sleep(600)  # lets a test kill the job mid-stage
        texts = batch.column(S.TEXT).to_pylist()
        reasons = [None if len(t) >= self.min_chars else "too_short" for t in texts]
        kept, rej = split_batch(batch, reasons, [str(len(t)) for t in texts])
        return BatchResult(kept, rej, {"seen": float(batch.num_rows)})


class LosesRows(Operator):
    """A broken operator: drops the last row of every batch silently."""

    name = "loses_rows"

    def process(self, batch: pa.RecordBatch) -> BatchResult:
        return BatchResult(batch.slice(0, max(batch.num_rows - 1, 0)))


class DropDuplicateTexts(GlobalStage):
    """A global stage: keeps the smallest id per text, rejects the rest as ``dup``."""

    name = "dup_text"
    metrics = {"groups": "distinct texts"}

    def run(self, df, ctx) -> StageOutput:
        first = df.groupBy(S.TEXT).agg(F.min(S.ID).alias("_keep"))
        joined = df.join(first, on=S.TEXT)
        kept = joined.filter(F.col(S.ID) == F.col("_keep")).drop("_keep")
        rej = (joined.filter(F.col(S.ID) != F.col("_keep"))
               .withColumn(S.REJECT_REASON, F.lit("dup"))
               .withColumn(S.REJECT_DETAIL, F.col("_keep")).drop("_keep"))
        return StageOutput(kept, rej, {"groups": first.count()})
