"""The training loop: setup, optimizer steps with accumulation, guard, eval, checkpoints, export."""

from __future__ import annotations

import contextlib
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from trainer import checkpoint as ckpt
from trainer import dist as D
from trainer.config import TrainConfig
from trainer.data import (
    DataError,
    EvalData,
    TrainData,
    check_checksums,
    load_tokenizer,
    manifest_summary,
    resolve_tokenizer,
    wait_for_manifest,
)
from trainer.metrics import MetricsLogger, Throughput, plot_loss_curve
from trainer.model import build_model, device_peak_tflops, flops_per_token, model_config, param_counts
from trainer.optim import Schedule, build_optimizer, set_lr


def compute_loss(model, batch: torch.Tensor, autocast) -> torch.Tensor:
    """Mean next-token cross-entropy of a ``(B, T + 1)`` window batch (inputs w[:-1], targets w[1:])."""
    x, y = batch[:, :-1], batch[:, 1:]
    with autocast():
        logits = model(input_ids=x, use_cache=False).logits
    return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))


@torch.no_grad()
def evaluate(model, eval_data: EvalData, env: D.DistEnv, autocast) -> float | None:
    """Token-weighted mean validation loss over every rank's share (None without validation data)."""
    model.eval()
    total = torch.zeros(2, dtype=torch.float64, device=env.device)
    for batch in eval_data.batches():
        batch = batch.to(env.device)
        n = batch[:, 1:].numel()
        total[0] += compute_loss(model, batch, autocast).double() * n
        total[1] += n
    model.train()
    total = D.all_reduce_sum(total, env)
    return None if total[1] == 0 else float(total[0] / total[1])


def load_deepspeed_config(path: str, cfg: TrainConfig, accum: int, env: D.DistEnv) -> dict[str, Any]:
    """Fill the batch/clip fields from the CLI; bf16 only on GPU (fp32 on CPU)."""
    ds = json.loads(Path(path).read_text(encoding="utf-8"))
    ds["train_micro_batch_size_per_gpu"] = cfg.micro_batch
    ds["gradient_accumulation_steps"] = accum
    ds["train_batch_size"] = cfg.micro_batch * accum * env.world
    ds["gradient_clipping"] = cfg.grad_clip
    if env.device.type != "cuda" or cfg.dtype == "fp32":
        ds.setdefault("bf16", {})["enabled"] = False
    ds.setdefault("steps_per_print", 10 ** 9)
    ds.setdefault("wall_clock_breakdown", False)
    return ds


class Trainer:
    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.env = env = D.setup(cfg.device, cfg.local_rank, deepspeed=bool(cfg.deepspeed))
        self.out = Path(cfg.out)
        self.ckpt_dir = self.out / "checkpoints"
        if env.is_main:
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)

        # data and tokenizer
        self.manifest_path, manifest = wait_for_manifest(cfg.data, cfg.wait_for_data)
        self.tokenizer_path = resolve_tokenizer(manifest, self.manifest_path, cfg.tokenizer)
        tok = manifest.get("tokenizer") or {}
        if cfg.verify_checksums and env.is_main:
            check_checksums(self.manifest_path, [s for s in manifest["shards"] if s["split"] == "validation"])
        eos = tok.get("eos_id")
        self.data = TrainData(self.manifest_path, cfg.seq_len, cfg.micro_batch, cfg.seed, env.rank, env.world,
                              eos_id=eos, follow=cfg.follow, verify=cfg.verify_checksums and env.is_main)
        D.barrier(env)
        self.eval_data = EvalData(self.manifest_path, cfg.seq_len, cfg.micro_batch, cfg.eval_batches,
                                  env.rank, env.world, eos_id=eos)

        # batch geometry and budget
        per_micro = cfg.micro_batch * cfg.seq_len * env.world
        self.accum = cfg.grad_accum or max(1, round(cfg.global_batch_tokens / per_micro))
        self.tokens_per_step = per_micro * self.accum
        if cfg.max_steps:
            self.total_steps = cfg.max_steps
        elif cfg.max_tokens:
            self.total_steps = math.ceil(cfg.max_tokens / self.tokens_per_step)
        else:
            raise ValueError("give --max-steps or --max-tokens")
        warmup = cfg.warmup_steps or max(1, round(0.01 * self.total_steps))
        self.schedule = Schedule(cfg.lr, self.total_steps, warmup, cfg.schedule, cfg.min_lr_ratio,
                                 cfg.decay_frac, cfg.decay_shape)

        # model
        vocab = int(tok.get("vocab_size") or 0) or len(load_tokenizer(self.tokenizer_path))
        self.model_config = model_config(cfg.model, vocab, cfg.seq_len, tok)
        model = build_model(self.model_config, cfg.seed, cfg.activation_checkpointing)
        self.counts = param_counts(self.model_config)
        bf16 = cfg.dtype == "bf16" or (cfg.dtype == "auto" and env.device.type == "cuda")
        self.engine = None
        if cfg.deepspeed:
            import deepspeed

            self.ds_config = load_deepspeed_config(cfg.deepspeed, cfg, self.accum, env)
            self.zero_stage = int(self.ds_config.get("zero_optimization", {}).get("stage", 0))
            optimizer = build_optimizer(model, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2), cfg.eps,
                                        fused=False)
            self.engine, self.optimizer, _, _ = deepspeed.initialize(model=model, optimizer=optimizer,
                                                                     config=self.ds_config)
            self.model = self.engine
            self.raw_model = self.engine.module
            self.autocast = contextlib.nullcontext  # DeepSpeed holds bf16 weights itself
        else:
            self.zero_stage = 0
            model.to(env.device)
            self.raw_model = model
            self.optimizer = build_optimizer(model, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2), cfg.eps)
            if cfg.compile:
                model = torch.compile(model)
            if env.world > 1:
                model = torch.nn.parallel.DistributedDataParallel(
                    model, device_ids=[env.local_rank] if env.device.type == "cuda" else None)
            self.model = model
            dev = env.device.type

            def autocast():
                return torch.autocast(dev, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

            self.autocast = autocast
        self.bf16 = bf16
        self.peak = device_peak_tflops(env.device, cfg.peak_tflops)
        self.fpt = flops_per_token(self.model_config, cfg.seq_len)

        # state (restored by --resume)
        self.state: dict[str, Any] = {"step": 0, "tokens": 0, "skipped": 0, "loss_ema": None,
                                      "best_val_loss": None, "val_loss": None, "initial_val_loss": None}
        resumed_from = None
        if cfg.resume:
            latest = ckpt.latest_checkpoint(self.ckpt_dir)
            if latest is not None:
                self.state = ckpt.load(latest, env, self.raw_model, self.optimizer, self.engine)
                self.data.load_state_dict(self.state["data"])
                resumed_from = latest
        self.resumed_from = resumed_from
        self.logger = MetricsLogger(self.out, enabled=env.is_main, resume=resumed_from is not None)
        if resumed_from is not None:
            self.logger.truncate_after(self.state["step"])
        self.sample_log = None
        if cfg.log_samples:
            self.sample_log = open(self.out / f"samples-rank{env.rank}.jsonl", "a" if resumed_from else "w")
        if env.is_main:
            self._record_run(manifest)

    # -- run records -----------------------------------------------------------------------------
    def _record_run(self, manifest: dict[str, Any]) -> None:
        cmd = " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])
        with open(self.out / "command.txt", "a", encoding="utf-8") as f:
            f.write(cmd + "\n")
        self.cfg.save(self.out / "config.json")
        (self.out / "model_config.json").write_text(self.model_config.to_json_string())
        summary = manifest_summary(self.manifest_path, manifest)
        summary.update({"tokenizer_used": str(self.tokenizer_path)})
        (self.out / "manifest_summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
        run = {"world": self.env.world, "device": str(self.env.device), "deepspeed_zero": self.zero_stage
               if self.cfg.deepspeed else None, "grad_accum": self.accum, "tokens_per_step": self.tokens_per_step,
               "total_steps": self.total_steps, "warmup_steps": self.schedule.warmup_steps,
               "params": self.counts, "flops_per_token": self.fpt, "peak_tflops": self.peak,
               "bf16": self.bf16, "resumed_from": str(self.resumed_from) if self.resumed_from else None,
               "windows_per_epoch": self.data.windows_per_epoch}
        (self.out / "run.json").write_text(json.dumps(run, indent=2))
        self.logger.console(
            f"[trainer] {self.cfg.model}: {self.counts['total'] / 1e6:.2f}M params, vocab "
            f"{self.model_config.vocab_size}, seq {self.cfg.seq_len}, world {self.env.world}, accum {self.accum}, "
            f"{self.tokens_per_step} tokens/step, {self.total_steps} steps, device {self.env.device}"
            + (f", DeepSpeed ZeRO-{self.zero_stage}" if self.cfg.deepspeed else "")
            + (f", resumed from {self.resumed_from.name}" if self.resumed_from else ""))

    # -- one optimizer step ------------------------------------------------------------------------
    def _spike(self, loss: float) -> bool:
        ema = self.state["loss_ema"]
        return (self.cfg.spike_factor > 0 and ema is not None and self.state["step"] >= 10
                and loss > self.cfg.spike_factor * ema)

    def _next_batch(self, micro: int) -> torch.Tensor:
        """This rank's next micro-batch on the device (its window keys logged with --log-samples)."""
        ids = self.data.next_ids()
        if self.sample_log is not None:
            keys = [self.data.window_key(g) for g in ids]
            row = {"step": self.state["step"], "micro": micro, "windows": keys}
            self.sample_log.write(json.dumps(row) + "\n")
        return self.data.batch(ids).to(self.env.device, non_blocking=True)

    def train_step(self, lr: float) -> tuple[float, float, bool]:
        """One optimizer step over ``accum`` micro-batches.

        Returns (mean loss over the global batch, grad norm, skipped by the guard).
        """
        if self.engine is not None:
            return self._step_deepspeed(lr)
        return self._step_torch(lr)

    def _step_torch(self, lr: float) -> tuple[float, float, bool]:
        losses = torch.zeros((), dtype=torch.float64, device=self.env.device)
        for micro in range(self.accum):
            batch = self._next_batch(micro)
            last = micro == self.accum - 1
            # DDP all-reduces gradients on the last micro-step only
            sync = contextlib.nullcontext() if last or self.env.world == 1 else self.model.no_sync()
            with sync:
                loss = compute_loss(self.model, batch, self.autocast)
                (loss / self.accum).backward()
            losses += loss.detach().double()
        mean = float(D.all_reduce_mean(losses / self.accum, self.env))
        max_norm = self.cfg.grad_clip if self.cfg.grad_clip > 0 else float("inf")
        gnorm = float(torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), max_norm))
        skipped = not math.isfinite(mean) or not math.isfinite(gnorm) or self._spike(mean)
        if not skipped:
            set_lr(self.optimizer, lr)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return mean, gnorm, skipped

    def _step_deepspeed(self, lr: float) -> tuple[float, float, bool]:
        """``engine.step()`` after every micro-batch: the engine accumulates and applies it on the last.

        DeepSpeed cannot undo a step, so the guard decides before the last backward; a rejected
        step's last loss is multiplied by NaN and DeepSpeed's overflow check discards the step.
        """
        losses = torch.zeros((), dtype=torch.float64, device=self.env.device)
        skipped = False
        for micro in range(self.accum):
            batch = self._next_batch(micro)
            last = micro == self.accum - 1
            loss = compute_loss(self.model, batch, self.autocast)
            losses += loss.detach().double()
            if last:
                mean = float(D.all_reduce_mean(losses / self.accum, self.env))
                if not math.isfinite(mean) or self._spike(mean):
                    skipped = True
                    loss = loss * float("nan")
            self.engine.backward(loss)
            with torch.no_grad():  # needed by ZeRO-1/2 at world size > 1 on gloo
                if last:
                    set_lr(self.optimizer, lr)
                self.engine.step()
        gnorm = self.engine.get_global_grad_norm()
        gnorm = float(gnorm) if gnorm is not None else float("nan")
        if skipped and self.engine.was_step_applied():
            skipped = False  # overflow check disabled (fp32): the step went through
            self.logger.console("[trainer] guard: DeepSpeed applied a bad step (no overflow check in fp32)")
        return mean, gnorm, skipped

    # -- the run -----------------------------------------------------------------------------------
    def eval_and_log(self) -> float | None:
        val = evaluate(self.model, self.eval_data, self.env, self.autocast)
        if val is not None:
            self.state["val_loss"] = val
            if self.state["step"] == 0:
                self.state["initial_val_loss"] = val
            if self.state["best_val_loss"] is None or val < self.state["best_val_loss"]:
                self.state["best_val_loss"] = val
            row = {"kind": "eval", "step": self.state["step"], "tokens": self.state["tokens"],
                   "val_loss": val, "val_ppl": math.exp(min(val, 50.0))}
            self.logger.log(row)
            self.logger.console(f"eval  {row['step']:>6d} | val_loss {val:.4f} | val_ppl {row['val_ppl']:.2f}")
        return val

    def save_checkpoint(self) -> None:
        state = dict(self.state, data=self.data.state_dict())
        ckpt.save(self.ckpt_dir, state, self.env, self.raw_model, self.optimizer, self.engine)
        ckpt.prune(self.ckpt_dir, self.cfg.keep_last, self.env)
        D.barrier(self.env)

    def run(self) -> dict[str, Any]:
        cfg, st = self.cfg, self.state
        if st["step"] == 0 and cfg.initial_eval:
            self.eval_and_log()
        stop_at = min(self.total_steps, cfg.stop_after) if cfg.stop_after else self.total_steps
        meter = Throughput(self.fpt, self.env.world, self.peak)
        t_start, steps_timed, window_loss, window_n = time.perf_counter(), 0, 0.0, 0
        while st["step"] < stop_at:
            lr = self.schedule(st["step"])
            loss, gnorm, skipped = self.train_step(lr)
            st["step"] += 1
            st["tokens"] += self.tokens_per_step
            if skipped:
                st["skipped"] += 1
                self.logger.console(f"[trainer] step {st['step']}: loss {loss:.4f} gnorm {gnorm:.2f} "
                                    f"skipped ({st['skipped']}/{cfg.max_skips})")
                if st["skipped"] > cfg.max_skips:
                    raise RuntimeError(f"stopping: {st['skipped']} skipped steps (NaN or loss spikes) > "
                                       f"--max-skips {cfg.max_skips}")
            else:
                ema = st["loss_ema"]
                st["loss_ema"] = loss if ema is None else 0.95 * ema + 0.05 * loss
                window_loss += loss
                window_n += 1
            steps_timed += 1
            if st["step"] % cfg.log_interval == 0 or st["step"] == stop_at:
                perf = meter.measure(steps_timed * self.tokens_per_step)
                row = {"kind": "train", "step": st["step"], "tokens": st["tokens"],
                       "loss": window_loss / max(1, window_n) if window_n else loss, "last_loss": loss,
                       "lr": lr, "grad_norm": gnorm, "skipped": st["skipped"], **perf,
                       "elapsed_s": time.perf_counter() - t_start}
                self.logger.log(row)
                rate = (time.perf_counter() - t_start) / max(1, st["step"] - (self.resumed_step or 0))
                self.logger.progress(row, self.total_steps, rate * (self.total_steps - st["step"]))
                steps_timed, window_loss, window_n = 0, 0.0, 0
            is_end = st["step"] == self.total_steps
            eval_due = bool(cfg.eval_interval) and st["step"] % cfg.eval_interval == 0
            ckpt_due = bool(cfg.ckpt_interval) and st["step"] % cfg.ckpt_interval == 0
            if eval_due or is_end:
                self.eval_and_log()
            if ckpt_due or is_end:
                self.save_checkpoint()
            if eval_due or ckpt_due:
                meter.reset()  # eval and checkpoint time stays out of the throughput figures
                steps_timed = 0
        return self.finish(st["step"] == self.total_steps)

    @property
    def resumed_step(self) -> int | None:
        if self.resumed_from is None:
            return None
        return json.loads((self.resumed_from / ckpt.STATE).read_text())["step"]

    def finish(self, done: bool) -> dict[str, Any]:
        st = self.state
        export_dir = None
        if done and self.cfg.export:
            export_dir = ckpt.export_hf(self.raw_model, self.tokenizer_path, self.out / "hf", self.env,
                                        zero3=self.zero_stage == 3)
        summary = {"steps": st["step"], "tokens": st["tokens"], "skipped": st["skipped"],
                   "initial_val_loss": st["initial_val_loss"], "final_val_loss": st["val_loss"],
                   "best_val_loss": st["best_val_loss"], "out": str(self.out),
                   "export": str(export_dir) if export_dir else None}
        for k in ("initial_val_loss", "final_val_loss"):
            v = summary[k]
            summary[k.replace("loss", "ppl")] = math.exp(min(v, 50.0)) if v is not None else None
        if self.env.is_main:
            self.logger.close()
            plot_loss_curve(self.out / "metrics.jsonl", self.out / "loss_curve.png")
            (self.out / "summary.json").write_text(json.dumps(summary, indent=2))
            if done and summary["initial_val_ppl"] is not None and summary["final_val_ppl"] is not None:
                print(f"[trainer] validation perplexity {summary['initial_val_ppl']:.2f} -> "
                      f"{summary['final_val_ppl']:.2f} after {st['step']} steps ({st['tokens']} tokens)")
        if self.sample_log is not None:
            self.sample_log.close()
        return summary


def train(cfg: TrainConfig) -> dict[str, Any]:
    trainer = Trainer(cfg)
    try:
        return trainer.run()
    finally:
        D.cleanup(trainer.env)


__all__ = ["Trainer", "train", "compute_loss", "evaluate", "DataError"]
