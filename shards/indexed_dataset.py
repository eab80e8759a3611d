"""Megatron-LM's memory-mapped indexed dataset (``MMIDIDX``, version 1), read and written.

Layout, so that Megatron-LM and GPT-NeoX read Winnow's shards unchanged:

``<prefix>.bin``: the token ids of every sequence, back to back, in the index's dtype.

``<prefix>.idx``::

    9 bytes   b"MMIDIDX\\x00\\x00"
    <Q        version (1)
    <B        dtype code (see DTYPE_CODES)
    <Q        sequence count S
    <Q        document-index length D (documents + 1)
    int32[S]  sequence lengths in tokens
    int64[S]  byte offset of every sequence in .bin
    int64[D]  document index: sequence number where each document starts, then S

Winnow writes one sequence per document (EOS appended), so the document index is 0..S.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
DTYPE_CODES: dict[int, type[np.generic]] = {
    1: np.uint8,
    2: np.int8,
    3: np.int16,
    4: np.int32,
    5: np.int64,
    6: np.float64,
    7: np.float32,
    8: np.uint16,
}
CODE_OF = {np.dtype(v): k for k, v in DTYPE_CODES.items()}


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (as Megatron's optimal_dtype), else int32."""
    return np.dtype(np.uint16) if vocab_size < 65500 else np.dtype(np.int32)


def paths_for(prefix: str | os.PathLike) -> tuple[Path, Path]:
    p = str(prefix)
    return Path(p + ".bin"), Path(p + ".idx")


class IndexedDatasetWriter:
    """Append documents, then ``finalize()``. Files are written to ``.tmp`` names and renamed on
    finalize, so a killed or retried writer never leaves a half shard under the final name."""

    def __init__(self, prefix: str | os.PathLike, dtype: np.dtype | type = np.uint16):
        self.prefix = str(prefix)
        self.dtype = np.dtype(dtype)
        if self.dtype not in CODE_OF:
            raise ValueError(f"unsupported token dtype {self.dtype}")
        self._max = np.iinfo(self.dtype).max if self.dtype.kind in "ui" else None
        self.bin_path, self.idx_path = paths_for(self.prefix)
        self._tmp_bin = self.bin_path.with_name(self.bin_path.name + ".tmp")
        self._bin = open(self._tmp_bin, "wb")
        self._sizes: list[int] = []
        self.num_tokens = 0

    def add_document(self, tokens: Iterable[int] | np.ndarray) -> None:
        arr = np.asarray(tokens)
        if arr.size and self._max is not None and (int(arr.max()) > self._max or int(arr.min()) < 0):
            raise OverflowError(f"token id {int(arr.max())} does not fit {self.dtype} in {self.prefix}")
        arr = arr.astype(self.dtype, copy=False)
        self._bin.write(arr.tobytes(order="C"))
        self._sizes.append(int(arr.size))
        self.num_tokens += int(arr.size)

    @property
    def num_documents(self) -> int:
        return len(self._sizes)

    def finalize(self) -> None:
        self._bin.close()
        sizes = np.asarray(self._sizes, dtype=np.int32)
        pointers = np.zeros(len(sizes), dtype=np.int64)
        if len(sizes) > 1:
            np.cumsum(sizes[:-1].astype(np.int64) * self.dtype.itemsize, out=pointers[1:])
        doc_idx = np.arange(len(sizes) + 1, dtype=np.int64)
        tmp_idx = self.idx_path.with_name(self.idx_path.name + ".tmp")
        with open(tmp_idx, "wb") as f:
            f.write(MAGIC)
            f.write(struct.pack("<Q", VERSION))
            f.write(struct.pack("<B", CODE_OF[self.dtype]))
            f.write(struct.pack("<Q", len(sizes)))
            f.write(struct.pack("<Q", len(doc_idx)))
            f.write(sizes.tobytes(order="C"))
            f.write(pointers.tobytes(order="C"))
            f.write(doc_idx.tobytes(order="C"))
        os.replace(self._tmp_bin, self.bin_path)
        os.replace(tmp_idx, self.idx_path)

    def abort(self) -> None:
        self._bin.close()
        self._tmp_bin.unlink(missing_ok=True)


class IndexedDataset:
    """Memory-mapped reader: ``len(ds)`` sequences, ``ds[i]`` a numpy view of sequence i."""

    def __init__(self, prefix: str | os.PathLike):
        self.prefix = str(prefix)
        self.bin_path, self.idx_path = paths_for(self.prefix)
        with open(self.idx_path, "rb") as f:
            magic = f.read(9)
            if magic != MAGIC:
                raise ValueError(f"{self.idx_path}: not a Megatron MMIDIDX index (magic {magic!r})")
            (version,) = struct.unpack("<Q", f.read(8))
            if version != VERSION:
                raise ValueError(f"{self.idx_path}: index version {version}, expected {VERSION}")
            (code,) = struct.unpack("<B", f.read(1))
            (n_seq,) = struct.unpack("<Q", f.read(8))
            (n_doc,) = struct.unpack("<Q", f.read(8))
            offset = f.tell()
        self.dtype = np.dtype(DTYPE_CODES[code])
        idx = np.memmap(self.idx_path, mode="r", dtype=np.uint8)
        self.sizes = np.frombuffer(idx, dtype=np.int32, count=n_seq, offset=offset)
        offset += self.sizes.nbytes
        self.pointers = np.frombuffer(idx, dtype=np.int64, count=n_seq, offset=offset)
        offset += self.pointers.nbytes
        self.doc_idx = np.frombuffer(idx, dtype=np.int64, count=n_doc, offset=offset)
        self._bin = (
            np.memmap(self.bin_path, mode="r", dtype=self.dtype)
            if os.path.getsize(self.bin_path)
            else np.zeros(0, dtype=self.dtype)
        )

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, i: int) -> np.ndarray:
        start = int(self.pointers[i]) // self.dtype.itemsize
        return self._bin[start : start + int(self.sizes[i])]

    @property
    def num_tokens(self) -> int:
        return int(self.sizes.sum(dtype=np.int64))

    @property
    def tokens(self) -> np.ndarray:
        """All tokens as one flat memory-mapped array."""
        return self._bin
