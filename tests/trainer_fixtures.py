"""Shared helpers for the trainer tests: small synthetic shards (built once per session)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import torch

from trainer.synthetic import build_synthetic_shards

ROOT = Path(__file__).resolve().parents[1]


def synthetic_shards(tmp_path_factory) -> Path:
    """The manifest path of 2,000 generated documents (4 train shards + 1 validation shard)."""
    base = tmp_path_factory.getbasetemp() / "trainer-synthetic"
    manifest = base / "shards" / "manifest.json"
    if not manifest.exists():
        build_synthetic_shards(base, docs=2000, seed=0)
    return manifest


@contextmanager
def one_torch_thread():
    """One intra-op thread: tiny matmuls gain nothing from two, and a busy 2-core box thrashes."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def tiny_args(data: Path, out: Path, **over) -> list[str]:
    opts = {"data": data, "out": out, "model": "llama-tiny", "seq_len": 64, "micro_batch": 4,
            "grad_accum": 2, "max_steps": 4, "eval_interval": 0, "log_interval": 1, "eval_batches": 2}
    opts.update(over)
    args = []
    for k, v in opts.items():
        name = "--" + k.replace("_", "-")
        if v is True:
            args.append(name)
        elif v is False:
            args.append("--no-" + k.replace("_", "-"))
        else:
            args += [name, str(v)]
    return args


def run_torchrun(nproc: int, args: list[str], timeout: int = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--standalone",
           "-m", "trainer", *args]
    if nproc == 1:
        cmd = [sys.executable, "-m", "trainer", *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def metrics(out: Path, kind: str = "train") -> list[dict]:
    rows = [json.loads(ln) for ln in (Path(out) / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    return [r for r in rows if r["kind"] == kind]
