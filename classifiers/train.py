"""Train the default classifiers (``make classifiers``) or any variant.

    python -m classifiers.train bert --task quality --out models/quality-bert [--encoder adapted] [--mode frozen]
    python -m classifiers.train bert --task domain --out models/domain-bert
    python -m classifiers.train fasttext --task quality --out models/quality-fasttext.bin
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from classifiers.data import LABELLED, load_labelled

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Train a Winnow quality/domain classifier")
    ap.add_argument("kind", choices=["bert", "fasttext"])
    ap.add_argument("--task", choices=["quality", "domain"], required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=LABELLED)
    ap.add_argument("--lang", choices=["en", "zh"], help="train on one language only")
    ap.add_argument("--encoder", default="adapted", help="minilm | adapted (models/encoder-zh) | a local directory")
    ap.add_argument("--mode", choices=["frozen", "finetune"], default="frozen")
    ap.add_argument("--train-layers", type=int, default=2)
    ap.add_argument("--objective", choices=["binary", "regression", "multiclass"])
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--truncation", choices=["head", "head_tail"], default="head")
    ap.add_argument("--head-hidden", type=int, default=256)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--cache-dir", default=str(ROOT / "models" / ".cache"))
    args = ap.parse_args(argv)
    rows = load_labelled(args.data)
    if args.lang:
        rows = [r for r in rows if r["lang"] == args.lang]
    if args.kind == "fasttext":
        from classifiers.fasttext_clf import train_fasttext

        metrics = train_fasttext(rows, args.out, args.task, seed=args.seed)
    else:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        from classifiers.bert.train import TrainConfig, train_classifier

        cfg = TrainConfig(task=args.task, encoder=args.encoder, objective=args.objective, mode=args.mode,
                          train_layers=args.train_layers, max_tokens=args.max_tokens, truncation=args.truncation,
                          head_hidden=args.head_hidden, epochs=args.epochs, lr=args.lr, seed=args.seed,
                          cache_dir=args.cache_dir or None)
        metrics = train_classifier(rows, args.out, cfg)
    print(json.dumps({g: {k: v for k, v in m.items() if k in ("n", "auc", "accuracy", "macro_f1")}
                      for g, m in metrics.items()}, indent=1))


if __name__ == "__main__":
    main()
