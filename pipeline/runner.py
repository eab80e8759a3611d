"""The stage runner: every stage's output layout, conservation check, resume and atomic output.

::

    <workdir>/<NN>-<stage>/kept/part-*.parquet
    <workdir>/<NN>-<stage>/rejected/part-*.parquet   # + reject_stage, reject_reason, reject_detail
    <workdir>/<NN>-<stage>/samples/rejected.jsonl    # up to N scrubbed rejects per reason
    <workdir>/<NN>-<stage>/stats.json
    <workdir>/<NN>-<stage>/_SUCCESS                  # {"hash": ..., "basis": ...}: what the hash covers
    <workdir>/.winnow.lock                           # held by the running job (host, pid)

A stage is written under ``<workdir>/.tmp-<NN>-<stage>-<uuid>`` and renamed into place only once
it is complete and its counts add up, so a killed job never leaves a finished-looking stage.

Consecutive row-local stages run fused, in one pass over their input (``fusion_groups``,
``_run_fused``): each still writes its rejected/, samples, stats.json and ``_SUCCESS``; only the
group's last stage writes kept/, and a group re-runs from its first stage. ``materialize: true`` in
the config runs every stage alone (docs/architecture.md, "Fused row-local stages").

A stage's hash covers its effective inputs: the previous stage's hash, its type, class and behaviour
``version``, its parameters after defaults (``stage.params()``), the seed, and the content fingerprint
of every file it reads (``stage.input_files()``: models, word lists, tokenizers, reference data). A
stage whose ``_SUCCESS`` holds the same hash is skipped; anything else re-runs it and every later one.

One run at a time per workdir: ``<workdir>/.winnow.lock`` is held with ``fcntl.flock`` for the whole
run, so a second run stops at once (``WorkdirLockedError``) instead of deleting the first one's
half-written stage.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract import schema as S
from contract.errors import ConfigError, ConservationError, WorkdirLockedError
from contract.operator import Chain, GlobalStage, Operator, Stage, StageContext, StageOutput
from pipeline import __version__
from pipeline.config import PipelineConfig, StageConfig, stable_json
from pipeline.declarations import check_declarations, declaration
from pipeline.io import READ_FIELDS, READ_METRICS
from pipeline.registry import build_stage
from pipeline.samples import pick_rejected, write_samples
from redaction import scrub_text

log = logging.getLogger("winnow")
SUCCESS = "_SUCCESS"
LOCK_FILE = ".winnow.lock"
# The reader's behaviour version (the implicit read stage has no Stage class): bump it when the same
# input files read differently.
READ_VERSION = "1"
# A note the runner adds to an exception raised while a stage runs (read by jobs/run_pipeline.py).
STAGE_NOTE = "winnow stage: "
# Files up to this size are hashed whole; larger ones by size, mtime and their first and last MiB.
FULL_HASH_BYTES = 64 * 1024 * 1024
EDGE_BYTES = 1024 * 1024


def say(msg: str) -> None:
    """Progress line on the console (flushed, so it interleaves with Spark's progress bar)."""
    print(f"[winnow] {msg}", flush=True)


@dataclass
class StageResult:
    name: str
    dir: Path
    skipped: bool
    stats: dict[str, Any]


def stage_dirname(index: int, name: str) -> str:
    return f"{index:02d}-{name}"


def _hash(obj: Any) -> str:
    return hashlib.sha256(stable_json(obj).encode()).hexdigest()


def _read_success(d: Path) -> tuple[str | None, dict[str, Any]]:
    """(hash, basis) of a finished stage's ``_SUCCESS``; (None, {}) when absent or unreadable."""
    try:
        data = json.loads((d / SUCCESS).read_text())
        return data["hash"], data.get("basis") or {}
    except (OSError, ValueError, KeyError, TypeError):
        return None, {}


# -- what a stage hash covers -------------------------------------------------------------------
def _file_print(f: Path) -> dict[str, Any]:
    st = f.stat()
    h = hashlib.sha256()
    with open(f, "rb") as fh:
        if st.st_size <= FULL_HASH_BYTES:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
            how = "sha256"
        else:
            h.update(fh.read(EDGE_BYTES))
            fh.seek(st.st_size - EDGE_BYTES)
            h.update(fh.read(EDGE_BYTES))
            how = "sha256_first_last_mib"
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, how: h.hexdigest()}


def file_fingerprint(path: str | Path) -> dict[str, Any]:
    """Content fingerprint of a file or of every file under a directory: size, mtime and a SHA-256
    (of the whole file up to 64 MiB, else of its first and last MiB). A missing path is recorded as
    missing, so it appearing later changes the fingerprint."""
    p = Path(path)
    if p.is_file():
        return {"path": str(path), **_file_print(p)}
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file())
        return {"path": str(path), "files": {f.relative_to(p).as_posix(): _file_print(f) for f in files}}
    return {"path": str(path), "missing": True}


def _stable(obj: Any) -> Any:
    """``obj`` as plain JSON values that serialise the same way on every run (sets sorted, tuples
    as lists, paths as strings, numpy scalars as numbers, no memory addresses)."""
    if isinstance(obj, dict):
        return {str(k): _stable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_stable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted((_stable(v) for v in obj), key=stable_json)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        try:
            return _stable(obj.item())
        except (TypeError, ValueError):
            pass
    return re.sub(r" at 0x[0-9a-fA-F]+", "", str(obj))


def stage_behaviour(stage: Stage) -> dict[str, Any]:
    """The stage's code identity: class and behaviour ``version`` (a chain's members' too)."""
    out: dict[str, Any] = {"class": f"{type(stage).__module__}.{type(stage).__qualname__}",
                           "version": str(stage.version)}
    if isinstance(stage, Chain):
        out["members"] = [stage_behaviour(op) for op in stage.operators]
    return out


def stage_basis(st: StageConfig, stage: Stage, seed: int, where: str = "") -> dict[str, Any]:
    """Everything a stage's output depends on besides its input documents (the previous stage)."""
    try:
        files = list(stage.input_files())
    except Exception as e:  # e.g. a model package that is not installed
        raise ConfigError(f"{where}cannot list the files stage {st.stage!r} reads: {e}") from None
    return {
        "stage": st.stage,
        "code": stage_behaviour(stage),
        "params": _stable(stage.params()),
        "seed": seed,
        "input_files": [file_fingerprint(f) for f in files],
    }


def why_rerun(old: dict[str, Any], new: dict[str, Any]) -> str:
    """What changed between a finished stage's hash basis and this run's, in a few words."""
    if not old:
        return "its hash changed"
    what = []
    if old.get("prev") != new.get("prev"):
        what.append("an earlier stage changed")
    if old.get("code") != new.get("code") or old.get("stage") != new.get("stage"):
        what.append("stage code version changed")
    if old.get("params") != new.get("params"):
        keys = sorted(k for k in {*(old.get("params") or {}), *(new.get("params") or {})}
                      if (old.get("params") or {}).get(k) != (new.get("params") or {}).get(k))
        what.append(f"params changed ({', '.join(keys[:4])})")
    if old.get("seed") != new.get("seed"):
        what.append("seed changed")
    old_files = {f["path"]: f for f in old.get("input_files") or []}
    changed = [f["path"] for f in new.get("input_files") or [] if old_files.get(f["path"]) != f]
    if changed:
        what.append(f"input files changed ({', '.join(changed[:3])})")
    if old.get("read") != new.get("read") or old.get("read_version") != new.get("read_version"):
        what.append("input documents or reader changed")
    return "; ".join(what) or "hash changed"


# -- one run per workdir ------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "holder unknown"
    out = f"pid {holder.get('pid')} on host {holder.get('host')}"
    if holder.get("started"):
        out += f", started {holder['started']}"
    if holder.get("config"):
        out += f", config {holder['config']}"
    return out


class WorkdirLock:
    """An advisory lock on ``<workdir>/.winnow.lock`` (``fcntl.flock``) that names its holder.

    A second run in the same workdir gets ``WorkdirLockedError`` naming the holder. The kernel drops
    the lock of a killed run; a lock file still naming a run that is gone is taken over with a warning.
    Where the file system has no ``flock`` (some network mounts), the holder's pid decides: a dead
    process on this host is taken over, anything else refuses."""

    def __init__(self, workdir: str | Path, config_file: str = ""):
        self.workdir = Path(workdir)
        self.path = self.workdir / LOCK_FILE
        self.config_file = config_file
        self._fh = None

    def _holder(self, fh) -> dict[str, Any]:
        try:
            fh.seek(0)
            text = fh.read()
            return json.loads(text) if text.strip() else {}
        except (OSError, ValueError):
            return {"host": "?", "pid": "?"}

    def _refuse(self, holder: dict[str, Any]) -> WorkdirLockedError:
        return WorkdirLockedError(
            f"workdir {self.workdir} is in use by another run ({_describe(holder)}): wait for it to finish "
            f"or stop it (two runs in one workdir destroy each other's stages; lock file {self.path})")

    def acquire(self) -> WorkdirLock:
        if self.workdir.exists() and not self.workdir.is_dir():
            raise ConfigError(f"workdir {self.workdir} exists and is not a directory")
        self.workdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fh = os.fdopen(fd, "r+", encoding="utf-8")
        try:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise self._refuse(self._holder(fh)) from None
            except OSError as e:
                if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS):
                    raise
                self._without_flock(self._holder(fh))
            else:
                previous = self._holder(fh)
                if previous:
                    say(f"warning: taking over {self.path} from a run that is gone ({_describe(previous)})")
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                 "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                 "config": self.config_file}) + "\n")
            fh.flush()
        except BaseException:
            fh.close()
            raise
        self._fh = fh
        return self

    def _without_flock(self, holder: dict[str, Any]) -> None:
        if not holder:
            return
        same_host = holder.get("host") == socket.gethostname()
        pid = holder.get("pid")
        if same_host and isinstance(pid, int) and pid != os.getpid() and not _pid_alive(pid):
            say(f"warning: taking over the stale lock {self.path} of a dead process ({_describe(holder)})")
            return
        raise self._refuse(holder)

    def release(self) -> None:
        fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            fh.seek(0)
            fh.truncate()  # an empty lock file: the run ended cleanly
            fh.flush()
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        except OSError:
            pass
        finally:
            fh.close()

    def __enter__(self) -> WorkdirLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


class PipelineRunner:
    def __init__(self, config: PipelineConfig, spark=None, until: str | None = None, force: bool = False):
        self.config = config
        self.until = until
        self.force = force
        self._spark = spark
        self.workdir = Path(config.workdir)
        names = ["read", *(s.name for s in config.stages)]
        if until is not None and until not in names:
            raise ConfigError(f"--until {until!r}: no such stage in {config.source_file} (stages: {', '.join(names)})")

    @property
    def spark(self):
        if self._spark is None:
            from pyspark.sql import SparkSession

            from pipeline.spark import get_spark, launched_by_spark_submit

            log_file = None
            if SparkSession.getActiveSession() is None and not launched_by_spark_submit():
                log_file = self.workdir / "logs" / f"spark-{time.strftime('%Y%m%d-%H%M%S')}.log"
            self._spark = get_spark(self.config.spark, log_file=log_file)
            sc = self._spark.sparkContext
            say(f"Spark {self._spark.version} master {sc.master}" + (f", Spark log: {log_file}" if log_file else ""))
        return self._spark

    # -- the pipeline ---------------------------------------------------------------------------
    def run(self) -> list[StageResult]:
        with WorkdirLock(self.workdir, self.config.source_file):
            return self._run_locked()

    def _run_locked(self) -> list[StageResult]:
        from pipeline.io import input_fingerprint, list_input_files

        cfg = self.config
        files = list_input_files(cfg.input.paths, cfg.input.format)
        stage_dirs: dict[str, Path] = {}
        results: list[StageResult] = []
        plan: list[tuple[int, StageConfig | None]] = [(1, None)] + [(i + 2, s) for i, s in enumerate(cfg.stages)]
        # Every stage is built (parameters checked) and its hash basis taken before the first one
        # runs: a typo in the last stage's parameters, or a model file it cannot find, must not cost
        # the hours of the stages before it.
        built = {i + 2: self._build(i, st) for i, st in enumerate(cfg.stages)}
        bases: dict[int, dict[str, Any]] = {1: {"winnow": __version__, "read_version": READ_VERSION,
                                                "read": input_fingerprint(files, cfg.input),
                                                "batch": cfg.spark.arrow_batch_size}}
        for i, st in enumerate(cfg.stages):
            where = f"{cfg.source_file}: stages[{i}] ({st.name}): "
            bases[i + 2] = stage_basis(st, built[i + 2], cfg.seed, where)
            if st.name == self.until:
                break
        steps: list[tuple[int, StageConfig | None]] = []
        for index, st in plan:
            steps.append((index, st))
            if ("read" if st is None else st.name) == self.until:
                break
        full: dict[int, dict[str, Any]] = {}  # each stage's hash basis, chained to the previous hash
        hashes: dict[int, str] = {}
        prev_hash = ""
        for index, st in steps:
            # a stage's hash chains the previous one's: a change re-runs it and every later stage
            full[index] = bases[index] if st is None else {"prev": prev_hash, **bases[index]}
            prev_hash = hashes[index] = _hash(full[index])
        declared_fields: dict[str, dict[str, Any]] = {}
        say(f"pipeline {cfg.name!r}: {len(files)} input file(s), {len(plan)} stage(s), workdir {self.workdir}")
        for group in self.fusion_groups(steps, built):
            for res in self._run_group(group, built, full, hashes, stage_dirs, declared_fields):
                results.append(res)
                for f in (res.stats.get("declared") or {}).get("fields") or []:
                    declared_fields[f["name"]] = f
                stage_dirs[res.name] = res.dir
        say(f"done: output in {results[-1].dir / 'kept'}")
        return results

    def fusion_groups(self, steps: list[tuple[int, StageConfig | None]],
                      built: dict[int, Stage]) -> list[list[tuple[int, StageConfig | None]]]:
        """Consecutive row-local stages form one group that runs in one pass (unless the config says
        ``materialize: true``); the read stage and every global stage are groups of their own."""
        groups: list[list[tuple[int, StageConfig | None]]] = []
        fusable_prev = False
        for index, st in steps:
            fusable = st is not None and not self.config.materialize and isinstance(built[index], Operator)
            if fusable and fusable_prev:
                groups[-1].append((index, st))
            else:
                groups.append([(index, st)])
            fusable_prev = fusable
        return groups

    def _final_dir(self, index: int, st: StageConfig | None) -> Path:
        return self.workdir / stage_dirname(index, "read" if st is None else st.name)

    def _run_group(self, group, built, full, hashes, stage_dirs, declared_fields) -> list[StageResult]:
        """Skip what is up to date, run the rest. A fused group re-runs from its first stage that is
        out of date, or from an earlier one when that stage's input (an earlier member's kept/, which
        a fused run does not write) is missing: resume granularity is the fused group."""
        dirty = [p for p, (index, st) in enumerate(group)
                 if self.force or _read_success(self._final_dir(index, st))[0] != hashes[index]]
        if not (self._final_dir(*group[-1]) / "kept").is_dir():
            # the group's last stage is what the next one reads: it must have kept/ (a stage finished
            # in the middle of a longer fused group, now last because of --until, has none)
            dirty.append(len(group) - 1)
        dirty.sort()
        start = dirty[0] if dirty else len(group)
        while 0 < start < len(group) and not (self._final_dir(*group[start - 1]) / "kept").is_dir():
            start -= 1
        results = []
        for index, st in group[:start]:
            final = self._final_dir(index, st)
            stats = json.loads((final / "stats.json").read_text())
            say(f"{final.name}: up to date, skipped ({stats['docs_kept']:,} kept)")
            results.append(StageResult("read" if st is None else st.name, final, True, stats))
        todo = group[start:]
        for index, st in todo:
            final = self._final_dir(index, st)
            done_hash, done_basis = _read_success(final)
            if done_hash is not None and not self.force:
                why = why_rerun(done_basis, full[index]) if done_hash != hashes[index] else \
                    "its fused group re-runs and its input was not kept"
                say(f"{final.name}: re-running: {why}")
        if len(todo) == 1:
            index, st = todo[0]
            results.append(self._run_stage(index, st, built.get(index), self._final_dir(index, st), hashes[index],
                                           stage_dirs, declared_fields, full[index]))
        elif todo:
            results += self._run_fused(todo, built, full, hashes, declared_fields)
        return results

    def _build(self, i: int, st: StageConfig) -> Stage:
        where = f"{self.config.source_file}: stages[{i}] ({st.name}): "
        stage = build_stage(st.stage, st.params, where)
        if not isinstance(stage, (Operator, GlobalStage)):
            raise ConfigError(f"{where}factory returned {type(stage).__name__}, not an Operator or GlobalStage")
        return stage

    def _run_stage(self, index: int, st: StageConfig | None, stage: Stage | None, final: Path, stage_hash: str,
                   stage_dirs: dict[str, Path], declared_fields: dict[str, dict[str, Any]],
                   basis: dict[str, Any]) -> StageResult:
        with _noting_stage(final.name):
            return self._run_stage_unchecked(index, st, stage, final, stage_hash, stage_dirs, declared_fields,
                                             basis)

    def _run_stage_unchecked(self, index: int, st: StageConfig | None, stage: Stage | None, final: Path,
                             stage_hash: str, stage_dirs: dict[str, Path],
                             declared_fields: dict[str, dict[str, Any]], basis: dict[str, Any]) -> StageResult:
        from pyspark.sql import functions as F

        cfg = self.config
        name = "read" if st is None else st.name
        for stale in self.workdir.glob(f".tmp-{final.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = self.workdir / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        spark = self.spark  # JVM start-up is not the stage's time
        t0 = time.time()
        ctx = StageContext(spark, cfg, st or StageConfig("read"), index, tmp, self.workdir, cfg.seed, dict(stage_dirs))
        metrics: dict[str, Any] = {}
        params: dict[str, Any] = {}
        if st is None:
            from pipeline.io import read_dataframe

            say(f"{final.name}: starting")
            out, _files, cached = read_dataframe(spark, cfg.input, cfg.spark.arrow_batch_size)
            kept_df, rej_df, metrics = self._split_row_output(out, F, persist=False)
            self._persisted = cached  # the reader's rows, cached once; the outputs are cheap views of it
            docs_in_expected = None  # the reader's own record count, checked below
            declared = declaration(READ_FIELDS, READ_METRICS, None)
        else:
            prev = self._final_dir(index - 1, self._stage_config(index - 1))
            in_df = spark.read.parquet(str(prev / "kept"))
            docs_in_expected = in_df.count()
            params = stage.params()
            declared = declaration(stage.output_fields(), stage.declared_metrics(), stage.edge_sample_column)
            say(f"{final.name}: starting ({docs_in_expected:,} docs in)")
            if isinstance(stage, Operator):
                kept_df, rej_df, metrics = self._run_row_stage(stage, in_df, name, F)
            else:
                result: StageOutput = stage.run(in_df, ctx)
                kept_df, rej_df, metrics = result.kept, result.rejected, dict(result.metrics)
            check_declarations(final.name, declared, metrics, kept_df.columns)
        try:
            kept_df.write.mode("overwrite").parquet(str(tmp / "kept"))
            if rej_df is None:
                rej_df = self._empty_rejected(kept_df)
            rej_df = rej_df.withColumn(S.REJECT_STAGE, F.coalesce(F.col(S.REJECT_STAGE), F.lit(name))) \
                if S.REJECT_STAGE in rej_df.columns else rej_df.withColumn(S.REJECT_STAGE, F.lit(name))
            rej_df.write.mode("overwrite").parquet(str(tmp / "rejected"))
        finally:
            for df in (getattr(self, "_persisted", None),):
                if df is not None:
                    df.unpersist()
            self._persisted = None
        categorical = self._categorical(declared_fields, declared)
        kept_view, rej_view = self.spark.read.parquet(str(tmp / "kept")), self.spark.read.parquet(str(tmp / "rejected"))
        stats = self._stats(kept_view, rej_view, tmp, name, index, metrics, params, stage_hash, t0, F, categorical,
                            declared["edge_sample_column"])
        if docs_in_expected is None:
            docs_in_expected = int(metrics.get("records", 0))  # the reader's own record count
        self._finish(tmp, final, st, stats, declared, basis, docs_in_expected, stage_hash)
        tmp.rename(final)
        self._say_finished(final, stats)
        return StageResult(name, final, False, stats)

    @staticmethod
    def _categorical(declared_fields: dict[str, dict[str, Any]], declared: dict[str, Any]) -> list[str]:
        return [f["name"] for f in {**declared_fields, **{f["name"]: f for f in declared["fields"]}}.values()
                if f["category"]]

    def _finish(self, tmp: Path, final: Path, st: StageConfig | None, stats: dict[str, Any],
                declared: dict[str, Any], basis: dict[str, Any], docs_in: int, stage_hash: str) -> None:
        """Conservation check, samples, stats.json and ``_SUCCESS`` of a stage written under ``tmp``;
        the old ``final`` is removed (the caller renames ``tmp`` into place)."""
        stats["declared"] = declared
        if st is not None:
            stats["stage_version"] = basis["code"]
            stats["input_files"] = basis["input_files"]
        stats["docs_in"] = docs_in
        if docs_in != stats["docs_kept"] + stats["docs_rejected"]:
            raise ConservationError(
                f"stage {final.name}: docs_in {docs_in:,} != kept {stats['docs_kept']:,} + rejected "
                f"{stats['docs_rejected']:,}; output left in {tmp} for inspection"
            )
        self._write_samples(tmp)
        (tmp / "stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True, default=str))
        (tmp / SUCCESS).write_text(json.dumps({"hash": stage_hash, "basis": basis}, default=str))
        if final.exists():
            shutil.rmtree(final)

    @staticmethod
    def _say_finished(final: Path, stats: dict[str, Any]) -> None:
        top = sorted(stats["rejected_by_reason"].items(), key=lambda kv: -kv[1]["docs"])[:4]
        reasons = ", ".join(f"{r} {v['docs']:,}" for r, v in top) or "none"
        rate = stats["docs_in"] / max(stats["seconds"], 1e-9)
        say(f"{final.name}: finished in {stats['seconds']:.1f}s ({rate:,.0f} docs/s): "
            f"{stats['docs_in']:,} in -> {stats['docs_kept']:,} kept, {stats['docs_rejected']:,} rejected ({reasons})")

    # -- fused row-local stages -----------------------------------------------------------------
    def _run_fused(self, todo, built, full, hashes, declared_fields) -> list[StageResult]:
        finals = [self._final_dir(index, st) for index, st in todo]
        with _noting_stage(" + ".join(f.name for f in finals)):
            return self._run_fused_unchecked(todo, built, full, hashes, declared_fields, finals)

    def _run_fused_unchecked(self, todo, built, full, hashes, declared_fields, finals) -> list[StageResult]:
        """Consecutive row-local stages in one pass (``pipeline.execute.apply_fused_batches``): one
        read of the input, one trip through Python; every stage still gets its rejected/, stats.json,
        samples and ``_SUCCESS``, and the last one the group's kept/. Nothing is renamed into place
        until every stage of the group has added up."""
        from pyspark import StorageLevel
        from pyspark.sql import functions as F
        from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

        from pipeline.execute import (
            FUSED_KEPT,
            FUSED_SEP,
            FUSED_STAGE,
            apply_fused_batches,
            fused_length_column,
            fused_schemas,
        )

        tmps = []
        for final in finals:
            for stale in self.workdir.glob(f".tmp-{final.name}-*"):
                shutil.rmtree(stale, ignore_errors=True)
            tmp = self.workdir / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
            tmp.mkdir(parents=True)
            tmps.append(tmp)
        spark = self.spark
        t0 = time.time()
        first = todo[0][0]
        in_df = spark.read.parquet(str(self._final_dir(first - 1, self._stage_config(first - 1)) / "kept"))
        docs_in = in_df.count()
        ops = [built[index] for index, _ in todo]
        names = [st.name for _, st in todo]
        schemas, union = fused_schemas(ops, to_arrow_schema(in_df.schema))
        for k, final in enumerate(finals):
            others = " + ".join(f.name for f in finals if f != final)
            say(f"{final.name}: starting" + (f" ({docs_in:,} docs in)" if k == 0 else "") + f", fused in one pass with {others}")
        out = in_df.mapInArrow(lambda it: apply_fused_batches(ops, names, schemas, union, it),
                               from_arrow_schema(union)).persist(StorageLevel.MEMORY_AND_DISK)
        reject_cols = {f.name for f in S.REJECT_FIELDS}
        results: list[StageResult] = []
        try:
            all_metrics = {r["key"]: r["value"] for r in out.select(F.explode(S.METRICS))
                           .groupBy("key").agg(F.sum("value").alias("value")).collect()}
            pass_seconds = time.time() - t0
            stage_in = docs_in
            for k, ((index, st), final, tmp) in enumerate(zip(todo, finals, tmps)):
                tk = time.time()
                stage = ops[k]
                prefix = f"{k}{FUSED_SEP}"
                metrics = {key[len(prefix):]: v for key, v in all_metrics.items() if key.startswith(prefix)}
                cols = [f.name for f in schemas[k] if f.name != S.METRICS and not f.name.startswith("_fused_len_")]
                kept_cols = [c for c in cols if c not in reject_cols]
                declared = declaration(stage.output_fields(), stage.declared_metrics(), stage.edge_sample_column)
                check_declarations(final.name, declared, metrics, kept_cols)
                (out.filter(F.col(FUSED_STAGE) == k).select(*cols)
                 .withColumn(S.REJECT_STAGE, F.coalesce(F.col(S.REJECT_STAGE), F.lit(st.name)))
                 .write.mode("overwrite").parquet(str(tmp / "rejected")))
                if k == len(todo) - 1:
                    out.filter(F.col(FUSED_STAGE) == FUSED_KEPT).select(*kept_cols) \
                        .write.mode("overwrite").parquet(str(tmp / "kept"))
                    kept_view, length_column = spark.read.parquet(str(tmp / "kept")), None
                else:  # this stage's kept rows are those a later stage rejected or the group kept
                    length_column = fused_length_column(k)
                    kept_view = out.filter((F.col(FUSED_STAGE) > k) | (F.col(FUSED_STAGE) == FUSED_KEPT)) \
                        .select(*kept_cols, length_column)
                stats = self._stats(kept_view, spark.read.parquet(str(tmp / "rejected")), tmp, st.name, index,
                                    metrics, stage.params(), hashes[index], tk, F,
                                    self._categorical(declared_fields, declared), declared["edge_sample_column"],
                                    kept_length_column=length_column)
                # the shared pass is split evenly between the group's stages
                stats["seconds"] = round(stats["seconds"] + pass_seconds / len(todo), 3)
                stats["fused"] = {"stages": [f.name for f in finals], "pass_seconds": round(pass_seconds, 3)}
                self._finish(tmp, final, st, stats, declared, full[index], stage_in, hashes[index])
                for f in declared["fields"]:
                    declared_fields[f["name"]] = f
                results.append(StageResult(st.name, final, False, stats))
                stage_in = stats["docs_kept"]
        finally:
            out.unpersist()
        for tmp, final, res in zip(tmps, finals, results):
            tmp.rename(final)
            self._say_finished(final, res.stats)
        return results

    def _stage_config(self, index: int) -> StageConfig | None:
        return None if index == 1 else self.config.stages[index - 2]

    # -- row-local stages -----------------------------------------------------------------------
    def _run_row_stage(self, op: Operator, in_df, stage: str, F):
        from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

        from pipeline.execute import apply_batches, output_schema

        out_schema = output_schema(op, to_arrow_schema(in_df.schema))
        out = in_df.mapInArrow(lambda it: apply_batches(op, it, out_schema, stage), from_arrow_schema(out_schema))
        return self._split_row_output(out, F)

    def _split_row_output(self, out, F, persist: bool = True):
        """Persist the combined output once (unless the caller cached what it is made from), sum its
        metrics, and split kept from rejected."""
        if persist:
            out = out.persist()
            self._persisted = out
        metrics = {
            r["key"]: r["value"]
            for r in out.select(F.explode(S.METRICS)).groupBy("key").agg(F.sum("value").alias("value")).collect()
        }
        reject_cols = [f.name for f in S.REJECT_FIELDS]
        kept = out.filter(F.col(S.REJECT_REASON).isNull()).drop(S.METRICS, *reject_cols)
        rejected = out.filter(F.col(S.REJECT_REASON).isNotNull()).drop(S.METRICS)
        return kept, rejected, metrics

    def _empty_rejected(self, kept_df):
        from pyspark.sql import functions as F

        df = kept_df.limit(0)
        for f in S.REJECT_FIELDS:
            df = df.withColumn(f.name, F.lit(None).cast("string"))
        return df

    # -- stats and samples ----------------------------------------------------------------------
    def _stats(self, kept, rej, tmp: Path, name: str, index: int, metrics: dict, params: dict, stage_hash: str,
               t0: float, F, categorical: list[str], edge_sample_column: str | None,
               kept_length_column: str | None = None) -> dict[str, Any]:
        """A stage's counts and histograms from its ``kept`` and rejected DataFrames.
        ``kept_length_column``: the documents' lengths as this stage wrote them (fused stages)."""
        from pipeline.histograms import stage_histograms

        spark = self.spark
        group_cols = [c for c in ("source", "lang") if c in kept.columns and c in rej.columns]

        def agg(df, reason_col, length):
            cols = [*(F.col(c) for c in group_cols), reason_col.alias("outcome")]
            return df.groupBy(*cols).agg(F.count(F.lit(1)).alias("docs"), F.sum(length).alias("chars"))

        text_length = F.length(F.coalesce(F.col(S.TEXT), F.lit("")))
        kept_length = F.col(kept_length_column) if kept_length_column else text_length
        rows = [r.asDict() for r in agg(kept, F.lit("kept"), kept_length)
                .unionByName(agg(rej, F.col(S.REJECT_REASON), text_length)).collect()]
        for r in rows:  # source names are file names before the PII stage: never write them raw
            for c in group_cols:
                if isinstance(r[c], str):
                    r[c] = scrub_text(r[c])
        rows.sort(key=lambda r: tuple(str(r.get(c)) for c in (*group_cols, "outcome")))
        by_reason: dict[str, dict[str, int]] = {}
        docs_kept = chars_kept = 0
        for r in rows:
            r["chars"] = int(r["chars"] or 0)
            if r["outcome"] == "kept":
                docs_kept += r["docs"]
                chars_kept += r["chars"]
            else:
                slot = by_reason.setdefault(r["outcome"], {"docs": 0, "chars": 0})
                slot["docs"] += r["docs"]
                slot["chars"] += r["chars"]
        docs_rej = sum(v["docs"] for v in by_reason.values())
        chars_rej = sum(v["chars"] for v in by_reason.values())
        return {
            "stage": name,
            "index": index,
            "docs_in": docs_kept + docs_rej,
            "chars_in": chars_kept + chars_rej,
            "docs_kept": docs_kept,
            "chars_kept": chars_kept,
            "docs_rejected": docs_rej,
            "chars_rejected": chars_rej,
            "rejected_by_reason": dict(sorted(by_reason.items())),
            "by_group": {"columns": group_cols, "rows": rows},
            "histograms": stage_histograms(kept, rej, categorical, edge_sample_column, stage=name, out_dir=tmp,
                                           kept_length_column=kept_length_column),  # for `winnow report`
            "metrics": {k: metrics[k] for k in sorted(metrics)},
            "params": params,
            "hash": stage_hash,
            "seconds": round(time.time() - t0, 3),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "winnow_version": __version__,
            "spark": {"master": spark.sparkContext.master, "version": spark.version,
                      "default_parallelism": spark.sparkContext.defaultParallelism},
        }

    def _write_samples(self, tmp: Path) -> None:
        """Up to N rejected documents per reason, PII-scrubbed and truncated, for a person to judge."""
        rows, cols = pick_rejected(self.spark.read.parquet(str(tmp / "rejected")), self.config.samples_per_reason)
        write_samples(rows, cols, tmp / "samples" / "rejected.jsonl")


@contextlib.contextmanager
def _noting_stage(label: str):
    """Errors raised while a stage (or a fused group) runs carry a note naming it, for the one-line
    message of jobs/run_pipeline.py; a Winnow error raised in a Spark worker comes back as itself."""
    try:
        yield
    except Exception as e:
        err = _winnow_error_from_worker(e)
        err.add_note(f"{STAGE_NOTE}{label}")
        if err is e:
            raise
        raise err from e
    except KeyboardInterrupt as e:
        e.add_note(f"{STAGE_NOTE}{label}")
        raise


def _winnow_error_from_worker(e: Exception) -> Exception:
    """A Winnow error raised inside a Spark Python worker comes back wrapped in Java and Python
    tracebacks; recover it so the user sees the one-line message (and tests can match it)."""
    import re

    from contract import errors

    if isinstance(e, errors.WinnowError):
        return e
    m = re.search(r"contract\.errors\.(\w+): ([^\n]*)", str(e))
    cls = getattr(errors, m.group(1), None) if m else None
    if cls is not None and isinstance(cls, type) and issubclass(cls, errors.WinnowError):
        return cls(m.group(2))
    return e


def run_pipeline(config: PipelineConfig, spark=None, until: str | None = None, force: bool = False):
    return PipelineRunner(config, spark=spark, until=until, force=force).run()
