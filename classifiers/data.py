"""The labelled set and text helpers shared by the BERT and fastText classifiers."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "data" / "labelled" / "labelled.jsonl.gz"


def load_labelled(path: str | Path = LABELLED) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def task_rows(rows: Iterable[dict], task: str) -> list[dict]:
    """Rows that carry a label for ``task`` (``quality`` or ``domain``)."""
    return [r for r in rows if r.get(task) is not None]


def split_rows(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
    for r in rows:
        out[r.get("split", "train")].append(r)
    return out

