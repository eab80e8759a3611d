"""Resume is never stale: a stage's hash covers its parameters after defaults, its behaviour version
and the content of every file it reads (models, word lists, tokenizers, reference signatures), so a
change re-runs that stage and every later one, and nothing earlier. Also: a model is defined by its
steps and seed, never by how loaded the machine was (``classifiers/encoder.py``)."""

import os
import shutil
from pathlib import Path

import pytest

from contract.operator import Chain
from pipeline.config import StageConfig, parse_config
from pipeline.registry import build_stage
from pipeline.runner import _hash, file_fingerprint, run_pipeline, stage_basis, why_rerun
from tests.stage_fixtures import MinChars
from tests.test_runner import MIN_CHARS, make_input

FIX = "tests.stage_fixtures"


def rewrite_keeping_size_and_mtime(path: Path, text: str) -> None:
    """Change a file's content but not its size or mtime: only a content hash can see it."""
    st = path.stat()
    assert len(text.encode()) == st.st_size
    path.write_text(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns


def basis(stage_type: str, params: dict, seed: int = 42) -> dict:
    st = StageConfig(stage_type, params=params)
    return stage_basis(st, build_stage(st.stage, st.params), seed)


# -- the fingerprint -------------------------------------------------------------------------------
def test_fingerprint_sees_content_not_only_size_and_mtime(tmp_path, monkeypatch):
    import pipeline.runner as R

    f = tmp_path / "model.bin"
    f.write_text("weights-v1")
    before = file_fingerprint(f)
    assert before["size"] == 10 and "sha256" in before
    rewrite_keeping_size_and_mtime(f, "weights-v2")
    assert file_fingerprint(f) != before

    d = tmp_path / "tok"
    d.mkdir()
    (d / "vocab.txt").write_text("a b")
    first = file_fingerprint(d)
    assert list(first["files"]) == ["vocab.txt"]
    (d / "sub").mkdir()
    (d / "sub" / "merges.txt").write_text("x")
    assert sorted(file_fingerprint(d)["files"]) == ["sub/merges.txt", "vocab.txt"]

    assert file_fingerprint(tmp_path / "nope") == {"path": str(tmp_path / "nope"), "missing": True}

    # a large file: size, mtime and its first and last bytes, not the whole content
    monkeypatch.setattr(R, "FULL_HASH_BYTES", 8)
    monkeypatch.setattr(R, "EDGE_BYTES", 3)
    big = file_fingerprint(f)
    assert "sha256_first_last_mib" in big and "sha256" not in big
    rewrite_keeping_size_and_mtime(f, "XYights-v2")
    assert file_fingerprint(f) != big


# -- what each real stage reads --------------------------------------------------------------------
def test_every_file_reading_stage_names_its_files(tmp_path):
    from operators.filters.blacklist import DEFAULT_BLACKLIST_FILE

    model = tmp_path / "quality-bert"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_text("weights-v1")
    ft = tmp_path / "domain.bin"
    ft.write_text("ft")
    assert build_stage("score", {"quality_model": str(model), "domain_fasttext": str(ft)}).input_files() \
        == [str(model), str(ft)]
    assert build_stage("score", {"min_quality": 0.5}).input_files() == []  # a model-less gate reads nothing

    lid = tmp_path / "lid.ftz"
    lid.write_text("lid")
    assert build_stage("langid", {"model_path": str(lid)}).input_files() == [str(lid)]
    assert build_stage("langid", {}).input_files()[0].endswith("lid.176.ftz")  # the shipped model

    bl = tmp_path / "bl.txt"
    bl.write_text("[gambling]\nbadphrase\n")
    chain = build_stage("filter", {"preset": "zh", "blacklist": {"blacklist_file": str(bl)}})
    assert isinstance(chain, Chain) and chain.input_files() == [str(bl)]
    assert str(DEFAULT_BLACKLIST_FILE) in build_stage("filter", {"preset": "mixed"}).input_files()

    tok = tmp_path / "tokenizer.json"
    tok.write_text("{}")
    assert build_stage("tokenize", {"tokenizer": str(tok)}).input_files() == [str(tok)]
    assert build_stage("tokenize", {}).input_files() == []  # trained from its input: the chain covers it

    refs = tmp_path / "refs"
    refs.mkdir()
    assert build_stage("dedup", {"reference_signatures": str(refs)}).input_files() == [str(refs)]
    assert build_stage("dedup", {}).input_files() == []


@pytest.mark.parametrize("kind", ["score", "langid", "filter", "tokenize", "dedup"])
def test_stage_hash_changes_with_the_content_of_the_files_it_reads(tmp_path, kind):
    d = tmp_path / "dir"
    d.mkdir()
    f = tmp_path / "file.txt"
    if kind == "score":
        (d / "config.json").write_text("{}")
        changed, params = d / "model.safetensors", {"quality_model": str(d)}
    elif kind == "langid":
        changed, params = f, {"model_path": str(f)}
    elif kind == "filter":
        changed, params = f, {"preset": "zh", "blacklist": {"blacklist_file": str(f)}}
    elif kind == "tokenize":
        changed, params = d / "tokenizer.json", {"tokenizer": str(d)}
    else:
        changed, params = d / "part-00000.parquet", {"reference_signatures": [str(d)]}
    changed.write_text("content-v1\n")
    old = basis(kind, params)
    assert basis(kind, params) == old  # stable
    rewrite_keeping_size_and_mtime(changed, "content-v2\n")
    new = basis(kind, params)
    assert _hash(new) != _hash(old)
    assert new["params"] == old["params"] or kind == "score"  # the files, not the parameters, changed
    assert why_rerun(old, new).startswith("input files changed")


def test_stage_hash_covers_params_after_defaults_and_behaviour_version():
    plain = basis(MIN_CHARS, {})
    assert plain["params"] == {"min_chars": 10, "sleep_file": None}
    assert basis(MIN_CHARS, {"min_chars": 10}) == plain  # spelling out a default changes nothing
    assert _hash(basis(MIN_CHARS, {"min_chars": 11})) != _hash(plain)
    assert why_rerun(plain, basis(MIN_CHARS, {"min_chars": 11})) == "params changed (min_chars)"
    assert _hash(basis(MIN_CHARS, {}, seed=1)) != _hash(plain)

    class MinCharsV2(MinChars):
        version = "2"

    st = StageConfig(MIN_CHARS)
    v1, v2 = stage_basis(st, MinChars(), 42), stage_basis(st, MinCharsV2(), 42)
    assert v1["code"]["version"] == "1" and v2["code"]["version"] == "2"
    assert _hash(v1) != _hash(v2) and "code version" in why_rerun(v1, v2)
    # a chain (the filter stage) carries its members' versions
    c1 = stage_basis(StageConfig("filter"), Chain([MinChars()]), 42)
    c2 = stage_basis(StageConfig("filter"), Chain([MinCharsV2()]), 42)
    assert _hash(c1) != _hash(c2)


def test_params_hash_is_json_stable():
    class WithSet(MinChars):
        def __init__(self, words):
            super().__init__()
            self.words = set(words)
            self.where = Path("/x")

    st = StageConfig(MIN_CHARS)
    a = stage_basis(st, WithSet(["b", "a", "c"]), 0)
    b = stage_basis(st, WithSet(["c", "a", "b"]), 0)
    assert a["params"]["words"] == ["a", "b", "c"] and a["params"]["where"] == "/x"
    assert _hash(a) == _hash(b)


# -- end to end: what re-runs ----------------------------------------------------------------------
def test_retrained_model_edited_list_swapped_tokenizer_rerun_that_stage_and_later(spark, tmp_path, capsys):
    make_input(tmp_path)
    word_list = tmp_path / "blacklist.txt"
    word_list.write_text("xyzzy\n")
    model = tmp_path / "model.txt"
    model.write_text("20\n")
    tok = tmp_path / "tokenizer"
    tok.mkdir()
    (tok / "vocab.txt").write_text("document\n")
    cfg = parse_config({
        "input": {"paths": [str(tmp_path / "in")]},
        "workdir": str(tmp_path / "work"),
        # every stage alone: fused row-local stages re-run as a group (tests/test_fusion.py)
        "materialize": True,
        "stages": [
            {"stage": MIN_CHARS, "params": {"min_chars": 5}},
            {"stage": f"{FIX}:WordListFilter", "name": "blacklist", "params": {"list_file": str(word_list)}},
            {"stage": f"{FIX}:FileModelScore", "name": "score", "params": {"model_path": str(model)}},
            {"stage": f"{FIX}:CountTokens", "name": "tokenize", "params": {"tokenizer": str(tok)}},
        ],
    })

    def run():
        res = run_pipeline(cfg, spark=spark)
        return [r.skipped for r in res], {r.name: r.stats for r in res}

    skipped, first = run()
    assert skipped == [False] * 5
    assert first["blacklist"]["docs_rejected"] == 0
    assert run()[0] == [True] * 5  # nothing changed: nothing re-runs

    word_list.write_text("29\n")  # an edited blacklist
    skipped, base = run()
    assert skipped == [True, True, False, False, False]
    assert base["blacklist"]["rejected_by_reason"]["listed_word"]["docs"] == 4  # "document number 29 ..."
    assert "03-blacklist: re-running: input files changed" in capsys.readouterr().out

    model.write_text("40\n")  # a retrained model
    skipped, stats = run()
    assert skipped == [True, True, True, False, False]
    assert stats["score"]["docs_kept"] < base["score"]["docs_kept"]

    def known_counts():
        kept = spark.read.parquet(str(tmp_path / "work" / "05-tokenize" / "kept"))
        return {r.n_known for r in kept.select("n_known").distinct().collect()}

    before = known_counts()
    (tok / "vocab.txt").write_text("document number\n")  # a swapped tokenizer
    skipped, stats = run()
    assert skipped == [True, True, True, True, False]
    assert known_counts() == {2 * n for n in before}  # "document number N " x k: k known words, then 2k
    assert stats["tokenize"]["input_files"][0]["path"] == str(tok)


def test_pii_salt_change_reruns_pii_and_later_and_never_shows_the_salt(spark, tmp_path, capsys):
    """The pseudonyms depend on the salt: a new salt re-runs the PII stage (and every later one),
    although neither stats.json nor _SUCCESS holds the salt (only its PBKDF2 fingerprint)."""
    make_input(tmp_path)
    salt_a, salt_b = "first-secret-salt", "second-secret-salt"

    def run(salt):
        cfg = parse_config({
            "input": {"paths": [str(tmp_path / "in")]}, "workdir": str(tmp_path / "work"),
            "stages": [{"stage": "pii", "params": {"mode": "pseudonym", "salt": salt}},
                       {"stage": MIN_CHARS, "params": {"min_chars": 5}}]})
        return [r.skipped for r in run_pipeline(cfg, spark=spark)]

    assert run(salt_a) == [False] * 3
    assert run(salt_a) == [True] * 3
    assert run(salt_b) == [True, False, False]
    assert "02-pii: re-running: params changed (salt)" in capsys.readouterr().out
    for f in (tmp_path / "work").rglob("*"):
        if f.is_file() and f.suffix != ".parquet":
            text = f.read_text(errors="replace")
            assert "secret-salt" not in text, f


# -- models are defined by steps and seeds, not by the wall clock ------------------------------------
@pytest.fixture
def tiny_encoder(tmp_path):
    """A 1-layer random BERT with MiniLM's tokenizer: trains in seconds."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from classifiers.encoder import default_encoder_path

    enc = tmp_path / "tiny-enc"
    src = default_encoder_path()
    tok = AutoTokenizer.from_pretrained(src)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32), add_pooling_layer=False).save_pretrained(enc)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"):
        if (src / name).exists():
            shutil.copy(src / name, enc / name)
    return enc


def test_encoder_runs_every_step_or_fails_loudly_without_a_model(tmp_path, tiny_encoder, monkeypatch, capsys):
    import classifiers.encoder as E

    zh = ["这是一个关于数据清洗的中文句子，模型要学会它。"] * 20
    en = ["An English sentence about cleaning data for language models."] * 20
    monkeypatch.setattr(E, "pretraining_texts", lambda seed=0: (zh, en))
    monkeypatch.setattr(E, "default_encoder_path", lambda: tiny_encoder)
    args = ["--steps", "3", "--batch-size", "2", "--seq-len", "16", "--min-count", "50", "--threads", "1"]

    out = tmp_path / "enc"
    assert E.main([*args, "--out", str(out), "--max-minutes", "1e-9"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    assert "time limit" in errors[0] and "after step 1 of 3" in errors[0] and "no model written" in errors[0]
    assert not out.exists() and not (tmp_path / "enc.tmp").exists()

    assert E.main([*args, "--out", str(out)]) == 0  # no limit (the Makefile default): every step runs
    import json

    info = json.loads((out / "winnow_encoder.json").read_text())
    assert info["mlm"]["steps_done"] == info["mlm"]["steps"] == 3 and info["seed"] == 0

    # a time-out never replaces a complete model either
    before = (out / "winnow_encoder.json").read_text()
    with pytest.raises(E.TimeLimitExceeded):
        E.build_encoder(out, steps=3, batch_size=2, seq_len=16, min_count=50, max_minutes=1e-9, log=lambda *_: None)
    assert (out / "winnow_encoder.json").read_text() == before
