"""``manifest.json``: the contract between the tokenize stage and any trainer.

::

    {
      "format": "winnow-shards/1",
      "complete": true,               # written once, after every shard is in place
      "tokenizer": {"path": ..., "sha256": ..., "vocab_size": N, "bos_id": .., "eos_id": .., "pad_id": ..},
      "shards": [
        {"split": "train", "prefix": "train/shard-00000", "docs": n, "tokens": t,
         "dtype": "uint16", "sha256": {"bin": "...", "idx": "..."}}
      ],
      "recipe": {...}, "achieved": {...},
      "totals": {"train": {"docs": .., "tokens": ..}, "validation": {...}}
    }

Shard prefixes are relative to the manifest's directory.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

FORMAT = "winnow-shards/1"
MANIFEST_NAME = "manifest.json"
SPLITS = ("train", "validation")


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def tokenizer_fingerprint(path: str | os.PathLike) -> str:
    """sha256 over a tokenizer file, or over every file of a tokenizer directory (names + bytes)."""
    p = Path(path)
    if p.is_file():
        return file_sha256(p)
    h = hashlib.sha256()
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        h.update(str(f.relative_to(p)).encode())
        h.update(bytes.fromhex(file_sha256(f)))
    return h.hexdigest()


def manifest_path(data: str | os.PathLike) -> Path:
    """Accept a shard directory or the manifest file itself."""
    p = Path(data)
    return p / MANIFEST_NAME if p.is_dir() else p


def read_manifest(data: str | os.PathLike) -> dict[str, Any]:
    path = manifest_path(data)
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"no shard manifest at {path}") from None
    if m.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown manifest format {m.get('format')!r}, expected {FORMAT!r}")
    return m


def write_manifest(directory: str | os.PathLike, manifest: dict[str, Any]) -> Path:
    """Atomic write (temp file + rename), so a reader never sees half a manifest."""
    path = Path(directory) / MANIFEST_NAME
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"format": FORMAT, **manifest}, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return path


def verify_shards(data: str | os.PathLike, manifest: dict[str, Any] | None = None) -> list[str]:
    """Every problem found (missing file, checksum mismatch); an empty list means all verify."""
    root = manifest_path(data).parent
    manifest = manifest or read_manifest(data)
    problems = []
    for shard in manifest["shards"]:
        for ext in ("bin", "idx"):
            f = root / f"{shard['prefix']}.{ext}"
            if not f.exists():
                problems.append(f"{f}: missing")
            elif file_sha256(f) != shard["sha256"][ext]:
                problems.append(f"{f}: sha256 mismatch")
    return problems


def summarize(manifest: dict[str, Any]) -> dict[str, Any]:
    """The one summary of a manifest (report, trainer, ``winnow shards inspect``): shards, docs and
    tokens per split, shard dtypes, the tokenizer's identity, the recipe and the achieved mixture."""
    splits: dict[str, dict[str, int]] = {}
    dtypes = set()
    for s in manifest.get("shards") or []:
        t = splits.setdefault(s.get("split", "?"), {"shards": 0, "docs": 0, "tokens": 0})
        t["shards"] += 1
        t["docs"] += int(s.get("docs") or 0)
        t["tokens"] += int(s.get("tokens") or 0)
        dtypes.add(s.get("dtype"))
    return {"complete": manifest.get("complete", True), "splits": splits, "totals": manifest.get("totals"),
            "dtypes": sorted(x for x in dtypes if x), "tokenizer": manifest.get("tokenizer") or {},
            "recipe": manifest.get("recipe"), "achieved": manifest.get("achieved")}
