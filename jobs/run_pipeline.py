"""Run a Winnow pipeline.

    spark-submit --master spark://HOST:7077 --py-files dist/winnow.zip jobs/run_pipeline.py --config C.yaml
    python -m jobs.run_pipeline --config configs/demo.yaml          # embedded local[*] Spark
"""

from __future__ import annotations

import argparse
import os
import sys

if __package__ in (None, ""):  # spark-submit runs this file as a script: make the repo importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="winnow run",
        description="Run a Winnow pipeline: read -> stages in the config -> <workdir>/<NN>-<stage>/{kept,rejected}. "
        "Finished stages whose config and input are unchanged are skipped.",
    )
    p.add_argument("--config", required=True, help="pipeline YAML (see configs/demo.yaml)")
    p.add_argument("--until", help="stop after this stage (by name), e.g. filter")
    p.add_argument("--workdir", help="override the config's workdir")
    p.add_argument("--master", help="Spark master (default: spark-submit's, else the config's, else local[*])")
    p.add_argument("--force", action="store_true", help="re-run every stage even when up to date")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from contract.errors import WinnowError
    from pipeline.config import load_config
    from pipeline.runner import run_pipeline

    try:
        overrides = {}
        if args.workdir:
            overrides["workdir"] = args.workdir
        if args.master:
            overrides["spark.master"] = args.master
        config = load_config(args.config, overrides)
        run_pipeline(config, until=args.until, force=args.force)
    except WinnowError as e:
        print(f"winnow: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
