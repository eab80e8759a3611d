"""Checkpoints: save, find the latest, keep the last K plus the best, and the Hugging Face export.

Layout under ``<out>/checkpoints/``::

    step-00000100/
        trainer_state.json    # written last: step, tokens, data position, best, guard state
        rng-rank<r>.pt        # python, numpy, torch (and CUDA) RNG states of every rank
        model.pt optimizer.pt # plain torch path (DDP: rank 0's copy, identical on every rank)
        <DeepSpeed files>     # DeepSpeed path: engine.save_checkpoint(tag="step-00000100")
    latest                    # the newest complete tag (DeepSpeed's convention, used for both)

A checkpoint without ``trainer_state.json`` is incomplete and never resumed from.
The learning rate is a pure function of the step (``trainer.optim.Schedule``), so no schedule
state is saved: a resumed run rebuilds it from its own flags (a WSD run can resume and anneal).
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer.dist import DistEnv, barrier

STATE = "trainer_state.json"


def tag_for(step: int) -> str:
    return f"step-{step:08d}"


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def complete_checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    found = []
    for d in Path(ckpt_dir).glob("step-*"):
        if d.is_dir() and (d / STATE).is_file():
            found.append((json.loads((d / STATE).read_text())["step"], d))
    return sorted(found)


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    ckpt_dir = Path(ckpt_dir)
    latest = ckpt_dir / "latest"
    if latest.is_file():
        d = ckpt_dir / latest.read_text().strip()
        if (d / STATE).is_file():
            return d
    found = complete_checkpoints(ckpt_dir)
    return found[-1][1] if found else None


def save(ckpt_dir: Path, state: dict[str, Any], env: DistEnv, model=None, optimizer=None, engine=None) -> Path:
    """Every rank calls this. ``state`` is the trainer state (step, tokens, data position...)."""
    tag = tag_for(state["step"])
    d = Path(ckpt_dir) / tag
    if env.is_main:
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    barrier(env)
    if engine is not None:
        engine.save_checkpoint(str(ckpt_dir), tag=tag, client_state={"trainer": state}, save_latest=False)
    elif env.is_main:
        torch.save(model.state_dict(), d / "model.pt")
        torch.save(optimizer.state_dict(), d / "optimizer.pt")
    torch.save(rng_state(), d / f"rng-rank{env.rank}.pt")
    barrier(env)
    if env.is_main:
        tmp = d / (STATE + ".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        tmp.replace(d / STATE)
        (Path(ckpt_dir) / "latest").write_text(tag)
    barrier(env)
    return d


def load(d: Path, env: DistEnv, model=None, optimizer=None, engine=None) -> dict[str, Any]:
    """Restore weights, optimizer and this rank's RNG; returns the trainer state."""
    d = Path(d)
    state = json.loads((d / STATE).read_text())
    if engine is not None:
        path, _ = engine.load_checkpoint(str(d.parent), tag=d.name, load_optimizer_states=True,
                                         load_lr_scheduler_states=False)
        if path is None:
            raise RuntimeError(f"DeepSpeed could not load the checkpoint {d}")
    else:
        model.load_state_dict(torch.load(d / "model.pt", map_location="cpu", weights_only=True))
        optimizer.load_state_dict(torch.load(d / "optimizer.pt", map_location="cpu", weights_only=True))
    rng = d / f"rng-rank{env.rank}.pt"
    if rng.is_file():
        set_rng_state(torch.load(rng, weights_only=False))
    return state


def prune(ckpt_dir: Path, keep_last: int, env: DistEnv) -> None:
    """Keep the newest ``keep_last`` complete checkpoints and the one with the best validation loss."""
    if not env.is_main:
        return
    found = complete_checkpoints(ckpt_dir)
    keep = {p for _, p in found[-max(1, keep_last):]}
    scored = [(json.loads((p / STATE).read_text()).get("val_loss"), p) for _, p in found]
    scored = [(v, p) for v, p in scored if v is not None]
    if scored:
        best = min(scored, key=lambda x: x[0])[1]
        keep.add(best)
        (Path(ckpt_dir) / "best").write_text(best.name)
    for _, p in found:
        if p not in keep:
            shutil.rmtree(p, ignore_errors=True)


def export_hf(model, tokenizer_path: Path | None, out: Path, env: DistEnv, zero3: bool = False) -> Path | None:
    """``save_pretrained`` (safetensors) + the tokenizer: a folder ``AutoModelForCausalLM`` loads."""
    out = Path(out)
    if zero3:
        import deepspeed

        with deepspeed.zero.GatheredParameters(list(model.parameters()), modifier_rank=None):
            if env.is_main:
                _write_hf(model, tokenizer_path, out)
    elif env.is_main:
        _write_hf(model, tokenizer_path, out)
    barrier(env)
    return out if env.is_main else None


def _write_hf(model, tokenizer_path: Path | None, out: Path) -> None:
    from trainer.data import load_tokenizer

    out.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "_orig_mod", model)
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    model.save_pretrained(str(out), state_dict=state, safe_serialization=True)
    if tokenizer_path is not None:
        load_tokenizer(tokenizer_path).save_pretrained(str(out))
