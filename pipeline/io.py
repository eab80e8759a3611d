"""Readers (jsonl, jsonl.gz, jsonl.zst, Parquet; files, directories or globs) and the read stage.

Reading is itself an Arrow operator: the driver lists the input files and cuts them into read
tasks (a whole file, a byte range of a large plain .jsonl, or row groups of a Parquet file); Spark
hands each task to ``mapInArrow``, which streams documents out. Every record becomes a row: a
document, or a rejected row whose reason says what was wrong and where (``file:line``).

Reasons: ``bad_json``, ``bad_encoding``, ``missing_text``, ``empty_text``, ``too_large``,
``empty_file``, ``bad_compression``, ``unreadable_file``.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from contract import schema as S
from contract.errors import InputError
from pipeline.config import InputConfig

# What the read stage declares (see contract/metrics.py): it adds no column to the base schema.
READ_FIELDS: list[pa.Field] = []
READ_METRICS = {
    "records": "input records seen (every line of a jsonl file, every row of a Parquet file)",
    "blank_lines": "blank lines of jsonl files, skipped (not documents)",
}

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".jsonl.zstd", ".json.zst")
PARQUET_SUFFIXES = (".parquet",)
READ_STAGE = "read"
# Rows of the read stage's output: the document columns plus the reject columns.
READ_SCHEMA = S.rejected_schema(S.BASE_SCHEMA).append(S.METRICS_FIELD)
TASK_SCHEMA = pa.schema(
    [pa.field("path", pa.string()), pa.field("start", pa.int64()), pa.field("end", pa.int64()),
     pa.field("fmt", pa.string())]
)
KEEP_TEXT_ON_REJECT = 2000  # characters of a bad record kept in rejected/ for a person to look at


@dataclass(frozen=True)
class ReadTask:
    path: str
    start: int = 0  # byte offset (jsonl) or first row group (parquet)
    end: int = -1  # exclusive byte offset / row group; -1 = to the end
    fmt: str = "jsonl"


def file_format(path: str, declared: str = "auto") -> str:
    if declared != "auto":
        return declared
    low = path.lower()
    if low.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if low.endswith(JSONL_SUFFIXES):
        return "jsonl"
    raise InputError(f"cannot tell the format of {path} (expected {', '.join(JSONL_SUFFIXES + PARQUET_SUFFIXES)})")


def list_input_files(paths: list[str], declared: str = "auto") -> list[str]:
    """Expand files, directories (recursive) and globs, sorted; a path matching nothing is an error."""
    out: list[str] = []
    for p in paths:
        matches = sorted(glob.glob(p, recursive=True)) if glob.has_magic(p) else ([p] if os.path.exists(p) else [])
        if not matches:
            raise InputError(f"input path not found: {p}")
        for m in matches:
            if os.path.isdir(m):
                found = sorted(
                    str(f) for f in Path(m).rglob("*")
                    if f.is_file() and not f.name.startswith(("_", ".")) and f.name.lower().endswith(JSONL_SUFFIXES + PARQUET_SUFFIXES)
                )
                if not found:
                    raise InputError(f"input directory has no jsonl/parquet files: {m}")
                out.extend(found)
            else:
                file_format(m, declared)  # fail early on an unknown extension
                out.append(m)
    return sorted(dict.fromkeys(os.path.abspath(f) for f in out))


def plan_tasks(files: list[str], cfg: InputConfig) -> list[ReadTask]:
    """Cut files into read tasks: large plain jsonl files by byte range, Parquet by row groups."""
    tasks: list[ReadTask] = []
    for f in files:
        fmt = file_format(f, cfg.format)
        if fmt == "parquet":
            try:
                n_groups = pq.ParquetFile(f).num_row_groups
            except Exception:  # unreadable footer: one task, which reports the file as rejected
                n_groups = 1
            per_task = 8
            for g in range(0, max(n_groups, 1), per_task):
                tasks.append(ReadTask(f, g, min(g + per_task, n_groups), "parquet"))
            continue
        size = os.path.getsize(f)
        if f.lower().endswith((".jsonl", ".json", ".ndjson")) and size > cfg.split_bytes:
            for start in range(0, size, cfg.split_bytes):
                tasks.append(ReadTask(f, start, min(start + cfg.split_bytes, size), "jsonl"))
        else:
            tasks.append(ReadTask(f, 0, -1, "jsonl"))
    return tasks


def input_fingerprint(files: list[str], cfg: InputConfig) -> dict:
    """What the read stage's hash covers: the input config and each file's size and mtime."""
    return {
        "input": asdict(cfg),
        "files": [[f, os.path.getsize(f), os.stat(f).st_mtime_ns] for f in files],
    }


def _open_binary(path: str):
    low = path.lower()
    if low.endswith(".gz"):
        return gzip.open(path, "rb")
    if low.endswith((".zst", ".zstd")):
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), read_across_frames=True))
    return open(path, "rb")


def _doc_id(source_file: str, where: str, text: str) -> str:
    """Stable id when the input has none: a content hash plus where the record was read."""
    h = hashlib.blake2b(digest_size=10)
    h.update(os.path.basename(source_file).encode())
    h.update(where.encode())
    h.update(b"\0")
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


class _Rows:
    """Column buffers for the read stage's output batch."""

    def __init__(self):
        self.cols: dict[str, list] = {f.name: [] for f in READ_SCHEMA}

    def add(self, id_, text, source, meta, reason=None, detail=None):
        c = self.cols
        c[S.ID].append(id_)
        c[S.TEXT].append(text)
        c[S.SOURCE].append(source)
        c[S.META].append(meta)
        c[S.REJECT_STAGE].append(READ_STAGE if reason else None)
        c[S.REJECT_REASON].append(reason)
        c[S.REJECT_DETAIL].append(detail)
        c[S.METRICS].append(None)

    def __len__(self):
        return len(self.cols[S.ID])

    def flush(self, metrics: dict[str, float] | None = None) -> pa.RecordBatch:
        if metrics and len(self):
            self.cols[S.METRICS][0] = list(metrics.items())
        batch = pa.RecordBatch.from_pydict(self.cols, schema=READ_SCHEMA)
        self.__init__()
        return batch


class RecordParser:
    """One input record (raw bytes of a line, or a decoded mapping) -> a row of the read stage."""

    def __init__(self, cfg: InputConfig):
        self.cfg = cfg

    def source_for(self, path: str) -> str:
        name = os.path.basename(path)
        for suf in sorted(JSONL_SUFFIXES + PARQUET_SUFFIXES, key=len, reverse=True):
            if name.lower().endswith(suf):
                return name[: -len(suf)]
        return name

    def reject(self, rows: _Rows, path: str, where: str, reason: str, detail: str, raw: str = "") -> None:
        loc = f"{path}:{where}"
        rows.add(_doc_id(path, where, raw), raw[:KEEP_TEXT_ON_REJECT], self.cfg.source or self.source_for(path),
                 json.dumps({"file": path, "line": where}), reason, f"{loc}: {detail}")

    def add_line(self, rows: _Rows, path: str, where: str, raw: bytes) -> None:
        cfg = self.cfg
        if len(raw) > cfg.max_doc_bytes:
            self.reject(rows, path, where, "too_large", f"{len(raw)} bytes > max_doc_bytes={cfg.max_doc_bytes}",
                        raw[:KEEP_TEXT_ON_REJECT].decode("utf-8", "replace"))
            return
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            self.reject(rows, path, where, "bad_encoding", f"invalid UTF-8 at byte {e.start}",
                        raw.decode("utf-8", "backslashreplace"))
            return
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            self.reject(rows, path, where, "bad_json", f"{e.msg} at column {e.colno}", line)
            return
        if not isinstance(rec, dict):
            self.reject(rows, path, where, "bad_json", f"expected a JSON object, got {type(rec).__name__}", line)
            return
        self.add_record(rows, path, where, rec, raw_text=line)

    def add_record(self, rows: _Rows, path: str, where: str, rec: dict, raw_text: str | None = None) -> None:
        cfg = self.cfg
        text = rec.get(cfg.text_field)
        if text is None or not isinstance(text, str):
            got = "missing" if cfg.text_field not in rec else f"{type(text).__name__}, not a string"
            raw = raw_text if raw_text is not None else json.dumps(rec, default=str, ensure_ascii=False)
            self.reject(rows, path, where, "missing_text", f"field {cfg.text_field!r} is {got}", raw)
            return
        if raw_text is None and len(text.encode("utf-8", "surrogatepass")) > cfg.max_doc_bytes:
            self.reject(rows, path, where, "too_large", f"text over max_doc_bytes={cfg.max_doc_bytes}", text)
            return
        if "\ud800" <= max(text, default="\0") and any("\ud800" <= ch <= "\udfff" for ch in text):
            self.reject(rows, path, where, "bad_encoding", "lone surrogate in text",
                        text.encode("utf-8", "backslashreplace").decode())
            return
        source = cfg.source or rec.get(cfg.source_field) or self.source_for(path)
        rid = rec.get(cfg.id_field)
        id_ = str(rid) if isinstance(rid, (str, int)) and str(rid) else _doc_id(path, where, text)
        meta = {k: v for k, v in rec.items() if k not in (cfg.text_field, cfg.id_field, cfg.source_field)}
        meta["file"] = path
        meta["line"] = where
        meta_json = json.dumps(meta, ensure_ascii=False, default=str)
        if not text.strip():
            rows.add(id_, text, str(source), meta_json, "empty_text", f"{path}:{where}: text is empty or whitespace")
            return
        rows.add(id_, text, str(source), meta_json)


def read_task(task: ReadTask, cfg: InputConfig, batch_rows: int = 1024) -> Iterator[pa.RecordBatch]:
    """Stream one task's records as read-stage batches (documents and rejected rows)."""
    rows = _Rows()
    parser = RecordParser(cfg)
    metrics = {"records": 0.0, "blank_lines": 0.0, "files": 1.0 if task.start == 0 else 0.0}
    path = task.path
    line_no = 0

    def flush():
        nonlocal metrics
        batch = rows.flush(metrics)
        metrics = {}
        return batch

    try:
        if task.fmt == "parquet":
            yield from _read_parquet(task, parser, rows, metrics, batch_rows)
            return
        with _open_binary(path) as fh:
            pos = 0
            if task.start > 0:
                # A range owns the lines that start inside it: skip to the first line start >= start.
                fh.seek(task.start - 1)
                fh.readline()
                pos = fh.tell()
            while task.end < 0 or pos < task.end:
                raw = fh.readline(cfg.max_doc_bytes + 2)
                if not raw:
                    break
                over = len(raw) > cfg.max_doc_bytes and not raw.endswith(b"\n")
                rest = newline = 0
                if over:  # skip the rest of an oversized line without holding it in memory
                    while chunk := fh.readline(1 << 20):
                        rest += len(chunk)
                        if chunk.endswith(b"\n"):
                            newline = 1
                            break
                line_no += 1
                where = str(line_no) if task.start == 0 else f"@{pos}"
                pos += len(raw) + rest
                if not raw.strip():
                    metrics["blank_lines"] = metrics.get("blank_lines", 0.0) + 1
                    continue
                metrics["records"] = metrics.get("records", 0.0) + 1
                if over:
                    parser.reject(rows, path, where, "too_large",
                                  f"{len(raw) + rest - newline} bytes > max_doc_bytes={cfg.max_doc_bytes}",
                                  raw[:KEEP_TEXT_ON_REJECT].decode("utf-8", "replace"))
                else:
                    parser.add_line(rows, path, where, raw.rstrip(b"\r\n"))
                if len(rows) >= batch_rows:
                    yield flush()
            if task.start == 0 and line_no == 0:
                metrics["records"] = metrics.get("records", 0.0) + 1
                parser.reject(rows, path, "0", "empty_file", "file has no records")
    except (OSError, EOFError, zlib.error, ValueError) as e:
        kind = "unreadable_file" if isinstance(e, (FileNotFoundError, PermissionError, IsADirectoryError)) else "bad_compression"
        metrics["records"] = metrics.get("records", 0.0) + 1
        parser.reject(rows, path, f"after line {line_no}", kind, f"{type(e).__name__}: {e}")
    except Exception as e:  # zstandard.ZstdError and friends
        metrics["records"] = metrics.get("records", 0.0) + 1
        parser.reject(rows, path, f"after line {line_no}", "bad_compression", f"{type(e).__name__}: {e}")
    if len(rows) or metrics:
        yield flush()


def _read_parquet(task: ReadTask, parser: RecordParser, rows: _Rows, metrics: dict, batch_rows: int):
    pf = pq.ParquetFile(task.path)
    end = task.end if task.end >= 0 else pf.num_row_groups
    row_no = sum(pf.metadata.row_group(g).num_rows for g in range(task.start))
    groups = list(range(task.start, end))
    if not groups or pf.metadata.num_rows == 0:
        if task.start == 0:
            metrics["records"] = metrics.get("records", 0.0) + 1
            parser.reject(rows, task.path, "0", "empty_file", "file has no records")
            yield rows.flush(metrics)
        return
    for batch in pf.iter_batches(batch_size=batch_rows, row_groups=groups):
        for rec in batch.to_pylist():
            row_no += 1
            metrics["records"] = metrics.get("records", 0.0) + 1
            parser.add_record(rows, task.path, f"row{row_no}", rec)
        batch_out = rows.flush(metrics)
        metrics.clear()
        yield batch_out


def read_tasks_batches(batches, cfg: InputConfig, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: task rows in, document rows out."""
    for tb in batches:
        for t in tb.to_pylist():
            yield from read_task(ReadTask(**t), cfg, batch_rows)


def read_dataframe(spark, cfg: InputConfig, batch_rows: int = 1024):
    """The read stage's output DataFrame (documents + rejected rows + metrics), one task a partition."""
    from pyspark.sql.pandas.types import from_arrow_schema

    files = list_input_files(cfg.paths, cfg.format)
    tasks = plan_tasks(files, cfg)
    task_rows = [asdict(t) for t in tasks]
    rdd = spark.sparkContext.parallelize(task_rows, max(1, len(task_rows)))
    tasks_df = spark.createDataFrame(rdd, from_arrow_schema(TASK_SCHEMA))
    return tasks_df.mapInArrow(
        lambda it: read_tasks_batches(it, cfg, batch_rows), from_arrow_schema(READ_SCHEMA)
    ), files


def read_local(cfg: InputConfig) -> pa.Table:
    """The same rows without Spark (tests, benchmarks)."""
    files = list_input_files(cfg.paths, cfg.format)
    batches = [b for t in plan_tasks(files, cfg) for b in read_task(t, cfg)]
    return pa.Table.from_batches(batches, schema=READ_SCHEMA)
