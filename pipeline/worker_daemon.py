"""Spark's Python worker daemon (``pyspark.daemon``) with its stderr sent to a log file, PII-scrubbed.

An embedded local run sets ``spark.python.daemon.module`` to this module (``pipeline/spark.py``). The
JVM starts the daemon and copies its stderr, and that of every worker it forks, onto the driver's
console: when a failed job is torn down, a worker whose socket the JVM already closed prints a
``BrokenPipeError`` traceback there, under the one error line Winnow prints. Here fd 2 becomes a pipe
into a small scrubber process, started before pyspark is imported (``pyspark.daemon`` forks, so no
thread may exist), which writes each line through ``redaction.scrub_text`` to the file named by
``WINNOW_WORKER_LOG`` (``<workdir>/logs/workers-<time>.log``). A task's own Python errors still reach
the driver through the JVM (the run's one error line and ``error-*.log``); only the workers' console
noise moves.

    python -m pipeline.worker_daemon [pyspark.worker]     # what the JVM runs
    python -m pipeline.worker_daemon --scrub-to PATH      # the scrubber (stdin -> PATH)
"""

from __future__ import annotations

import os
import subprocess
import sys

MODULE = "pipeline.worker_daemon"
LOG_ENV = "WINNOW_WORKER_LOG"
SCRUB_TO = "--scrub-to"


def scrub_lines(src, path: str) -> None:
    """Every line of ``src`` (bytes), PII-scrubbed, appended to ``path``, flushed line by line."""
    from redaction import scrub_text

    with open(path, "a", encoding="utf-8") as out:
        for raw in src:
            out.write(scrub_text(raw.decode("utf-8", "replace")))
            out.flush()


def redirect_stderr(path: str) -> subprocess.Popen:
    """fd 2 of this process (and of every process it forks later) -> the scrubber -> ``path``. A log
    that cannot be opened stops the daemon here (Spark reports that it failed to start)."""
    open(path, "a", encoding="utf-8").close()
    scrubber = subprocess.Popen([sys.executable, "-m", MODULE, SCRUB_TO, path], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL)  # stdout is the daemon's line to the JVM
    os.dup2(scrubber.stdin.fileno(), 2)
    scrubber.stdin.close()  # fd 2 holds the pipe now: the scrubber sees EOF when the last worker exits
    return scrubber


def main(argv: list[str]) -> None:
    if argv[:1] == [SCRUB_TO]:
        scrub_lines(sys.stdin.buffer, argv[1])
        return
    path = os.environ.get(LOG_ENV)
    if path:
        redirect_stderr(path)
    from pyspark import daemon

    daemon.manager()


if __name__ == "__main__":
    main(sys.argv[1:])
