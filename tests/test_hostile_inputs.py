"""Hostile inputs for the reader, end to end: the job finishes, the read stage's counts add up
(records seen == kept + rejected), and every bad record or file is a rejected row with its reason
and ``file:line``. Each case is one input that once killed a job or was silently lost."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from contract import schema as S
from contract.errors import InputError
from contract.operator import Operator
from pipeline.config import parse_config
from pipeline.runner import run_pipeline


def write_lines(path: Path, lines: list[str | bytes | dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = [ln if isinstance(ln, bytes) else (json.dumps(ln) if isinstance(ln, dict) else ln).encode()
           for ln in lines]
    path.write_bytes(b"\n".join(raw) + b"\n")
    return path


def run_read(spark, tmp_path: Path, paths: list[str] | None = None, **input_cfg):
    """Run the read stage alone; check conservation; return (stats, kept rows, rejected rows)."""
    cfg = parse_config({"input": {"paths": paths or [str(tmp_path / "in")], **input_cfg},
                        "workdir": str(tmp_path / "work"), "stages": []})
    read = run_pipeline(cfg, spark=spark, force=True)[0]
    st = read.stats
    assert st["docs_in"] == st["metrics"]["records"] == st["docs_kept"] + st["docs_rejected"]
    kept = [r.asDict() for r in spark.read.parquet(str(read.dir / "kept")).collect()]
    rejected = [r.asDict() for r in spark.read.parquet(str(read.dir / "rejected")).collect()]
    assert set(kept[0] if kept else {S.ID}) <= {f.name for f in S.BASE_FIELDS}  # no reader-internal column
    return st, kept, rejected


def assert_rejected(rejected: list[dict], expected: dict[str, str]) -> None:
    """``expected``: {"name.jsonl:3": reason}; each location is rejected exactly once, for that reason."""
    for loc, reason in expected.items():
        hits = [r for r in rejected if f"/{loc}: " in r[S.REJECT_DETAIL]]
        assert [r[S.REJECT_REASON] for r in hits] == [reason], (loc, [r[S.REJECT_DETAIL] for r in rejected])
        assert hits[0][S.REJECT_STAGE] == "read"


# -- 1. a lone surrogate anywhere ---------------------------------------------------------------------
def test_lone_surrogate_in_any_field_is_bad_encoding(spark, tmp_path):
    write_lines(tmp_path / "in" / "s.jsonl", [
        '{"id": "\\ud800", "text": "surrogate id"}',
        '{"id": "s2", "source": "\\udc00", "text": "surrogate source"}',
        '{"id": "s3", "text": "surrogate in meta", "url": "http://x/\\ud800"}',
        '{"id": "s4", "text": "surrogate in a key", "\\udfff": 1}',
        '{"id": "s5", "text": "surrogate in text \\ud800"}',
        '{"id": "s6", "text": "a proper pair \\ud83d\\ude00 is fine"}',
    ])
    st, kept, rejected = run_read(spark, tmp_path)
    assert [r[S.ID] for r in kept] == ["s6"] and kept[0][S.TEXT].endswith("\U0001f600 is fine")
    assert_rejected(rejected, {f"s.jsonl:{i}": "bad_encoding" for i in range(1, 6)})
    assert "lone surrogate" in rejected[0][S.REJECT_DETAIL]


# -- 2. JSON the parser cannot hold -------------------------------------------------------------------
def test_deep_nesting_and_huge_integer_are_bad_json_and_the_file_goes_on(spark, tmp_path):
    write_lines(tmp_path / "in" / "deep.jsonl", [
        {"id": "before", "text": "before"},
        '{"text": "deep", "x": ' + "[" * 10_000 + "]" * 10_000 + "}",
        '{"text": "big", "n": ' + "7" * 5_000 + "}",
        {"id": "after", "text": "after"},
    ])
    st, kept, rejected = run_read(spark, tmp_path)
    assert sorted(r[S.ID] for r in kept) == ["after", "before"]
    assert_rejected(rejected, {"deep.jsonl:2": "bad_json", "deep.jsonl:3": "bad_json"})
    assert st["docs_in"] == 4


# -- 3. duplicate ids ---------------------------------------------------------------------------------
def test_duplicate_ids_are_rejected_at_read_keeping_the_first(spark, tmp_path):
    write_lines(tmp_path / "in" / "a.jsonl", [{"id": "d1", "text": "one"}, {"id": "d2", "text": "two"},
                                              {"id": "d1", "text": "one again, same file"}])
    write_lines(tmp_path / "in" / "b.jsonl", [{"id": "d2", "text": "two again, other file"},
                                              {"id": "d3", "text": "three"}, {"id": 3, "text": "int id"}])
    write_lines(tmp_path / "in" / "c.jsonl", [{"id": "3", "text": "string 3 clashes with int 3"}])
    st, kept, rejected = run_read(spark, tmp_path)
    assert sorted((r[S.ID], r[S.TEXT]) for r in kept) == [("3", "int id"), ("d1", "one"), ("d2", "two"),
                                                          ("d3", "three")]
    assert_rejected(rejected, {"a.jsonl:3": "duplicate_id", "b.jsonl:1": "duplicate_id",
                               "c.jsonl:1": "duplicate_id"})
    detail = next(r[S.REJECT_DETAIL] for r in rejected if "/b.jsonl:1: " in r[S.REJECT_DETAIL])
    assert "'d2'" in detail and detail.endswith("/a.jsonl:2")  # names the id and where it was kept


def test_duplicate_id_choice_does_not_depend_on_how_the_input_is_split(spark, tmp_path):
    lines = [{"id": f"k{i % 40}", "text": f"copy {i} of k{i % 40}"} for i in range(200)]
    write_lines(tmp_path / "in" / "big.jsonl", lines)
    write_lines(tmp_path / "in" / "small.jsonl", lines[:50])
    outcomes = []
    for split in (1 << 20, 997):  # one task per file, then many byte ranges
        _, kept, rejected = run_read(spark, tmp_path, split_bytes=split)
        outcomes.append(sorted(r[S.TEXT] for r in kept))
        assert len(rejected) == 210 and {r[S.REJECT_REASON] for r in rejected} == {"duplicate_id"}
    assert outcomes[0] == outcomes[1] == sorted(f"copy {i} of k{i}" for i in range(40))


def test_same_lines_in_same_named_files_of_two_folders_get_different_ids(spark, tmp_path):
    for folder in ("x", "y"):
        write_lines(tmp_path / "in" / folder / "data.jsonl", [{"text": "same text"}, {"text": "other"}])
    st, kept, rejected = run_read(spark, tmp_path)
    assert len(kept) == 4 and len({r[S.ID] for r in kept}) == 4 and rejected == []


# -- 4. a byte-order mark -----------------------------------------------------------------------------
def test_utf8_bom_at_file_start_is_not_part_of_the_first_record(spark, tmp_path):
    path = write_lines(tmp_path / "in" / "bom.jsonl", [{"id": "b1", "text": "first"}, {"id": "b2", "text": "x"}])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    st, kept, rejected = run_read(spark, tmp_path)
    assert sorted(r[S.ID] for r in kept) == ["b1", "b2"] and rejected == []


# -- 5. files that cannot or should not be read -------------------------------------------------------
def test_broken_links_fifos_and_unsupported_files_are_rejected_rows(spark, tmp_path):
    d = tmp_path / "in"
    write_lines(d / "good.jsonl", [{"id": "g", "text": "good"}])
    os.symlink("loop2.jsonl", d / "loop1.jsonl")
    os.symlink("loop1.jsonl", d / "loop2.jsonl")
    os.symlink("nowhere.jsonl", d / "dangling.jsonl")
    (d / "old.jsonl.bz2").write_bytes(b"BZh91AY&SY")
    os.mkfifo(d / "pipe.jsonl")
    (d / "corrupt.parquet").write_bytes(b"PAR1 this is not a parquet file PAR1")
    (d / "undecodable-\udcff.jsonl").write_bytes(b'{"text": "name is not UTF-8"}\n')  # byte 0xff in the name
    st, kept, rejected = run_read(spark, tmp_path)  # would hang on the FIFO if it were opened
    assert [r[S.ID] for r in kept] == ["g"]
    expect = {"loop1.jsonl": "unreadable_file", "loop2.jsonl": "unreadable_file",
              "dangling.jsonl": "unreadable_file", "old.jsonl.bz2": "unsupported_file",
              "pipe.jsonl": "unsupported_file", "corrupt.parquet": "bad_parquet"}
    for name, reason in expect.items():
        hits = [r for r in rejected if f"/{name}:" in r[S.REJECT_DETAIL]]
        assert [r[S.REJECT_REASON] for r in hits] == [reason], (name, [r[S.REJECT_DETAIL] for r in rejected])
    details = " | ".join(r[S.REJECT_DETAIL] for r in rejected)
    assert "symlink loop" in details and "dangling symlink" in details and "not a regular file" in details
    assert any(r[S.REJECT_REASON] == "unsupported_file" and "not valid UTF-8" in r[S.REJECT_DETAIL]
               for r in rejected)
    assert len(rejected) == len(expect) + 1


def test_fifo_and_dangling_link_named_by_path_or_glob_are_rejected_rows(spark, tmp_path):
    d = tmp_path / "in"
    write_lines(d / "good.jsonl", [{"id": "g", "text": "good"}])
    os.mkfifo(d / "pipe.jsonl")
    os.symlink("nowhere.jsonl", d / "dangling.jsonl")
    # once: the named FIFO blocked its task forever; the glob's dangling link was a driver traceback
    st, kept, rejected = run_read(spark, tmp_path, paths=[str(d / "pipe.jsonl"), str(d / "*.jsonl")])
    assert [r[S.ID] for r in kept] == ["g"]
    assert_rejected(rejected, {"pipe.jsonl:0": "unsupported_file", "dangling.jsonl:0": "unreadable_file"})
    assert len(rejected) == 2


def test_hidden_files_and_spark_markers_are_skipped_with_a_log_line(spark, tmp_path, caplog):
    d = tmp_path / "in"
    write_lines(d / "good.jsonl", [{"id": "g", "text": "good"}])
    write_lines(d / "_hidden.jsonl", [{"id": "h1", "text": "hidden"}])
    write_lines(d / ".hidden.jsonl", [{"id": "h2", "text": "hidden"}])
    (d / "_SUCCESS").write_text("")
    write_lines(d / "_temporary" / "part.jsonl", [{"id": "h3", "text": "hidden folder"}])
    os.symlink(d / "_temporary", d / "linked")
    with caplog.at_level(logging.INFO, logger="winnow"):
        st, kept, rejected = run_read(spark, tmp_path)
    assert [r[S.ID] for r in kept] == ["g"] and rejected == []
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "winnow")
    for name in ("_hidden.jsonl", ".hidden.jsonl", "_SUCCESS", "_temporary", "linked"):
        assert name in logged, logged
    assert "skipped" in logged


def test_corrupt_parquet_and_unreadable_file(spark, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = tmp_path / "in"
    d.mkdir()
    pq.write_table(pa.table({"id": ["p1", "p2"], "text": ["parquet one", "parquet two"]}), d / "ok.parquet")
    good = (d / "ok.parquet").read_bytes()
    (d / "truncated.parquet").write_bytes(good[: len(good) // 2])
    locked = None
    if os.geteuid() != 0:  # root reads anything: the unreadable case only exists for other users
        locked = write_lines(d / "locked.jsonl", [{"text": "no permission"}])
        locked.chmod(0)
    try:
        st, kept, rejected = run_read(spark, tmp_path)
    finally:
        if locked is not None:
            locked.chmod(0o644)
    assert sorted(r[S.ID] for r in kept) == ["p1", "p2"]
    assert [r[S.REJECT_REASON] for r in rejected if "/truncated.parquet:" in r[S.REJECT_DETAIL]] == ["bad_parquet"]
    if locked is not None:
        assert_rejected(rejected, {"locked.jsonl:0": "unreadable_file"})


# -- 6. id types and non-finite numbers ---------------------------------------------------------------
def test_id_types_and_nan_in_meta(spark, tmp_path):
    write_lines(tmp_path / "in" / "ids.jsonl", [
        '{"id": 1.5, "text": "float id"}',
        '{"id": 7, "text": "int id"}',
        '{"id": true, "text": "bool id"}',
        '{"id": [1], "text": "array id"}',
        '{"id": {"a": 1}, "text": "object id"}',
        '{"id": 12345678901234567890123, "text": "big int id"}',
        '{"id": null, "text": "null id: generated"}',
        '{"id": "n", "text": "nan in meta", "score": NaN, "more": [Infinity, -Infinity, 1.0e999, 0.5]}',
    ])
    st, kept, rejected = run_read(spark, tmp_path)
    by_text = {r[S.TEXT]: r for r in kept}
    assert set(by_text) == {"int id", "big int id", "null id: generated", "nan in meta"}
    assert by_text["int id"][S.ID] == "7" and by_text["big int id"][S.ID] == "12345678901234567890123"
    assert len(by_text["null id: generated"][S.ID]) == 20  # hex of a 10-byte BLAKE2 digest

    def strict(s):  # NaN / Infinity are not JSON
        return json.loads(s, parse_constant=lambda c: pytest.fail(f"{c} in meta: {s}"))

    for r in kept:
        strict(r[S.META])
    meta = strict(by_text["nan in meta"][S.META])
    assert meta["score"] is None and meta["more"] == [None, None, None, 0.5]
    assert_rejected(rejected, {f"ids.jsonl:{i}": "bad_id" for i in (1, 3, 4, 5)})


# -- 7. a bad workdir or input path: one line, no traceback -------------------------------------------
def test_missing_input_path_is_a_one_line_input_error(spark, tmp_path):
    cfg = parse_config({"input": {"paths": [str(tmp_path / "no-such-dir")]}, "workdir": str(tmp_path / "w"),
                        "stages": []})
    with pytest.raises(InputError, match=r"^input path not found: .*no-such-dir$"):
        run_pipeline(cfg, spark=spark)
    os.symlink(tmp_path / "gone.jsonl", tmp_path / "link.jsonl")
    cfg = parse_config({"input": {"paths": [str(tmp_path / "link.jsonl")]}, "workdir": str(tmp_path / "w"),
                        "stages": []})
    with pytest.raises(InputError, match=r"^input path not found: .*link\.jsonl \(dangling symlink\)$"):
        run_pipeline(cfg, spark=spark)


def test_workdir_that_is_a_file_is_a_one_line_error(spark, tmp_path):
    from contract.errors import WinnowError

    write_lines(tmp_path / "in" / "a.jsonl", [{"text": "a"}])
    (tmp_path / "work").write_text("not a directory")
    with pytest.raises(WinnowError, match="workdir"):
        run_read(spark, tmp_path)


# -- 8. no raw PII anywhere under the workdir -----------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
PLANTED_ID = "11010519491231002X"  # resident ID with a valid check character
PLANTED = ["ivan.petrov@example.com", "ivan.petrov", "13812345678", "a.li@example.cn", PLANTED_ID,
           "4111111111111111", "8.8.8.8", "olga@example.org"]
PII_FILE = "contact_ivan.petrov@example.com.jsonl"
PII_DOCS = [
    {"id": "doc-1", "text": "Write to ivan.petrov@example.com about the river survey; the report is due soon."},
    {"id": "tel-13812345678", "text": "A plain note about the weather in spring, with nothing personal in it."},
    {"id": "doc-3", "source": "crm a.li@example.cn", "text": "Another plain note on gardening and on beans."},
    {"id": "doc-4", "text": "A plain note on bridges and their arches, long enough to be kept.",
     "author": {"card": 4111111111111111, "ip": "8.8.8.8", "身份证": PLANTED_ID}},
    {"id": "olga@example.org", "text": "Call 13812345678 or mail olga@example.org, says the duplicate note."},
    {"id": "doc-6", "text": "Call 13812345678 or mail olga@example.org, says the duplicate note."},
]


def pii_pipeline(tmp_path: Path, stages: list[dict]) -> Path:
    inp = tmp_path / "in"
    write_lines(inp / PII_FILE, [*PII_DOCS, '{"id": "broken ivan.petrov@example.com", "text": '])
    write_lines(inp / "_hidden_ivan.petrov@example.com.jsonl", [{"text": "skipped"}])  # a logged skip
    cfg = tmp_path / "p.yaml"
    cfg.write_text(json.dumps({"input": {"paths": [str(inp)]}, "workdir": str(tmp_path / "work"),
                               "spark": {"master": "local[1]", "driver_memory": "1g", "shuffle_partitions": 2},
                               "samples_per_reason": 5, "stages": stages}))
    return cfg


def file_texts(path: Path) -> list[str]:
    """Everything a file says: a Parquet file decoded (schema and rows), any other file as text."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        return [str(table.schema), json.dumps(table.to_pylist(), ensure_ascii=False, default=str)]
    raw = path.read_bytes()
    return [raw.decode("utf-8", "replace"), raw.decode("latin-1")]


def leaks(workdir: Path, first_scrubbed: str) -> list[str]:
    """Every (file, planted value) where a raw value shows: every file of the stages from
    ``first_scrubbed`` on, of earlier stages all but their kept/ and rejected/ data, and everything
    else under the workdir (logs, report, lock)."""
    found = []
    for path in sorted(p for p in workdir.rglob("*") if p.is_file()):
        rel = path.relative_to(workdir)
        stage = rel.parts[0]
        if (stage[:2].isdigit() and stage < first_scrubbed and len(rel.parts) > 1
                and rel.parts[1] in ("kept", "rejected")):
            continue
        texts = [str(rel), *file_texts(path)]
        found += [f"{rel}: {v}" for v in PLANTED if any(v in t for t in texts)]
    return found


@pytest.mark.slow
def test_no_planted_pii_in_any_file_under_the_workdir(tmp_path):
    """PII in text, id, source, meta and the input file's name, through the real command line
    (read, normalize, pii, dedup, then the report): no raw value in any file under the workdir:
    stats, samples, _SUCCESS, dedup's files, the report, Spark's, Python's and the workers' logs."""
    import subprocess
    import sys

    from pipeline.report import build_report

    cfg = pii_pipeline(tmp_path, [{"stage": "normalize"}, {"stage": "pii"},
                                  {"stage": "dedup", "params": {"threshold": 0.8}}])
    env = {**os.environ, "WINNOW_SPARK_LOG_LEVEL": "INFO"}  # Spark's chattiest setting a user may pick
    out = subprocess.run([sys.executable, "-m", "jobs.run_pipeline", "--config", str(cfg)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    work = tmp_path / "work"
    build_report(work)
    names = {p.name for p in work.rglob("*")}
    assert {"index.html", "stats.json", "_SUCCESS", "rejected.jsonl"} <= names
    assert any(n.startswith("spark-") for n in names) and any(n.startswith("python-") for n in names)
    # the values were there to find: the reader's own rows hold them, and the PII stage counted them
    read_kept = " ".join(t for p in (work / "01-read" / "kept").glob("*.parquet") for t in file_texts(p))
    assert PII_FILE[:-6] in read_kept and "a.li@example.cn" in read_kept and PLANTED_ID in read_kept
    pii_stats = json.loads((work / "03-pii" / "stats.json").read_text())
    assert pii_stats["metrics"]["pii/id/email"] == 1 and pii_stats["metrics"]["pii/meta/id_number"] == 1
    report = json.loads((work / "report" / "report.json").read_text())
    assert report["distributions"]["pii"]["in_columns"]["id"] == {"email": 1, "phone": 1}
    assert leaks(work, "03-pii") == []


def test_read_stage_hash_basis_names_pii_paths_scrubbed_yet_sees_a_rename(tmp_path):
    """The read stage's _SUCCESS (its hash basis) lists the input files: a name with PII is written
    scrubbed plus a digest, so renaming one still re-runs the read."""
    from pipeline.config import InputConfig
    from pipeline.io import input_fingerprint

    a = write_lines(tmp_path / "in" / PII_FILE, [{"text": "x"}])
    plain = write_lines(tmp_path / "in" / "plain.jsonl", [{"text": "y"}])
    cfg = InputConfig(paths=[str(a), str(plain)])
    fp = json.dumps(input_fingerprint([str(a), str(plain)], cfg))
    assert "ivan.petrov" not in fp and "<EMAIL>#" in fp and str(plain) in fp  # clean paths stay as they are
    b = a.rename(tmp_path / "in" / "contact_olga@example.org.jsonl")
    assert input_fingerprint([str(b), str(plain)], InputConfig(paths=[str(b), str(plain)])) != json.loads(fp)


def test_logs_winnow_writes_are_scrubbed(tmp_path):
    """The Python log (Winnow's skip lines name files), the error log and, after the run, Spark's
    and the workers' logs: PII replaced."""
    from jobs.run_pipeline import ScrubbingFormatter, scrub_run_logs, write_error_log

    rec = logging.LogRecord("winnow", logging.WARNING, __file__, 1, "read: skipped %d hidden file(s): %s",
                            (1, f"/in/_hidden_{PII_FILE}"), None)
    assert ScrubbingFormatter("%(message)s").format(rec) == "read: skipped 1 hidden file(s): /in/<EMAIL>"
    try:
        raise ValueError(f"bad record in /in/{PII_FILE}: id {PLANTED_ID}")
    except ValueError as e:
        log = write_error_log(e, str(tmp_path), ["--config", "p.yaml"])
    text = log.read_text()
    assert "ValueError: bad record in /in/<EMAIL>: id <ID_NUMBER>" in text and "ivan.petrov" not in text
    logs = tmp_path / "logs"
    (logs / "spark-1.log").write_text(f"INFO FileScanRDD: Reading File path: /in/{PII_FILE}\n")
    (logs / "workers-1.log").write_text("BrokenPipeError from a worker of 13812345678\n")
    (logs / "other.log").write_text(PII_FILE)
    assert len(scrub_run_logs(str(tmp_path), since=0)) == 2
    assert (logs / "spark-1.log").read_text() == "INFO FileScanRDD: Reading File path: /in/<EMAIL>\n"
    assert (logs / "workers-1.log").read_text() == "BrokenPipeError from a worker of <PHONE>\n"
    assert (logs / "other.log").read_text() == PII_FILE  # not a log of Spark's: not touched


def test_worker_daemon_sends_stderr_scrubbed_to_the_log(tmp_path):
    """What pipeline.worker_daemon does before it starts pyspark's daemon: fd 2 of it and of every
    process it forks goes through the scrubber into the log, not to the console."""
    import subprocess
    import sys

    log = tmp_path / "logs" / "workers-1.log"
    log.parent.mkdir()
    code = ("import os, sys; from pipeline.worker_daemon import redirect_stderr; redirect_stderr(sys.argv[1]); "
            "print('Traceback (most recent call last):', file=sys.stderr, flush=True); "
            "pid = os.fork()\nif pid == 0: os.write(2, b'BrokenPipeError: ivan.petrov@example.com\\n'); os._exit(0)\n"
            "os.waitpid(pid, 0)")
    out = subprocess.run([sys.executable, "-c", code, str(log)], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    for _ in range(100):  # the scrubber ends when the last writer has closed fd 2
        if "BrokenPipeError" in log.read_text():
            break
        import time
        time.sleep(0.1)
    assert log.read_text() == "Traceback (most recent call last):\nBrokenPipeError: <EMAIL>\n"


class NoisyExplodes(Operator):
    """A stage whose Python worker writes to stderr (as pyspark's daemon does when a failed job is torn
    down) and then fails: the console must still get one line."""

    name = "noisy"

    def process(self, batch):
        import sys

        print("Traceback (most recent call last):\nBrokenPipeError: [Errno 32] Broken pipe "
              "ivan.petrov@example.com", file=sys.stderr, flush=True)
        raise RuntimeError("noisy: the fixture stage failed on purpose (olga@example.org)")


@pytest.mark.slow
def test_worker_stderr_stays_off_the_console_of_a_failed_run(tmp_path):
    import subprocess
    import sys

    cfg = pii_pipeline(tmp_path, [{"stage": "tests.test_hostile_inputs:NoisyExplodes"}])
    out = subprocess.run([sys.executable, "-m", "jobs.run_pipeline", "--config", str(cfg)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 1
    err = [ln for ln in out.stderr.splitlines() if ln.strip() and not ln.startswith("WARNING: Using incubator")
           and not ln.startswith("read: skipped")]  # Winnow's own warning about the hidden file
    assert len(err) == 1 and err[0].startswith("winnow: error in stage 02-noisyexplodes: Spark job failed: "), out.stderr
    workers = list((tmp_path / "work" / "logs").glob("workers-*.log"))
    assert len(workers) == 1 and "BrokenPipeError: [Errno 32] Broken pipe <EMAIL>" in workers[0].read_text()
    # the error log and Spark's log (the failed task's traceback quotes the error) are scrubbed too
    assert "<EMAIL>" in next((tmp_path / "work" / "logs").glob("spark-*.log")).read_text()
    assert leaks(tmp_path / "work", "99") == []
