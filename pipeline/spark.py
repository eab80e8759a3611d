"""The Spark session factory.

Which master, which settings (``session_settings``):

* **embedded** (``python -m jobs.run_pipeline``, ``winnow run``): the config's ``spark.master``
  (or ``--master``), else ``local[*]``; Winnow's defaults, overridden by the config's ``spark.conf``.
* **under spark-submit**: what spark-submit gave the JVM wins: its ``--master`` (or ``--conf
  spark.master=...``, or spark-defaults.conf) and every ``--conf`` it was given. The config's master is
  not used (a note says so when it differs); Winnow's defaults and the config's ``spark.conf`` only fill
  settings spark-submit left unset. So a config written for a laptop (``master: local[*]``) runs on
  the cluster it is submitted to.

Settings are sized for a small machine (2 cores, 24 GiB).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pipeline.config import SparkConfig


def launched_by_spark_submit() -> bool:
    # spark-submit starts the JVM first and hands Python the gateway port.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def console_progress() -> str:
    """Spark's stage progress bar ([Stage 3:====>  (5 + 2) / 8]) when stderr is a terminal; off in
    pipes and logs, where its carriage returns are noise. ``WINNOW_SPARK_PROGRESS=1|0`` forces it."""
    force = os.environ.get("WINNOW_SPARK_PROGRESS")
    if force is not None:
        return "true" if force.strip().lower() in ("1", "true", "yes", "on") else "false"
    try:
        return "true" if sys.stderr.isatty() else "false"
    except (AttributeError, ValueError):
        return "false"


def default_conf(cfg: SparkConfig) -> dict[str, str]:
    return {
        "spark.sql.shuffle.partitions": str(cfg.shuffle_partitions),
        "spark.default.parallelism": str(cfg.shuffle_partitions),
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(cfg.arrow_batch_size),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": console_progress(),
        "spark.ui.enabled": os.environ.get("WINNOW_SPARK_UI", "false"),
        "spark.python.worker.reuse": "true",
        # Same interpreter on driver and executors; hash seed fixed for determinism.
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        "spark.executorEnv.PYTHONHASHSEED": "0",
        "spark.executorEnv.HF_HUB_OFFLINE": "1",
        "spark.executorEnv.TRANSFORMERS_OFFLINE": "1",
        "spark.executorEnv.TOKENIZERS_PARALLELISM": "false",
        "spark.sql.parquet.compression.codec": "zstd",
        "spark.driver.extraJavaOptions": "-Dlog4j2.level=WARN",
    }


LOG4J2_TO_FILE = """\
# Written by Winnow (pipeline/spark.py): the embedded Spark's log goes to a file, not the console.
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
appender.file.type = File
appender.file.name = file
appender.file.fileName = {path}
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{{yy/MM/dd HH:mm:ss}} %p %c{{1}}: %m%n%ex
logger.jetty.name = org.sparkproject.jetty
logger.jetty.level = error
"""


def log_to_file_option(log_file: str | Path) -> str:
    """A JVM option that sends log4j2 output to ``log_file`` (its settings file is written beside it)."""
    log_file = Path(log_file).resolve()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    props = log_file.with_name(log_file.stem + ".log4j2.properties")
    props.write_text(LOG4J2_TO_FILE.format(path=str(log_file).replace("\\", "/")), encoding="utf-8")
    return f"-Dlog4j2.configurationFile={props}"


def worker_log_path(log_file: str | Path) -> Path:
    """Where the Python workers' stderr goes: ``workers-<time>.log`` beside ``spark-<time>.log``."""
    log_file = Path(log_file).resolve()
    return log_file.with_name("workers-" + log_file.name.removeprefix("spark-"))


def worker_log_conf(log_file: str | Path) -> dict[str, str]:
    """Settings that start Spark's Python worker daemon through ``pipeline.worker_daemon``: the
    workers' stderr (a torn-down job's BrokenPipeError tracebacks) goes, PII-scrubbed, to
    ``worker_log_path(log_file)`` instead of the console. Local masters only: there the workers run
    on this machine with this checkout importable (a cluster's executors may hold only the zip,
    which a daemon started by ``python -m`` cannot see)."""
    from pipeline.worker_daemon import LOG_ENV, MODULE

    return {"spark.python.daemon.module": MODULE,
            f"spark.executorEnv.{LOG_ENV}": str(worker_log_path(log_file))}


def session_settings(cfg: SparkConfig, submitted: dict[str, str] | None) -> tuple[str | None, dict[str, str]]:
    """(master to set on the builder, settings to set on the builder) for a new session.

    ``submitted`` is None for an embedded run, else the settings spark-submit gave the JVM (its
    ``--master`` is ``spark.master`` there). Under spark-submit the master is None (spark-submit's
    stands) and no setting it gave is overridden."""
    conf = {**default_conf(cfg), **{k: str(v) for k, v in cfg.conf.items()}}
    conf_master = conf.pop("spark.master", None)
    if submitted is None:
        conf["spark.driver.memory"] = str(cfg.conf.get("spark.driver.memory", cfg.driver_memory))
        return cfg.master or conf_master or "local[*]", conf
    return None, {k: v for k, v in conf.items() if k not in submitted}


def submitted_conf() -> dict[str, str]:
    """The settings spark-submit gave the JVM (command line and spark-defaults.conf)."""
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # connects to spark-submit's JVM
    return dict(SparkConf(loadDefaults=True).getAll())


def get_spark(cfg: SparkConfig | None = None, log_file: str | Path | None = None):
    """Create (or return the active) SparkSession; see the module docstring for what wins.

    ``log_file``: an embedded run writes Spark's own log there instead of the console (where a failed
    task's Java and Python tracebacks would bury the one line that matters). Under spark-submit the
    driver's logging is spark-submit's (its log4j2.properties / --driver-java-options)."""
    from pyspark.sql import SparkSession

    cfg = cfg or SparkConfig()
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    submitted = submitted_conf() if launched_by_spark_submit() else None
    master, conf = session_settings(cfg, submitted)
    if submitted is None and log_file is not None:
        key = "spark.driver.extraJavaOptions"
        conf[key] = f"{conf.get(key, '')} {log_to_file_option(log_file)}".strip()
        if (master or "").startswith("local"):
            for k, v in worker_log_conf(log_file).items():
                conf.setdefault(k, v)  # a daemon module the config names wins
    builder = SparkSession.builder.appName(cfg.app_name)
    if master is not None:
        if master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # embedded Spark needs no public address
        builder = builder.master(master)
    for k, v in conf.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("WINNOW_SPARK_LOG_LEVEL", "WARN"))
    wanted = cfg.master or cfg.conf.get("spark.master")
    if submitted is not None and wanted and wanted != spark.sparkContext.master:
        print(f"[winnow] spark-submit's master {spark.sparkContext.master} is used; the config's "
              f"spark.master {wanted} applies to embedded runs only", flush=True)
    return spark
