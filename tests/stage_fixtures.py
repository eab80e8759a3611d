"""Tiny stages used by the framework tests (registered under test-only names)."""

from __future__ import annotations

import os
import time
from pathlib import Path

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


class Explodes(Operator):
    """A broken operator: raises inside the Spark Python worker (for the one-line error handler)."""

    name = "explodes"

    def process(self, batch: pa.RecordBatch) -> BatchResult:
        raise RuntimeError("explodes: the fixture stage failed on purpose")


class FileModelScore(Operator):
    """A "model" read from a file: documents shorter than the number in ``model_path`` are rejected
    (``below_model``). Stands in for a retrained classifier in the resume tests."""

    name = "file_model"

    def __init__(self, model_path: str):
        self.model_path = model_path
        self._min = int(Path(model_path).read_text().strip())

    def input_files(self) -> list[str]:
        return [self.model_path]

    def process(self, batch: pa.RecordBatch) -> BatchResult:
        texts = batch.column(S.TEXT).to_pylist()
        kept, rej = split_batch(batch, [None if len(t) >= self._min else "below_model" for t in texts])
        return BatchResult(kept, rej)


class WordListFilter(Operator):
    """A blacklist-like filter: rejects documents containing a word of the list file (``listed_word``)."""

    name = "word_list"

    def __init__(self, list_file: str):
        self.list_file = list_file
        self._words = Path(list_file).read_text().split()

    def input_files(self) -> list[str]:
        return [self.list_file]

    def process(self, batch: pa.RecordBatch) -> BatchResult:
        texts = batch.column(S.TEXT).to_pylist()
        kept, rej = split_batch(batch, [
            "listed_word" if any(w in t for w in self._words) else None for t in texts])
        return BatchResult(kept, rej)


class CountTokens(GlobalStage):
    """A tokenize-like global stage: counts the words of each document that are in a vocabulary
    directory's ``vocab.txt`` (column ``n_known``)."""

    name = "count_tokens"

    def __init__(self, tokenizer: str):
        self.tokenizer = tokenizer

    def input_files(self) -> list[str]:
        return [self.tokenizer]

    def output_fields(self) -> list[pa.Field]:
        return [pa.field("n_known", pa.int64())]

    def run(self, df, ctx) -> StageOutput:
        vocab = sorted(set((Path(self.tokenizer) / "vocab.txt").read_text().split()))
        known = F.size(F.filter(F.split(F.col(S.TEXT), " "), lambda w: w.isin(vocab)))
        return StageOutput(df.withColumn("n_known", known.cast("long")))


class ClusterProbe(Operator):
    """Where does the executor's Winnow come from? Counts rows whose ``pipeline`` package was imported
    from a zip archive (``probe/winnow_from_zip``) or not (``probe/winnow_not_from_zip``), and sleeps
    ``sleep_s`` per batch so a test can kill an executor while it runs. Passes every row through."""

    name = "cluster_probe"
    metrics = {"probe/winnow_from_zip": "rows processed by a worker whose pipeline package is in a zip",
               "probe/winnow_not_from_zip": "rows processed by a worker whose pipeline package is not in a zip",
               "probe/batches": "batches processed"}

    def __init__(self, sleep_s: float = 0.0, started_dir: str | None = None):
        self.sleep_s = sleep_s
        self.started_dir = started_dir

    def process(self, batch: pa.RecordBatch) -> BatchResult:
        import pipeline

        if self.started_dir:  # tells the test a task is running
            open(os.path.join(self.started_dir, f"{os.getpid()}-{time.time_ns()}"), "w").close()
        time.sleep(self.sleep_s)
        from_zip = ".zip" + os.sep in pipeline.__file__
        n = float(batch.num_rows)
        return BatchResult(batch, None, {"probe/winnow_from_zip": n if from_zip else 0.0,
                                         "probe/winnow_not_from_zip": 0.0 if from_zip else n,
                                         "probe/batches": 1.0})
