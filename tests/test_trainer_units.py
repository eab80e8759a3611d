"""Trainer building blocks: presets and FLOPs, schedules, packing, shuffling, data checks, CLI."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from shards.indexed_dataset import IndexedDataset
from shards.manifest import read_manifest, write_manifest
from tests.trainer_fixtures import synthetic_shards
from trainer.cli import main as cli_main
from trainer.cli import parse_args
from trainer.data import DataError, PackedShard, TrainData, resolve_manifest, resolve_tokenizer
from trainer.model import PRESETS, build_model, flops_per_token, model_config, pad_vocab, param_counts
from trainer.optim import Schedule
from trainer.synthetic import generate_documents, train_tokenizer, write_shards


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return synthetic_shards(tmp_path_factory)


def test_vocab_padding_and_param_counts():
    assert pad_vocab(320) == 384 and pad_vocab(32000) == 32000 and pad_vocab(32001) == 32128
    tok = {"bos_id": 0, "eos_id": 1, "pad_id": 2}
    cfg = model_config("llama-tiny", 320, 64, tok)
    assert cfg.vocab_size == 384 and cfg.eos_token_id == 1
    model = build_model(cfg, seed=0)
    assert model.config._attn_implementation == "sdpa"
    assert param_counts(cfg)["total"] == sum(p.numel() for p in model.parameters())
    # TinyLlama-1.1B with its 32k vocabulary: the published 1,100,048,384 parameters
    assert param_counts(model_config("tinyllama-1.1b", 32000, 2048, tok))["total"] == 1_100_048_384
    assert param_counts(model_config("llama-7b", 32000, 4096, tok))["total"] == 6_738_415_616
    assert set(PRESETS) >= {"llama-tiny", "llama-60m", "llama-160m", "tinyllama-1.1b", "llama-7b"}


def test_flops_formula():
    cfg = model_config("tinyllama-1.1b", 32000, 2048, {})
    n = param_counts(cfg)["total"] - 32000 * 2048  # input embedding is a lookup
    assert flops_per_token(cfg, 2048) == 6 * n + 12 * 22 * 2048 * 2048


def test_model_from_yaml(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text("hidden_size: 32\nintermediate_size: 64\nnum_hidden_layers: 1\n"
                    "num_attention_heads: 2\nnum_key_value_heads: 1\n")
    cfg = model_config(str(spec), 300, 32, {})
    assert (cfg.hidden_size, cfg.num_key_value_heads, cfg.vocab_size) == (32, 1, 384)
    with pytest.raises(ValueError, match="not a preset"):
        model_config("llama-huge", 300, 32, {})


def test_schedules():
    cos = Schedule(1.0, 100, 10, "cosine", min_lr_ratio=0.1)
    assert cos(0) == pytest.approx(0.1) and cos(9) == pytest.approx(1.0)
    assert cos(10) == pytest.approx(1.0) and cos(100) == pytest.approx(0.1)
    assert all(cos(i) >= cos(i + 1) for i in range(10, 100))
    wsd = Schedule(1.0, 100, 10, "wsd", min_lr_ratio=0.0, decay_frac=0.2)
    assert [wsd(i) for i in (10, 50, 79)] == [1.0, 1.0, 1.0]
    assert wsd(80) < 1.0 and wsd(99) == pytest.approx(0.0)
    sq = Schedule(1.0, 100, 10, "wsd", min_lr_ratio=0.0, decay_frac=0.2, decay_shape="1-sqrt")
    assert sq(89) == pytest.approx(1 - math.sqrt(10 / 20))
    assert Schedule(1.0, 100, 10, "wsd", decay_frac=0.0)(99) == 1.0  # no anneal: resume and anneal later


def test_windows_pack_the_token_stream(manifest):
    prefix = manifest.parent / "train/shard-00000"
    ds = IndexedDataset(prefix)
    stream = np.concatenate([ds[i] for i in range(len(ds))]).astype(np.int64)
    shard = PackedShard(prefix, 64, eos_id=1)
    assert not shard.append_eos  # the documents already end with EOS
    assert shard.n_windows == (len(stream) - 1) // 64
    for i in (0, 1, shard.n_windows - 1):
        w = shard.window(i)
        assert len(w) == 65 and np.array_equal(w, stream[i * 64: i * 64 + 65])
    assert (stream == 1).sum() == len(ds)  # EOS between documents, crossing boundaries in windows


def test_eos_inserted_when_documents_lack_it(tmp_path, manifest):
    meta = read_manifest(manifest)["tokenizer"]
    texts = generate_documents(50, seed=3)
    m = write_shards(tmp_path, texts, meta["path"], append_eos=False)
    m_eos = write_shards(tmp_path / "eos", texts, meta["path"], append_eos=True)
    a = PackedShard(m.parent / "train/shard-00000", 32, eos_id=meta["eos_id"])
    b = PackedShard(m_eos.parent / "train/shard-00000", 32, eos_id=meta["eos_id"])
    assert a.append_eos and not b.append_eos and a.n_windows == b.n_windows
    for i in range(a.n_windows):
        assert np.array_equal(a.window(i), b.window(i))


def test_shuffle_is_deterministic_and_ranks_disjoint(manifest):
    def take(rank, world, seed=7, n=20):
        d = TrainData(manifest, 64, 4, seed, rank, world, eos_id=1)
        return [d.next_ids().tolist() for _ in range(n)], d

    r0, d0 = take(0, 2)
    r1, _ = take(1, 2)
    assert r0 == take(0, 2)[0]  # same seed, same order
    assert r0 != take(0, 2, seed=8)[0]
    ids0 = {i for b in r0 for i in b}
    ids1 = {i for b in r1 for i in b}
    assert not ids0 & ids1 and len(ids0) == len(ids1) == 80
    # an epoch is a permutation: one rank alone sees every window exactly once
    solo = TrainData(manifest, 64, 4, 7, 0, 1, eos_id=1)
    n = solo.windows_per_epoch // 4
    seen = np.concatenate([solo.next_ids() for _ in range(n)])
    assert len(set(seen.tolist())) == len(seen) == n * 4
    first_next_epoch = solo.next_ids()
    assert solo.position.epoch == 1 and len(first_next_epoch) == 4


def test_data_position_roundtrip(manifest):
    d = TrainData(manifest, 64, 4, 1, eos_id=1)
    for _ in range(5):
        d.next_batch()
    state = json.loads(json.dumps(d.state_dict()))
    want = [d.next_batch() for _ in range(3)]
    e = TrainData(manifest, 64, 4, 1, eos_id=1)
    e.load_state_dict(state)
    for a in want:
        assert (e.next_batch() == a).all()


def test_growing_manifest_shards_join_next_epoch(tmp_path, manifest):
    shard_dir = tmp_path / "shards"
    shutil.copytree(manifest.parent, shard_dir)
    full = read_manifest(shard_dir)
    first = [s for s in full["shards"] if s["prefix"] == "train/shard-00000"]
    write_manifest(shard_dir, {**full, "complete": False, "shards": first})
    d = TrainData(shard_dir / "manifest.json", 64, 4, 0, eos_id=1)
    n0 = d.windows_per_epoch
    write_manifest(shard_dir, {**full, "complete": True})  # the pipeline appended three shards
    for _ in range(n0 // 4):
        d.next_ids()
    assert d.position.epoch == 0 and len(d.position.shards) == 1
    d.next_ids()
    assert d.position.epoch == 1 and len(d.position.shards) == 4 and d.windows_per_epoch > 3 * n0


def test_checksum_mismatch_refused(tmp_path, manifest):
    shard_dir = tmp_path / "shards"
    shutil.copytree(manifest.parent, shard_dir)
    with open(shard_dir / "train/shard-00001.bin", "r+b") as f:
        f.seek(10)
        f.write(b"\x07\x00")
    with pytest.raises(DataError, match="sha256 mismatch"):
        TrainData(shard_dir / "manifest.json", 64, 4, 0, eos_id=1)
    TrainData(shard_dir / "manifest.json", 64, 4, 0, eos_id=1, verify=False)  # --no-verify-checksums


def test_tokenizer_mismatch_refused(tmp_path, manifest, capsys):
    other = train_tokenizer(generate_documents(200, seed=9)[::-1], tmp_path / "other-tok", vocab_size=300)
    m = read_manifest(manifest)
    with pytest.raises(DataError, match="tokenizer mismatch"):
        resolve_tokenizer(m, manifest, str(other))
    assert resolve_tokenizer(m, manifest, m["tokenizer"]["path"]).exists()
    assert resolve_tokenizer(m, manifest).exists()  # default: the manifest's tokenizer
    rc = cli_main(["--data", str(manifest.parent), "--tokenizer", str(other), "--max-steps", "1",
                   "--out", str(tmp_path / "run")])
    assert rc == 2 and "tokenizer mismatch" in capsys.readouterr().err


def test_data_accepts_dir_manifest_or_pipeline_workdir(tmp_path, manifest):
    assert resolve_manifest(manifest) == manifest
    assert resolve_manifest(manifest.parent) == manifest
    work = tmp_path / "work"
    shutil.copytree(manifest.parent, work / "09-tokenize" / "shards")
    assert resolve_manifest(work) == work / "09-tokenize" / "shards" / "manifest.json"
    with pytest.raises(DataError, match="no manifest.json"):
        resolve_manifest(tmp_path / "nowhere")


def test_cli_flags():
    cfg = parse_args(["--data", "x", "--local_rank=3", "--no-verify-checksums", "--schedule", "wsd",
                      "--global-batch-tokens", "4096", "--lr", "1e-3"])
    assert (cfg.local_rank, cfg.verify_checksums, cfg.schedule, cfg.global_batch_tokens, cfg.lr) == \
        (3, False, "wsd", 4096, 1e-3)
