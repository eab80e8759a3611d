"""Training configuration: one dataclass, the single source of truth for CLI flags and run records.

Every field is a CLI flag (``--micro-batch`` for ``micro_batch``); ``trainer.cli`` builds the parser
from this dataclass, and the run directory keeps the resolved values as ``config.json``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainConfig:
    # data
    data: str = field(default="", metadata={"help": "shard dir, manifest.json, or a pipeline workdir"})
    tokenizer: str = field(default="", metadata={"help": "tokenizer dir/file; default: the manifest's"})
    verify_checksums: bool = field(default=True, metadata={"help": "sha256 every shard before use"})
    follow: bool = field(default=True, metadata={"help": "re-read a growing manifest at each epoch"})
    wait_for_data: float = field(default=0.0, metadata={"help": "seconds to wait for train shards"})
    # model
    model: str = field(default="llama-tiny", metadata={"help": "preset name or JSON/YAML LlamaConfig"})
    seq_len: int = field(default=256, metadata={"help": "tokens per training window"})
    activation_checkpointing: bool = field(default=False, metadata={"help": "recompute activations"})
    compile: bool = field(default=False, metadata={"help": "torch.compile the model (GPU)"})
    # batch and budget
    micro_batch: int = field(default=8, metadata={"help": "sequences per device per micro-step"})
    global_batch_tokens: int = field(default=0, metadata={"help": "tokens per optimizer step (0: no accum)"})
    grad_accum: int = field(default=0, metadata={"help": "micro-steps per step (overrides tokens)"})
    max_steps: int = field(default=0, metadata={"help": "optimizer steps (0: from --max-tokens)"})
    max_tokens: int = field(default=0, metadata={"help": "token budget when --max-steps is 0"})
    # optimizer and schedule
    lr: float = field(default=3e-4, metadata={"help": "peak learning rate"})
    min_lr_ratio: float = field(default=0.1, metadata={"help": "final lr as a fraction of --lr"})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW weight decay (matrices only)"})
    beta1: float = field(default=0.9, metadata={"help": "AdamW beta1"})
    beta2: float = field(default=0.95, metadata={"help": "AdamW beta2"})
    eps: float = field(default=1e-8, metadata={"help": "AdamW epsilon"})
    grad_clip: float = field(default=1.0, metadata={"help": "max global grad norm (0: off)"})
    schedule: str = field(default="cosine", metadata={"help": "cosine | wsd | constant",
                                                      "choices": ("cosine", "wsd", "constant")})
    warmup_steps: int = field(default=0, metadata={"help": "linear warmup steps (0: 1%% of steps, min 1)"})
    decay_frac: float = field(default=0.2, metadata={"help": "wsd: fraction of steps in the final anneal"})
    decay_shape: str = field(default="linear", metadata={"help": "wsd anneal: linear | cosine | 1-sqrt",
                                                         "choices": ("linear", "cosine", "1-sqrt")})
    # stability guard
    spike_factor: float = field(default=0.0, metadata={"help": "skip step if loss > factor x running mean (0: off)"})
    max_skips: int = field(default=20, metadata={"help": "stop after this many skipped steps"})
    # evaluation, checkpoints, logging
    eval_interval: int = field(default=100, metadata={"help": "steps between validation runs (0: end only)"})
    eval_batches: int = field(default=8, metadata={"help": "validation micro-batches per rank"})
    initial_eval: bool = field(default=True, metadata={"help": "evaluate before the first step"})
    ckpt_interval: int = field(default=0, metadata={"help": "steps between checkpoints (0: end only)"})
    keep_last: int = field(default=2, metadata={"help": "checkpoints kept besides the best"})
    resume: bool = field(default=False, metadata={"help": "continue from the latest checkpoint in --out"})
    export: bool = field(default=True, metadata={"help": "write a Hugging Face folder at the end"})
    log_interval: int = field(default=10, metadata={"help": "steps between metric lines"})
    log_samples: bool = field(default=False, metadata={"help": "record each rank's window ids (debug)"})
    peak_tflops: float = field(default=0.0, metadata={"help": "device peak for MFU (0: known GPU table)"})
    out: str = field(default="runs/train", metadata={"help": "run directory"})
    seed: int = field(default=1234, metadata={"help": "seed for init and data order"})
    # distributed
    deepspeed: str = field(default="", metadata={"help": "DeepSpeed JSON config (ZeRO 1/2/3)"})
    local_rank: int = field(default=-1, metadata={"help": "set by the deepspeed launcher"})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda", "choices": ("auto", "cpu", "cuda")})
    dtype: str = field(default="auto", metadata={"help": "auto (bf16 autocast on GPU, fp32 on CPU) | fp32 | bf16",
                                                  "choices": ("auto", "fp32", "bf16")})
    # debugging: stop after this many steps of the planned run (a simulated interruption)
    stop_after: int = field(default=0, metadata={"help": "exit after this step (schedule unchanged)"})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True), encoding="utf-8")


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")
