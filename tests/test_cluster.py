"""spark-submit on a real standalone cluster (master + worker on 127.0.0.1, started from the pyspark
wheel's spark-class) gives the same output as local mode, with executors whose only copy of Winnow is
the ``--py-files`` zip, a config that names ``master: local[*]`` (spark-submit's ``--master`` wins),
and an executor killed in the middle of a stage. Plus the unit tests of which master and settings win."""

import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

from pipeline.config import SparkConfig, parse_config
from pipeline.runner import run_pipeline
from pipeline.spark import session_settings

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PROBE = "tests.stage_fixtures:ClusterProbe"


# -- which master and which settings win ---------------------------------------------------------------
def test_embedded_run_takes_the_configs_master_else_local():
    master, conf = session_settings(SparkConfig(), None)
    assert master == "local[*]" and conf["spark.driver.memory"] == "6g"
    assert session_settings(SparkConfig(master="spark://h:7077"), None)[0] == "spark://h:7077"
    assert session_settings(SparkConfig(conf={"spark.master": "local[3]"}), None)[0] == "local[3]"
    master, conf = session_settings(SparkConfig(master="local[2]", conf={"spark.sql.shuffle.partitions": "3"}), None)
    assert master == "local[2]" and conf["spark.sql.shuffle.partitions"] == "3" and "spark.master" not in conf


def test_under_spark_submit_its_master_and_settings_win_over_the_config():
    cfg = SparkConfig(master="local[*]", conf={"spark.master": "local[1]", "spark.pyspark.python": "/mine/python",
                                               "spark.executor.cores": "2"})
    submitted = {"spark.master": "spark://cluster:7077", "spark.pyspark.python": "/opt/python",
                 "spark.app.name": "submitted"}
    master, conf = session_settings(cfg, submitted)
    assert master is None  # the builder leaves spark-submit's --master (already in the JVM's conf) alone
    assert "spark.master" not in conf and "spark.pyspark.python" not in conf  # --conf wins too
    assert conf["spark.executor.cores"] == "2"  # what spark-submit left unset, the config fills
    assert conf["spark.sql.shuffle.partitions"] == "8"  # and so do Winnow's defaults
    assert "spark.driver.memory" not in conf  # the driver JVM is already running
    # spark-submit without --master defaults to local[*]: that is still spark-submit's choice
    assert session_settings(SparkConfig(master="spark://elsewhere:7077"), {"spark.master": "local[*]"})[0] is None


# -- the cluster ----------------------------------------------------------------------------------------
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


def cluster_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    import pyspark

    return {**env, "SPARK_HOME": str(Path(pyspark.__file__).parent), "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOG_DIR": str(tmp_path / "logs"), "WINNOW_SPARK_PROGRESS": "0"}


@pytest.fixture
def standalone_cluster(tmp_path):
    env = cluster_env(tmp_path)
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
        yield {"master": f"spark://127.0.0.1:{port}", "env": env, "worker": procs[1], "worker_log": worker_log}
    finally:
        for p in reversed(procs):  # stop both by pid
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(p.pid, signal.SIGKILL)
        for p in procs:
            assert p.poll() is not None


def zip_only_python(tmp_path: Path, env: dict[str, str]) -> Path:
    """The executors' interpreter: the venv's third-party packages but not Winnow. ``-S`` skips
    ``site``, and with it the ``.pth`` of the editable install; the venv's site-packages come back
    through PYTHONPATH, where ``.pth`` files are not run. Winnow can then only come from the zip."""
    site = sysconfig.get_paths()["purelib"]
    wrapper = tmp_path / "executor-python"
    wrapper.write_text(f'#!/bin/sh\nexport PYTHONPATH="${{PYTHONPATH:+$PYTHONPATH:}}{site}"\n'
                       f'exec "{sys.executable}" -S "$@"\n')
    wrapper.chmod(0o755)
    probe = "import importlib.util as u, pyarrow, pyspark; print(u.find_spec('pipeline'), u.find_spec('tests'))"
    out = subprocess.run([str(wrapper), "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["None", "None"], out.stdout + out.stderr  # no Winnow, no tests
    return wrapper


def fixtures_zip(path: Path) -> Path:
    """The test's plug-in stages for the executors (tests/ is not part of Winnow's zip)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name in ("__init__.py", "stage_fixtures.py"):
            zf.write(ROOT / "tests" / name, f"tests/{name}")
    return path


def sample_input(tmp_path: Path, per_file: int = 70) -> Path:
    """The head of each bundled sample file (English, Chinese, code, web junk, broken records), plus
    near copies of a few documents under new ids so that dedup has work."""
    d = tmp_path / "in"
    d.mkdir()
    for f in sorted((ROOT / "data" / "sample").glob("*.jsonl*")):
        with (gzip.open(f, "rb") if f.suffix == ".gz" else open(f, "rb")) as fh:  # bytes: broken.jsonl is
            lines = [line for _, line in zip(range(per_file), fh)]             # not all UTF-8, on purpose
        (d / f.name.replace(".gz", "")).write_bytes(b"".join(lines))
    docs = [json.loads(line) for line in (d / "en.jsonl").read_text().splitlines()[:10]]
    (d / "copies.jsonl").write_text("".join(
        json.dumps({**doc, "id": f"copy-{i}", "text": doc["text"] + " Read more."}) + "\n" for i, doc in enumerate(docs)))
    return d


def executor_pids(worker_pid: int) -> list[int]:
    """The executor JVMs the worker started (its children running CoarseGrainedExecutorBackend)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmd = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == worker_pid and b"CoarseGrainedExecutorBackend" in cmd:
            out.append(int(stat.parent.name))
    return out


def rows(spark, stage_dir: Path, part: str = "kept"):
    """A stage's kept (or rejected) rows; None for the kept/ a fused stage does not write."""
    if not (stage_dir / part).is_dir():
        return None
    df = spark.read.parquet(str(stage_dir / part))
    return sorted(json.dumps(r.asDict(recursive=True), sort_keys=True, default=str) for r in df.collect())


@pytest.mark.slow
def test_zip_only_executors_survive_a_killed_executor_and_match_local_mode(spark, tmp_path, standalone_cluster):
    master, env = standalone_cluster["master"], standalone_cluster["env"]
    inp = sample_input(tmp_path)
    started = tmp_path / "probe-started"
    started.mkdir()
    stages = [
        {"stage": "filter", "params": {"preset": "mixed"}},
        {"stage": PROBE, "name": "probe", "params": {"sleep_s": 4.0, "started_dir": str(started)}},
        {"stage": "pii"},
        {"stage": "dedup"},
    ]
    # the config names a local master, as a config written on a laptop does: spark-submit's must win
    base = {"input": {"paths": [str(inp)]}, "spark": {"master": "local[*]", "shuffle_partitions": 4},
            "stages": stages}
    local = run_pipeline(parse_config({**base, "workdir": str(tmp_path / "local")}), spark=spark)
    assert [r.dir.name for r in local] == ["01-read", "02-filter", "03-probe", "04-pii", "05-dedup"]
    assert local[2].stats["metrics"]["probe/winnow_not_from_zip"] == local[2].stats["docs_in"] > 0
    shutil.rmtree(started)
    started.mkdir()

    winnow_zip = tmp_path / "winnow.zip"
    subprocess.run([sys.executable, "-m", "pipeline.packaging", str(winnow_zip)], cwd=ROOT, check=True)
    py = zip_only_python(tmp_path, env)
    cfg = tmp_path / "cluster.yaml"
    cfg.write_text(json.dumps({**base, "workdir": str(tmp_path / "cluster")}))
    submit = subprocess.Popen(
        [str(BIN / "spark-submit"), "--master", master, "--driver-memory", "1g", "--executor-memory", "1g",
         "--py-files", f"{winnow_zip},{fixtures_zip(tmp_path / 'fixtures.zip')}",
         "--conf", f"spark.pyspark.python={py}", "--conf", f"spark.pyspark.driver.python={sys.executable}",
         str(ROOT / "jobs" / "run_pipeline.py"), "--config", str(cfg)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        # kill the executor while the (slow) probe stage runs on it
        deadline = time.time() + 600
        while time.time() < deadline and submit.poll() is None and not any(started.iterdir()):
            time.sleep(0.2)
        assert submit.poll() is None, submit.communicate()
        victims = executor_pids(standalone_cluster["worker"].pid)
        assert len(victims) == 1, victims
        os.kill(victims[0], signal.SIGKILL)
        stdout, stderr = submit.communicate(timeout=900)
    finally:
        if submit.poll() is None:
            os.killpg(submit.pid, signal.SIGKILL)
    assert submit.returncode == 0, stdout[-3000:] + stderr[-5000:]
    assert "05-dedup: finished" in stdout
    assert f"spark-submit's master {master} is used; the config's spark.master local[*]" in stdout
    worker_log = standalone_cluster["worker_log"].read_text()
    assert worker_log.count("Asked to launch executor") >= 2, worker_log[-3000:]  # a new one replaced it
    assert "Lost executor" in stderr + stdout, (stdout + stderr)[-3000:]

    for res in local:
        cluster_dir = tmp_path / "cluster" / res.dir.name
        stats = json.loads((cluster_dir / "stats.json").read_text())
        assert stats["spark"]["master"] == master
        for key in ("docs_in", "docs_kept", "docs_rejected", "rejected_by_reason", "chars_kept"):
            assert stats[key] == res.stats[key], (res.dir.name, key)
        assert rows(spark, cluster_dir) == rows(spark, res.dir), res.dir.name
        assert rows(spark, cluster_dir, "rejected") == rows(spark, res.dir, "rejected"), res.dir.name
    assert rows(spark, tmp_path / "cluster" / local[-1].dir.name) is not None
    probe = json.loads((tmp_path / "cluster" / "03-probe" / "stats.json").read_text())["metrics"]
    # every row was processed by an executor that imported Winnow from the zip, none from the checkout
    assert probe["probe/winnow_from_zip"] == local[2].stats["docs_in"]
    assert probe.get("probe/winnow_not_from_zip", 0) == 0
    assert local[4].stats["docs_rejected"] > 0 and local[1].stats["docs_rejected"] > 0  # filter and dedup did work
