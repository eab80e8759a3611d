"""Run logging: ``metrics.jsonl`` (one JSON object per line), TensorBoard, a console progress line,
and ``loss_curve.png`` at the end. Only rank 0 writes.

Every line of ``metrics.jsonl`` has ``step`` (optimizer steps done), ``tokens`` (training tokens
seen so far) and ``kind``: ``"train"`` lines add ``loss``, ``lr``, ``grad_norm``, ``tokens_per_s``,
``tgs`` (tokens/s per device), ``tflops`` (achieved, per device), ``mfu`` (null when the device
peak is unknown), ``skipped``; ``"eval"`` lines add ``val_loss`` and ``val_ppl``.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any


def fmt_count(x: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:.1f}{unit}"
    return f"{x:.0f}"


def fmt_time(s: float) -> str:
    s = int(max(0, s))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class MetricsLogger:
    def __init__(self, out_dir: Path, enabled: bool = True, tensorboard: bool = True, resume: bool = False):
        self.enabled = enabled
        self.path = Path(out_dir) / "metrics.jsonl"
        self.out_dir = Path(out_dir)
        self.tb = None
        if not enabled:
            return
        if not resume:
            self.path.unlink(missing_ok=True)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(self.out_dir / "tb"))
            except Exception as e:  # tensorboard missing: JSONL still works
                print(f"[trainer] tensorboard disabled: {e}", file=sys.stderr)

    def truncate_after(self, step: int) -> None:
        """On resume, drop lines logged after the checkpoint (they will be logged again)."""
        if not self.enabled or not self.path.exists():
            return
        rows = [ln for ln in self.path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        keep = [ln for ln in rows if json.loads(ln).get("step", 0) <= step]
        self.path.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")

    def log(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        row = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if self.tb is not None:
            step = row["step"]
            prefix = "train" if row.get("kind") == "train" else "eval"
            for k, v in row.items():
                if k not in ("step", "kind") and isinstance(v, int | float) and not isinstance(v, bool):
                    self.tb.add_scalar(f"{prefix}/{k}", v, step)

    def console(self, msg: str) -> None:
        if self.enabled:
            print(msg, flush=True)

    def progress(self, row: dict[str, Any], total_steps: int, eta_s: float) -> None:
        mfu = row.get("mfu")
        self.console(
            f"step {row['step']:>6d}/{total_steps} | loss {row['loss']:.4f} | lr {row['lr']:.2e} | "
            f"gnorm {row['grad_norm']:.2f} | {fmt_count(row['tokens_per_s'])} tok/s | "
            f"tgs {fmt_count(row['tgs'])} | mfu {'n/a' if mfu is None else f'{100 * mfu:.1f}%'} | "
            f"tokens {fmt_count(row['tokens'])} | eta {fmt_time(eta_s)}")

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
            self.tb = None


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]


def plot_loss_curve(metrics_path: Path, png: Path) -> Path | None:
    rows = read_metrics(metrics_path) if Path(metrics_path).exists() else []
    train = [r for r in rows if r.get("kind") == "train" and r.get("loss") is not None]
    evals = [r for r in rows if r.get("kind") == "eval" and r.get("val_loss") is not None]
    if not train and not evals:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if train:
        ax.plot([r["tokens"] for r in train], [r["loss"] for r in train], label="train loss", lw=1.2)
    if evals:
        ax.plot([r["tokens"] for r in evals], [r["val_loss"] for r in evals], "o-", label="validation loss")
    ax.set_xlabel("tokens")
    ax.set_ylabel("cross-entropy (nats)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    return png


class Throughput:
    """Tokens/s over the interval since the last call, TGS, achieved TFLOP/s and MFU."""

    def __init__(self, flops_per_token: float, world: int, peak_tflops: float | None):
        self.fpt, self.world, self.peak = flops_per_token, world, peak_tflops
        self.t0 = time.perf_counter()

    def reset(self) -> None:
        self.t0 = time.perf_counter()

    def measure(self, tokens: int) -> dict[str, float | None]:
        dt = max(1e-9, time.perf_counter() - self.t0)
        self.t0 = time.perf_counter()
        tps = tokens / dt
        tgs = tps / self.world
        tflops = tgs * self.fpt / 1e12
        return {"tokens_per_s": tps, "tgs": tgs, "tflops": tflops,
                "mfu": (tflops / self.peak) if self.peak else None}
