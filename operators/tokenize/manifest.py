"""The tokenize stage's ``manifest.json`` content and metrics, built on the driver from the committed
shard rows and the per (split, group) document sums (format: ``shards/manifest.py``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from shards.indexed_dataset import dtype_for_vocab
from shards.manifest import SPLITS, tokenizer_fingerprint


def remove_strays(shards: Path, listed: set[str]) -> None:
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


def _shares(tokens: dict[str, int]) -> dict[str, float]:
    t = sum(tokens.values())
    return {g: v / t for g, v in sorted(tokens.items())} if t else {}


def build_manifest(tok, source: str, copy: Path, shard_rows: list[dict[str, Any]], by_group,
                   recipe: dict[str, Any] | None, mix: dict[str, Any] | None,
                   options: dict[str, Any]) -> dict[str, Any]:
    """The manifest: tokenizer (``copy`` lies next to the manifest), shards, recipe, achieved shares
    (with the mix report's ``mix``, when there is one), totals and the stage's ``options``."""
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
    achieved = {"shares": _shares(tok_mix), "tokens": dict(sorted(tok_mix.items())),
                "train_shares": _shares(written["train"]), "validation_shares": _shares(written["validation"]),
                "written_tokens": {split: dict(sorted(d.items())) for split, d in written.items()}}
    if mix:
        achieved["mix_shares"] = {g: r["share_achieved"] for g, r in mix["groups"].items()}
        achieved["target_shares"] = {g: r["share_target"] for g, r in mix["groups"].items()}
        achieved["short_groups"] = mix.get("short_groups", [])
    return {
        "complete": True,
        "tokenizer": {"path": str(copy.relative_to(copy.parent)), "source": source,
                      "sha256": tokenizer_fingerprint(copy), **tok.meta(),
                      "dtype": dtype_for_vocab(tok.vocab_size).name},
        "shards": shard_rows,
        "recipe": recipe,
        "achieved": achieved,
        "totals": totals,
        "options": options,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def manifest_metrics(manifest: dict[str, Any]) -> dict[str, float]:
    """stats.json metrics: tokens, docs and shards per split, shares per group."""
    totals, achieved = manifest["totals"], manifest["achieved"]
    metrics: dict[str, float] = {}
    for split in SPLITS:
        metrics[f"tokens/{split}"] = float(totals[split]["tokens"])
        metrics[f"docs/{split}"] = float(totals[split]["docs"])
        metrics[f"shards/{split}"] = float(totals[split]["shards"])
    for g, v in achieved["shares"].items():
        metrics[f"share/{g}"] = float(v)
    for g, v in achieved["train_shares"].items():
        metrics[f"share_train/{g}"] = float(v)
    return metrics
