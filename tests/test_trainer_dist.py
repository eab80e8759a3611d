"""Multi-process and DeepSpeed paths on CPU (gloo): torchrun DDP, ZeRO-2 and ZeRO-3 with checkpoints."""

from __future__ import annotations

import json

import pytest

from tests.trainer_fixtures import metrics, run_torchrun, synthetic_shards, tiny_args

pytestmark = pytest.mark.slow
ZERO2 = "configs/deepspeed/zero2.json"
ZERO3 = "configs/deepspeed/zero3.json"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return synthetic_shards(tmp_path_factory)


@pytest.fixture(scope="module")
def ddp_run(manifest, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    run_torchrun(2, tiny_args(manifest.parent, out, log_samples=True, export=False))
    return out


def _windows(path):
    rows = [json.loads(ln) for ln in path.read_text().splitlines()]
    return [w for r in rows for w in r["windows"]]


def test_torchrun_two_ranks_see_disjoint_data(ddp_run):
    w0, w1 = _windows(ddp_run / "samples-rank0.jsonl"), _windows(ddp_run / "samples-rank1.jsonl")
    assert len(w0) == len(w1) == 4 * 2 * 4  # steps x accum x micro-batch
    assert len(set(w0)) == len(w0) and not set(w0) & set(w1)
    run = json.loads((ddp_run / "run.json").read_text())
    assert run["world"] == 2 and run["tokens_per_step"] == 2 * 2 * 4 * 64
    assert metrics(ddp_run)[-1]["tokens"] == 4 * 2 * 2 * 4 * 64


def test_deepspeed_zero2_two_processes_save_resume(manifest, tmp_path, ddp_run):
    out = tmp_path / "z2"
    args = tiny_args(manifest.parent, out, deepspeed=ZERO2, ckpt_interval=2)
    run_torchrun(2, args + ["--stop-after", "2"])
    ck = out / "checkpoints" / "step-00000002"
    assert (ck / "zero_pp_rank_1_mp_rank_00_optim_states.pt").is_file()
    assert (ck / "rng-rank1.pt").is_file() and (ck / "trainer_state.json").is_file()
    run_torchrun(2, args + ["--resume"])
    assert json.loads((out / "run.json").read_text())["resumed_from"].endswith("step-00000002")
    # same data, same fp32 maths: ZeRO-2 over 2 ranks (resumed at step 2) follows the DDP run
    for a, b in zip(metrics(ddp_run), metrics(out), strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
    assert (out / "hf" / "model.safetensors").is_file()


def test_deepspeed_zero3_save_resume_and_export(manifest, tmp_path):
    from transformers import AutoModelForCausalLM

    full, part = tmp_path / "z3full", tmp_path / "z3part"
    common = dict(deepspeed=ZERO3, ckpt_interval=2, max_steps=4)
    run_torchrun(1, tiny_args(manifest.parent, full, **common))
    run_torchrun(1, tiny_args(manifest.parent, part, stop_after=2, export=False, **common))
    assert (part / "checkpoints" / "step-00000002" / "zero_pp_rank_0_mp_rank_00_optim_states.pt").is_file()
    run_torchrun(1, tiny_args(manifest.parent, part, resume=True, **common))
    for a, b in zip(metrics(full), metrics(part), strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6)
    model = AutoModelForCausalLM.from_pretrained(part / "hf")  # gathered from the ZeRO-3 partitions
    assert model.config.vocab_size == 384
