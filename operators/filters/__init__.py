"""Rule filters for English and Chinese web text, and the presets the pipeline YAML names.

``build_filters(preset="mixed", **overrides)`` returns a :class:`~contract.operator.Chain` of small
rule filters (the registry's ``filter`` stage). Each filter applies only to documents of its
languages (``lang`` column, else script detection), so one chain serves a mixed corpus.

Overrides, by filter name (YAML ``params``)::

    preset: mixed
    gopher_quality: {min_doc_words: 30}
    blacklist: {blacklist_file: my_list.txt, min_hits: 2}
    disable: [c4_badwords]

A preset is a name in :data:`PRESETS` or the path of a preset YAML file (``winnow calibrate`` writes
them; ``configs/presets/en_calibrated.yaml``)::

    filters:            # the chain, in order: filter name -> its parameters
      gopher_quality: {min_doc_words: 38}
      fineweb_quality: {reflow: true, line_end: sentence}
"""

from __future__ import annotations

from pathlib import Path
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

# Winnow's English settings (the ``en`` and ``mixed`` presets). FineWeb turned C4's terminal-punctuation
# line removal off because it shreds hard-wrapped text; the five-sentence and curly-bracket document
# rules drop clean reference text (dictionary entries with {cross-references}, short help pages);
# line rules judge hard-wrapped paragraphs as one line (reflow). Measured effect: docs/filters.md.
EN_PARAMS: dict[str, dict[str, Any]] = {
    "gopher_quality": {"tokens": "whitespace", "stop_words_ignore_case": True, "bullet_chars": "•-‣◦⁃●▪∙*"},
    "c4_quality": {"filter_no_terminal_punct": False, "min_num_sentences": None, "filter_curly_bracket": False,
                   "reflow": True},
    "fineweb_quality": {"reflow": True, "line_end": "sentence", "tokens": "whitespace", "cjk_double_width": True},
    "gopher_repetition": {"tokens": "whitespace"},
    "c4_badwords": {},
}

# preset -> the chain in order: filter name -> parameters (class defaults for the rest). Cheap,
# high-yield rules first: later (costlier) rules only see the survivors; in ``en``/``mixed`` the
# repetition rules see the page before C4 removes lines (a navigation page's repeated short lines). ``gopher``, ``c4`` and
# ``fineweb`` are the published rule sets with their published defaults, as datatrove 0.10.1 runs
# them (``fineweb``: FineWeb's chain, Gopher + C4 without the terminal-punctuation line rule + the
# FineWeb rules); ``en``, ``zh`` and ``mixed`` are Winnow's.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "en": {n: dict(EN_PARAMS[n]) for n in
           ("gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality", "c4_badwords")},
    "zh": {"zh_quality": {}, "blacklist": {}, "zh_repetition": {}},
    "gopher": {"gopher_quality": {}, "gopher_repetition": {}},
    "c4": {"c4_quality": {}, "c4_badwords": {}},
    "fineweb": {"gopher_repetition": {}, "gopher_quality": {}, "c4_quality": {"filter_no_terminal_punct": False},
                "fineweb_quality": {}},
}
PRESETS["mixed"] = {
    n: dict(EN_PARAMS.get(n, {})) for n in
    ("gopher_quality", "zh_quality", "blacklist", "gopher_repetition", "c4_quality", "fineweb_quality",
     "c4_badwords", "zh_repetition")
}


def load_preset_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """The chain of a preset YAML file (``filters``: filter name -> parameters, in order)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        root = Path(__file__).resolve().parents[2]
        if (root / p).is_file():
            p = root / p
        else:
            raise ValueError(f"filter preset file {str(path)!r} not found")
    doc = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    chain = doc.get("filters") if isinstance(doc, dict) else None
    if not isinstance(chain, dict) or not chain:
        raise ValueError(f"filter preset file {str(path)!r}: needs a non-empty 'filters' mapping")
    for name, kw in chain.items():
        if name not in FILTERS:
            raise ValueError(f"filter preset file {str(path)!r}: unknown filter {name!r}")
        if kw is not None and not isinstance(kw, dict):
            raise ValueError(f"filter preset file {str(path)!r}: parameters of {name!r} must be a mapping")
    return {name: dict(kw or {}) for name, kw in chain.items()}


def preset_chain(preset: str) -> dict[str, dict[str, Any]]:
    """A preset's chain (filter name -> parameters) from its name or its YAML file."""
    if preset in PRESETS:
        return {n: dict(kw) for n, kw in PRESETS[preset].items()}
    if str(preset).endswith((".yaml", ".yml")):
        return load_preset_file(preset)
    raise ValueError(f"unknown filter preset {preset!r} (known: {', '.join(PRESETS)}, or a preset .yaml file)")


def build_filters(preset: str = "mixed", disable: list[str] | None = None, **overrides: Any) -> Chain:
    """A chain of the preset's filters (a name in :data:`PRESETS` or a preset YAML file);
    ``overrides`` maps a filter name to keyword arguments that update the preset's (a filter not in
    the preset is added at the end when overridden); ``disable`` removes filters."""
    chain = preset_chain(preset)
    for name, kw in overrides.items():
        if name not in FILTERS:
            raise ValueError(f"unknown filter {name!r} (known: {', '.join(FILTERS)})")
        if kw is not None and not isinstance(kw, dict):
            raise ValueError(f"parameters of filter {name!r} must be a mapping, got {type(kw).__name__}")
    for name in disable or []:
        if name not in FILTERS:
            raise ValueError(f"cannot disable unknown filter {name!r}")
    for name, kw in overrides.items():
        chain[name] = {**chain.get(name, {}), **(kw or {})}
    ops: list[Operator] = []
    for name, kw in chain.items():
        if name in (disable or []):
            continue
        ops.append(FILTERS[name](**kw))
    return Chain(ops)


# Each override key names a filter; its mapping is checked against that filter's signature
# (pipeline/registry.py, `winnow params filter`).
build_filters.nested_params = FILTERS


__all__ = [
    "EN_PARAMS",
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
    "load_preset_file",
    "preset_chain",
    "doc_languages",
]
