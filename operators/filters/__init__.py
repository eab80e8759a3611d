"""Rule filters for English and Chinese web text, and the presets the pipeline YAML names.

``build_filters(preset="mixed", **overrides)`` returns a :class:`~contract.operator.Chain` of small
rule filters (the registry's ``filter`` stage). Each filter applies only to documents of its
languages (``lang`` column, else script detection), so one chain serves a mixed corpus.

Overrides, by filter name (YAML ``params``)::

    preset: mixed
    gopher_quality: {min_doc_words: 30}
    blacklist: {blacklist_file: my_list.txt, min_hits: 2}
    disable: [c4_badwords]
"""

from __future__ import annotations

from typing import Any

from contract.operator import Chain, Operator
from operators.filters.base import Check, Decision, RuleFilter, doc_languages
from operators.filters.blacklist import Blacklist
from operators.filters.c4 import C4BadWords, C4Quality
from operators.filters.chinese import ChineseQuality, ChineseRepetition
from operators.filters.fineweb import FineWebQuality
from operators.filters.gopher import GopherQuality, GopherRepetition

FILTERS: dict[str, type[RuleFilter]] = {
    cls.name: cls
    for cls in (
        GopherQuality,
        C4Quality,
        FineWebQuality,
        GopherRepetition,
        C4BadWords,
        ChineseQuality,
        ChineseRepetition,
        Blacklist,
    )
}

# Cheap, high-yield rules first: later (costlier) rules only see the survivors.
PRESETS: dict[str, list[str]] = {
    "en": ["gopher_quality", "c4_quality", "fineweb_quality", "gopher_repetition", "c4_badwords"],
    "zh": ["zh_quality", "blacklist", "zh_repetition"],
}
PRESETS["mixed"] = [
    "gopher_quality", "zh_quality", "blacklist", "c4_quality", "fineweb_quality",
    "gopher_repetition", "c4_badwords", "zh_repetition",
]


def build_filters(preset: str = "mixed", disable: list[str] | None = None, **overrides: Any) -> Chain:
    """A chain of the preset's filters; ``overrides`` maps a filter name to its keyword arguments
    (a filter not in the preset is added at the end when overridden); ``disable`` removes filters."""
    if preset not in PRESETS:
        raise ValueError(f"unknown filter preset {preset!r} (known: {', '.join(PRESETS)})")
    for name, kw in overrides.items():
        if name not in FILTERS:
            raise ValueError(f"unknown filter {name!r} (known: {', '.join(FILTERS)})")
        if kw is not None and not isinstance(kw, dict):
            raise ValueError(f"parameters of filter {name!r} must be a mapping, got {type(kw).__name__}")
    for name in disable or []:
        if name not in FILTERS:
            raise ValueError(f"cannot disable unknown filter {name!r}")
    names = [n for n in PRESETS[preset]] + [n for n in overrides if n not in PRESETS[preset]]
    ops: list[Operator] = []
    for name in names:
        if name in (disable or []):
            continue
        ops.append(FILTERS[name](**(overrides.get(name) or {})))
    return Chain(ops)


__all__ = [
    "FILTERS",
    "PRESETS",
    "Blacklist",
    "C4BadWords",
    "C4Quality",
    "Check",
    "ChineseQuality",
    "ChineseRepetition",
    "Decision",
    "FineWebQuality",
    "GopherQuality",
    "GopherRepetition",
    "RuleFilter",
    "build_filters",
    "doc_languages",
]
