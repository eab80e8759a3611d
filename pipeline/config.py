"""Pipeline YAML -> typed config objects, with errors that name the file and the bad key.

Example (see ``configs/demo.yaml``)::

    name: demo
    workdir: work/demo
    seed: 42
    input:
      paths: [data/sample/*.jsonl.gz]
      text_field: text
    spark:
      master: local[*]
    stages:
      - stage: normalize
      - stage: filter
        params: {preset: mixed}

Relative paths are taken from the current working directory (the repository root for ``make``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contract.errors import ConfigError


@dataclass
class InputConfig:
    paths: list[str]
    format: str = "auto"  # auto | jsonl | parquet (auto: by extension)
    text_field: str = "text"
    id_field: str = "id"
    source_field: str = "source"
    source: str | None = None  # fixed source name; default: the record's field, else the file's stem
    max_doc_bytes: int = 1_000_000  # larger records are rejected as too_large
    split_bytes: int = 128 * 1024 * 1024  # plain .jsonl files larger than this are read in ranges


@dataclass
class SparkConfig:
    master: str | None = None  # None: spark-submit's master, else local[*]
    app_name: str = "winnow"
    driver_memory: str = "6g"
    shuffle_partitions: int = 8
    arrow_batch_size: int = 1024  # rows per Arrow batch handed to operators
    conf: dict[str, str] = field(default_factory=dict)


@dataclass
class StageConfig:
    stage: str  # registered stage type, e.g. "filter"
    name: str = ""  # directory name; defaults to the stage type
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A plug-in stage ("pkg.module:Factory") is named after its factory unless named.
        self.name = self.name or self.stage.rsplit(":", 1)[-1].lower()


@dataclass
class PipelineConfig:
    input: InputConfig
    workdir: str
    stages: list[StageConfig]
    name: str = "winnow"
    seed: int = 42
    samples_per_reason: int = 20
    spark: SparkConfig = field(default_factory=SparkConfig)
    source_file: str = "<dict>"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("source_file")
        return d


def _build(cls: type, data: Any, where: str, src: str) -> Any:
    """Dataclass ``cls`` from mapping ``data``; unknown or missing keys name ``where`` in ``src``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{src}: {where or 'top level'} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source_file"}
    for key in data:
        if key not in fields:
            raise ConfigError(
                f"{src}: unknown key '{_join(where, key)}' (expected one of: {', '.join(sorted(fields))})"
            )
    missing = [
        n
        for n, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and n not in data
    ]
    if missing:
        raise ConfigError(f"{src}: missing required key '{_join(where, missing[0])}'")
    return cls(**data)


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def parse_config(data: Any, src: str = "<dict>") -> PipelineConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{src}: a pipeline config must be a mapping at the top level")
    data = dict(data)
    inp = data.get("input")
    if isinstance(inp, dict) and isinstance(inp.get("paths"), str):
        inp = {**inp, "paths": [inp["paths"]]}
    data["input"] = _build(InputConfig, inp if inp is not None else {}, "input", src)
    if not data["input"].paths:
        raise ConfigError(f"{src}: 'input.paths' must list at least one path")
    data["spark"] = _build(SparkConfig, data.get("spark") or {}, "spark", src)
    stages = data.get("stages") or []
    if not isinstance(stages, list):
        raise ConfigError(f"{src}: 'stages' must be a list")
    built = []
    for i, st in enumerate(stages):
        if isinstance(st, str):
            st = {"stage": st}
        sc = _build(StageConfig, st, f"stages[{i}]", src)
        if not isinstance(sc.params, dict):
            raise ConfigError(f"{src}: 'stages[{i}].params' must be a mapping")
        built.append(sc)
    names = [s.name for s in built]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(f"{src}: stage name {sorted(dup)[0]!r} used twice; give one a 'name'")
    data["stages"] = built
    cfg = _build(PipelineConfig, data, "", src)
    cfg.source_file = src
    for key in ("seed", "samples_per_reason"):
        if not isinstance(getattr(cfg, key), int):
            raise ConfigError(f"{src}: '{key}' must be an integer")
    return cfg


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Read and validate a pipeline YAML. ``overrides`` are dotted keys, e.g. {"workdir": "/tmp/x"}."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {p}: {e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}:{where} invalid YAML: {getattr(e, 'problem', e)}") from None
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return parse_config(data, str(p))


def stable_json(obj: Any) -> str:
    """Canonical JSON used for hashing configs."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
