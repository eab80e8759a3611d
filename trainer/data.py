"""Training data over Winnow's Megatron shards: packed windows, deterministic shuffle, disjoint ranks.

* Every shard's documents are read as one token stream (memory-mapped, never loaded whole), EOS
  between documents (Winnow's tokenize stage already ends each document with EOS; shards without
  it get one inserted on the fly). The stream is cut into windows of ``seq_len + 1`` tokens that
  overlap by one token (inputs ``w[:-1]``, targets ``w[1:]``), crossing document boundaries.
* One epoch = one permutation of all windows of the epoch's shards, from ``(seed, epoch)``.
* Every micro-step the world takes the next ``micro_batch * world`` windows of the permutation;
  rank r takes slice r. Ranks therefore never see the same window within an epoch.
* The data position is ``(epoch, consumed, shards of the epoch)``: saved in checkpoints, so a
  resumed run replays exactly the batches an uninterrupted run would have seen.
* ``follow``: at each epoch boundary the manifest is re-read; shards the pipeline appended since
  join the next epoch (after their checksums verify).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shards.indexed_dataset import IndexedDataset
from shards.manifest import MANIFEST_NAME, read_manifest, summarize, tokenizer_fingerprint, verify_shards


class DataError(RuntimeError):
    """Bad or unusable training data (missing shards, checksum or tokenizer mismatch)."""


def resolve_manifest(data: str | Path) -> Path:
    """``data`` may be the manifest, a shard directory, or a pipeline workdir (newest shards wins)."""
    p = Path(data)
    if p.is_file():
        return p
    if (p / MANIFEST_NAME).is_file():
        return p / MANIFEST_NAME
    if p.is_dir():
        found = list(p.glob(f"*/shards/{MANIFEST_NAME}")) or list(p.rglob(f"shards/{MANIFEST_NAME}"))
        if found:
            return max(found, key=lambda f: (f.stat().st_mtime, str(f)))
    raise DataError(f"--data {data}: no {MANIFEST_NAME} there (expected a shard dir, a manifest "
                    f"or a pipeline workdir containing <NN>-tokenize/shards/{MANIFEST_NAME})")


def wait_for_manifest(data: str | Path, timeout: float, poll: float = 2.0) -> tuple[Path, dict[str, Any]]:
    """The manifest, once it lists at least one train shard (waiting up to ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            path = resolve_manifest(data)
            manifest = read_manifest(path)
            if any(s["split"] == "train" for s in manifest["shards"]):
                return path, manifest
            problem = f"{path} lists no train shards yet"
        except (DataError, FileNotFoundError) as e:
            problem = str(e)
        if time.monotonic() >= deadline:
            raise DataError(problem)
        time.sleep(poll)


def resolve_tokenizer(manifest: dict[str, Any], manifest_path: Path, tokenizer: str = "") -> Path:
    """The tokenizer to use; refuses one that is not the tokenizer the shards were made with."""
    meta = manifest.get("tokenizer") or {}
    want = meta.get("sha256")
    if tokenizer:
        path = Path(tokenizer)
        if not path.exists():
            raise DataError(f"--tokenizer {tokenizer}: no such file or directory")
        if want:
            candidates = [path] + ([path / "tokenizer.json"] if path.is_dir() else [])
            if meta.get("path") and path.is_dir():
                candidates.append(path / Path(meta["path"]).name)
            got = {str(c): tokenizer_fingerprint(c) for c in candidates if c.exists()}
            if want not in got.values():
                raise DataError(
                    f"tokenizer mismatch: {path} (sha256 {got[str(path)][:16]}) is not the tokenizer the "
                    f"shards in {manifest_path.parent} were written with ({meta.get('path')}, sha256 "
                    f"{want[:16]}). Token ids would mean different text; use that tokenizer or re-run "
                    f"the tokenize stage.")
        return path
    raw = meta.get("path")
    if not raw:
        raise DataError(f"{manifest_path}: the manifest names no tokenizer; pass --tokenizer")
    for cand in (Path(raw), manifest_path.parent / raw):
        if cand.exists():
            if want and tokenizer_fingerprint(cand) != want:
                raise DataError(f"tokenizer mismatch: {cand} changed since the shards were written "
                                f"(sha256 differs from the manifest's {want[:16]})")
            return cand
    raise DataError(f"the manifest's tokenizer {raw} is not found (also not relative to "
                    f"{manifest_path.parent}); pass --tokenizer")


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    p = Path(path)
    if p.is_file():
        return PreTrainedTokenizerFast(tokenizer_file=str(p))
    return AutoTokenizer.from_pretrained(str(p))


def check_checksums(manifest_path: Path, shards: list[dict[str, Any]]) -> None:
    problems = verify_shards(manifest_path, {"shards": shards})
    if problems:
        raise DataError("shard checksum check failed:\n  " + "\n  ".join(problems[:20]))


def manifest_summary(manifest_path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    return {"manifest": str(manifest_path.resolve()), **summarize(manifest)}


class PackedShard:
    """One shard as a stream of ``seq_len + 1``-token windows (stride ``seq_len``)."""

    def __init__(self, prefix: Path, seq_len: int, eos_id: int | None):
        self.ds = IndexedDataset(prefix)
        self.seq_len = seq_len
        self.eos_id = eos_id
        sizes = self.ds.sizes.astype(np.int64)
        self.append_eos = eos_id is not None and not self._ends_with_eos()
        contiguous = not len(sizes) or (
            int(self.ds.pointers[-1]) // self.ds.dtype.itemsize + int(sizes[-1]) == len(self.ds.tokens))
        if not self.append_eos and contiguous:
            self.ends = None
            n_tokens = len(self.ds.tokens)
        else:  # virtual stream: document d occupies [ends[d-1], ends[d]) including its EOS
            self.ends = np.cumsum(sizes + (1 if self.append_eos else 0))
            n_tokens = int(self.ends[-1]) if len(self.ends) else 0
        self.n_tokens = n_tokens
        self.n_windows = max(0, (n_tokens - 1) // seq_len)

    def _ends_with_eos(self, probe: int = 32) -> bool:
        n = len(self.ds)
        picks = [i for i in np.linspace(0, n - 1, min(n, probe)).astype(int) if self.ds.sizes[i] > 0]
        return bool(picks) and all(int(self.ds[i][-1]) == self.eos_id for i in picks)

    def window(self, i: int) -> np.ndarray:
        a = i * self.seq_len
        b = a + self.seq_len + 1
        if self.ends is None:
            return np.asarray(self.ds.tokens[a:b], dtype=np.int64)
        out = np.empty(b - a, dtype=np.int64)
        d = int(np.searchsorted(self.ends, a, side="right"))
        filled = 0
        while filled < len(out):
            start = int(self.ends[d - 1]) if d else 0
            doc = self.ds[d]
            off = a + filled - start
            if off < len(doc):
                take = doc[off: off + len(out) - filled]
                out[filled: filled + len(take)] = take
                filled += len(take)
            if filled < len(out) and self.append_eos and a + filled - start == len(doc):
                out[filled] = self.eos_id
                filled += 1
            d += 1
        return out


@dataclass
class DataPosition:
    epoch: int = 0
    consumed: int = 0               # windows the whole world has taken from this epoch's order
    shards: tuple[str, ...] = ()    # the epoch's shard prefixes (relative to the manifest dir)

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "consumed": self.consumed, "shards": list(self.shards)}


class TrainData:
    """Infinite iterator of ``(micro_batch, seq_len + 1)`` LongTensors for this rank."""

    def __init__(self, manifest_path: Path, seq_len: int, micro_batch: int, seed: int,
                 rank: int = 0, world: int = 1, eos_id: int | None = None, follow: bool = True,
                 verify: bool = True):
        self.manifest_path = Path(manifest_path)
        self.root = self.manifest_path.parent
        self.seq_len, self.micro_batch, self.seed = seq_len, micro_batch, seed
        self.rank, self.world = rank, world
        self.eos_id, self.follow, self.verify = eos_id, follow, verify
        self._shards: dict[str, PackedShard] = {}
        self._verified: set[str] = set()
        self.position = DataPosition()
        self._plan(self._train_shards())

    # -- epoch planning ---------------------------------------------------------------------
    def _train_shards(self) -> list[str]:
        manifest = read_manifest(self.manifest_path)
        shards = [s for s in manifest["shards"] if s["split"] == "train"]
        new = [s for s in shards if s["prefix"] not in self._verified]
        if self.verify and new:
            check_checksums(self.manifest_path, new)
        self._verified.update(s["prefix"] for s in new)
        return [s["prefix"] for s in shards]

    def _shard(self, prefix: str) -> PackedShard:
        if prefix not in self._shards:
            self._shards[prefix] = PackedShard(self.root / prefix, self.seq_len, self.eos_id)
        return self._shards[prefix]

    def _plan(self, prefixes: list[str] | tuple[str, ...], epoch: int = 0, consumed: int = 0) -> None:
        self.position = DataPosition(epoch, consumed, tuple(prefixes))
        counts = np.array([self._shard(p).n_windows for p in prefixes], dtype=np.int64)
        self._cum = np.cumsum(counts)
        total = int(self._cum[-1]) if len(counts) else 0
        if total < self.micro_batch * self.world:
            raise DataError(f"{total} windows of {self.seq_len + 1} tokens in {len(prefixes)} train "
                            f"shard(s): fewer than one micro-batch for {self.world} rank(s)")
        rng = np.random.default_rng([self.seed, epoch])
        self._order = rng.permutation(total)

    @property
    def windows_per_epoch(self) -> int:
        return len(self._order)

    def _locate(self, g: int) -> tuple[str, int]:
        s = int(np.searchsorted(self._cum, g, side="right"))
        return self.position.shards[s], g - (int(self._cum[s - 1]) if s else 0)

    # -- iteration --------------------------------------------------------------------------
    def next_ids(self) -> np.ndarray:
        """Global window ids of this rank's next micro-batch (advances the position)."""
        step = self.micro_batch * self.world
        if self.position.consumed + step > len(self._order):  # epoch done: drop the ragged tail
            prefixes = self._train_shards() if self.follow else list(self.position.shards)
            self._plan(prefixes, self.position.epoch + 1, 0)
        lo = self.position.consumed + self.rank * self.micro_batch
        ids = self._order[lo: lo + self.micro_batch]
        self.position.consumed += step
        return ids

    def batch(self, ids: np.ndarray) -> torch.Tensor:
        rows = [self._shard(p).window(i) for p, i in map(self._locate, ids.tolist())]
        return torch.from_numpy(np.stack(rows))

    def next_batch(self) -> torch.Tensor:
        return self.batch(self.next_ids())

    def window_key(self, g: int) -> str:
        """A stable name of a window (``shard:index``): equal keys mean the same tokens."""
        p, i = self._locate(int(g))
        return f"{p}:{i}"

    def state_dict(self) -> dict[str, Any]:
        return self.position.to_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        known = {s["prefix"] for s in read_manifest(self.manifest_path)["shards"]}
        missing = [p for p in state["shards"] if p not in known]
        if missing:
            raise DataError(f"cannot resume: shards {missing[:3]} of the checkpoint's epoch are no "
                            f"longer in {self.manifest_path}")
        self._plan(tuple(state["shards"]), int(state["epoch"]), int(state["consumed"]))


class EvalData:
    """A fixed validation set: the first windows of the validation shards, split across ranks."""

    def __init__(self, manifest_path: Path, seq_len: int, micro_batch: int, batches: int,
                 rank: int = 0, world: int = 1, eos_id: int | None = None):
        manifest = read_manifest(manifest_path)
        root = Path(manifest_path).parent
        self.micro_batch = micro_batch
        want = micro_batch * batches * world
        rows: list[tuple[PackedShard, int]] = []
        for s in manifest["shards"]:
            if s["split"] != "validation" or len(rows) >= want:
                continue
            shard = PackedShard(root / s["prefix"], seq_len, eos_id)
            rows.extend((shard, i) for i in range(min(shard.n_windows, want - len(rows))))
        per_rank = len(rows) // world
        self.rows = rows[rank * per_rank: (rank + 1) * per_rank]

    def batches(self):
        for i in range(0, len(self.rows), self.micro_batch):
            chunk = self.rows[i: i + self.micro_batch]
            yield torch.from_numpy(np.stack([s.window(j) for s, j in chunk]))
