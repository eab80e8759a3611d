"""GPU training throughput: TinyLlama-1.1B, seq 2048, bf16 autocast, SDPA, torch.compile, one GPU.

Reports tokens/s per GPU (TGS) and MFU, measured by the trainer itself over the steps after a
warm-up (compilation and allocator warm-up excluded):

    MFU = TGS x (6 N + 12 L d T) / peak bf16 dense FLOP/s of the device

N = parameters in matmuls (all but the input embedding; lm_head included), L layers, d width,
T sequence length (PaLM appendix B); peak from ``trainer.model.PEAK_BF16_TFLOPS`` (H100 SXM 989).

The data are random token ids (uniform in [0, 32000)) in Winnow shards, because throughput does
not depend on the text; the model therefore has TinyLlama's exact 32k vocabulary and shape.

    make bench-gpu                                   # = python -m bench.bench_gpu_train
    python -m bench.bench_gpu_train --steps 300 --micro-batch 8 --grad-accum 2
    python -m bench.bench_gpu_train --dry-run        # llama-tiny on CPU: exercises the code path

Without a CUDA device (and without --dry-run) it reports ``skipped``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VOCAB = 32000


def random_shards(out: Path, n_tokens: int, vocab: int = VOCAB, seed: int = 0) -> Path:
    """Random documents (lengths 64..4096, EOS-terminated) in one train and one validation shard."""
    from shards.indexed_dataset import IndexedDatasetWriter, dtype_for_vocab
    from shards.manifest import file_sha256, tokenizer_fingerprint, write_manifest
    from trainer.synthetic import generate_documents, train_tokenizer

    # The trainer insists on a tokenizer matching the manifest; a small one stands in (it is only
    # needed for the export, which the benchmark skips). The model's vocabulary is the manifest's.
    tok_dir = train_tokenizer(generate_documents(200), out / "tokenizer", vocab_size=300)
    rng = np.random.default_rng(seed)
    eos = 2
    shards = []
    for split, budget in (("train", n_tokens), ("validation", max(1 << 16, n_tokens // 100))):
        (out / split).mkdir(parents=True, exist_ok=True)
        w = IndexedDatasetWriter(out / split / "shard-00000", dtype_for_vocab(vocab))
        while w.num_tokens < budget:
            doc = rng.integers(3, vocab, size=int(rng.integers(64, 4096)), dtype=np.int64)
            doc[-1] = eos
            w.add_document(doc)
        w.finalize()
        shards.append({"split": split, "prefix": f"{split}/shard-00000", "docs": w.num_documents,
                       "tokens": w.num_tokens, "dtype": w.dtype.name,
                       "sha256": {"bin": file_sha256(w.bin_path), "idx": file_sha256(w.idx_path)}})
    write_manifest(out, {"complete": True, "shards": shards, "recipe": {"random_tokens": True},
                         "tokenizer": {"path": str(tok_dir), "sha256": tokenizer_fingerprint(tok_dir),
                                       "vocab_size": vocab, "bos_id": 1, "eos_id": eos, "pad_id": 0}})
    return out / "manifest.json"


def bench(model: str = "tinyllama-1.1b", seq_len: int = 2048, micro_batch: int = 8, grad_accum: int = 2,
          steps: int = 300, warmup_steps: int = 30, compile: bool = True, activation_checkpointing: bool = False,
          device: str = "cuda", log_interval: int = 10, work: Path | None = None, vocab: int = VOCAB) -> dict:
    import torch

    from trainer.config import TrainConfig
    from trainer.loop import Trainer
    from trainer.metrics import read_metrics

    work = Path(work or tempfile.mkdtemp(prefix="winnow-bench-gpu-"))
    tokens_needed = int(steps * seq_len * micro_batch * grad_accum * 1.05) + seq_len * micro_batch * 4
    manifest = random_shards(work / "shards", tokens_needed, vocab)
    cfg = TrainConfig(data=str(manifest), model=model, seq_len=seq_len, micro_batch=micro_batch,
                      grad_accum=grad_accum, max_steps=steps, lr=4e-4, warmup_steps=min(100, steps // 10 or 1),
                      eval_interval=0, eval_batches=1, initial_eval=False, ckpt_interval=0, export=False,
                      log_interval=log_interval, compile=compile and device == "cuda",
                      activation_checkpointing=activation_checkpointing, device=device, out=str(work / "run"))
    t0 = time.perf_counter()
    trainer = Trainer(cfg)
    trainer.save_checkpoint = lambda: None  # the end-of-run checkpoint is not part of the benchmark
    summary = trainer.run()
    wall = time.perf_counter() - t0
    rows = [r for r in read_metrics(work / "run" / "metrics.jsonl") if r["kind"] == "train"]
    timed = [r for r in rows if r["step"] > warmup_steps] or rows[-1:]
    # every row covers log_interval steps: tokens / (tokens per second) is the row's time
    tokens = sum(log_interval * trainer.tokens_per_step for _ in timed)
    seconds = sum(log_interval * trainer.tokens_per_step / r["tokens_per_s"] for r in timed)
    tps = tokens / seconds
    tgs = tps / trainer.env.world
    tflops = tgs * trainer.fpt / 1e12
    result = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "model": model, "params": trainer.counts["total"], "vocab": trainer.model_config.vocab_size,
        "seq_len": seq_len, "micro_batch": micro_batch, "grad_accum": grad_accum,
        "tokens_per_step": trainer.tokens_per_step, "steps": steps, "timed_steps": len(timed) * log_interval,
        "compile": cfg.compile, "bf16": trainer.bf16, "attention": trainer.raw_model.config._attn_implementation,
        "activation_checkpointing": activation_checkpointing,
        "tgs": round(tgs, 1), "tokens_per_s": round(tps, 1), "tflops_per_device": round(tflops, 2),
        "peak_tflops": trainer.peak, "mfu": round(tflops / trainer.peak, 4) if trainer.peak else None,
        "flops_per_token": trainer.fpt,
        "mfu_formula": "TGS * (6*N + 12*L*d*T) / peak_bf16_dense; N excludes the input embedding",
        "final_loss": rows[-1]["loss"] if rows else None, "wall_s": round(wall, 1),
        "first_steps_s": round(sum(log_interval * trainer.tokens_per_step / r["tokens_per_s"]
                                   for r in rows if r["step"] <= warmup_steps), 1),
        "skipped_steps": summary["skipped"],
    }
    if device == "cuda":
        result["max_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2 ** 30, 2)
    shutil.rmtree(work / "shards", ignore_errors=True)
    return result


def dry_run(work: Path | None = None) -> dict:
    """The same code path on CPU with llama-tiny and a 512-token vocabulary, for tests (fp32)."""
    return bench(model="llama-tiny", seq_len=64, micro_batch=2, grad_accum=2, steps=6, warmup_steps=2,
                 compile=False, device="cpu", log_interval=2, work=work, vocab=512)


def run(ctx) -> dict:
    import torch

    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device (run `make bench-gpu` on a GPU machine)"}
    return bench(steps=60 if ctx.quick else 300)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tinyllama-1.1b")
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--micro-batch", type=int, default=8)
    ap.add_argument("--grad-accum", type=int, default=2)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup-steps", type=int, default=30, help="steps left out of the figures")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--activation-checkpointing", action="store_true")
    ap.add_argument("--dry-run", action="store_true", help="llama-tiny on CPU, a few steps")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "gpu_train.json"))
    a = ap.parse_args(argv)
    import torch

    if a.dry_run:
        result = dry_run()
    elif not torch.cuda.is_available():
        result = {"skipped": "no CUDA device"}
    else:
        result = bench(a.model, a.seq_len, a.micro_batch, a.grad_accum, a.steps, a.warmup_steps,
                       not a.no_compile, a.activation_checkpointing)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"name": "gpu_train", "result": result}, indent=2))
    print(json.dumps(result, indent=2))
    mfu = result.get("mfu")
    if mfu is not None and not math.isnan(mfu):
        print(f"[bench-gpu] {result['device']}: TGS {result['tgs']:.0f} tokens/s/GPU, MFU {100 * mfu:.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
