"""``winnow shards inspect DIR``: manifest summary, checksum verification, decoded documents.

    winnow shards inspect work/demo/10-tokenize/shards
    winnow shards inspect DIR --doc 12 --tokens 64           # decode document 12 of the first train shard
    winnow shards inspect DIR --shard validation/shard-00000-00-0000 --doc 0
    winnow shards inspect DIR --no-verify --json

DIR may be a shard directory, its ``manifest.json``, or a tokenize stage directory (``shards/`` in
it). Exit status 1 when a checksum or file does not verify.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shards.indexed_dataset import IndexedDataset
from shards.manifest import manifest_path, read_manifest, summarize, verify_shards


def _resolve(data: str) -> Path:
    p = Path(data)
    if p.is_dir() and not (p / "manifest.json").exists() and (p / "shards" / "manifest.json").exists():
        p = p / "shards"
    return manifest_path(p)


def summary_lines(manifest: dict[str, Any]) -> list[str]:
    """``summarize(manifest)`` as the lines ``winnow shards inspect`` prints."""
    m = summarize(manifest)
    tok = m["tokenizer"]
    lines = [f"complete: {m['complete']}",
             f"tokenizer: {tok.get('path')} (source {tok.get('source')}) vocab {tok.get('vocab_size')} "
             f"dtype {tok.get('dtype')} bos {tok.get('bos_id')} eos {tok.get('eos_id')} pad {tok.get('pad_id')} "
             f"sha256 {str(tok.get('sha256'))[:16]}"]
    for split in ("train", "validation"):
        t = m["splits"].get(split) or {"shards": 0, "docs": 0, "tokens": 0}
        lines.append(f"{split}: {t['shards']} shards, {t['docs']:,} docs, {t['tokens']:,} tokens")
    recipe = m["recipe"] or {}
    achieved = m["achieved"] or {}
    if recipe.get("groups"):
        lines.append(f"recipe: budget {recipe.get('budget_tokens')} tokens, max_repeats {recipe.get('max_repeats')}, "
                     f"select {recipe.get('select')}")
        target = achieved.get("target_shares") or {}
        for g in recipe["groups"]:
            name = g["name"]
            lines.append(f"  {name:<12} where {g['where']!r:<24} weight {g['weight']:<5g} target "
                         f"{target.get(name, float('nan')):.4f} mix {achieved.get('mix_shares', {}).get(name, float('nan')):.4f} "
                         f"written {achieved.get('shares', {}).get(name, float('nan')):.4f}")
        if achieved.get("short_groups"):
            lines.append(f"  short groups: {', '.join(achieved['short_groups'])}")
    elif achieved.get("shares"):
        lines.append("shares: " + ", ".join(f"{g} {v:.4f}" for g, v in achieved["shares"].items()))
    return lines


def decode_doc(root: Path, manifest: dict[str, Any], shard: str | None, doc: int, n_tokens: int,
               tokenizer: str | None = None) -> tuple[str, list[int], str]:
    from operators.tokenize.tokenizer import load_tokenizer

    shards = manifest["shards"]
    if shard is None:
        shard = next((s["prefix"] for s in shards if s["split"] == "train"), shards[0]["prefix"] if shards else None)
    if shard is None:
        raise ValueError("the manifest lists no shards")
    ds = IndexedDataset(root / shard)
    if not 0 <= doc < len(ds):
        raise IndexError(f"{shard} has {len(ds)} documents; --doc {doc} is out of range")
    ids = [int(x) for x in ds[doc]]
    tok_path = Path(tokenizer) if tokenizer else root / manifest["tokenizer"]["path"]
    backend = load_tokenizer(tok_path).backend
    shown = ids[:n_tokens] if n_tokens > 0 else ids
    return shard, ids, backend.decode(shown, skip_special_tokens=False)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "inspect":
        argv = argv[1:]
    elif argv and argv[0] not in ("-h", "--help") and not Path(argv[0]).exists():
        print(f"winnow shards: unknown subcommand {argv[0]!r} (usage: winnow shards inspect DIR)", file=sys.stderr)
        return 2
    ap = argparse.ArgumentParser(prog="winnow shards inspect", description="inspect and verify tokenized shards")
    ap.add_argument("dir", help="shard directory, manifest.json, or a tokenize stage directory")
    ap.add_argument("--doc", type=int, default=None, help="decode this document (index within the shard)")
    ap.add_argument("--shard", default=None, help="shard prefix for --doc (default: the first train shard)")
    ap.add_argument("--tokens", type=int, default=48, help="how many tokens of the document to decode (0: all)")
    ap.add_argument("--tokenizer", default=None, help="decode with this tokenizer instead of the manifest's")
    ap.add_argument("--no-verify", action="store_true", help="skip the sha256 checks")
    ap.add_argument("--json", action="store_true", help="print a JSON summary")
    args = ap.parse_args(argv)

    path = _resolve(args.dir)
    manifest = read_manifest(path)
    problems = [] if args.no_verify else verify_shards(path, manifest)
    out: dict[str, Any] = {"manifest": str(path), "shards": len(manifest["shards"]),
                           "verified": None if args.no_verify else not problems, "problems": problems}
    if args.doc is not None:
        shard, ids, text = decode_doc(path.parent, manifest, args.shard, args.doc, args.tokens, args.tokenizer)
        out.update({"doc": {"shard": shard, "index": args.doc, "n_tokens": len(ids),
                            "ids": ids[: args.tokens or None], "text": text}})
    if args.json:
        print(json.dumps({**out, "totals": manifest.get("totals"), "achieved": manifest.get("achieved")},
                         indent=2, ensure_ascii=False))
    else:
        print(f"manifest: {path}")
        for line in summary_lines(manifest):
            print(line)
        if args.no_verify:
            print("checksums: not verified (--no-verify)")
        elif problems:
            print(f"checksums: {len(problems)} problem(s)")
            for p in problems:
                print(f"  {p}")
        else:
            print(f"checksums: all {2 * len(manifest['shards'])} files verify")
        if "doc" in out:
            d = out["doc"]
            print(f"document {d['index']} of {d['shard']}: {d['n_tokens']} tokens; first {len(d['ids'])}: {d['ids']}")
            print(f"decoded: {d['text']!r}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
