"""``winnow-train`` / ``python -m trainer``: flags are the fields of ``trainer.config.TrainConfig``.

Examples::

    winnow-train --data work/demo --model llama-tiny --max-steps 200 --out runs/tiny
    torchrun --nproc_per_node 2 -m trainer --data shards/ --max-steps 100 --out runs/ddp
    deepspeed --num_gpus 8 --module trainer --deepspeed configs/deepspeed/zero2.json --model tinyllama-1.1b ...
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from trainer.config import TrainConfig, flag


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="winnow-train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in dataclasses.fields(TrainConfig):
        help_ = f.metadata.get("help", "") + f" (default: {f.default})"
        names = [flag(f.name)] + (["--local-rank"] if f.name == "local_rank" else [])
        if f.name == "local_rank":
            names = ["--local_rank", "--local-rank"]
        if f.type in (bool, "bool"):
            ap.add_argument(*names, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default,
                            help=help_)
        else:
            typ = {"int": int, "float": float, "str": str}.get(str(f.type), type(f.default))
            ap.add_argument(*names, dest=f.name, type=typ, default=f.default, help=help_,
                            choices=f.metadata.get("choices"))
    ap.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    return ap


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    ns = vars(build_parser().parse_args(argv))
    show = ns.pop("print_config")
    cfg = TrainConfig(**ns)
    if show:
        print(json.dumps(cfg.to_dict(), indent=2))
        sys.exit(0)
    if not cfg.data:
        build_parser().error("--data is required")
    return cfg


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    cfg = parse_args(argv)
    from trainer.data import DataError
    from trainer.loop import train

    try:
        train(cfg)
    except DataError as e:
        print(f"winnow-train: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
