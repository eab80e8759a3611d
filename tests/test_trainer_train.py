"""End-to-end single-process training on CPU: loss falls, exact resume, NaN guard, HF export."""

from __future__ import annotations

import json
import math

import pytest
import torch

from tests.trainer_fixtures import metrics, one_torch_thread, synthetic_shards, tiny_args
from trainer import loop
from trainer.cli import parse_args


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return synthetic_shards(tmp_path_factory)


@pytest.fixture(scope="module")
def trained(manifest, tmp_path_factory):
    """llama-tiny, 100 steps of 4 x 2 x 64 tokens, with evaluation, checkpoints and export."""
    out = tmp_path_factory.mktemp("tiny-run")
    cfg = parse_args(tiny_args(manifest.parent, out, max_steps=100, lr=3e-3, eval_interval=50,
                               ckpt_interval=25, keep_last=2, log_interval=10, eval_batches=8))
    return loop.train(cfg), out


def test_tiny_model_loss_falls(trained):
    summary, out = trained
    evals = metrics(out, "eval")
    assert [r["step"] for r in evals] == [0, 50, 100]
    assert summary["final_val_loss"] < 0.4 * summary["initial_val_loss"]  # ~5.96 -> ~1.5 nats
    assert summary["final_val_ppl"] == pytest.approx(math.exp(summary["final_val_loss"]))
    train = metrics(out)
    assert len(train) == 10 and train[-1]["loss"] < train[0]["loss"] - 2.0
    row = train[-1]
    assert row["tokens"] == 100 * 4 * 2 * 64 and row["tgs"] > 0 and row["mfu"] is None  # CPU: MFU n/a
    assert 0 < row["lr"] < 3e-3 and math.isfinite(row["grad_norm"])


def test_run_directory_records(trained):
    _, out = trained
    for name in ("command.txt", "config.json", "model_config.json", "manifest_summary.json", "run.json",
                 "summary.json", "loss_curve.png", "metrics.jsonl"):
        assert (out / name).is_file(), name
    assert list((out / "tb").glob("events.out.tfevents.*"))
    assert json.loads((out / "config.json").read_text())["max_steps"] == 100
    summary = json.loads((out / "manifest_summary.json").read_text())
    assert summary["splits"]["train"]["shards"] == 4 and summary["splits"]["validation"]["docs"] == 200
    # keep the last 2 checkpoints plus the best by validation loss
    ckpts = sorted(p.name for p in (out / "checkpoints").glob("step-*"))
    assert ckpts == ["step-00000075", "step-00000100"]
    assert (out / "checkpoints" / "latest").read_text() == "step-00000100"
    assert (out / "checkpoints" / "best").read_text() == "step-00000100"


def test_export_loads_and_generates(trained):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, out = trained
    assert (out / "hf" / "model.safetensors").is_file()
    model = AutoModelForCausalLM.from_pretrained(out / "hf")
    tok = AutoTokenizer.from_pretrained(out / "hf")
    assert model.config.vocab_size == 384 and len(tok) == 320
    ids = tok("The cat", return_tensors="pt").input_ids
    gen = model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    text = tok.decode(gen[0][ids.shape[1]:], skip_special_tokens=True)
    assert gen.shape[1] > ids.shape[1] and text.strip()
    # the exported model is the trained one: its loss on training-like text is low
    enc = tok("The old farmer sees the tall tree. A dog likes a green apple.", return_tensors="pt")
    with torch.no_grad():
        assert model(**enc, labels=enc.input_ids).loss.item() < 2.5


def test_resume_equals_uninterrupted(manifest, tmp_path):
    common = dict(max_steps=24, eval_interval=8, ckpt_interval=8, log_interval=1, export=False)
    full = loop.train(parse_args(tiny_args(manifest.parent, tmp_path / "full", **common)))
    loop.train(parse_args(tiny_args(manifest.parent, tmp_path / "part", stop_after=13, **common)))
    resumed = loop.train(parse_args(tiny_args(manifest.parent, tmp_path / "part", resume=True, **common)))
    a, b = metrics(tmp_path / "full"), metrics(tmp_path / "part")
    assert [r["step"] for r in b] == list(range(1, 25))  # lines after the checkpoint were replaced
    for ra, rb in zip(a, b):
        assert ra["loss"] == pytest.approx(rb["loss"], abs=1e-6) and ra["lr"] == rb["lr"]
    assert resumed["final_val_loss"] == pytest.approx(full["final_val_loss"], abs=1e-6)
    assert json.loads((tmp_path / "part" / "run.json").read_text())["resumed_from"].endswith("step-00000008")


def test_nan_step_is_skipped_and_limit_stops(manifest, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = loop.compute_loss

    def poisoned(model, batch, autocast):
        calls["n"] += 1
        loss = real(model, batch, autocast)
        return loss * float("nan") if calls["n"] in (5, 6) else loss  # step 3 (2 micro-steps each)

    monkeypatch.setattr(loop, "compute_loss", poisoned)
    t = loop.Trainer(parse_args(tiny_args(manifest.parent, tmp_path / "nan", max_steps=5, export=False,
                                          initial_eval=False)))
    t.cfg.eval_interval = 0
    t.run()
    assert t.state["skipped"] == 1
    assert all(torch.isfinite(p).all() for p in t.raw_model.parameters())
    rows = metrics(tmp_path / "nan")
    assert rows[2]["skipped"] == 1 and rows[2]["loss"] is None and rows[3]["loss"] is not None

    calls["n"] = 0
    monkeypatch.setattr(loop, "compute_loss", lambda m, b, a: real(m, b, a) * float("nan"))
    t = loop.Trainer(parse_args(tiny_args(manifest.parent, tmp_path / "nan2", max_steps=5, max_skips=2,
                                          export=False, initial_eval=False)))
    with pytest.raises(RuntimeError, match="skipped steps"):
        t.run()


def test_loss_spike_is_skipped(manifest, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = loop.compute_loss

    def spiky(model, batch, autocast):
        calls["n"] += 1
        loss = real(model, batch, autocast)
        return loss * 50 if calls["n"] in (25, 26) else loss  # calls 1-2: the probe below; then 2 per step

    monkeypatch.setattr(loop, "compute_loss", spiky)
    t = loop.Trainer(parse_args(tiny_args(manifest.parent, tmp_path / "spike", max_steps=15, spike_factor=3.0,
                                          export=False, initial_eval=False)))
    before = {k: v.clone() for k, v in t.raw_model.state_dict().items()}
    t.train_step(1e-3)  # a normal step changes the weights ...
    assert any(not torch.equal(before[k], v) for k, v in t.raw_model.state_dict().items())
    t.run()
    rows = metrics(tmp_path / "spike")
    assert t.state["skipped"] == 1 and next(r["step"] for r in rows if r["skipped"]) == 12


def test_gpu_benchmark_code_path_on_cpu(tmp_path):
    from bench.bench_gpu_train import dry_run

    r = dry_run(tmp_path)
    assert r["device"] == "cpu" and r["attention"] == "sdpa" and r["vocab"] == 512
    assert r["timed_steps"] == 4 and r["tgs"] > 0 and r["mfu"] is None  # no CPU peak: MFU n/a
    assert r["flops_per_token"] > 6 * (r["params"] - 512 * 64) and r["skipped_steps"] == 0
