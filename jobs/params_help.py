"""``winnow params [STAGE ...]``: every stage's parameters with type, default and meaning.

Generated from the same schema that checks a pipeline YAML (``pipeline/registry.py``: the stage's
signature and annotations), so it cannot drift from what ``winnow run`` accepts. The meaning of a
parameter is its line in the class docstring's ``Args:`` section; where a stage has none, its row in
an option table of ``docs/*.md``, else the first docstring sentence that names it.

    winnow params                  every registered stage
    winnow params filter pii       these stages (a plug-in may be named as package.module:Class)
    winnow params --pipeline       the pipeline keys (input, spark, stages, ...)
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import re
import sys
import typing
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1] / "docs"
MAX_MEANING = 180
MAX_DEFAULT = 60
_TABLE_HEADS = {"option", "options", "parameter", "parameters", "key"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="winnow params",
        description="Every stage's parameters (type, default, meaning), from the schema `winnow run` checks.")
    p.add_argument("stages", nargs="*", metavar="STAGE", help="stage types (default: all registered)")
    p.add_argument("--pipeline", action="store_true", help="the pipeline-level keys instead (input, spark, ...)")
    return p.parse_args(argv)


# -- meanings -------------------------------------------------------------------------------------------
def clean(text: str) -> str:
    """One line, without reST/Markdown code marks, at most MAX_MEANING characters."""
    text = " ".join(text.replace("``", "").replace("`", "").split())
    if len(text) <= MAX_MEANING:
        return text
    for m in re.finditer(r"(?<!\be\.g)(?<!\bi\.e)\.\s+(?=[A-Z(])", text):
        if 40 <= m.start() < MAX_MEANING:
            return text[: m.start() + 1]
    return text[: MAX_MEANING - 3].rsplit(" ", 1)[0] + "..."


@functools.cache
def doc_tables() -> tuple[dict[str, str], ...]:
    """Option tables of docs/*.md (``| option | default | meaning |``): name -> meaning, per table."""
    tables: list[dict[str, str]] = []
    for md in sorted(DOCS.glob("*.md")) if DOCS.is_dir() else []:
        current: dict[str, str] | None = None
        col = -1
        for line in md.read_text(encoding="utf-8").splitlines():
            if not line.lstrip().startswith("|"):
                if current:
                    tables.append(current)
                current = None
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if current is None:
                heads = [c.lower() for c in cells]
                if heads and heads[0] in _TABLE_HEADS and len(cells) >= 3:
                    col = next((i for i, h in enumerate(heads) if h in ("meaning", "what", "description")),
                               len(cells) - 1)
                    current = {}
                else:
                    current = {}
                    col = -1
                continue
            if col < 0 or set(cells[0]) <= set("-: ") or len(cells) <= col:
                continue
            for name in re.findall(r"`([A-Za-z_]\w*)", cells[0]):
                current.setdefault(name, cells[col])
        if current:
            tables.append(current)
    return tuple(t for t in tables if t)


def _sentences(doc: str | None) -> list[str]:
    """A docstring cut into sentences and list items."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n|\n\s*(?=[-*] )", inspect.cleandoc(doc or "")):
        para = " ".join(para.split())
        out += [s for s in re.split(r"(?<=[.;])\s+(?=[A-Z(`-])", para) if s]
    return out


def _docstrings(obj: Any) -> list[str | None]:
    """The class's docstring, its bases', and their modules' (where a stage explains its knobs)."""
    out: list[str | None] = []
    classes = [c for c in getattr(obj, "__mro__", (obj,)) if c is not object]
    for c in classes:
        out.append(c.__doc__)
    for c in classes:
        out.append(getattr(sys.modules.get(getattr(c, "__module__", ""), None), "__doc__", None))
    return out


def meanings(schema) -> dict[str, str]:
    """Parameter -> one-line meaning: ``Args:``, then a docs table, then a docstring sentence."""
    names = [p.name for p in schema.params]
    out = {p.name: p.doc for p in schema.params if p.doc}
    best = max(doc_tables(), key=lambda t: sum(n in t for n in names), default={})
    if sum(n in best for n in names) >= 2:
        for n in names:
            if n not in out and n in best:
                out[n] = best[n]
    sentences = [s for d in _docstrings(schema.obj) for s in _sentences(d)]
    for n in names:
        if n not in out:
            pat = re.compile(rf"``{re.escape(n)}\b|`{re.escape(n)}`")
            out[n] = next((s for s in sentences if pat.search(s)), "")
    return {n: clean(v) for n, v in out.items()}


# -- rendering -------------------------------------------------------------------------------------------
def show_default(value: Any) -> str:
    import yaml

    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple, set, frozenset)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        return str(v)

    text = yaml.safe_dump(plain(value), default_flow_style=True, width=10**6, allow_unicode=True).strip()
    text = text.removesuffix("...").strip()
    text = " ".join(text.split())
    return text if len(text) <= MAX_DEFAULT else text[: MAX_DEFAULT - 3] + "..."


def render_schema(schema, indent: str = "  ") -> list[str]:
    from pipeline.registry import REQUIRED

    lines: list[str] = []
    means = meanings(schema)
    for p in schema.params:
        default = "required" if p.default is REQUIRED else f"default {show_default(p.default)}"
        if p.nested is not None:
            lines.append(f"{indent}{p.name}: mapping of {p.name}'s parameters, or null (default: not overridden)")
        else:
            lines.append(f"{indent}{p.name}: {p.type_text}; {default}")
        if means.get(p.name):
            lines.append(f"{indent}    {means[p.name]}")
        if p.nested is not None:
            lines += render_schema(p.nested, indent + "    ")
    if schema.open:
        lines.append(f"{indent}(any other keyword: the factory takes **kwargs, not checked)")
    return lines


def render_stage(stage_type: str) -> list[str]:
    from pipeline.registry import stage_schema, target_of

    schema = stage_schema(stage_type)
    target = target_of(stage_type)
    head = stage_type if stage_type == target else f"{stage_type}  ({target})"
    lines = [head]
    if schema.summary:
        lines.append(f"  {clean(schema.summary)}")
    lines += render_schema(schema) or ["  (no parameters)"]
    return lines


def render_pipeline() -> list[str]:
    from pipeline.config import InputConfig, PipelineConfig, SparkConfig, StageConfig, describe_type

    lines: list[str] = []
    for title, cls in (("top level", PipelineConfig), ("input:", InputConfig), ("spark:", SparkConfig),
                       ("stages: (each item; or just the stage type)", StageConfig)):
        lines.append(title)
        hints = typing.get_type_hints(cls, include_extras=True)
        infos = getattr(cls, "__pydantic_fields__", {})
        for f in dataclasses.fields(cls):
            if f.name in getattr(cls, "INTERNAL", ()):
                continue
            info = infos.get(f.name)
            required = info.is_required() if info is not None else f.default is dataclasses.MISSING
            if required:
                default = "required"
            elif info is not None and info.default_factory is not None:
                default = f"default {show_default(info.default_factory())}"
            else:
                default = f"default {show_default(info.default if info is not None else f.default)}"
            if title != "top level" or f.name not in ("input", "spark", "stages"):
                lines.append(f"  {f.name}: {describe_type(hints[f.name])}; {default}")
            else:
                lines.append(f"  {f.name}: see below")
            if info is not None and info.description:
                lines.append(f"      {clean(info.description)}")
        lines.append("")
    return lines[:-1]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from contract.errors import ConfigError
    from pipeline.registry import STAGES

    if args.pipeline:
        print("\n".join(render_pipeline()))
        return 0
    out: list[str] = []
    for stage_type in args.stages or list(STAGES):
        try:
            out += render_stage(stage_type) + [""]
        except ConfigError as e:
            print(f"winnow params: error: {e}", file=sys.stderr)
            return 2
    print("\n".join(out).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
