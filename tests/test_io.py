"""Every bad-input kind ends as a rejected row with its reason and file:line; nothing is lost."""

import gzip
import json

import pyarrow.compute as pc
import pytest
import zstandard

from contract import schema as S
from contract.errors import InputError
from pipeline.config import InputConfig
from pipeline.io import list_inputs, plan_tasks, read_local


def rows_by_reason(table):
    out = {}
    for r in table.to_pylist():
        out.setdefault(r[S.REJECT_REASON], []).append(r)
    return out


@pytest.fixture
def messy_dir(tmp_path):
    good = [{"id": f"g{i}", "text": f"good document {i}", "source": "web", "url": f"http://x/{i}"} for i in range(3)]
    lines = [json.dumps(g).encode() for g in good]
    lines += [
        b'{"text": "unterminated',  # line 4
        b'{"text": 42}',  # line 5
        b'{"body": "no text field"}',  # line 6
        b'\xff\xfe{"text": "latin-1 junk \xe9"}',  # line 7
        b"[1, 2, 3]",  # line 8
        json.dumps({"text": "x" * 500}).encode(),  # line 9
        json.dumps({"text": "  \n "}).encode(),  # line 10
    ]
    (tmp_path / "messy.jsonl").write_bytes(b"\n".join(lines) + b"\n\n")
    (tmp_path / "empty.jsonl").write_bytes(b"")
    with gzip.open(tmp_path / "ok.jsonl.gz", "wt") as f:
        f.write(json.dumps({"text": "gzip document"}) + "\n")
    (tmp_path / "ok.jsonl.zst").write_bytes(
        zstandard.ZstdCompressor().compress((json.dumps({"text": "zstd document"}) + "\n").encode())
    )
    full = gzip.compress("".join(json.dumps({"text": f"line {i} " * 20}) + "\n" for i in range(2000)).encode())
    (tmp_path / "truncated.jsonl.gz").write_bytes(full[: len(full) // 2])
    return tmp_path


def test_every_bad_kind_is_rejected_with_reason_and_location(messy_dir):
    t = read_local(InputConfig(paths=[str(messy_dir)], max_doc_bytes=300))
    by = rows_by_reason(t)
    kept = by.pop(None)
    assert {r["text"] for r in kept} >= {"good document 0", "gzip document", "zstd document"}
    assert [r[S.ID] for r in kept[:3]] == ["g0", "g1", "g2"]
    assert json.loads(kept[0][S.META])["url"] == "http://x/0"
    assert kept[0][S.SOURCE] == "web"
    expect = {
        "bad_json": ["messy.jsonl:4", "messy.jsonl:8"],
        "missing_text": ["messy.jsonl:5", "messy.jsonl:6"],
        "bad_encoding": ["messy.jsonl:7"],
        "too_large": ["messy.jsonl:9"],
        "empty_text": ["messy.jsonl:10"],
        "empty_file": ["empty.jsonl:0"],
        "bad_compression": ["truncated.jsonl.gz:after line"],
    }
    for reason, locations in expect.items():
        details = [r[S.REJECT_DETAIL] for r in by.get(reason, [])]
        for loc in locations:
            assert any(loc in d for d in details), (reason, loc, details)
    assert "field 'text' is int, not a string" in " ".join(r[S.REJECT_DETAIL] for r in by["missing_text"])


def test_conservation_records_equal_rows(messy_dir):
    t = read_local(InputConfig(paths=[str(messy_dir)], max_doc_bytes=300))
    records = sum(v for m in t.column(S.METRICS).to_pylist() if m for k, v in m if k == "records")
    assert records == t.num_rows
    blank = sum(v for m in t.column(S.METRICS).to_pylist() if m for k, v in m if k == "blank_lines")
    assert blank == 1  # the blank line is counted, not a document


def test_oversized_line_is_not_held_whole(tmp_path):
    huge = json.dumps({"text": "y" * 5_000_000})
    (tmp_path / "h.jsonl").write_text(huge + "\n" + json.dumps({"text": "after the huge one"}) + "\n")
    t = read_local(InputConfig(paths=[str(tmp_path)], max_doc_bytes=1000))
    by = rows_by_reason(t)
    assert len(by["too_large"]) == 1 and "5000012 bytes" in by["too_large"][0][S.REJECT_DETAIL]
    assert len(by["too_large"][0][S.TEXT]) <= 2000
    assert [r["text"] for r in by[None]] == ["after the huge one"]


def test_byte_range_split_reads_every_line_once(tmp_path):
    lines = [json.dumps({"id": str(i), "text": f"document {i} " + "z" * (i % 50)}) for i in range(3000)]
    (tmp_path / "big.jsonl").write_text("\n".join(lines) + "\n")
    cfg = InputConfig(paths=[str(tmp_path / "big.jsonl")], split_bytes=7919)
    assert len(plan_tasks(list_inputs(cfg.paths).files, cfg)) > 10
    t = read_local(cfg)
    assert sorted(t.column(S.ID).to_pylist(), key=int) == [str(i) for i in range(3000)]
    assert pc.sum(pc.is_null(t.column(S.REJECT_REASON))).as_py() == 3000


def test_parquet_input_with_custom_text_field(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"content": ["a parquet doc", None], "lang": ["en", "en"]}), tmp_path / "d.parquet")
    t = read_local(InputConfig(paths=[str(tmp_path / "*.parquet")], text_field="content"))
    by = rows_by_reason(t)
    assert [r["text"] for r in by[None]] == ["a parquet doc"]
    assert json.loads(by[None][0][S.META])["lang"] == "en"
    assert "d.parquet:row2" in by["missing_text"][0][S.REJECT_DETAIL]


def test_missing_path_is_a_one_line_error(tmp_path):
    with pytest.raises(InputError, match="input path not found: .*nothing-here"):
        list_inputs([str(tmp_path / "nothing-here" / "*.jsonl")])


def test_ids_are_stable(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "same"}) + "\n" + json.dumps({"text": "same"}) + "\n")
    ids1 = read_local(InputConfig(paths=[str(tmp_path)])).column(S.ID).to_pylist()
    ids2 = read_local(InputConfig(paths=[str(tmp_path)])).column(S.ID).to_pylist()
    assert ids1 == ids2 and len(set(ids1)) == 2


def test_a_record_that_raises_anything_is_its_own_rejected_row(tmp_path, monkeypatch):
    import pipeline.io as pio

    real = pio._meta_json

    def flaky(meta):
        if meta.get("boom"):
            raise RuntimeError("unexpected")
        return real(meta)

    monkeypatch.setattr(pio, "_meta_json", flaky)
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps({"text": f"t{i}", "boom": i == 1}) for i in range(3)) + "\n")
    t = read_local(InputConfig(paths=[str(tmp_path)]))
    by = rows_by_reason(t)
    assert [r["text"] for r in by[None]] == ["t0", "t2"]
    assert "a.jsonl:2: RuntimeError: unexpected" in by["bad_record"][0][S.REJECT_DETAIL]
    records = sum(v for m in t.column(S.METRICS).to_pylist() if m for k, v in m if k == "records")
    assert records == t.num_rows == 3


def test_parquet_row_with_invalid_utf8_is_rejected_alone(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    raw = pa.array([b"fine", b"bad \xff byte", b"fine too"], pa.binary())
    text = pa.Array.from_buffers(pa.string(), 3, raw.buffers())  # Parquet does not validate UTF-8
    pq.write_table(pa.table({"text": text}), tmp_path / "u.parquet")
    by = rows_by_reason(read_local(InputConfig(paths=[str(tmp_path)])))
    assert [r["text"] for r in by[None]] == ["fine", "fine too"]
    assert "u.parquet:row2" in by["bad_encoding"][0][S.REJECT_DETAIL]


def test_generated_ids_hash_the_path_under_the_input_root(tmp_path):
    import shutil

    for sub in ("x", "y"):
        (tmp_path / "one" / sub).mkdir(parents=True)
        (tmp_path / "one" / sub / "d.jsonl").write_text(json.dumps({"text": "same"}) + "\n")
    ids = read_local(InputConfig(paths=[str(tmp_path / "one")])).column(S.ID).to_pylist()
    assert len(set(ids)) == 2  # same name, line and text in two folders: two ids
    shutil.copytree(tmp_path / "one", tmp_path / "moved" / "two")
    assert read_local(InputConfig(paths=[str(tmp_path / "moved" / "two")])).column(S.ID).to_pylist() == ids
