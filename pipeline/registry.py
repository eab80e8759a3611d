"""Stage types a pipeline YAML may name, each a factory ``"module:callable"`` imported lazily.

A factory takes the stage's ``params`` as keyword arguments and returns an ``Operator`` (row-local,
run through ``mapInArrow``) or a ``GlobalStage`` (Spark shuffles)."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from contract.errors import ConfigError

STAGES: dict[str, str] = {
    "normalize": "operators.normalize:Normalizer",
    "langid": "operators.langid:LangID",
    "filter": "operators.filters:build_filters",
    "pii": "operators.pii:PIIScrubber",
    "dedup": "operators.dedup:build_dedup",
    "score": "operators.score:build_scorer",
    "mix": "operators.mix:build_mixer",
    "tokenize": "operators.tokenize:build_tokenize",
}


def factory(stage_type: str):
    """The factory of a registered stage type, or of a plug-in named ``package.module:callable``."""
    if ":" in stage_type:
        target = stage_type
    elif stage_type in STAGES:
        target = STAGES[stage_type]
    else:
        raise ConfigError(
            f"unknown stage type {stage_type!r} (known: {', '.join(sorted(STAGES))})"
        ) from None
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"stage type {stage_type!r}: cannot import {target}: {e}") from None


def build_stage(stage_type: str, params: dict[str, Any], where: str = ""):
    """Instantiate a stage; a bad parameter becomes a ConfigError naming it."""
    make = factory(stage_type)
    try:
        sig = inspect.signature(make)
    except (TypeError, ValueError):
        sig = None
    if sig is not None and not any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        for key in params:
            if key not in sig.parameters:
                allowed = ", ".join(n for n in sig.parameters if n != "self")
                raise ConfigError(f"{where}unknown parameter {key!r} for stage {stage_type!r} (allowed: {allowed})")
    try:
        return make(**params)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}stage {stage_type!r}: {e}") from None
