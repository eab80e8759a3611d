"""The tokenize stage: the mixed documents as Megatron-LM indexed-dataset shards plus ``manifest.json``.

Plan: one Spark pass, no shuffle of text or tokens::

    docs --mapInArrow(encode_batch + shard writers, per partition)--> doc rows + shard rows  [doc_index/]
    driver: shard rows -> manifest.json (checksums, tokenizer, recipe, achieved shares, totals)
    docs JOIN doc rows --> kept (+ n_tokens) / rejected (empty_document)

Per partition, every document is encoded with the fast tokenizer (``encode_batch``, no special
tokens), EOS is appended (and BOS prepended when ``add_bos``) and the ids are written to
``<split>/shard-<partition>-<lane>-<seq>.{bin,idx}``:

* **split** by a seeded hash of the document id (``validation_fraction``), so a document and all
  its copies are on one side only; validation documents are written once (``repeat`` is a
  training-mixture notion).
* **lanes**: copy ``c`` of a document with ``repeat = k`` goes to lane ``c``, a separate shard
  sequence, so the k copies are never adjacent and always in k different shards.
* **seq**: a lane rolls over to a new shard once it holds ``shard_tokens`` tokens.
* dtype from the vocabulary (``uint16`` below 65,500 ids, else ``int32``, as Megatron): every id is
  below ``vocab_size`` by construction, and the writer checks each document anyway.
* names are a function of (partition, lane, seq) only, and files are written under an
  attempt-private temporary name and renamed into place, so a retried or speculative Spark task
  overwrites its own shards with identical bytes and never leaves a half or duplicate shard; the
  driver lists shards from the committed task output only and deletes anything else it finds.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from operators.base import GlobalStage, StageOutput
from pipeline import schema as S
from pipeline.indexed_dataset import IndexedDatasetWriter, dtype_for_vocab, paths_for
from pipeline.manifest import file_sha256, tokenizer_fingerprint, write_manifest

EMPTY = "empty_document"
SHARDS_DIR = "shards"
DOC_INDEX = "doc_index"
SPLITS = ("train", "validation")
OUT_SCHEMA = (
    "kind string, id string, split string, n_tokens long, copies int, repeat int, mix_group string, shard string, "
    "reason string, detail string, meta string"
)


def split_of(doc_id: str, seed: int, validation_fraction: float) -> str:
    """``validation`` for a seeded-hash fraction of ids, else ``train`` (same on every machine)."""
    import xxhash

    u = xxhash.xxh64_intdigest(doc_id.encode("utf-8"), seed=seed & 0xFFFFFFFFFFFFFFFF) / 2.0**64
    return "validation" if u < validation_fraction else "train"


class _Lane:
    """One shard sequence of a partition (a split and a copy lane)."""

    def __init__(self, root: Path, split: str, pid: int, lane: int, attempt: int, dtype: np.dtype,
                 shard_tokens: int):
        self.root, self.split, self.pid, self.lane, self.attempt = root, split, pid, lane, attempt
        self.dtype, self.shard_tokens = dtype, shard_tokens
        self.seq = 0
        self.writer: IndexedDatasetWriter | None = None
        self.done: list[dict[str, Any]] = []
        (root / split).mkdir(parents=True, exist_ok=True)

    @property
    def prefix(self) -> str:
        return f"{self.split}/shard-{self.pid:05d}-{self.lane:02d}-{self.seq:04d}"

    def add(self, arr: np.ndarray) -> tuple[str, int]:
        if self.writer is None:
            tmp = self.root / self.split / f".tmp-{self.attempt}-{Path(self.prefix).name}"
            self.writer = IndexedDatasetWriter(tmp, self.dtype)
        where = (self.prefix, self.writer.num_documents)
        self.writer.add_document(arr)
        if self.writer.num_tokens >= self.shard_tokens:
            self.close()
        return where

    def close(self) -> None:
        w = self.writer
        if w is None:
            return
        w.finalize()
        final_bin, final_idx = paths_for(self.root / self.prefix)
        os.replace(w.bin_path, final_bin)
        os.replace(w.idx_path, final_idx)
        self.done.append({
            "split": self.split, "prefix": self.prefix, "docs": w.num_documents, "tokens": w.num_tokens,
            "dtype": self.dtype.name,
            "sha256": {"bin": file_sha256(final_bin), "idx": file_sha256(final_idx)},
        })
        self.writer = None
        self.seq += 1

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
            self.writer = None


def write_partition(batches, cfg: dict[str, Any], pid: int, attempt: int, attempt_number: int = 0):
    """Encode and write one partition's documents; yields the doc and shard rows (Arrow batches).

    Pure Python (no Spark): the Spark task calls it with its partition id, its unique attempt id
    (temp file names) and the attempt number of this partition (0 first; the test hook
    ``fail_after_docs`` fails only attempt 0 of partition 0, as a task killed once)."""
    import pyarrow as pa

    from operators.tokenize.tokenizer import cached_tokenizer

    tok = cached_tokenizer(cfg["tokenizer"], cfg.get("eos_token"), cfg.get("bos_token"), cfg.get("pad_token"))
    backend = tok.backend
    dtype = np.dtype(cfg["dtype"])
    if tok.vocab_size - 1 > np.iinfo(dtype).max:
        raise OverflowError(f"vocabulary of {tok.vocab_size} ids does not fit {dtype}")
    root = Path(cfg["root"])
    prefix_ids = [tok.bos_id] if cfg.get("add_bos") and tok.bos_id is not None else []
    suffix = np.asarray([tok.eos_id], dtype=dtype)
    head = np.asarray(prefix_ids, dtype=dtype)
    lanes: dict[tuple[str, int], _Lane] = {}
    seed, frac, shard_tokens = int(cfg["seed"]), float(cfg["validation_fraction"]), int(cfg["shard_tokens"])
    fail_after = cfg.get("fail_after_docs")
    written = 0

    def shard_batch(rows: list[dict[str, Any]]):
        n = len(rows)
        return pa.RecordBatch.from_pydict({
            "kind": ["shard"] * n, "id": [None] * n, "split": [r["split"] for r in rows],
            "n_tokens": pa.array([r["tokens"] for r in rows], pa.int64()),
            "copies": pa.array([r["docs"] for r in rows], pa.int32()), "repeat": pa.nulls(n, pa.int32()),
            "mix_group": [None] * n,
            "shard": [r["prefix"] for r in rows], "reason": [None] * n, "detail": [None] * n,
            "meta": [json.dumps(r, sort_keys=True) for r in rows],
        }, schema=OUT_ARROW)

    try:
        for b in batches:
            names = b.schema.names
            ids = b.column(S.ID).to_pylist()
            texts = b.column(S.TEXT).to_pylist()
            reps = b.column("repeat").to_pylist() if "repeat" in names else [1] * len(ids)
            groups = b.column("mix_group").to_pylist() if "mix_group" in names else [None] * len(ids)
            enc = backend.encode_batch([t or "" for t in texts], add_special_tokens=False)
            out = {k: [] for k in ("id", "split", "n_tokens", "copies", "repeat", "mix_group", "shard", "reason", "detail")}
            for doc_id, text, rep, grp, e in zip(ids, texts, reps, groups, enc):
                out["id"].append(doc_id)
                out["mix_group"].append(grp)
                if not text:
                    out["split"].append(None)
                    out["n_tokens"].append(0)
                    out["copies"].append(0)
                    out["repeat"].append(rep)
                    out["shard"].append(None)
                    out["reason"].append(EMPTY)
                    out["detail"].append("null text" if text is None else "0 chars")
                    continue
                arr = np.concatenate([head, np.asarray(e.ids, dtype=np.int64).astype(dtype), suffix]) \
                    if len(head) else np.concatenate([np.asarray(e.ids, dtype=np.int64).astype(dtype), suffix])
                split = split_of(doc_id, seed, frac)
                copies = 1 if split == "validation" else max(int(rep if rep is not None else 1), 1)
                first = None
                for c in range(copies):
                    lane = lanes.get((split, c))
                    if lane is None:
                        lane = lanes[(split, c)] = _Lane(root, split, pid, c, attempt, dtype, shard_tokens)
                    where = lane.add(arr)
                    first = first or where
                out["split"].append(split)
                out["n_tokens"].append(int(arr.size))
                out["copies"].append(copies)
                out["repeat"].append(max(int(rep if rep is not None else 1), 1))
                out["shard"].append(f"{first[0]}#{first[1]}")
                out["reason"].append(None)
                out["detail"].append(None)
                written += 1
                if fail_after is not None and written >= fail_after and pid == 0 and attempt_number == 0:
                    raise RuntimeError(f"fail_after_docs={fail_after}: simulated task failure")
            n = len(out["id"])
            yield pa.RecordBatch.from_pydict({"kind": ["doc"] * n, **out, "meta": [None] * n}, schema=OUT_ARROW)
            done = [r for lane in lanes.values() for r in lane.done]
            for lane in lanes.values():
                lane.done = []
            if done:
                yield shard_batch(done)
        for lane in lanes.values():
            lane.close()
        done = [r for lane in lanes.values() for r in lane.done]
        if done:
            yield shard_batch(done)
    except BaseException:
        for lane in lanes.values():
            lane.abort()
        raise


def _out_arrow():
    import pyarrow as pa

    return pa.schema([
        ("kind", pa.string()), ("id", pa.string()), ("split", pa.string()), ("n_tokens", pa.int64()),
        ("copies", pa.int32()), ("repeat", pa.int32()), ("mix_group", pa.string()), ("shard", pa.string()), ("reason", pa.string()),
        ("detail", pa.string()), ("meta", pa.string()),
    ])


OUT_ARROW = _out_arrow()


def partition_writer(cfg: dict[str, Any]):
    """The mapInArrow function: ``write_partition`` with the Spark task's partition and attempt ids."""

    def fn(batches):
        from pyspark import TaskContext

        tc = TaskContext.get()
        pid = tc.partitionId() if tc is not None else 0
        attempt = tc.taskAttemptId() if tc is not None else os.getpid()
        number = tc.attemptNumber() if tc is not None else 0
        yield from write_partition(batches, cfg, pid, attempt, number)

    return fn


def copy_tokenizer(src: Path, shards_dir: Path) -> Path:
    """Copy the tokenizer next to the shards (so the shard dir is self-contained); returns the copy."""
    if src.is_file():
        dst = shards_dir / ("tokenizer.json" if src.suffix == ".json" else src.name)
        shutil.copyfile(src, dst)
        return dst
    dst = shards_dir / "tokenizer"
    if dst.resolve() != src.resolve():
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
    return dst


class TokenizeStage(GlobalStage):
    """Tokenize the mixture into Megatron shards. See the module docstring and docs/mixing.md."""

    name = "tokenize"

    def __init__(
        self,
        tokenizer: str | None = None,
        validation_fraction: float = 0.01,
        shard_tokens: int = 100_000_000,
        add_bos: bool = False,
        eos_token: str | None = None,
        bos_token: str | None = None,
        pad_token: str | None = None,
        partitions: int | None = None,
        stable_layout: bool = True,
        train: dict[str, Any] | None = None,
        recipe: dict[str, Any] | None = None,
        seed: int | None = None,
        fail_after_docs: int | None = None,
    ):
        if not 0.0 <= float(validation_fraction) < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1) (got {validation_fraction})")
        if int(shard_tokens) < 1:
            raise ValueError("shard_tokens must be >= 1")
        self.tokenizer = str(tokenizer) if tokenizer else None
        self.validation_fraction = float(validation_fraction)
        self.shard_tokens = int(shard_tokens)
        self.add_bos = bool(add_bos)
        self.eos_token, self.bos_token, self.pad_token = eos_token, bos_token, pad_token
        self.partitions = int(partitions) if partitions else None
        self.stable_layout = bool(stable_layout)
        self.train = dict(train or {})
        self.recipe = recipe
        self.seed = seed
        self.fail_after_docs = fail_after_docs

    # -- tokenizer --------------------------------------------------------------------------------
    def _train_tokenizer(self, df, out: Path, ctx) -> Path:
        """No tokenizer given: train one on (a seeded sample of) this stage's input, the mixture."""
        from pyspark.sql import functions as F

        from operators.tokenize.train_tokenizer import train_tokenizer

        opts = {"vocab_size": 32000, "max_chars": 50_000_000, **self.train}
        max_chars = int(opts.pop("max_chars"))
        total = df.select(F.sum(F.length(S.TEXT))).first()[0] or 0
        frac = min(1.0, max_chars / max(total, 1))
        h = F.pmod(F.xxhash64(F.col(S.ID), F.lit(7)), F.lit(1 << 30)) / float(1 << 30)
        texts = (r[0] for r in df.filter((h < frac) & F.col(S.TEXT).isNotNull()).select(S.TEXT).toLocalIterator())
        report = train_tokenizer(texts, out, **opts)
        _log(ctx, f"trained tokenizer: {report['vocab_size']} tokens ({report['learned']} learned) -> {out}")
        return out

    # -- Spark ------------------------------------------------------------------------------------
    def run(self, df, ctx) -> StageOutput:
        from pyspark.sql import functions as F

        from operators.tokenize.tokenizer import is_sentencepiece, load_tokenizer, sentencepiece_to_hf

        t0 = time.time()
        seed = int(self.seed if self.seed is not None else getattr(ctx, "seed", 0))
        out_dir = Path(ctx.out_dir)
        shards = out_dir / SHARDS_DIR
        shards.mkdir(parents=True, exist_ok=True)
        if self.tokenizer:
            src = Path(self.tokenizer).resolve()
            source = str(src)
            if is_sentencepiece(src):  # converted once here; executors load the saved directory
                converted = shards / "tokenizer"
                shutil.rmtree(converted, ignore_errors=True)
                sentencepiece_to_hf(src).save_pretrained(str(converted))
                src = converted
            tok = load_tokenizer(src, self.eos_token, self.bos_token, self.pad_token)
            copy = copy_tokenizer(tok.path, shards)
        else:
            copy = self._train_tokenizer(df, shards / "tokenizer", ctx)
            src, source = copy, "trained by the tokenize stage on its input"
            tok = load_tokenizer(copy, self.eos_token, self.bos_token, self.pad_token)
        dtype = dtype_for_vocab(tok.vocab_size)
        cfg = {"tokenizer": str(src), "eos_token": self.eos_token, "bos_token": self.bos_token,
               "pad_token": self.pad_token, "dtype": dtype.name, "root": str(shards), "seed": seed,
               "validation_fraction": self.validation_fraction, "shard_tokens": self.shard_tokens,
               "add_bos": self.add_bos, "fail_after_docs": self.fail_after_docs}
        cols = [c for c in (S.ID, S.TEXT, "repeat", "mix_group") if c in df.columns]
        # Shards depend on the data only, never on how the input happens to be partitioned:
        # documents go to one of `partitions` hash buckets, in (hash, id) order within each.
        # (stable_layout=False skips that shuffle: faster, but the layout follows the input's partitions.)
        src_df = df.select(*cols)
        if self.stable_layout:
            n_parts = self.partitions or int(df.sparkSession.conf.get("spark.sql.shuffle.partitions", "4"))
            key = F.xxhash64(F.col(S.ID), F.lit(seed))
            src_df = (src_df.withColumn("_k", key).repartition(n_parts, F.col("_k"))
                      .sortWithinPartitions("_k", S.ID).drop("_k"))
        elif self.partitions:
            src_df = src_df.repartition(self.partitions)
        index_dir = out_dir / DOC_INDEX
        t_write = time.time()
        t_setup = t_write - t0
        src_df.mapInArrow(partition_writer(cfg), OUT_SCHEMA).write.mode("overwrite").parquet(str(index_dir))
        t_write = time.time() - t_write
        spark = df.sparkSession
        index = spark.read.schema(OUT_SCHEMA).parquet(str(index_dir))
        # one small job: shard rows (kind=shard) and per (split, group) sums of the documents
        rows = (index.filter((F.col("kind") == "shard") | F.col("reason").isNull())
                .groupBy("kind", "split", "mix_group")
                .agg(F.sum(F.col("n_tokens") * F.col("copies")).alias("tokens"), F.sum("copies").alias("copies"),
                     F.sum(F.col("n_tokens") * F.col("repeat")).alias("mixture_tokens"),
                     F.count("*").alias("docs"), F.collect_list("meta").alias("metas")).collect())
        shard_rows = sorted((json.loads(m) for r in rows if r["kind"] == "shard" for m in r["metas"]),
                            key=lambda s: (SPLITS.index(s["split"]), s["prefix"]))
        by_group = [r for r in rows if r["kind"] == "doc"]
        self._remove_strays(shards, {s["prefix"] for s in shard_rows})
        docs = index.filter(F.col("kind") == "doc")
        manifest, metrics = self._manifest(tok, source, copy, shard_rows, by_group, ctx)
        write_manifest(shards, manifest)
        metrics["seconds/tokenize_write"] = time.time() - t0
        metrics["seconds/encode_and_write_shards"] = t_write
        metrics["seconds/tokenizer_setup"] = t_setup
        metrics["seconds/manifest"] = metrics["seconds/tokenize_write"] - t_write - t_setup
        _log(ctx, f"{metrics['shards/train']:.0f} train + {metrics['shards/validation']:.0f} validation shards, "
                  f"{metrics['tokens/train']:,.0f} + {metrics['tokens/validation']:,.0f} tokens -> {shards}")

        base = df.drop("n_tokens") if "n_tokens" in df.columns else df
        kept = base.join(docs.filter(F.col("reason").isNull()).select(F.col("id").alias(S.ID), "n_tokens"), on=S.ID)
        rejected = base.join(docs.filter(F.col("reason").isNotNull()).select(
            F.col("id").alias(S.ID), F.col("n_tokens"), F.col("reason").alias(S.REJECT_REASON),
            F.col("detail").alias(S.REJECT_DETAIL)), on=S.ID)
        return StageOutput(kept, rejected, metrics)

    @staticmethod
    def _remove_strays(shards: Path, listed: set[str]) -> None:
        """Delete what failed or killed task attempts left (temp files, shards no committed task lists)."""
        for split in SPLITS:
            d = shards / split
            if not d.is_dir():
                continue
            for f in d.iterdir():
                rel = f"{split}/{f.name}"
                stem = rel.rsplit(".", 1)[0]
                if f.name.startswith(".tmp-") or not (f.suffix in (".bin", ".idx") and stem in listed):
                    f.unlink()

    def _manifest(self, tok, src: str, copy: Path, shard_rows, by_group, ctx):
        from operators.mix import read_mix_report

        mix_dir = ctx.stage_dir("mix") if callable(getattr(ctx, "stage_dir", None)) else None
        mix = read_mix_report(mix_dir)
        recipe = self.recipe or (mix or {}).get("recipe")
        totals: dict[str, Any] = {}
        for split in SPLITS:
            rows = [s for s in shard_rows if s["split"] == split]
            totals[split] = {"docs": sum(s["docs"] for s in rows), "tokens": sum(s["tokens"] for s in rows),
                             "shards": len(rows)}
        totals["docs"] = sum(totals[s]["docs"] for s in SPLITS)
        totals["tokens"] = sum(totals[s]["tokens"] for s in SPLITS)
        totals["unique_docs"] = sum(int(r["docs"]) for r in by_group)
        # shares: the mixture's tokens (tokens x repeat, both splits: what the mix decided);
        # train_shares / validation_shares: the tokens actually written to each split.
        tok_mix: dict[str, int] = {}
        written: dict[str, dict[str, int]] = {split: {} for split in SPLITS}
        for r in by_group:
            g = r["mix_group"] or "all"
            tok_mix[g] = tok_mix.get(g, 0) + int(r["mixture_tokens"])
            written[r["split"]][g] = written[r["split"]].get(g, 0) + int(r["tokens"])

        def shares(d: dict[str, int]) -> dict[str, float]:
            t = sum(d.values())
            return {g: v / t for g, v in sorted(d.items())} if t else {}

        achieved = {"shares": shares(tok_mix), "tokens": dict(sorted(tok_mix.items())),
                    "train_shares": shares(written["train"]), "validation_shares": shares(written["validation"]),
                    "written_tokens": {split: dict(sorted(d.items())) for split, d in written.items()}}
        if mix:
            achieved["mix_shares"] = {g: r["share_achieved"] for g, r in mix["groups"].items()}
            achieved["target_shares"] = {g: r["share_target"] for g, r in mix["groups"].items()}
            achieved["short_groups"] = mix.get("short_groups", [])
        rel = copy.relative_to(copy.parent)  # next to the manifest
        manifest = {
            "complete": True,
            "tokenizer": {"path": str(rel), "source": src, "sha256": tokenizer_fingerprint(copy),
                          **tok.meta(), "dtype": dtype_for_vocab(tok.vocab_size).name},
            "shards": shard_rows,
            "recipe": recipe,
            "achieved": achieved,
            "totals": totals,
            "options": {"add_bos": self.add_bos, "append_eos": True, "stable_layout": self.stable_layout,
                        "validation_fraction": self.validation_fraction, "shard_tokens": self.shard_tokens,
                        "seed": int(self.seed if self.seed is not None else getattr(ctx, "seed", 0))},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        metrics: dict[str, float] = {}
        for split in SPLITS:
            metrics[f"tokens/{split}"] = float(totals[split]["tokens"])
            metrics[f"docs/{split}"] = float(totals[split]["docs"])
            metrics[f"shards/{split}"] = float(totals[split]["shards"])
        for g, v in achieved["shares"].items():
            metrics[f"share/{g}"] = float(v)
        for g, v in achieved["train_shares"].items():
            metrics[f"share_train/{g}"] = float(v)
        return manifest, metrics


def _log(ctx, msg: str) -> None:
    log = getattr(ctx, "log", None)
    if callable(log):
        log(msg)
    else:
        print(f"[winnow] tokenize: {msg}", flush=True)
