"""Run a Winnow pipeline.

    spark-submit --master spark://HOST:7077 --py-files dist/winnow.zip jobs/run_pipeline.py --config C.yaml
    python -m jobs.run_pipeline --config configs/demo.yaml          # embedded local[*] Spark

However the run ends badly (a bad config, Ctrl-C, a full disk, a failed Spark job, a bug), the console
gets one line saying what happened and where the full log is (``<workdir>/logs/error-<time>.log``,
with the whole Python and Java traceback), and the exit status is non-zero: 1, or 130 for Ctrl-C.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):  # spark-submit runs this file as a script: make the repo importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

STAGE_NOTE = "winnow stage: "  # pipeline.runner.STAGE_NOTE (not imported: this module must load fast)
MAX_LINE = 400


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="winnow run",
        description="Run a Winnow pipeline: read -> stages in the config -> <workdir>/<NN>-<stage>/{kept,rejected}. "
        "Finished stages whose config and input are unchanged are skipped.",
    )
    p.add_argument("--config", required=True, help="pipeline YAML (see configs/demo.yaml)")
    p.add_argument("--until", help="stop after this stage (by name), e.g. filter")
    p.add_argument("--workdir", help="override the config's workdir")
    p.add_argument("--master", help="Spark master of an embedded run (default: the config's, else local[*]); "
                                     "under spark-submit, spark-submit's --master is used")
    p.add_argument("--force", action="store_true", help="re-run every stage even when up to date")
    return p.parse_args(argv)


# -- one line for any failure ---------------------------------------------------------------------
def _chain(e: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    while e is not None and e not in out:
        out.append(e)
        e = e.__cause__ or e.__context__
    return out


def is_disk_full(e: BaseException) -> bool:
    for x in _chain(e):
        if isinstance(x, OSError) and x.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(x):
            return True
    return False


def is_spark_error(e: BaseException) -> bool:
    return any(type(x).__module__.split(".")[0] in ("pyspark", "py4j") for x in _chain(e))


def failed_stage(e: BaseException) -> str | None:
    for x in _chain(e):
        for note in getattr(x, "__notes__", None) or []:
            if note.startswith(STAGE_NOTE):
                return note[len(STAGE_NOTE):]
    return None


def _root_cause(text: str) -> str | None:
    """The exception line of the last Python traceback in ``text`` (a Spark Python worker's error),
    else the last Java ``Caused by:``, else None."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == "Traceback (most recent call last):"]
    if starts:
        for line in lines[starts[-1] + 1:]:
            if line and not line[0].isspace():
                return line.strip()
    causes = [line.split("Caused by:", 1)[1].strip() for line in lines if line.lstrip().startswith("Caused by:")]
    if causes:
        return causes[-1]
    return None


def one_line(e: BaseException) -> str:
    """What went wrong, in one line of at most ``MAX_LINE`` characters."""
    text = str(e)
    if is_disk_full(e):
        msg = "disk full (No space left on device): free space (workdir, Spark's spark.local.dir, /tmp) and run again"
    elif is_spark_error(e):
        first = next((line.strip() for line in text.splitlines() if line.strip()), type(e).__name__)
        msg = f"Spark job failed: {_root_cause(text) or first}"
    else:
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        msg = f"{type(e).__name__}: {first}" if first else type(e).__name__
    msg = " ".join(msg.split())
    return msg if len(msg) <= MAX_LINE else msg[: MAX_LINE - 3] + "..."


def write_error_log(e: BaseException, workdir: str | None, argv: list[str]) -> Path | None:
    """The full traceback (Python and Java) in ``<workdir>/logs/error-<time>.log`` (else the temp dir)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    head = f"winnow run {' '.join(argv)}\n{time.strftime('%Y-%m-%dT%H:%M:%S%z')} pid {os.getpid()}\n"
    for kind, what in (("spark", "Spark's own log (embedded run)"), ("python", "Python library log")):
        found = sorted(Path(workdir, "logs").glob(f"{kind}-*.log"), key=lambda f: f.stat().st_mtime) if workdir else []
        if found:
            head += f"{what}: {found[-1]}\n"
    body = _scrub(head + "\n" + "".join(traceback.format_exception(e)))
    places = [Path(workdir) / "logs" / f"error-{stamp}.log"] if workdir else []
    places.append(Path(tempfile.gettempdir()) / f"winnow-error-{stamp}-{os.getpid()}.log")
    for path in places:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body, encoding="utf-8")
            return path
        except OSError:  # a full disk may refuse the log too: try the next place
            continue
    return None


def _scrub(text: str) -> str:
    """A log's text with PII replaced (file names, record values quoted in errors): what Winnow
    writes under ``<workdir>/logs`` is scrubbed like every other file there (docs/pii.md)."""
    from redaction import scrub_text

    return scrub_text(text)


class ScrubbingFormatter(logging.Formatter):
    """Formats a record (message and traceback) and replaces the PII in the result."""

    def format(self, record: logging.LogRecord) -> str:
        return _scrub(super().format(record))


def route_library_logging(workdir: str) -> None:
    """Winnow's own warnings stay on the console; every log record (Winnow's and every other: py4j's
    tracebacks when Ctrl-C interrupts a call into the JVM, ...) goes, PII-scrubbed, to
    ``<workdir>/logs/python-<time>.log``. Left alone when the caller configured logging (tests, notebooks)."""
    root = logging.getLogger()
    if root.handlers:
        return
    console = logging.StreamHandler(sys.stderr)
    console.addFilter(lambda r: r.name == "winnow" or r.name.startswith("winnow."))
    root.addHandler(console)
    try:
        path = Path(workdir) / "logs" / f"python-{time.strftime('%Y%m%d-%H%M%S')}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(path, delay=True, encoding="utf-8")
        to_file.setFormatter(ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(to_file)
    except OSError:
        pass


SCRUBBED_LOGS = ("spark-*.log", "workers-*.log")  # written by the JVM and Spark's Python workers


def scrub_run_logs(workdir: str | None, since: float) -> list[Path]:
    """Spark's own log and the Python workers' log of this run (``<workdir>/logs``, written since
    ``since``), rewritten in place with PII replaced: Winnow does not format their lines (log4j does;
    ``pipeline.worker_daemon`` scrubs the workers' lines as they come, this pass covers whatever a
    run killed first left). In place, not renamed: log4j may still append to the open file."""
    if not workdir:
        return []
    done = []
    for pattern in SCRUBBED_LOGS:
        for path in sorted(Path(workdir, "logs").glob(pattern)):
            try:
                if path.stat().st_mtime < since:
                    continue
                with open(path, "r+", encoding="utf-8", errors="surrogateescape") as f:
                    text = f.read()
                    clean = _scrub(text)
                    if clean != text:
                        f.seek(0)
                        f.write(clean)
                        f.truncate()
                done.append(path)
            except OSError:  # a full disk: the run's own error line matters more than this pass
                continue
    return done


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    started = time.time() - 1
    run: dict[str, str | None] = {"workdir": args.workdir}
    try:
        return _main(args, argv, run)
    finally:
        scrub_run_logs(run["workdir"], started)


def _main(args: argparse.Namespace, argv: list[str], run: dict[str, str | None]) -> int:
    from contract.errors import WinnowError

    workdir = args.workdir
    try:
        from pipeline.config import load_config
        from pipeline.runner import run_pipeline

        overrides = {}
        if args.workdir:
            overrides["workdir"] = args.workdir
        if args.master:
            overrides["spark.master"] = args.master
        config = load_config(args.config, overrides)
        workdir = run["workdir"] = config.workdir
        route_library_logging(workdir)
        run_pipeline(config, until=args.until, force=args.force)
    except WinnowError as e:
        print(f"winnow: error: {' '.join(str(e).split())}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt as e:
        log = write_error_log(e, workdir, argv)
        stage = failed_stage(e)
        where = f" during stage {stage}" if stage else ""
        print(f"winnow: interrupted{where}; finished stages are kept, run the same command to resume"
              + (f" (log: {log})" if log else ""), file=sys.stderr, flush=True)
        return 130
    except Exception as e:
        log = write_error_log(e, workdir, argv)
        stage = failed_stage(e)
        where = f" in stage {stage}" if stage else ""
        print(f"winnow: error{where}: {one_line(e)}; "
              + (f"full log: {log}" if log else "no log could be written"), file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
