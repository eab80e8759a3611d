"""End to end: the bundled sample through the real stages into shards, and llama-tiny learns from them.

This is the demo's path without the classifiers (they take ~25 min to train): read, normalize,
langid, filter, pii, dedup, mix, tokenize (a BPE trained on the mixture), then 100 trainer steps.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pipeline.config import parse_config
from pipeline.runner import run_pipeline
from shards.manifest import verify_shards
from tests.trainer_fixtures import one_torch_thread, tiny_args
from trainer import loop
from trainer.cli import parse_args

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shards(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sample-to-model")
    stages = [
        {"stage": "normalize"},
        {"stage": "langid", "params": {"keep_langs": ["en", "zh"]}},
        {"stage": "filter", "params": {"preset": "mixed"}},
        {"stage": "pii"},
        {"stage": "dedup"},
        {"stage": "mix", "params": {"budget_tokens": "120k", "max_repeats": 2, "on_short": "keep",
                                    "groups": [{"name": "zh", "where": "lang=zh", "weight": 1},
                                               {"name": "en", "where": "lang=en", "weight": 1}]}},
        {"stage": "tokenize", "params": {"validation_fraction": 0.05, "shard_tokens": 40_000,
                                         "train": {"vocab_size": 4000}}},
    ]
    cfg = {"name": "sample-to-model", "input": {"paths": [str(SAMPLE)]}, "workdir": str(tmp / "work"),
           "seed": 3, "stages": stages}
    run_pipeline(parse_config(cfg, str(tmp / "pipeline.yaml")), spark=spark)
    found = sorted((tmp / "work").glob("*-tokenize/shards/manifest.json"))
    assert len(found) == 1
    return found[0]


def test_sample_shards_verify_and_hold_the_mixture(shards):
    manifest = json.loads(shards.read_text())
    assert verify_shards(shards.parent) == []
    assert manifest["totals"]["train"]["docs"] > 300 and manifest["totals"]["validation"]["docs"] > 5
    assert manifest["tokenizer"]["dtype"] == "uint16" and manifest["tokenizer"]["vocab_size"] % 128 == 0
    written = manifest["achieved"]["train_shares"]  # token shares actually written (mix: 1 : 1)
    assert set(written) == {"zh", "en"}
    assert all(0.4 < s < 0.6 for s in written.values()), written


def test_llama_tiny_learns_from_the_sample_shards(shards, tmp_path):
    cfg = parse_args(tiny_args(shards.parent, tmp_path / "run", max_steps=100, lr=3e-3, seq_len=128,
                               micro_batch=8, grad_accum=1, eval_interval=100, log_interval=20, eval_batches=8))
    with one_torch_thread():
        summary = loop.train(cfg)
    # A 4k vocabulary starts near ln(4096) = 8.3 nats; 100 steps (100k tokens) of real text must
    # take off at least 1.5 nats (validation perplexity divided by 4.5; measured here: 1.86).
    assert summary["initial_val_loss"] > 7.5
    assert summary["final_val_loss"] < summary["initial_val_loss"] - 1.5, summary
    assert summary["final_val_ppl"] == pytest.approx(math.exp(summary["final_val_loss"]))
