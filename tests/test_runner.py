"""The stage runner: layout, conservation, resume, atomic output, samples."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contract.errors import ConservationError, WorkdirLockedError
from pipeline.config import parse_config
from pipeline.runner import LOCK_FILE, WorkdirLock, run_pipeline

ROOT = Path(__file__).resolve().parents[1]
MIN_CHARS = "tests.stage_fixtures:MinChars"
DUP_TEXT = "tests.stage_fixtures:DropDuplicateTexts"


def make_input(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    lines = [json.dumps({"id": f"d{i}", "text": f"document number {i % 30} " * (1 + i % 4), "source": f"s{i % 2}"})
             for i in range(120)]
    lines += ['{"id": "bad", "text": ', json.dumps({"id": "tiny", "text": "tiny"})]
    (d / "a.jsonl").write_text("\n".join(lines) + "\n")
    return d


def config(tmp_path, min_chars=25, stages=None):
    return parse_config({
        "input": {"paths": [str(tmp_path / "in")]},
        "workdir": str(tmp_path / "work"),
        "samples_per_reason": 3,
        "stages": stages or [{"stage": MIN_CHARS, "params": {"min_chars": min_chars}}, {"stage": DUP_TEXT, "name": "dedup"}],
    })


def test_layout_stats_and_conservation(spark, tmp_path):
    make_input(tmp_path)
    results = run_pipeline(config(tmp_path), spark=spark)
    assert [r.dir.name for r in results] == ["01-read", "02-minchars", "03-dedup"]
    read, minc, dedup = (r.stats for r in results)
    assert read["docs_in"] == 122 and read["rejected_by_reason"]["bad_json"]["docs"] == 1
    for prev, st in ((read, minc), (minc, dedup)):
        assert st["docs_in"] == prev["docs_kept"]
        assert st["docs_in"] == st["docs_kept"] + st["docs_rejected"]
    assert minc["rejected_by_reason"]["too_short"]["docs"] == 31  # "tiny" + 30 one-repeat docs of < 25 chars
    assert minc["metrics"]["seen"] == minc["docs_in"]
    assert dedup["docs_kept"] == 45 and dedup["rejected_by_reason"]["dup"]["docs"] == 45
    for r in results:
        assert (r.dir / "_SUCCESS").exists() and (r.dir / "kept").is_dir() and (r.dir / "rejected").is_dir()
        on_disk = json.loads((r.dir / "stats.json").read_text())
        assert on_disk["docs_kept"] == spark.read.parquet(str(r.dir / "kept")).count()
        assert on_disk["docs_rejected"] == spark.read.parquet(str(r.dir / "rejected")).count()
    rej = spark.read.parquet(str(results[1].dir / "rejected"))
    assert {r.reject_stage for r in rej.select("reject_stage").collect()} == {"minchars"}
    samples = [json.loads(line) for line in (results[1].dir / "samples" / "rejected.jsonl").read_text().splitlines()]
    assert len(samples) == 3 and {s["reject_reason"] for s in samples} == {"too_short"}
    by_source = {row["source"] for row in minc["by_group"]["rows"]}
    assert by_source == {"s0", "s1", "a"}


def test_resume_skips_finished_and_reruns_changed(spark, tmp_path):
    make_input(tmp_path)
    first = run_pipeline(config(tmp_path), spark=spark)
    again = run_pipeline(config(tmp_path), spark=spark)
    assert [r.skipped for r in again] == [True, True, True]
    changed = run_pipeline(config(tmp_path, min_chars=40), spark=spark)
    assert [r.skipped for r in changed] == [True, False, False]
    assert changed[1].stats["docs_kept"] < first[1].stats["docs_kept"]


def test_lost_rows_fail_loudly_and_leave_no_success(spark, tmp_path):
    make_input(tmp_path)
    cfg = config(tmp_path, stages=[{"stage": "tests.stage_fixtures:LosesRows"}])
    with pytest.raises(ConservationError, match="loses_rows"):
        run_pipeline(cfg, spark=spark)
    assert not (tmp_path / "work" / "02-losesrows").exists()


@pytest.mark.slow
def test_killed_job_leaves_no_success_and_resumes(tmp_path):
    make_input(tmp_path)
    sleep_file = tmp_path / "sleep"
    sleep_file.write_text("1")
    cfg = tmp_path / "p.yaml"
    cfg.write_text(json.dumps({
        "input": {"paths": [str(tmp_path / "in")]}, "workdir": str(tmp_path / "work"),
        "spark": {"master": "local[1]", "driver_memory": "1g"},
        "stages": [{"stage": MIN_CHARS, "params": {"min_chars": 5, "sleep_file": str(sleep_file)}}],
    }))
    cmd = [sys.executable, "-m", "jobs.run_pipeline", "--config", str(cfg)]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    work = tmp_path / "work"
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None and not list(work.glob(".tmp-02-minchars-*")):
        time.sleep(0.5)
    assert proc.poll() is None, proc.stdout.read().decode()
    live_tmp = list(work.glob(".tmp-02-minchars-*"))
    assert live_tmp, "stage 02 never started"
    # a second run in the same workdir stops at once, naming the first, and leaves its stage alone
    second = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert second.returncode == 1
    assert second.stderr.strip().count("\n") == 0, second.stderr
    assert "is in use by another run" in second.stderr and f"pid {proc.pid} on host" in second.stderr
    assert all(d.exists() for d in live_tmp)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (work / "01-read" / "_SUCCESS").exists()
    assert not (work / "02-minchars").exists()
    sleep_file.unlink()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"warning: taking over {work / LOCK_FILE} from a run that is gone (pid {proc.pid} on host" in out.stdout
    assert "01-read: up to date, skipped" in out.stdout
    assert (work / "02-minchars" / "_SUCCESS").exists()
    assert not list(work.glob(".tmp-*"))


# -- one run per workdir -----------------------------------------------------------------------------
HOLD_LOCK = ("import sys, time\n"
             "from pipeline.runner import WorkdirLock\n"
             "lock = WorkdirLock(sys.argv[1], 'other.yaml').acquire()\n"
             "print('locked', flush=True)\n"
             "time.sleep(120)\n")


def hold_lock(workdir: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(workdir)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_run_in_a_locked_workdir_stops_at_once_naming_the_holder(tmp_path, capsys):
    import socket

    from jobs.run_pipeline import main

    make_input(tmp_path)
    work = tmp_path / "work"
    live = work / ".tmp-01-read-1234abcd"  # the other run's half-written stage
    live.mkdir(parents=True)
    holder = hold_lock(work)
    try:
        with pytest.raises(WorkdirLockedError) as e:
            run_pipeline(config(tmp_path))  # no Spark session: the lock is taken before anything else
        msg = str(e.value)
        assert f"pid {holder.pid} on host {socket.gethostname()}" in msg and "config other.yaml" in msg
        assert str(work) in msg and "\n" not in msg
        assert live.is_dir() and not (work / "01-read").exists()

        cfg = tmp_path / "p.yaml"
        cfg.write_text(json.dumps({"input": {"paths": [str(tmp_path / "in")]}, "workdir": str(work),
                                   "stages": [{"stage": MIN_CHARS}]}))
        assert main(["--config", str(cfg)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("winnow: error: workdir ") and f"pid {holder.pid}" in err
    finally:
        holder.kill()
        holder.wait()
    assert live.is_dir()


def test_lock_of_a_killed_run_is_taken_over_with_a_warning(tmp_path, capsys):
    holder = hold_lock(tmp_path)
    holder.kill()  # SIGKILL: no clean-up, the lock file still names it; the kernel dropped the flock
    holder.wait()
    assert f'"pid": {holder.pid}' in (tmp_path / LOCK_FILE).read_text()
    lock = WorkdirLock(tmp_path).acquire()
    out = capsys.readouterr().out
    assert f"warning: taking over {tmp_path / LOCK_FILE} from a run that is gone (pid {holder.pid}" in out
    assert f'"pid": {os.getpid()}' in (tmp_path / LOCK_FILE).read_text()
    with pytest.raises(WorkdirLockedError, match=f"pid {os.getpid()} on host"):
        WorkdirLock(tmp_path).acquire()  # even from the same process
    lock.release()
    assert (tmp_path / LOCK_FILE).read_text() == ""  # a clean end leaves nothing to take over
    WorkdirLock(tmp_path).acquire().release()
    assert "warning" not in capsys.readouterr().out


def test_without_flock_the_holder_pid_decides(tmp_path, monkeypatch, capsys):
    """File systems without flock (some network mounts): a dead pid on this host is taken over with
    a warning; a live one, or one on another host, refuses."""
    import errno
    import fcntl
    import socket

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    lock_file = tmp_path / LOCK_FILE
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    lock_file.write_text(json.dumps({"host": host, "pid": dead.pid}))
    WorkdirLock(tmp_path).acquire().release()
    assert f"warning: taking over the stale lock {lock_file} of a dead process (pid {dead.pid}" \
        in capsys.readouterr().out
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock_file.write_text(json.dumps({"host": host, "pid": alive.pid}))
        with pytest.raises(WorkdirLockedError, match=f"pid {alive.pid} on host {host}"):
            WorkdirLock(tmp_path).acquire()
    finally:
        alive.kill()
        alive.wait()
    lock_file.write_text(json.dumps({"host": "elsewhere", "pid": dead.pid}))
    with pytest.raises(WorkdirLockedError, match="on host elsewhere"):
        WorkdirLock(tmp_path).acquire()


# -- however a run fails: one line, and where the full log is ------------------------------------------
def failing_config(tmp_path: Path, stage: str = "tests.stage_fixtures:Explodes", **spark) -> Path:
    make_input(tmp_path)
    cfg = tmp_path / "p.yaml"
    cfg.write_text(json.dumps({"input": {"paths": [str(tmp_path / "in")]}, "workdir": str(tmp_path / "work"),
                               "spark": spark, "stages": [{"stage": stage}]}))
    return cfg


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


def test_failing_spark_stage_ends_with_one_line_and_the_log(spark, tmp_path, capsys):
    from jobs.run_pipeline import main

    cfg = failing_config(tmp_path)
    assert main(["--config", str(cfg)]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("winnow: error in stage 02-explodes: Spark job failed: RuntimeError: explodes: "
                           "the fixture stage failed on purpose; full log: ")
    log = Path(line.rsplit("full log: ", 1)[1])
    assert log.parent == tmp_path / "work" / "logs" and log.name.startswith("error-")
    text = log.read_text()
    assert "Traceback" in text and "explodes: the fixture stage failed on purpose" in text
    assert "winnow stage: 02-explodes" in text


@pytest.mark.parametrize("exc, code, expect", [
    (OSError(28, "No space left on device"), 1, "winnow: error: disk full (No space left on device)"),
    (RuntimeError("An error occurred while calling o1.parquet.\n: java.io.IOException: No space left on device"),
     1, "winnow: error: disk full"),
    (KeyboardInterrupt(), 130, "winnow: interrupted; finished stages are kept, run the same command to resume"),
    (ValueError("a bug\nwith a second line"), 1, "winnow: error: ValueError: a bug; full log: "),
])
def test_disk_full_ctrl_c_and_bugs_end_with_one_line(tmp_path, monkeypatch, capsys, exc, code, expect):
    import pipeline.runner
    from jobs.run_pipeline import main

    def fail(*a, **k):
        raise exc

    monkeypatch.setattr(pipeline.runner, "run_pipeline", fail)
    cfg = failing_config(tmp_path, stage=MIN_CHARS)
    assert main(["--config", str(cfg)]) == code
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(expect)
    log = Path(line.rsplit(": ", 1)[1].rstrip(")"))
    assert log.is_file() and log.parent == tmp_path / "work" / "logs"


@pytest.mark.slow
def test_cli_spark_failure_and_ctrl_c_print_one_line(tmp_path):
    """Through the real command line (embedded Spark): no Java or Python traceback on the console."""
    cfg = failing_config(tmp_path, master="local[1]", driver_memory="1g")
    cmd = [sys.executable, "-m", "jobs.run_pipeline", "--config", str(cfg)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert out.returncode == 1
    err = [line for line in out.stderr.splitlines() if not line.startswith("WARNING: Using incubator modules")]
    line = one_error_line("\n".join(err))  # the workers' stderr (BrokenPipeError) goes to logs/workers-*.log
    assert "Spark job failed: RuntimeError: explodes" in line and "full log: " in line
    assert "Traceback" not in out.stdout and "\tat org.apache" not in out.stdout, out.stdout[-3000:]
    assert "Spark log: " in out.stdout and list((tmp_path / "work" / "logs").glob("spark-*.log"))

    sleep_file = tmp_path / "sleep"
    sleep_file.write_text("1")
    cfg.write_text(json.dumps({"input": {"paths": [str(tmp_path / "in")]}, "workdir": str(tmp_path / "work"),
                               "spark": {"master": "local[1]", "driver_memory": "1g"},
                               "stages": [{"stage": MIN_CHARS, "params": {"sleep_file": str(sleep_file)}}]}))
    # files, not pipes: Spark's Python workers (their own process group) may outlive the driver a while
    with open(tmp_path / "out.txt", "w") as out, open(tmp_path / "err.txt", "w") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=out, stderr=err)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not list((tmp_path / "work").glob(".tmp-02-*")):
        time.sleep(0.5)
    time.sleep(3)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground process group
    proc.wait(timeout=120)
    stdout, stderr = (tmp_path / "out.txt").read_text(), (tmp_path / "err.txt").read_text()
    assert proc.returncode == 130, stdout[-2000:] + stderr[-2000:]
    err = [line for line in stderr.splitlines() if not line.startswith("WARNING: Using incubator modules")]
    assert one_error_line("\n".join(err)).startswith("winnow: interrupted during stage 02-minchars")
    assert "Traceback" not in stdout
