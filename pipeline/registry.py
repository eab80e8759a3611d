"""Stage types a pipeline YAML may name, each a factory ``"module:callable"`` imported lazily, and
the schema of every stage's ``params``, derived from the factory's signature.

A factory takes the stage's ``params`` as keyword arguments and returns an ``Operator`` (row-local,
run through ``mapInArrow``) or a ``GlobalStage`` (Spark shuffles). Its parameters are read from its
signature: a class's ``__init__`` (annotations, defaults; the docstring's ``Args:`` section for
``winnow params``). A factory function that only forwards ``**params`` to a class names it with
``factory.__wrapped__ = TheClass`` (``inspect.signature`` follows it too). A factory whose
``**kwargs`` are the parameters of named parts (the filter stage: ``gopher_quality: {...}``) sets
``factory.nested_params = {name: class}``; each such key is then a mapping checked against that
class's signature. Any other ``**kwargs`` factory accepts unknown keys unchecked.

Params are validated, never converted: the stage is built from the YAML values as written (and
the stage hash covers them as written). Types are strict (see ``pipeline/config.py``); what a type
cannot say (a preset name, a positive weight) the stage's own ``__init__`` checks when the runner
builds every stage, still before the first one runs.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import functools
import importlib
import inspect
import re
import types
import typing
from dataclasses import dataclass, field
from enum import Enum
from pathlib import PurePath
from typing import Annotated, Any, Literal, Optional, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from contract.errors import ConfigError
from pipeline.config import describe_type, explain, show_value

STAGES: dict[str, str] = {
    "normalize": "operators.normalize:Normalizer",
    "langid": "operators.langid:LangID",
    "filter": "operators.filters:build_filters",
    "pii": "operators.pii:PIIScrubber",
    "decontaminate": "operators.decontaminate:Decontaminate",
    "dedup": "operators.dedup:build_dedup",
    "score": "operators.score:Scorer",
    "mix": "operators.mix:MixStage",
    "tokenize": "operators.tokenize.stage:TokenizeStage",
}

REQUIRED: Any = inspect.Parameter.empty


def target_of(stage_type: str) -> str:
    """``module:callable`` of a registered stage type or of a plug-in."""
    if ":" in stage_type:
        return stage_type
    if stage_type in STAGES:
        return STAGES[stage_type]
    raise ConfigError(f"unknown stage type {stage_type!r} (known: {', '.join(sorted(STAGES))})")


def factory(stage_type: str):
    """The factory of a registered stage type, or of a plug-in named ``package.module:callable``."""
    target = target_of(stage_type)
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"stage type {stage_type!r}: cannot import {target}: {e}") from None


# -- the schema of a stage's params ------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    name: str
    annotation: Any  # as written in the signature (resolved); Any when unannotated
    default: Any  # REQUIRED when the parameter has no default
    doc: str  # from an ``Args:`` section; "" when none
    nested: StageSchema | None = None  # the parameters of a named part (a filter's thresholds)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def type_text(self) -> str:
        return describe_type(self.annotation)


@dataclass(frozen=True)
class StageSchema:
    obj: Any  # the class or function whose signature the params are
    summary: str  # first line of its docstring
    params: tuple[Param, ...]
    open: bool  # takes undocumented **kwargs: unknown keys pass unchecked
    model: type[BaseModel] = field(repr=False)

    @property
    def qualname(self) -> str:
        return f"{self.obj.__module__}:{self.obj.__qualname__}"

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


def stage_schema(stage_type: str) -> StageSchema:
    """The params schema of a stage type (ConfigError for an unknown or unimportable type)."""
    return schema_of(factory(stage_type))


@functools.cache
def schema_of(obj: Any) -> StageSchema:
    """The params schema of a factory: its own signature, or that of the class it wraps."""
    real = _unwrap(obj)
    try:
        sig = inspect.signature(real)
    except (TypeError, ValueError):
        sig = None
    hints = _hints(real)
    docs: dict[str, str] = {}  # Args sections: the factory's, the class's __init__'s, the class's (wins)
    for doc in (getattr(obj, "__doc__", None), real.__init__.__doc__ if isinstance(real, type) else None,
                getattr(real, "__doc__", None)):
        docs.update(doc_args(doc))
    nested_map = getattr(obj, "nested_params", None) or getattr(real, "nested_params", None) or {}
    params: list[Param] = []
    open_ = sig is None
    for p in (sig.parameters.values() if sig is not None else ()):
        if p.kind is p.VAR_POSITIONAL:
            continue
        if p.kind is p.VAR_KEYWORD:
            if nested_map:
                for name, part in nested_map.items():
                    sub = schema_of(part)
                    params.append(Param(name, Optional[sub.model], None, docs.get(name) or sub.summary, sub))  # noqa: UP045
            else:
                open_ = True
            continue
        ann = hints.get(p.name, Any if p.annotation is p.empty else p.annotation)
        if isinstance(ann, str):
            ann = Any  # an annotation that does not resolve checks nothing
        params.append(Param(p.name, ann, p.default, docs.get(p.name, "")))
    model = _model(real, params, open_)
    summary = _first_line(real.__doc__) or _first_line(getattr(obj, "__doc__", None))
    return StageSchema(real, summary, tuple(params), open_, model)


def _unwrap(obj: Any) -> Any:
    try:
        return inspect.unwrap(obj)
    except ValueError:  # a __wrapped__ cycle
        return obj


def _hints(obj: Any) -> dict[str, Any]:
    fn = obj.__init__ if isinstance(obj, type) else obj
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:  # noqa: BLE001 - one unresolvable name must not lose the others
        out: dict[str, Any] = {}
        glb = getattr(fn, "__globals__", {})
        for name, ann in getattr(fn, "__annotations__", {}).items():
            try:
                out[name] = eval(ann, glb) if isinstance(ann, str) else ann  # noqa: S307 - own source
            except Exception:  # noqa: BLE001
                out[name] = Any
        return out


def _first_line(doc: str | None) -> str:
    text = inspect.cleandoc(doc or "").strip()
    return text.split("\n\n")[0].replace("\n", " ").strip() if text else ""


_ARGS_HEAD = re.compile(r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments):\s*$")
_ARG_LINE = re.compile(r"^([A-Za-z_]\w*(?:\s*[/,]\s*[A-Za-z_]\w*)*)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def doc_args(doc: str | None) -> dict[str, str]:
    """``name: meaning`` entries of a docstring's ``Args:`` section (Google style; ``a / b: ...`` and
    ``a, b: ...`` document several names; continuation lines are joined)."""
    out: dict[str, str] = {}
    lines = inspect.cleandoc(doc or "").splitlines()
    base: int | None = None
    current: list[str] = []
    inside = False
    for line in lines:
        if not inside:
            inside = bool(_ARGS_HEAD.match(line.strip()))
            continue
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            break
        base = indent if base is None else base
        m = _ARG_LINE.match(line.strip()) if indent == base else None
        if m:
            current = re.split(r"\s*[/,]\s*", m.group(1))
            for n in current:
                out[n] = m.group(2).strip()
        elif current:
            for n in current:
                out[n] = f"{out[n]} {line.strip()}".strip()
    return out


# -- annotations -> strict pydantic types (for checking only) ------------------------------------------
def _params_config(open_: bool) -> ConfigDict:
    return ConfigDict(extra="allow" if open_ else "forbid", strict=True, arbitrary_types_allowed=True,
                      protected_namespaces=())


def _list_to_tuple(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _tuple_to_list(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _list_of(tp: Any) -> Any:
    """A YAML list (or, from Python callers, a tuple) of ``tp``; never a string."""
    return Annotated[list[tp], BeforeValidator(_tuple_to_list)]


_SEQ = (list, set, frozenset, cabc.Sequence, cabc.MutableSequence, cabc.Set, cabc.MutableSet, cabc.Iterable,
        cabc.Collection)
_MAP = (dict, cabc.Mapping, cabc.MutableMapping)


def schema_type(tp: Any) -> Any:
    """The strict pydantic type that checks a YAML value for annotation ``tp``: tuples and sets are
    YAML lists, paths are strings, enums their values, TypedDicts and dataclasses strict mappings."""
    if tp is Any or tp is REQUIRED or tp is object:
        return Any
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return Annotated[(schema_type(args[0]), *tp.__metadata__)]
    if origin in (Union, types.UnionType):
        return Union[tuple(schema_type(a) for a in args)]  # noqa: UP007 - built at run time
    if origin is Literal:
        return tp
    if origin is tuple:
        if not args or args[-1] is Ellipsis:
            return _list_of(schema_type(args[0]) if args else Any)
        return Annotated[tuple[tuple(schema_type(a) for a in args)], BeforeValidator(_list_to_tuple)]
    if origin in _SEQ:
        return _list_of(schema_type(args[0]) if args else Any)
    if origin in _MAP:
        k, v = args or (Any, Any)
        return dict[schema_type(k), schema_type(v)]
    if tp in (list, tuple, set, frozenset):
        return _list_of(Any)
    if tp is dict:
        return dict[Any, Any]
    if isinstance(tp, type):
        if issubclass(tp, PurePath):
            return str
        if issubclass(tp, Enum):
            return Literal[tuple(m.value for m in tp)]
        if typing.is_typeddict(tp) or (dataclasses.is_dataclass(tp) and not hasattr(tp, "__pydantic_fields__")):
            return _record_model(tp)
    try:
        TypeAdapter(tp, config=ConfigDict(arbitrary_types_allowed=True))
    except Exception:  # noqa: BLE001 - a type pydantic cannot check is not checked
        return Any
    return tp


@functools.cache
def _record_model(tp: type) -> type[BaseModel]:
    """A strict, closed model for a TypedDict or a plain dataclass used as a parameter's type."""
    try:
        hints = typing.get_type_hints(tp, include_extras=True)
    except Exception:  # noqa: BLE001
        hints = {}
    if typing.is_typeddict(tp):
        # under `from __future__ import annotations` the class cannot see Required[...]: read the hints
        marked = {n: get_origin(h) for n, h in hints.items()}
        required = ({n for n in getattr(tp, "__required_keys__", hints) if marked.get(n) is not typing.NotRequired}
                    | {n for n, o in marked.items() if o is typing.Required})
        spec = {n: (schema_type(_strip_required(h)), ... if n in required else None) for n, h in hints.items()}
        originals = {n: _strip_required(h) for n, h in hints.items()}
    else:
        spec, originals = {}, {}
        for f in dataclasses.fields(tp):
            has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            spec[f.name] = (schema_type(hints.get(f.name, Any)), None if has_default else ...)
            originals[f.name] = hints.get(f.name, Any)
    model = create_model(f"{tp.__name__}Check", __config__=_params_config(False), **_safe_fields(spec))
    model.__winnow_fields__ = originals
    return model


def _strip_required(tp: Any) -> Any:
    if get_origin(tp) in (typing.Required, typing.NotRequired):
        return get_args(tp)[0]
    return tp


def _safe_fields(spec: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    """Field specs whose names cannot clash with BaseModel's own attributes (aliases keep the key)."""
    out: dict[str, Any] = {}
    for name, (tp, default) in spec.items():
        if name.startswith("_") or hasattr(BaseModel, name) or name.startswith("model_"):
            out[f"p_{name.lstrip('_')}_"] = (tp, Field(default, alias=name))
        else:
            out[name] = (tp, default)
    return out


def _model(real: Any, params: list[Param], open_: bool) -> type[BaseModel]:
    spec = {p.name: (p.annotation if p.nested else schema_type(p.annotation), ... if p.required else None)
            for p in params}
    name = getattr(real, "__name__", "Stage")
    model = create_model(f"{name}Params", __config__=_params_config(open_), **_safe_fields(spec))
    model.__winnow_fields__ = {p.name: p.annotation for p in params}
    model.__winnow_desc__ = f"mapping of {name} parameters"
    return model


# -- checking and building ------------------------------------------------------------------------------
def validate_params(stage_type: str, params: Any, where: str = "") -> StageSchema:
    """Check ``params`` against the stage's schema without building it; a problem is a one-line
    ``ConfigError`` that starts with ``where`` and names the parameter."""
    try:
        schema = stage_schema(stage_type)
    except ConfigError as e:
        raise ConfigError(f"{where}{e}") from None
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ConfigError(f"{where}params must be a mapping of parameter names to values, got {show_value(params)}")
    try:
        schema.model.model_validate(params)
    except ValidationError as e:
        raise ConfigError(where + explain(e, params, schema.model, noun="parameter",
                                          owner=f"stage {stage_type!r}")) from None
    return schema


def build_stage(stage_type: str, params: dict[str, Any], where: str = ""):
    """Check ``params`` (see :func:`validate_params`), then instantiate the stage; a value its
    ``__init__`` refuses becomes a ConfigError too."""
    validate_params(stage_type, params, where)
    make = factory(stage_type)
    try:
        return make(**(params or {}))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}stage {stage_type!r}: {e}") from None
