"""The same pipeline through spark-submit on a real standalone cluster (master + worker on
127.0.0.1, started from the pyspark wheel's spark-class) gives the same output as local mode."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.config import parse_config
from pipeline.runner import run_pipeline
from tests.test_runner import DUP_TEXT, MIN_CHARS, make_input

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(path: Path, text: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise AssertionError(f"process exited early:\n{path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {text!r} in {path}:\n{path.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def standalone_cluster(tmp_path):
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(tmp_path / "logs"),
           "PYSPARK_PYTHON": sys.executable}
    port, ui, wui = free_port(), free_port(), free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = []
    master_log = logs / "master.log"
    with open(master_log, "w") as out:
        procs.append(subprocess.Popen(
            [str(BIN / "spark-class"), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
             "--port", str(port), "--webui-port", str(ui)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
    worker_log = logs / "worker.log"
    try:
        wait_for(master_log, "I have been elected leader", procs[0])
        with open(worker_log, "w") as out:
            procs.append(subprocess.Popen(
                [str(BIN / "spark-class"), "org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}",
                 "--host", "127.0.0.1", "--cores", "2", "--memory", "2g", "--webui-port", str(wui),
                 "--work-dir", str(tmp_path / "worker")],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
        wait_for(worker_log, "Successfully registered with master", procs[1])
        yield f"spark://127.0.0.1:{port}", env
    finally:
        for p in reversed(procs):  # stop both by pid
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(p.pid, signal.SIGKILL)
        for p in procs:
            assert p.poll() is not None


def kept_rows(spark, stage_dir: Path):
    return sorted(tuple(r) for r in spark.read.parquet(str(stage_dir / "kept")).select("id", "text", "source").collect())


@pytest.mark.slow
def test_standalone_cluster_matches_local_mode(spark, tmp_path, standalone_cluster):
    master, env = standalone_cluster
    make_input(tmp_path)
    stages = [{"stage": MIN_CHARS, "params": {"min_chars": 25}}, {"stage": DUP_TEXT, "name": "dedup"}]
    base = {"input": {"paths": [str(tmp_path / "in")]}, "stages": stages}
    local = run_pipeline(parse_config({**base, "workdir": str(tmp_path / "local")}), spark=spark)

    zip_path = tmp_path / "winnow.zip"
    subprocess.run([sys.executable, "-m", "pipeline.packaging", str(zip_path)], cwd=ROOT, check=True)
    cfg = tmp_path / "cluster.yaml"
    cfg.write_text(json.dumps({**base, "workdir": str(tmp_path / "cluster"),
                               # the test's stage fixtures live in tests/, which is not in the zip
                               "spark": {"conf": {"spark.executorEnv.PYTHONPATH": str(ROOT)}}}))
    out = subprocess.run(
        [str(BIN / "spark-submit"), "--master", master, "--driver-memory", "1g", "--executor-memory", "1g",
         "--py-files", str(zip_path), "--conf", f"spark.pyspark.python={sys.executable}",
         str(ROOT / "jobs" / "run_pipeline.py"), "--config", str(cfg)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    assert "03-dedup: finished" in out.stdout
    for res in local:
        cluster_dir = tmp_path / "cluster" / res.dir.name
        stats = json.loads((cluster_dir / "stats.json").read_text())
        assert stats["spark"]["master"] == master
        for key in ("docs_in", "docs_kept", "docs_rejected", "rejected_by_reason", "chars_kept"):
            assert stats[key] == res.stats[key], (res.dir.name, key)
        assert kept_rows(spark, cluster_dir) == kept_rows(spark, res.dir)
