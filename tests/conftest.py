import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark():
    """One local[2] SparkSession for the whole test run (JVM start-up is the slow part)."""
    from pipeline.config import SparkConfig
    from pipeline.spark import get_spark

    session = get_spark(SparkConfig(master="local[2]", app_name="winnow-tests", driver_memory="3g",
                                    shuffle_partitions=4, arrow_batch_size=256))
    yield session
    session.stop()


@pytest.fixture
def sample_dir() -> Path:
    return ROOT / "data" / "sample"
