"""The Spark session factory.

Embedded ``local[*]`` by default; under ``spark-submit`` the master it was given wins; a master in
the pipeline config wins over the default. Settings are sized for a small machine (2 cores,
24 GiB) and are all overridable with ``spark.conf`` in the pipeline YAML.
"""

from __future__ import annotations

import os
import sys

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


def get_spark(cfg: SparkConfig | None = None):
    """Create (or return the active) SparkSession."""
    from pyspark.sql import SparkSession

    cfg = cfg or SparkConfig()
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(cfg.app_name)
    if not launched_by_spark_submit():
        master = cfg.master or "local[*]"
        if master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # embedded Spark needs no public address
        builder = builder.master(master)
        builder = builder.config("spark.driver.memory", cfg.driver_memory)
    elif cfg.master:
        builder = builder.master(cfg.master)
    for k, v in {**default_conf(cfg), **{k: str(v) for k, v in cfg.conf.items()}}.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("WINNOW_SPARK_LOG_LEVEL", "WARN"))
    return spark
