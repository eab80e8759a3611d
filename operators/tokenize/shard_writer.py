"""Encoding one Spark partition's documents into Megatron-LM indexed-dataset shards (no Spark here).

Every document is encoded with the fast tokenizer (``encode_batch``, no special tokens), EOS is
appended (and BOS prepended when ``add_bos``) and the ids are written to
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
  overwrites its own shards with identical bytes and never leaves a half or duplicate shard.

The writer yields one Arrow batch of doc rows per input batch and a batch of shard rows (with the
checksums) whenever shards were completed; ``OUT_SCHEMA`` is their Spark schema.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from contract import schema as S
from shards.indexed_dataset import IndexedDatasetWriter, paths_for
from shards.manifest import file_sha256

EMPTY = "empty_document"
OUT_SCHEMA = (
    "kind string, id string, split string, n_tokens long, copies int, repeat int, mix_group string, shard string, "
    "reason string, detail string, meta string"
)
OUT_ARROW = pa.schema([
    ("kind", pa.string()), ("id", pa.string()), ("split", pa.string()), ("n_tokens", pa.int64()),
    ("copies", pa.int32()), ("repeat", pa.int32()), ("mix_group", pa.string()), ("shard", pa.string()),
    ("reason", pa.string()), ("detail", pa.string()), ("meta", pa.string()),
])


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


def _shard_batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    n = len(rows)
    return pa.RecordBatch.from_pydict({
        "kind": ["shard"] * n, "id": [None] * n, "split": [r["split"] for r in rows],
        "n_tokens": pa.array([r["tokens"] for r in rows], pa.int64()),
        "copies": pa.array([r["docs"] for r in rows], pa.int32()), "repeat": pa.nulls(n, pa.int32()),
        "mix_group": [None] * n,
        "shard": [r["prefix"] for r in rows], "reason": [None] * n, "detail": [None] * n,
        "meta": [json.dumps(r, sort_keys=True) for r in rows],
    }, schema=OUT_ARROW)


def _take_done(lanes: dict[tuple[str, int], _Lane]) -> list[dict[str, Any]]:
    """The shards completed since the last call, in lane order."""
    done = [r for lane in lanes.values() for r in lane.done]
    for lane in lanes.values():
        lane.done = []
    return done


def write_partition(batches, cfg: dict[str, Any], pid: int, attempt: int):
    """Encode and write one partition's documents; yields the doc and shard rows (Arrow batches).

    ``pid`` names the shards; ``attempt`` (unique per task attempt) names the temporary files, so
    two attempts of one partition never write to the same temporary file."""
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
            n = len(out["id"])
            yield pa.RecordBatch.from_pydict({"kind": ["doc"] * n, **out, "meta": [None] * n}, schema=OUT_ARROW)
            if done := _take_done(lanes):
                yield _shard_batch(done)
        for lane in lanes.values():
            lane.close()
        if done := _take_done(lanes):
            yield _shard_batch(done)
    except BaseException:
        for lane in lanes.values():
            lane.abort()
        raise


def partition_writer(cfg: dict[str, Any]):
    """The mapInArrow function: ``write_partition`` with the Spark task's partition and attempt ids."""

    def fn(batches):
        from pyspark import TaskContext

        tc = TaskContext.get()
        pid = tc.partitionId() if tc is not None else 0
        attempt = tc.taskAttemptId() if tc is not None else os.getpid()
        yield from write_partition(batches, cfg, pid, attempt)

    return fn
