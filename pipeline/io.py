"""Readers (jsonl, jsonl.gz, jsonl.zst, Parquet; files, directories or globs) and the read stage.

Reading is itself an Arrow operator: the driver lists the input files and cuts them into read
tasks (a whole file, a byte range of a large plain .jsonl, or row groups of a Parquet file); Spark
hands each task to ``mapInArrow``, which streams documents out. Every record becomes a row: a
document, or a rejected row whose reason says what was wrong and where (``file:line``). A file
that is listed but not read is one rejected row (``file:0``); one that fails part-way is one
rejected row where reading stopped. Then one Spark step rejects ids already used by an earlier row.

Record reasons: ``bad_json``, ``bad_encoding``, ``bad_id``, ``missing_text``, ``empty_text``,
``too_large``, ``duplicate_id``, ``bad_record`` (anything else a record raised: a bug to report,
never a dead job). File reasons: ``empty_file``, ``bad_compression``, ``bad_parquet``,
``unreadable_file``, ``unsupported_file``.
"""

from __future__ import annotations

import errno
import fnmatch
import glob
import gzip
import hashlib
import io
import json
import logging
import math
import os
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from contract import schema as S
from contract.errors import InputError
from pipeline.config import InputConfig

log = logging.getLogger("winnow")

# What the read stage declares (see contract/metrics.py): it adds no column to the base schema.
READ_FIELDS: list[pa.Field] = []
READ_METRICS = {
    "records": "input records seen (every line of a jsonl file, every row of a Parquet file, every file "
               "listed but not read)",
    "blank_lines": "blank lines of jsonl files, skipped (not documents)",
    "files": "input files read or rejected (each counted by its first read task)",
}

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".jsonl.zstd", ".json.zst")
PARQUET_SUFFIXES = (".parquet",)
COMPRESSED_SUFFIXES = (".gz", ".zst", ".zstd")
# Names a folder walk does not read: Spark/Hadoop markers (_SUCCESS, _temporary/, .crc), editor and
# OS files. Skipping them is deliberate, so it is logged, not rejected.
HIDDEN_PREFIXES = ("_", ".")
UTF8_BOM = b"\xef\xbb\xbf"
READ_STAGE = "read"
# Reader-internal columns: where a row came from, so that the duplicate-id step keeps the first
# occurrence by input file order then position whatever the split. Dropped by read_dataframe.
FILE_INDEX = "_read_file"
POSITION = "_read_pos"  # byte offset of a jsonl line (decompressed), row number of a Parquet row
LOCATION = "_read_loc"  # "file:line", for the duplicate's reject_detail
ORDER_FIELDS = [pa.field(FILE_INDEX, pa.int32()), pa.field(POSITION, pa.int64()), pa.field(LOCATION, pa.string())]
# Rows of the reader's output: the document columns, the reject columns, the order columns, metrics.
READ_SCHEMA = pa.schema([*S.rejected_schema(S.BASE_SCHEMA), *ORDER_FIELDS, S.METRICS_FIELD])
TASK_SCHEMA = pa.schema(
    [pa.field("path", pa.string()), pa.field("start", pa.int64()), pa.field("end", pa.int64()),
     pa.field("fmt", pa.string()), pa.field("rel", pa.string()), pa.field("file_index", pa.int32()),
     pa.field("reason", pa.string()), pa.field("detail", pa.string())]
)
KEEP_TEXT_ON_REJECT = 2000  # characters of a bad record kept in rejected/ for a person to look at


@dataclass(frozen=True)
class ReadTask:
    path: str
    start: int = 0  # byte offset (jsonl) or first row group (parquet)
    end: int = -1  # exclusive byte offset / row group; -1 = to the end
    fmt: str = "jsonl"  # jsonl | parquet | unread (listed, not read: one rejected row)
    rel: str = ""  # path relative to its input root: what generated ids hash
    file_index: int = 0  # rank in the sorted input list: "first occurrence" follows it
    reason: str = ""  # fmt "unread": why
    detail: str = ""


@dataclass(frozen=True)
class InputFile:
    path: str  # absolute
    # Relative to the input root it was found under (a listed folder, a glob's fixed prefix, a named
    # file's folder): generated ids hash it, so same-named files of two folders differ and moving
    # the whole input keeps the ids.
    rel: str
    problem: tuple[str, str] | None = None  # (reason, detail): listed, but not to be opened


@dataclass
class InputListing:
    files: list[InputFile]  # sorted by path: the input file order
    skipped: list[tuple[str, str]]  # (path, why) deliberately not read: logged


def file_format(path: str, declared: str = "auto") -> str:
    if declared != "auto":
        return declared
    low = path.lower()
    if low.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if low.endswith(JSONL_SUFFIXES):
        return "jsonl"
    raise InputError(f"cannot tell the format of {path} (expected {', '.join(JSONL_SUFFIXES + PARQUET_SUFFIXES)})")


def list_inputs(paths: list[str], declared: str = "auto") -> InputListing:
    """Expand files, directories (recursive) and globs. A named path that does not exist, a named file
    of unknown format and a folder with nothing in it stop the job (InputError); inside a folder, a
    file that cannot be read is listed with its problem (a rejected row) and a hidden one is skipped."""
    found: dict[str, InputFile] = {}
    skipped: list[tuple[str, str]] = []
    for p in paths:
        magic = glob.has_magic(p)
        if not magic and not os.path.exists(p):
            why = f" ({_file_problem(p)[1]})" if os.path.islink(p) else ""  # a link to nothing, or a loop
            raise InputError(f"input path not found: {p}{why}")
        matches = sorted(glob.glob(p, recursive=True)) if magic else [p]
        if not matches:
            raise InputError(f"input path not found: {p}")
        root = _glob_root(p) if magic else p if os.path.isdir(p) else os.path.dirname(p) or "."
        for m in matches:
            if os.path.isdir(m):
                n_skipped = len(skipped)
                entries = list(_walk(m, skipped))
                if not entries:
                    n = len(skipped) - n_skipped
                    raise InputError(f"input directory has no jsonl/parquet files: {m}"
                                     + (f" ({n} hidden or symlinked entries skipped)" if n else ""))
            else:
                file_format(m, declared)  # a named file of unknown format: fail early
                entries = [(m, None)]
            for f, problem in entries:
                a = os.path.abspath(f)
                if a not in found:
                    problem = problem or _file_problem(a) or (_format_problem(a) if m != f else None)
                    found[a] = InputFile(a, os.path.relpath(a, os.path.abspath(root)), problem)
    return InputListing(sorted(found.values(), key=lambda f: f.path), skipped)


def list_input_files(paths: list[str], declared: str = "auto") -> list[str]:
    """Every listed input file (including those that will be rejected unread), sorted."""
    return [f.path for f in list_inputs(paths, declared).files]


def _glob_root(pattern: str) -> str:
    fixed = []
    for part in Path(pattern).parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return os.path.join(*fixed) if fixed else "."


def _walk(top: str, skipped: list[tuple[str, str]]) -> Iterator[tuple[str, tuple[str, str] | None]]:
    """Files under ``top`` (sorted), and folders that could not be listed with their problem."""
    unlisted: list[OSError] = []
    for folder, dirs, files in os.walk(top, onerror=unlisted.append):  # never follows folder links
        keep = []
        for d in sorted(dirs):
            full = os.path.join(folder, d)
            if d.startswith(HIDDEN_PREFIXES):
                skipped.append((full, "hidden folder(s) (name starts with '.' or '_')"))
            elif os.path.islink(full):  # followed, a link can loop or leave the input
                skipped.append((full, "symlinked folder(s), not followed"))
            else:
                keep.append(d)
        dirs[:] = keep
        for name in sorted(files):
            full = os.path.join(folder, name)
            if name.startswith(HIDDEN_PREFIXES):
                skipped.append((full, "hidden file(s) (name starts with '.' or '_')"))
            else:
                yield full, None
    for e in unlisted:
        yield e.filename, ("unreadable_file", f"cannot list folder: {e.strerror}")


def _file_problem(path: str) -> tuple[str, str] | None:
    """Why a listed file cannot be read, decided before anything opens it (opening a FIFO blocks)."""
    if not _utf8_ok(path):  # no row could name it, and Spark cannot carry it
        return "unsupported_file", "file name is not valid UTF-8"
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        return "unreadable_file", _stat_failure(path, e)
    if not stat.S_ISREG(mode):
        kinds = {stat.S_ISFIFO: "FIFO", stat.S_ISSOCK: "socket", stat.S_ISCHR: "character device",
                 stat.S_ISBLK: "block device", stat.S_ISDIR: "folder"}
        kind = next((k for test, k in kinds.items() if test(mode)), "special file")
        return "unsupported_file", f"not a regular file ({kind})"
    return None


def _format_problem(path: str) -> tuple[str, str] | None:
    """A file found in a folder that is not jsonl/Parquet by name (a named one stops the job instead)."""
    if path.lower().endswith(JSONL_SUFFIXES + PARQUET_SUFFIXES):
        return None
    suffix = "".join(Path(path).suffixes[-2:]) or "no extension"
    return "unsupported_file", f"not a readable format ({suffix}; readable: {', '.join(JSONL_SUFFIXES + PARQUET_SUFFIXES)})"


def _stat_failure(path: str, e: OSError) -> str:
    if e.errno == errno.ELOOP:
        return "symlink loop"
    if e.errno == errno.ENOENT and os.path.islink(path):
        return "dangling symlink"
    return e.strerror or str(e)


def plan_tasks(files: list[InputFile], cfg: InputConfig) -> list[ReadTask]:
    """Cut files into read tasks: large plain jsonl files by byte range, Parquet by row groups, a file
    with a problem into one task that rejects it unread."""
    tasks: list[ReadTask] = []
    for i, f in enumerate(files):
        if f.problem:
            reason, detail = f.problem
            tasks.append(ReadTask(_clean(f.path), fmt="unread", rel=_clean(f.rel), file_index=i,
                                  reason=reason, detail=detail))
            continue
        at = {"rel": f.rel, "file_index": i}
        fmt = file_format(f.path, cfg.format)
        if fmt == "parquet":
            try:
                n_groups = pq.ParquetFile(f.path).num_row_groups
            except Exception:  # unreadable footer: one task, which rejects the file (bad_parquet)
                n_groups = 1
            per_task = 8
            for g in range(0, max(n_groups, 1), per_task):
                tasks.append(ReadTask(f.path, g, min(g + per_task, n_groups), "parquet", **at))
            continue
        size = os.path.getsize(f.path)
        if f.path.lower().endswith((".jsonl", ".json", ".ndjson")) and size > cfg.split_bytes:
            for start in range(0, size, cfg.split_bytes):
                tasks.append(ReadTask(f.path, start, min(start + cfg.split_bytes, size), "jsonl", **at))
        else:
            tasks.append(ReadTask(f.path, 0, -1, "jsonl", **at))
    return tasks


def input_fingerprint(files: list[str], cfg: InputConfig) -> dict:
    """What the read stage's hash covers: the input config and each file's size and mtime (or the
    error stat gave, so that mending a broken link re-runs the read)."""
    from redaction import scrub_text

    def name(path: str) -> str:  # _SUCCESS is outside the PII stage: a path with PII is recorded
        scrubbed = scrub_text(path)  # scrubbed, plus 16 hex of its SHA-256 so a rename still re-runs
        return path if scrubbed == path else f"{scrubbed}#{hashlib.sha256(path.encode('utf-8', 'surrogateescape')).hexdigest()[:16]}"

    def stat_key(f: str) -> list:
        try:
            st = os.stat(f)
        except OSError as e:
            return [name(f), None, e.errno]
        return [name(f), st.st_size, st.st_mtime_ns]

    given = asdict(cfg)
    given["paths"] = [name(p) for p in cfg.paths]
    return {"input": given, "files": [stat_key(f) for f in files]}


def _open_binary(path: str):
    low = path.lower()
    if low.endswith(".gz"):
        return gzip.open(path, "rb")
    if low.endswith((".zst", ".zstd")):
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), read_across_frames=True))
    return open(path, "rb")


def _doc_id(rel: str, where: str, text: str) -> str:
    """Stable id when the input has none: a content hash plus where the record was read."""
    h = hashlib.blake2b(digest_size=10)
    h.update(rel.encode("utf-8", "surrogatepass"))
    h.update(where.encode())
    h.update(b"\0")
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def _utf8_ok(s: str) -> bool:
    """False for a string Arrow cannot store: a lone surrogate (JSON ``"\\ud800"``, an undecodable
    file name)."""
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _clean(s: str) -> str:
    """``s`` with lone surrogates spelled out (``\\udcff``): for reject rows, which must always store."""
    return s if _utf8_ok(s) else s.encode("utf-8", "backslashreplace").decode("utf-8")


def _preview(raw: bytes | dict | str) -> str:
    """What a rejected record keeps for a person to look at: its first characters."""
    if isinstance(raw, bytes):
        return raw[: 4 * KEEP_TEXT_ON_REJECT].decode("utf-8", "backslashreplace")[:KEEP_TEXT_ON_REJECT]
    if isinstance(raw, dict):
        try:
            raw = json.dumps(raw, default=str, ensure_ascii=False)
        except Exception:  # too deep, or what else a Parquet row may hold
            raw = repr(raw)
    return raw[:KEEP_TEXT_ON_REJECT]


def _finite(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def _meta_json(meta: dict) -> str:
    """``meta`` as JSON. NaN and +-Infinity (Python's json reads them, 1e999 overflows to one, Parquet
    floats hold them) are not JSON: they become null, and the record is kept."""
    try:
        return json.dumps(meta, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(meta), ensure_ascii=False, default=str, allow_nan=False)


def _json_error(e: Exception) -> str:
    if isinstance(e, json.JSONDecodeError):
        return f"{e.msg} at column {e.colno}"
    if isinstance(e, RecursionError):
        return "nested too deeply to parse"
    return str(e).split(";")[0]  # e.g. an integer over Python's digit limit


class Rejected(Exception):
    """Raised while turning a record into a row: the record becomes a rejected row with this reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


class _Rows:
    """Column buffers for the reader's output batch. A row that Arrow could not store is refused
    here, before anything is buffered, so a flush never fails on a record."""

    def __init__(self):
        self.cols: dict[str, list] = {f.name: [] for f in READ_SCHEMA}

    def add(self, id_, text, source, meta, at: tuple[int, int, str], reason=None, detail=None):
        for column, value in ((S.ID, id_), (S.TEXT, text), (S.SOURCE, source), (S.META, meta)):
            if not _utf8_ok(value):
                raise Rejected("bad_encoding", f"lone surrogate (\\ud800-\\udfff escape without its pair) in {column}")
        c = self.cols
        c[S.ID].append(id_)
        c[S.TEXT].append(text)
        c[S.SOURCE].append(source)
        c[S.META].append(meta)
        c[S.REJECT_STAGE].append(READ_STAGE if reason else None)
        c[S.REJECT_REASON].append(reason)
        c[S.REJECT_DETAIL].append(detail)
        c[FILE_INDEX].append(at[0])
        c[POSITION].append(at[1])
        c[LOCATION].append(at[2])
        c[S.METRICS].append(None)

    def __len__(self):
        return len(self.cols[S.ID])

    def flush(self, metrics: dict[str, float] | None = None) -> pa.RecordBatch:
        if metrics and len(self):
            self.cols[S.METRICS][0] = list(metrics.items())
        batch = pa.RecordBatch.from_pydict(self.cols, schema=READ_SCHEMA)
        self.__init__()
        return batch


def source_name(path: str) -> str:
    """A file's default source: its name without the format's suffix."""
    name = os.path.basename(path)
    for suf in sorted(JSONL_SUFFIXES + PARQUET_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return name


def kind_for_path(path: str, kinds: dict[str, str]) -> str | None:
    """The ``input.kinds`` entry for an (absolute) input file: the first pattern that names the file,
    a folder above it, or matches it as a shell pattern (``*`` also crosses folders); None if none."""
    for pattern, kind in kinds.items():
        pat = os.path.abspath(pattern)
        if path == pat or path.startswith(pat.rstrip(os.sep) + os.sep) or fnmatch.fnmatchcase(path, pat):
            return kind
    return None


class RecordParser:
    """One input record of a task (raw bytes of a line, or a decoded mapping) -> one row of the read
    stage. Whatever a record raises ends as that record's rejected row: no record stops the task."""

    def __init__(self, cfg: InputConfig, task: ReadTask):
        self.cfg = cfg
        self.task = task
        self.path = _clean(task.path)  # what rows say; task.path is what is opened
        self.source = _clean(cfg.source or source_name(task.path))
        # The input config's kind for this file: meta["kind"] (replacing a record's own "kind" field).
        self.kind = kind_for_path(task.path, cfg.kinds) if cfg.kinds else None

    def _at(self, where: str, pos: int) -> tuple[int, int, str]:
        return self.task.file_index, pos, f"{self.path}:{where}"

    def reject(self, rows: _Rows, where: str, pos: int, reason: str, detail: str, raw: str = "") -> None:
        raw = _clean(raw[:KEEP_TEXT_ON_REJECT])
        rows.add(_doc_id(self.task.rel, where, raw), raw, self.source,
                 json.dumps({"file": self.path, "line": where}), self._at(where, pos), reason,
                 f"{self.path}:{where}: {_clean(detail)}")

    def add_line(self, rows: _Rows, where: str, pos: int, raw: bytes) -> None:
        try:
            self._add(rows, where, pos, self._parse(raw), sized=True)
        except Exception as e:
            self._failed(rows, where, pos, e, raw)

    def add_record(self, rows: _Rows, where: str, pos: int, rec: dict) -> None:
        try:
            self._add(rows, where, pos, rec, sized=False)
        except Exception as e:
            self._failed(rows, where, pos, e, rec)

    def _failed(self, rows: _Rows, where: str, pos: int, e: Exception, raw: bytes | dict) -> None:
        reason, detail = (e.reason, e.detail) if isinstance(e, Rejected) else ("bad_record", f"{type(e).__name__}: {e}")
        self.reject(rows, where, pos, reason, detail, _preview(raw))

    def _parse(self, raw: bytes) -> dict:
        if len(raw) > self.cfg.max_doc_bytes:
            raise Rejected("too_large", f"{len(raw)} bytes > max_doc_bytes={self.cfg.max_doc_bytes}")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Rejected("bad_encoding", f"invalid UTF-8 at byte {e.start}") from None
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError) as e:  # JSONDecodeError, a 5,000-digit integer, 10,000-deep nesting
            raise Rejected("bad_json", _json_error(e)) from None
        if not isinstance(rec, dict):
            raise Rejected("bad_json", f"expected a JSON object, got {type(rec).__name__}")
        return rec

    def _add(self, rows: _Rows, where: str, pos: int, rec: dict, sized: bool) -> None:
        cfg = self.cfg
        text = rec.get(cfg.text_field)
        if text is None or not isinstance(text, str):
            got = "missing" if cfg.text_field not in rec else f"{type(text).__name__}, not a string"
            raise Rejected("missing_text", f"field {cfg.text_field!r} is {got}")
        if not sized and len(text.encode("utf-8", "surrogatepass")) > cfg.max_doc_bytes:
            raise Rejected("too_large", f"text over max_doc_bytes={cfg.max_doc_bytes}")
        id_ = self._id(rec, where, text)
        source = cfg.source or rec.get(cfg.source_field) or self.source
        meta = {k: v for k, v in rec.items() if k not in (cfg.text_field, cfg.id_field, cfg.source_field)}
        if self.kind:
            meta["kind"] = self.kind
        meta["file"] = self.path
        meta["line"] = where
        empty = not text.strip()
        rows.add(id_, text, str(source), _meta_json(meta), self._at(where, pos),
                 "empty_text" if empty else None,
                 f"{self.path}:{where}: text is empty or whitespace" if empty else None)

    def _id(self, rec: dict, where: str, text: str) -> str:
        """The id field as a string (an integer as its decimal digits); a generated, stable hash when it
        is missing, null or "". A float (1.5 would silently become "1.5", 1e20 loses digits), a
        boolean, an array or an object is ``bad_id``."""
        rid = rec.get(self.cfg.id_field)
        if rid is None or rid == "":
            return _doc_id(self.task.rel, where, text)
        if isinstance(rid, str):
            return rid
        if isinstance(rid, int) and not isinstance(rid, bool):
            return str(rid)
        kind = {bool: "a boolean", float: "a float", list: "an array", dict: "an object"}.get(type(rid),
                                                                                           type(rid).__name__)
        raise Rejected("bad_id", f"field {self.cfg.id_field!r} is {kind} ({json.dumps(rid, default=str)[:40]}); "
                                 "ids are strings or integers")


class _TaskReader:
    """One read task -> read-stage batches. A record's failure is its own rejected row (RecordParser);
    a failure of the file itself (I/O, decompression, Parquet structure) ends the task with one
    rejected row where reading stopped. Every record counted in ``records`` is exactly one row."""

    def __init__(self, task: ReadTask, cfg: InputConfig, batch_rows: int):
        self.task, self.cfg, self.batch_rows = task, cfg, batch_rows
        self.rows = _Rows()
        self.parser = RecordParser(cfg, task)
        self.metrics = {"records": 0.0, "blank_lines": 0.0, "files": 1.0 if task.start == 0 else 0.0}
        self.stopped = ("after line 0" if task.fmt == "jsonl" else "after row 0") if task.start == 0 \
            else f"@{task.start}"  # where a failure of the file is reported
        self.pos = task.start

    def count(self, key: str) -> None:
        self.metrics[key] = self.metrics.get(key, 0.0) + 1

    def take(self) -> pa.RecordBatch:
        """The buffered rows; metrics ride on the first row, so they wait for a batch with rows."""
        attach = len(self.rows) > 0
        batch = self.rows.flush(self.metrics if attach else None)
        if attach:
            self.metrics = {}
        return batch

    def batches(self) -> Iterator[pa.RecordBatch]:
        task, parser = self.task, self.parser
        try:
            if task.fmt == "unread":
                self.count("records")
                parser.reject(self.rows, "0", 0, task.reason, task.detail)
            elif task.fmt == "parquet":
                yield from self._parquet()
            else:
                yield from self._jsonl()
        except Exception as e:  # the file failed, not a record (those never leave RecordParser)
            self.count("records")
            parser.reject(self.rows, self.stopped, self.pos, _file_failure(task, e), f"{type(e).__name__}: {e}")
        if len(self.rows):
            yield self.take()

    def _jsonl(self) -> Iterator[pa.RecordBatch]:
        task, cfg, parser, rows = self.task, self.cfg, self.parser, self.rows
        line_no = 0
        with _open_binary(task.path) as fh:
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
                at, pos = pos, pos + len(raw) + rest
                self.pos, self.stopped = pos, f"after line {line_no}" if task.start == 0 else f"@{pos}"
                if at == 0 and raw.startswith(UTF8_BOM):  # marks the encoding; not part of the record
                    raw = raw[len(UTF8_BOM):]
                if not raw.strip():
                    self.count("blank_lines")
                    continue
                self.count("records")
                if over:
                    parser.reject(rows, where, at, "too_large",
                                  f"{len(raw) + rest - newline} bytes > max_doc_bytes={cfg.max_doc_bytes}",
                                  _preview(raw))
                else:
                    parser.add_line(rows, where, at, raw.rstrip(b"\r\n"))
                if len(rows) >= self.batch_rows:
                    yield self.take()
        if task.start == 0 and line_no == 0:
            self.count("records")
            parser.reject(rows, "0", 0, "empty_file", "file has no records")

    def _parquet(self) -> Iterator[pa.RecordBatch]:
        task, parser, rows = self.task, self.parser, self.rows
        with pq.ParquetFile(task.path) as pf:
            end = task.end if task.end >= 0 else pf.num_row_groups
            row_no = sum(pf.metadata.row_group(g).num_rows for g in range(task.start))
            self.stopped = f"after row {row_no}"
            groups = list(range(task.start, end))
            if not groups or pf.metadata.num_rows == 0:
                if task.start == 0:
                    self.count("records")
                    parser.reject(rows, "0", 0, "empty_file", "file has no records")
                return
            for batch in pf.iter_batches(batch_size=self.batch_rows, row_groups=groups):
                for rec in _batch_records(batch):
                    row_no += 1
                    self.pos, self.stopped = row_no, f"after row {row_no}"
                    self.count("records")
                    if isinstance(rec, Exception):
                        reason = "bad_encoding" if isinstance(rec, UnicodeDecodeError) else "bad_record"
                        parser.reject(rows, f"row{row_no}", row_no, reason, f"{type(rec).__name__}: {rec}")
                    else:
                        parser.add_record(rows, f"row{row_no}", row_no, rec)
                yield self.take()


def _batch_records(batch: pa.RecordBatch) -> list:
    """A Parquet batch's rows as dicts; a row Arrow cannot turn into Python (invalid UTF-8 in a
    string column) comes back as its exception, so that only that row is rejected."""
    try:
        return batch.to_pylist()
    except Exception:
        out: list = []
        for i in range(batch.num_rows):
            try:
                out.append(batch.slice(i, 1).to_pylist()[0])
            except Exception as e:
                out.append(e)
        return out


def _file_failure(task: ReadTask, e: Exception) -> str:
    """The reason for a file that failed part-way: the OS refused it, or its content is broken."""
    if isinstance(e, OSError) and e.errno is not None:  # permissions, I/O error, vanished
        return "unreadable_file"
    if task.fmt == "parquet":
        return "bad_parquet"
    if task.path.lower().endswith(COMPRESSED_SUFFIXES):
        return "bad_compression"  # truncated gzip, bad zstd frame, not gzip at all
    return "unreadable_file"


def read_task(task: ReadTask, cfg: InputConfig, batch_rows: int = 1024) -> Iterator[pa.RecordBatch]:
    """Stream one task's records as read-stage batches (documents and rejected rows)."""
    return _TaskReader(task, cfg, batch_rows).batches()


def read_tasks_batches(batches, cfg: InputConfig, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: task rows in, document rows out."""
    for tb in batches:
        for t in tb.to_pylist():
            yield from read_task(ReadTask(**t), cfg, batch_rows)


def _log_skipped(skipped: list[tuple[str, str]]) -> None:
    by_why: dict[str, list[str]] = {}
    for path, why in skipped:
        by_why.setdefault(why, []).append(_clean(path))
    for why, paths in by_why.items():
        more = f" (+{len(paths) - 10} more)" if len(paths) > 10 else ""
        log.warning("read: skipped %d %s: %s%s", len(paths), why, ", ".join(paths[:10]), more)


# Up to this many duplicate ids are broadcast to every task; more are joined with a shuffle.
BROADCAST_DUPLICATES = 1_000_000


def _reject_duplicate_ids(rows):
    """A kept row whose id an earlier kept row already has becomes a rejected ``duplicate_id`` row.
    "Earlier" is input file order, then position in the file: data only, so the same row wins
    whatever the split or partition count. Dedup and the shards need unique ids.

    Only the ids and locations are shuffled (never the text): the duplicates are found on that
    projection, and the rows are marked by a join with them, broadcast when they are few. With no
    duplicate id (the usual case) the rows pass untouched. ``rows`` is read twice: cache it."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = Window.partitionBy(S.ID).orderBy(FILE_INDEX, POSITION)
    dups = (rows.filter(F.col(S.REJECT_REASON).isNull()).select(S.ID, FILE_INDEX, POSITION, LOCATION)
            .withColumn("_first_loc", F.first(LOCATION).over(w)).withColumn("_rank", F.row_number().over(w))
            .filter(F.col("_rank") > 1).select(S.ID, FILE_INDEX, POSITION, "_first_loc"))
    n_dups = dups.count()  # ids only, from the cached rows: cheap to compute again for the join
    order_cols = [f.name for f in ORDER_FIELDS]
    if n_dups == 0:
        return rows.drop(*order_cols)
    df = rows.join(F.broadcast(dups) if n_dups <= BROADCAST_DUPLICATES else dups, [S.ID, FILE_INDEX, POSITION], "left")
    is_dup = F.col("_first_loc").isNotNull()
    detail = F.concat(F.col(LOCATION), F.lit(": duplicate id '"), F.col(S.ID), F.lit("', first used at "),
                      F.col("_first_loc"))
    return df \
        .withColumn(S.REJECT_STAGE, F.when(is_dup, F.lit(READ_STAGE)).otherwise(F.col(S.REJECT_STAGE))) \
        .withColumn(S.REJECT_DETAIL, F.when(is_dup, detail).otherwise(F.col(S.REJECT_DETAIL))) \
        .withColumn(S.REJECT_REASON, F.when(is_dup, F.lit("duplicate_id")).otherwise(F.col(S.REJECT_REASON))) \
        .select(*[c for c in rows.columns if c not in order_cols])


def read_dataframe(spark, cfg: InputConfig, batch_rows: int = 1024):
    """The read stage's output DataFrame (documents + rejected rows + metrics), one task a partition,
    then the duplicate-id step (a shuffle of ids only). Returns (rows, input files, the cached
    DataFrame the caller unpersists once it has written the stage)."""
    from pyspark import StorageLevel
    from pyspark.sql.pandas.types import from_arrow_schema

    listing = list_inputs(cfg.paths, cfg.format)
    _log_skipped(listing.skipped)
    tasks = plan_tasks(listing.files, cfg)
    task_rows = [asdict(t) for t in tasks]
    rdd = spark.sparkContext.parallelize(task_rows, max(1, len(task_rows)))
    tasks_df = spark.createDataFrame(rdd, from_arrow_schema(TASK_SCHEMA))
    rows = tasks_df.mapInArrow(lambda it: read_tasks_batches(it, cfg, batch_rows), from_arrow_schema(READ_SCHEMA))
    rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
    return _reject_duplicate_ids(rows), [f.path for f in listing.files], rows


def read_local(cfg: InputConfig) -> pa.Table:
    """The reader's rows without Spark (tests, benchmarks): every reason but ``duplicate_id``, which
    needs all rows at once (read_dataframe); the order columns are still there."""
    listing = list_inputs(cfg.paths, cfg.format)
    _log_skipped(listing.skipped)
    batches = [b for t in plan_tasks(listing.files, cfg) for b in read_task(t, cfg)]
    return pa.Table.from_batches(batches, schema=READ_SCHEMA)
