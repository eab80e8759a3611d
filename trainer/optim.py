"""AdamW with LLaMA's settings and the learning-rate schedules (pure functions of the step).

* AdamW: betas (0.9, 0.95), weight decay 0.1 on matrices only (no decay on norms/biases), fused
  kernel on GPU.
* ``cosine``: linear warmup, then cosine decay to ``min_lr_ratio * lr`` (10% by default).
* ``wsd``: warmup-stable-decay (Hu et al. 2024, MiniCPM; Hägele et al. 2024): linear warmup, constant
  peak, then a final anneal over the last ``decay_frac`` of the steps (``linear``, ``cosine`` or
  ``1-sqrt``) to ``min_lr_ratio * lr``. ``decay_frac=0`` keeps the peak to the end, so a later run
  can resume the checkpoint and anneal.
* ``constant``: warmup, then the peak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: torch.nn.Module, lr: float, weight_decay: float = 0.1, betas=(0.9, 0.95),
                    eps: float = 1e-8, fused: bool | None = None) -> torch.optim.AdamW:
    if fused is None:
        fused = next(model.parameters()).is_cuda
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=betas, eps=eps,
                             fused=bool(fused) or None)


@dataclass
class Schedule:
    lr: float
    total_steps: int
    warmup_steps: int
    kind: str = "cosine"
    min_lr_ratio: float = 0.1
    decay_frac: float = 0.2
    decay_shape: str = "linear"

    def __post_init__(self):
        if self.kind not in ("cosine", "wsd", "constant"):
            raise ValueError(f"unknown schedule {self.kind!r} (cosine, wsd, constant)")
        if self.decay_shape not in ("linear", "cosine", "1-sqrt"):
            raise ValueError(f"unknown decay shape {self.decay_shape!r} (linear, cosine, 1-sqrt)")

    def __call__(self, step: int) -> float:
        """Learning rate for optimizer step ``step`` (0-based)."""
        lo = self.lr * self.min_lr_ratio
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.kind == "constant":
            return self.lr
        if self.kind == "cosine":
            span = max(1, self.total_steps - self.warmup_steps)
            t = min(1.0, (step - self.warmup_steps) / span)
            return lo + 0.5 * (self.lr - lo) * (1 + math.cos(math.pi * t))
        decay_steps = int(round(self.decay_frac * self.total_steps))
        start = self.total_steps - decay_steps
        if decay_steps <= 0 or step < start:
            return self.lr
        t = min(1.0, (step - start + 1) / decay_steps)
        if self.decay_shape == "linear":
            f = 1 - t
        elif self.decay_shape == "cosine":
            f = 0.5 * (1 + math.cos(math.pi * t))
        else:
            f = 1 - math.sqrt(t)
        return lo + (self.lr - lo) * f


def set_lr(optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr
