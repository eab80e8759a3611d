"""``winnow`` command line: one subcommand per job, each implemented in its own module.

    winnow run --config configs/demo.yaml [--until STAGE]    run a pipeline (embedded local Spark)
    winnow report WORKDIR                                  HTML report of a run
    winnow shards inspect DIR                              manifest summary, checksums, decoded tokens
"""

from __future__ import annotations

import importlib
import sys

# subcommand -> (module with main(argv), one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("jobs.run_pipeline", "run a pipeline from a YAML config"),
    "report": ("pipeline.report", "write WORKDIR/report/index.html for a finished run"),
    "shards": ("jobs.shards_inspect", "inspect and verify tokenized shards"),
    "calibrate": ("jobs.calibrate", "propose filter thresholds from a trusted corpus (preset YAML + plots)"),
    "ablation": ("jobs.ablation", "train llama-tiny on raw vs cleaned variants at equal tokens"),
    "params": ("jobs.params_help", "every stage's parameters: type, default, meaning"),
}


def usage() -> str:
    lines = ["usage: winnow COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<8} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run `winnow COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        print(f"winnow: unknown command {cmd!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[cmd][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
