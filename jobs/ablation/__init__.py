"""``winnow ablation`` / ``make ablation``: prove the data by training the same small LLaMA on raw and on
cleaned text at equal tokens.

    winnow ablation [--config configs/demo.yaml] [--raw PATH ...] [--eval-text PATH ...] [--out DIR]
                    [--variants full,no-dedup] [--seeds 3] [--vocab-size 8000] [--tokens N] [--repeats R]

Steps (``docs/ablation.md``):

1. **Variants** (``jobs/ablation/variants.py``): ``raw`` (read only), ``full`` (the config's
   stages), one ``no-<stage>`` per deciding stage; each a pipeline run in ``<out>/variants/<name>``
   on the same raw corpus (identical stage prefixes are shared, the runner's resume skips them).
2. **Decontamination** (``decontam.py``): every variant's kept documents that match an evaluation
   document (exact, near-duplicate, or containing it) are removed from its training text, counted.
3. **One tokenizer** (``operators.tokenize.train_tokenizer``), trained once on the raw variant's
   decontaminated text (so never on the evaluation set), shared by every variant.
4. **Equal budget**: each variant's documents are tokenized; the budget is the smallest variant's
   unique tokens (times ``--repeats``; or ``--tokens``); larger variants are subsampled at random
   by document (seeded); every run trains the same number of steps of the same batch.
5. **Training** (``trainer.loop.Trainer``): the same preset for every variant and seed (the seed sets
   model init and data order).
6. **Evaluation** (``evaluate.py``): bits per byte and nats per token per slice (en, zh, code,
   total) on the evaluation text; ``<out>/report/``: ``ablation.json``, ``ablation.md``,
   ``index.html``, ``ablation.png``, and one verdict line per variant against ``raw``.

Without ``--raw``/``--eval-text`` the default corpus of ``bench/build_ablation_corpus.py`` is built
(deterministically) into ``--corpus-dir`` and used. Same inputs and seeds give the same
``ablation.json`` apart from its ``timings``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import shutil
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.ablation.variants import Variant, build_variants, final_stage_dir, reuse_prefix

FORMAT = "winnow-ablation/1"
DEFAULT_CORPUS_DIR = "work/ablation-corpus"


@dataclass
class AblationOptions:
    config: str = "configs/demo.yaml"
    raw: list[str] = field(default_factory=list)  # default: the built default corpus
    eval_text: list[str] = field(default_factory=list)
    text_field: str = ""  # the raw corpus's text field (default: the config's input.text_field)
    eval_text_field: str = "text"
    out: str = ""  # default: <config workdir>/ablation
    corpus_dir: str = DEFAULT_CORPUS_DIR
    corpus_scale: float = 1.0  # document counts of the default corpus (bench/build_ablation_corpus.py --scale)
    variants: list[str] = field(default_factory=list)  # default: all
    seeds: int = 3
    seed_base: int = 1
    vocab_size: int = 8000
    tokenizer_max_chars: int = 50_000_000
    model: str = "llama-tiny"
    seq_len: int = 256
    micro_batch: int = 8
    lr: float = 2e-3
    tokens: int = 0  # training tokens per run (0: the smallest variant's unique tokens x repeats)
    repeats: int = 1
    near_threshold: float = 0.7
    containment: float = 0.8
    device: str = "auto"
    threads: int = 0  # torch intra-op threads (0: torch's default)
    eval_batch: int = 16
    keep_checkpoints: bool = False
    spark_master: str = ""


def say(msg: str) -> None:
    print(f"[ablation] {msg}", flush=True)


# -- inputs --------------------------------------------------------------------------------------
def resolve_inputs(opts: AblationOptions) -> tuple[list[str], list[str], dict[str, Any] | None]:
    """The raw corpus and evaluation text paths; the default corpus is built when either is missing."""
    raw, ev, info = list(opts.raw), list(opts.eval_text), None
    if not raw or not ev:
        from bench.build_ablation_corpus import ensure_corpus

        info = ensure_corpus(opts.corpus_dir, scale=opts.corpus_scale)
        raw = raw or [info["raw_dir"]]
        ev = ev or [info["eval_file"]]
    return raw, ev, info


def load_kept(stage_dir: Path) -> list[dict[str, Any]]:
    """A stage's kept documents (id, text), in a fixed order (id, then text)."""
    import pyarrow.parquet as pq

    kept = stage_dir / "kept"
    files = sorted(p for p in kept.rglob("*.parquet"))
    docs: list[dict[str, Any]] = []
    for f in files:
        t = pq.read_table(f, columns=["id", "text"])
        docs += [{"id": str(i), "text": x} for i, x in zip(t.column("id").to_pylist(), t.column("text").to_pylist())
                 if isinstance(x, str) and x]
    docs.sort(key=lambda d: (d["id"], d["text"]))
    return docs


# -- tokenizer and shards ------------------------------------------------------------------------
def _text_key(text: str) -> int:
    import xxhash

    return xxhash.xxh64_intdigest(text.encode("utf-8", "replace"), seed=0)


def shared_tokenizer(texts: list[str], out: Path, vocab_size: int, max_chars: int) -> tuple[Path, dict[str, Any]]:
    """Train (or reuse, when trained on the same text with the same size) the shared tokenizer."""
    from operators.tokenize.train_tokenizer import train_tokenizer

    ordered = sorted(texts, key=lambda t: (_text_key(t), t))
    sample, total = [], 0
    for t in ordered:
        if total >= max_chars:
            break
        sample.append(t)
        total += len(t)
    h = hashlib.sha256(f"{vocab_size}\n".encode())
    for t in sample:
        h.update(hashlib.blake2b(t.encode("utf-8"), digest_size=16).digest())
    key = h.hexdigest()
    meta_path = out / "ablation_tokenizer.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") == key:
            return out, meta
    shutil.rmtree(out, ignore_errors=True)
    rep = train_tokenizer(sample, out, vocab_size=vocab_size)
    meta = {"key": key, "docs": len(sample), "chars": total, "vocab_size": rep["vocab_size"],
            "learned": rep["learned"], "requested": vocab_size, "trained_on": "raw variant, decontaminated"}
    meta_path.write_text(json.dumps(meta, indent=1))
    return out, meta


def encode(backend, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)] if texts else []


def subsample(doc_tokens: list[int], budget: int, seed_key: list[int]) -> list[int]:
    """Indices of documents (in their original order) taken at random, whole, while they fit in
    ``budget`` tokens; all of them when they fit already."""
    import numpy as np

    if sum(doc_tokens) <= budget:
        return list(range(len(doc_tokens)))
    order = np.random.default_rng(seed_key).permutation(len(doc_tokens))
    take, total = [], 0
    for i in order.tolist():
        if total + doc_tokens[i] <= budget:
            take.append(i)
            total += doc_tokens[i]
    return sorted(take)


def write_shards(out: Path, docs_ids: list[list[int]], eos_id: int, tok_dir: Path, tok_meta: dict[str, Any],
                 recipe: dict[str, Any]) -> Path:
    """One train shard of the documents (EOS after each) and its manifest; returns the manifest path."""
    import numpy as np

    from shards.indexed_dataset import IndexedDatasetWriter, dtype_for_vocab
    from shards.manifest import file_sha256, write_manifest

    shutil.rmtree(out, ignore_errors=True)
    (out / "train").mkdir(parents=True)
    dtype = dtype_for_vocab(tok_meta["vocab_size"])
    w = IndexedDatasetWriter(out / "train" / "shard-00000", dtype)
    for ids in docs_ids:
        w.add_document(np.asarray([*ids, eos_id], dtype=np.int64))
    w.finalize()
    shard = {"split": "train", "prefix": "train/shard-00000", "docs": w.num_documents, "tokens": w.num_tokens,
             "dtype": np.dtype(dtype).name, "sha256": {"bin": file_sha256(w.bin_path), "idx": file_sha256(w.idx_path)}}
    manifest = {
        "complete": True,
        "tokenizer": {"path": os.path.relpath(tok_dir, out), "sha256": tok_meta["fingerprint"],
                      "vocab_size": tok_meta["vocab_size"], "bos_id": tok_meta["bos_id"], "eos_id": eos_id,
                      "pad_id": tok_meta["pad_id"], "dtype": np.dtype(dtype).name},
        "shards": [shard], "recipe": recipe, "achieved": {},
        "totals": {"train": {"docs": w.num_documents, "tokens": w.num_tokens, "shards": 1},
                   "validation": {"docs": 0, "tokens": 0, "shards": 0}},
    }
    return write_manifest(out, manifest)


# -- training and evaluation ---------------------------------------------------------------------
def train_and_eval(manifest: Path, run_dir: Path, seed: int, steps: int, opts: AblationOptions,
                   eval_ids: list[list[int]], eos_id: int) -> tuple[list[float], dict[str, Any]]:
    """Train one model, then the NLL of every evaluation document under it."""
    import torch

    from jobs.ablation.evaluate import document_nll
    from trainer import dist as D
    from trainer.config import TrainConfig
    from trainer.loop import Trainer

    cfg = TrainConfig(data=str(manifest), out=str(run_dir), model=opts.model, seq_len=opts.seq_len,
                      micro_batch=opts.micro_batch, grad_accum=1, max_steps=steps, lr=opts.lr, seed=seed,
                      eval_interval=0, initial_eval=False, export=False, ckpt_interval=0, keep_last=1,
                      log_interval=max(1, steps // 10), device=opts.device, follow=False)
    shutil.rmtree(run_dir, ignore_errors=True)
    threads = torch.get_num_threads()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    try:
        trainer = Trainer(cfg)
        try:
            summary = trainer.run()
            nll = document_nll(trainer.raw_model, eval_ids, eos_id, opts.seq_len, device=trainer.env.device,
                               batch_size=opts.eval_batch)
            info = {"steps": summary["steps"], "tokens": summary["tokens"],
                    "train_loss_ema": None if trainer.state["loss_ema"] is None else round(trainer.state["loss_ema"], 6),
                    "skipped_steps": summary["skipped"], "run_dir": str(run_dir)}
        finally:
            D.cleanup(trainer.env)
    finally:
        torch.set_num_threads(threads)
    if not opts.keep_checkpoints:
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    return nll, info


# -- the whole ablation --------------------------------------------------------------------------
def run_ablation(opts: AblationOptions, spark=None) -> dict[str, Any]:
    """Run every variant, train and evaluate; write ``<out>/report/``; return ``ablation.json``'s content."""
    from jobs.ablation import report as R
    from jobs.ablation.decontam import Decontaminator
    from jobs.ablation.evaluate import SLICES, read_eval_docs, slice_metrics
    from pipeline.config import load_config
    from pipeline.runner import run_pipeline

    t_start = time.time()
    timings: dict[str, float] = {}
    overrides = {"input.text_field": opts.text_field} if opts.text_field else None
    cfg = load_config(opts.config, overrides)
    if opts.spark_master:
        cfg.spark.master = opts.spark_master
    raw_paths, eval_paths, corpus = resolve_inputs(opts)
    out = Path(opts.out or Path(cfg.workdir) / "ablation")
    variants = build_variants(cfg, out, raw_paths, opts.variants or None)
    say(f"{len(variants)} variants ({', '.join(v.name for v in variants)}) of {opts.config} on "
        f"{', '.join(raw_paths)}; output {out}")

    # 1. the pipelines
    t = time.time()
    if spark is None:
        from pipeline.spark import get_spark

        spark = get_spark(cfg.spark)
    done: list[Variant] = []
    for v in variants:
        linked = reuse_prefix(v, done)
        say(f"variant {v.name}: stages {', '.join(['read', *v.stages])}"
            + (f" (shared with an earlier variant: {', '.join(linked)})" if linked else ""))
        run_pipeline(v.config, spark=spark)
        done.append(v)
    timings["pipelines_s"] = round(time.time() - t, 2)

    # 2. evaluation text and decontamination
    t = time.time()
    eval_docs = read_eval_docs(eval_paths, opts.eval_text_field)
    decon = Decontaminator(eval_docs, threshold=opts.near_threshold, containment=opts.containment)
    kept: dict[str, list[dict[str, Any]]] = {}
    decon_report: dict[str, dict[str, Any]] = {}
    for v in variants:
        docs = load_kept(final_stage_dir(v))
        keep, rep = decon.check(docs)
        kept[v.name] = [d for d, k in zip(docs, keep) if k]
        decon_report[v.name] = {"docs_kept_by_pipeline": len(docs), **rep}
        if rep["removed_docs"]:
            say(f"variant {v.name}: {rep['removed_docs']} document(s) matching the evaluation text removed "
                f"(exact {rep['exact']}, near {rep['near']}, contained {rep['contained']})")
    timings["decontamination_s"] = round(time.time() - t, 2)

    # 3. one tokenizer, trained on the raw variant's decontaminated text
    t = time.time()
    from operators.tokenize.tokenizer import load_tokenizer
    from shards.manifest import tokenizer_fingerprint

    tok_dir, tok_meta = shared_tokenizer([d["text"] for d in kept["raw"]], out / "tokenizer", opts.vocab_size,
                                         opts.tokenizer_max_chars)
    loaded = load_tokenizer(tok_dir)
    backend = loaded.backend
    eos_id = int(loaded.eos_id)
    tok_meta = {**tok_meta, "fingerprint": tokenizer_fingerprint(tok_dir), "eos_id": eos_id,
                "bos_id": loaded.bos_id, "pad_id": loaded.pad_id,
                "vocab_size": backend.get_vocab_size(with_added_tokens=True)}
    timings["tokenizer_s"] = round(time.time() - t, 2)

    # 4. tokens, budget, subsamples, shards
    t = time.time()
    ids = {v.name: encode(backend, [d["text"] for d in kept[v.name]]) for v in variants}
    unique = {n: sum(len(x) + 1 for x in xs) for n, xs in ids.items()}  # EOS after each document
    smallest = min(unique, key=lambda n: (unique[n], n))
    if unique[smallest] < opts.seq_len * opts.micro_batch + 1:
        raise SystemExit(f"winnow ablation: variant {smallest!r} has only {unique[smallest]} tokens: less than one "
                         f"batch of {opts.micro_batch} x {opts.seq_len}")
    repeats = max(1, int(opts.repeats))
    if opts.tokens and opts.tokens > unique[smallest] * repeats:
        raise SystemExit(f"winnow ablation: --tokens {opts.tokens:,} is more than the smallest variant "
                         f"({smallest}: {unique[smallest]:,} unique tokens) x --repeats {repeats}: pass a larger "
                         "--repeats to allow repeated data")
    target = min(unique[smallest], math.ceil(opts.tokens / repeats)) if opts.tokens else unique[smallest]
    manifests, picked = {}, {}
    for v in variants:
        idx = subsample([len(x) + 1 for x in ids[v.name]], target, [opts.seed_base, zlib.crc32(v.name.encode())])
        picked[v.name] = idx
        recipe = {"ablation_variant": v.name, "unique_tokens_target": target}
        manifests[v.name] = write_shards(out / "shards" / v.name, [ids[v.name][i] for i in idx], eos_id, tok_dir,
                                         tok_meta, recipe)
    per_step = opts.micro_batch * opts.seq_len
    min_windows = min(max(0, (sum(len(ids[n][i]) + 1 for i in picked[n]) - 1) // opts.seq_len) for n in picked)
    steps_available = repeats * (min_windows // opts.micro_batch)
    want_tokens = opts.tokens or unique[smallest] * repeats
    steps = max(1, min(want_tokens // per_step, steps_available))
    budget = {"unique_tokens_smallest_variant": unique[smallest], "smallest_variant": smallest,
              "unique_tokens_per_variant": target, "repeats": repeats, "tokens_per_step": per_step,
              "steps": steps, "train_tokens": steps * per_step,
              "rule": "train tokens = steps x micro_batch x seq_len, the same for every variant and seed; each "
                      "variant's documents subsampled at random (by document) to at most the smallest variant's "
                      "unique tokens" + (f", seen up to {repeats} times" if repeats > 1 else "")}
    say(f"budget: {budget['train_tokens']:,} training tokens per run ({steps} steps); each variant subsampled to "
        f"<= {target:,} unique tokens (smallest: {smallest}, {unique[smallest]:,})")
    timings["tokenize_s"] = round(time.time() - t, 2)

    # 5. training and evaluation
    t = time.time()
    eval_ids = encode(backend, [d["text"] for d in eval_docs])
    eval_tokens = [len(x) for x in eval_ids]
    slices = list(dict.fromkeys([*SLICES, *sorted({d["slice"] for d in eval_docs})])) + ["total"]
    seeds = [opts.seed_base + i for i in range(max(1, opts.seeds))]
    result_variants: dict[str, Any] = {}
    for v in variants:
        seed_results: dict[str, Any] = {}
        for s in seeds:
            say(f"train {v.name} seed {s}: {steps} steps")
            nll, info = train_and_eval(manifests[v.name], out / "runs" / v.name / f"seed-{s}", s, steps, opts,
                                       eval_ids, eos_id)
            seed_results[str(s)] = {"train": {k: info[k] for k in ("steps", "tokens", "train_loss_ema",
                                                                    "skipped_steps")},
                                    "slices": slice_metrics(eval_docs, nll, eval_tokens, SLICES)}
            tot = seed_results[str(s)]["slices"]["total"]
            say(f"  {v.name} seed {s}: {tot['bits_per_byte']:.4f} bits/byte, {tot['nats_per_token']:.4f} nats/token")
        sub_tokens = sum(len(ids[v.name][i]) + 1 for i in picked[v.name])
        result_variants[v.name] = {
            **v.describe(), "workdir": str(v.workdir),
            "docs_kept": decon_report[v.name]["docs_kept_by_pipeline"],
            "decontamination": decon_report[v.name],
            "docs_after_decontamination": len(kept[v.name]), "unique_tokens": unique[v.name],
            "train_docs": len(picked[v.name]), "train_unique_tokens": sub_tokens,
            "train_tokens": steps * per_step, "seeds": seed_results,
            "summary": R.summarize(seed_results, slices),
        }
    timings["train_eval_s"] = round(time.time() - t, 2)
    raw_summary = result_variants["raw"]["summary"]
    verdicts = [R.verdict(n, rv["summary"], raw_summary) for n, rv in result_variants.items() if n != "raw"]
    eval_slices = {s: sum(1 for d in eval_docs if d["slice"] == s) for s in slices if s != "total"}
    result = {
        "format": FORMAT,
        "config": {"path": str(opts.config), "name": cfg.name, "seed": cfg.seed,
                   "stages": [{"stage": s.stage, "name": s.name, "params": s.params} for s in cfg.stages]},
        "inputs": {"raw": [str(p) for p in raw_paths], "eval_text": [str(p) for p in eval_paths],
                   "default_corpus": corpus},
        "eval": {"docs": len(eval_docs), "slices": eval_slices, "bytes": sum(len(d["text"].encode()) for d in eval_docs),
                 "tokens": sum(eval_tokens)},
        "tokenizer": {k: tok_meta[k] for k in ("vocab_size", "learned", "requested", "docs", "chars", "trained_on",
                                                "fingerprint")} | {"path": str(tok_dir)},
        "training": {"model": opts.model, "seq_len": opts.seq_len, "micro_batch": opts.micro_batch, "lr": opts.lr,
                     "schedule": "cosine", "device": opts.device},
        "decontamination": {"method": "normalized-text BLAKE2 (exact); MinHash 128 perm, word 5-grams or "
                                      "zh char 5-grams, Jaccard >= near_threshold (near); eval shingles "
                                      ">= containment inside one document (contained)",
                            "near_threshold": opts.near_threshold, "containment": opts.containment},
        "budget": budget,
        "seeds": seeds,
        "slices": slices,
        "variants": result_variants,
        "verdicts": verdicts,
        "options": {k: v for k, v in dataclasses.asdict(opts).items() if k not in ("raw", "eval_text")},
    }
    timings["total_s"] = round(time.time() - t_start, 2)
    result["timings"] = {**timings, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    files = R.write_report(result, out / "report")
    for vd in verdicts:
        say(vd["line"])
    say(f"report: {files['html']} (table {files['markdown'].name}, data {files['json'].name})")
    return result


# -- command line --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    d = AblationOptions()
    ap = argparse.ArgumentParser(prog="winnow ablation", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=d.config, help="pipeline YAML whose stages are ablated (default %(default)s)")
    ap.add_argument("--raw", nargs="+", default=[], metavar="PATH",
                    help="raw corpus (anything Winnow reads; default: the built default corpus)")
    ap.add_argument("--eval-text", nargs="+", default=[], metavar="PATH",
                    help="evaluation text: jsonl(.gz/.zst), Parquet, or .txt files (default: the default corpus's)")
    ap.add_argument("--text-field", default=d.text_field, help="text field of the raw corpus (default: the config's)")
    ap.add_argument("--eval-text-field", default=d.eval_text_field, help="text field of the evaluation records")
    ap.add_argument("--out", default=d.out, help="output directory (default: <config workdir>/ablation)")
    ap.add_argument("--corpus-dir", default=d.corpus_dir, help="where the default corpus is built (default %(default)s)")
    ap.add_argument("--corpus-scale", type=float, default=d.corpus_scale,
                    help="size of the default corpus (1.0: ~2,800 raw documents; smaller for a quick run)")
    ap.add_argument("--variants", default="", help="comma-separated variants to run (raw is always run; default all)")
    ap.add_argument("--seeds", type=int, default=d.seeds, help="seeds per variant (default %(default)s)")
    ap.add_argument("--seed-base", type=int, default=d.seed_base, help="first seed (default %(default)s)")
    ap.add_argument("--vocab-size", type=int, default=d.vocab_size, help="shared tokenizer size (default %(default)s)")
    ap.add_argument("--tokenizer-max-chars", type=int, default=d.tokenizer_max_chars)
    ap.add_argument("--model", default=d.model, help="trainer preset (default %(default)s)")
    ap.add_argument("--seq-len", type=int, default=d.seq_len)
    ap.add_argument("--micro-batch", type=int, default=d.micro_batch)
    ap.add_argument("--lr", type=float, default=d.lr)
    ap.add_argument("--tokens", type=int, default=d.tokens,
                    help="training tokens per run (default: the smallest variant's unique tokens x --repeats)")
    ap.add_argument("--repeats", type=int, default=d.repeats, help="times a variant's data may be seen (default 1)")
    ap.add_argument("--near-threshold", type=float, default=d.near_threshold)
    ap.add_argument("--containment", type=float, default=d.containment)
    ap.add_argument("--device", default=d.device, choices=("auto", "cpu", "cuda"))
    ap.add_argument("--threads", type=int, default=d.threads, help="torch threads (0: torch's default)")
    ap.add_argument("--keep-checkpoints", action="store_true")
    ap.add_argument("--spark-master", default=d.spark_master, help="override the config's spark.master")
    return ap


def parse_args(argv: list[str] | None = None) -> AblationOptions:
    ns = vars(build_parser().parse_args(argv))
    ns["variants"] = [x.strip() for x in ns["variants"].split(",") if x.strip()]
    return AblationOptions(**ns)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from contract.errors import WinnowError

    opts = parse_args(argv)
    try:
        run_ablation(opts)
    except (WinnowError, FileNotFoundError, ValueError) as e:
        print(f"winnow ablation: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
