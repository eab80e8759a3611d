"""Pipeline YAML -> typed config objects (pydantic), with one-line errors naming the file and the key.

Example (see ``configs/demo.yaml``)::

    name: demo
    workdir: work/demo
    seed: 42
    input:
      paths: [data/sample/*.jsonl.gz]
      text_field: text
      max_doc_bytes: 1MB
    spark:
      master: local[*]
    stages:
      - stage: normalize
      - stage: filter
        params: {preset: mixed}

The whole file is checked before anything runs: the pipeline keys here, every stage's ``params``
against that stage's signature in ``pipeline/registry.py``. Types are strict: a string is not a
number (``"0.3"``), a string is not a list (``keep_langs: en``), a boolean is not a string (YAML
reads ``no``/``on`` as booleans: quote them); an integer may stand for a number. The explicit
conversions are: ``input.paths`` may be one path; a stage may be written as its bare type
(``- normalize``); empty ``spark:``/``stages:``/``params:`` mean "none"; byte sizes
(:func:`parse_size`) take a unit (``1MB`` = 10^6 bytes, ``1MiB`` = 2^20 bytes); ``spark.conf``
values may be YAML numbers or booleans (written as Spark expects: ``true``, ``4``).

Relative paths are taken from the current working directory (the repository root for ``make``).
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import functools
import json
import re
import types
import typing
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path, PurePath
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
)
from pydantic.dataclasses import dataclass

from contract.errors import ConfigError

# -- strict scalar types: no str -> number, no number -> str, no bool -> int ------------------------
Int = Annotated[int, Strict()]
Str = Annotated[str, Strict()]
Bool = Annotated[bool, Strict()]


class TypeDoc:
    """``Annotated`` metadata: how a type reads in messages and ``winnow params``."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"TypeDoc({self.text!r})"


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(value: Any) -> Any:
    """A byte size: an integer (bytes) or a string with a unit: ``B``, ``KB``/``MB``/``GB``/``TB``
    (powers of 1000) or ``KiB``/``MiB``/``GiB``/``TiB`` (powers of 1024), case-insensitive; ``1.5MB``
    is 1,500,000. A bare ``"1M"`` or a quoted number is refused (M of what?). Other types pass
    through to the strict integer check."""
    if not isinstance(value, str):
        return value
    m = _SIZE_RE.match(value)
    if not m:
        raise ValueError(f"size {value!r} is not an integer number of bytes or a number with a unit "
                         f"(B, KB, MB, GB, TB = powers of 1000; KiB, MiB, GiB, TiB = powers of 1024), e.g. 1MB")
    try:
        n = Decimal(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"size {value!r}: bad number") from None
    if n != n.to_integral_value():
        raise ValueError(f"size {value!r} is not a whole number of bytes")
    return int(n)


Bytes = Annotated[int, BeforeValidator(parse_size), Strict(), Field(gt=0),
                  TypeDoc("size in bytes (an integer, or a string with a unit: 1MB, 64MiB)")]


def _one_path_as_list(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


def _none_as(empty: Any):
    def conv(v: Any) -> Any:
        return empty() if v is None else v
    return conv


def _stage_shorthand(v: Any) -> Any:
    """``stages: [normalize, {stage: filter}]``: a bare string is a stage type without params."""
    if v is None:
        return []
    if isinstance(v, list):
        return [{"stage": s} if isinstance(s, str) else s for s in v]
    return v


def _spark_conf_value(v: Any) -> Any:
    """Spark settings are strings; YAML numbers and booleans are written as Spark spells them."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return v


def _jvm_memory(v: str) -> str:
    if not re.fullmatch(r"\d+[kmgtp]?b?", v, re.IGNORECASE):
        raise ValueError(f"{v!r} is not a JVM memory size such as 6g, 512m or 2048m")
    return v


_KIND_VALUE = re.compile(r"prose|code|code:[a-z0-9][a-z0-9+#._-]*")


def _kind_value(v: str) -> str:
    if not _KIND_VALUE.fullmatch(v):
        raise ValueError(f"kind {v!r} is not prose, code or code:<language> (lower case, e.g. code:python)")
    return v


def _stage_name(v: str) -> str:
    if v and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", v):
        raise ValueError(f"stage name {v!r} is not a directory name (letters, digits, _ . -)")
    return v


# defer_build: the validators are built on first use, not on import (Spark workers unpickle these
# objects and never validate one).
_CONFIG = ConfigDict(extra="forbid", defer_build=True)


@dataclass(config=_CONFIG)
class InputConfig:
    paths: Annotated[list[Str], BeforeValidator(_one_path_as_list), Field(min_length=1),
                     TypeDoc("list of paths (files, directories, globs; one path may be written alone)")]
    format: Literal["auto", "jsonl", "parquet"] = Field(
        "auto", description="auto: by file extension; jsonl or parquet for every file")
    text_field: Str = Field("text", description="the record field holding the document text")
    id_field: Str = Field("id", description="the record field holding the document id (else a hash of file, line, text)")
    source_field: Str = Field("source", description="the record field naming the document's source")
    source: Str | None = Field(None, description="a fixed source name; default: the record's field, else the file's stem")
    max_doc_bytes: Bytes = Field(1_000_000, description="larger records are rejected as too_large")
    split_bytes: Bytes = Field(128 * 1024 * 1024, description="plain .jsonl files larger than this are read in ranges")
    kinds: dict[Str, Annotated[str, Strict(), AfterValidator(_kind_value),
                               TypeDoc("prose, code or code:<language>")]] = Field(
        default_factory=dict, description="document kind per input path or glob (first match wins), e.g. "
                                          "{data/src/*.jsonl.gz: code}: the reader writes it into meta as 'kind' "
                                          "(docs/code.md)")


@dataclass(config=_CONFIG)
class SparkConfig:
    master: Str | None = Field(None, description="Spark master; default: spark-submit's, else local[*]")
    app_name: Str = Field("winnow", description="Spark application name")
    driver_memory: Annotated[str, Strict(), AfterValidator(_jvm_memory), TypeDoc("JVM memory size (e.g. 6g, 512m)")] = Field(
        "6g", description="spark.driver.memory of an embedded session")
    shuffle_partitions: Int = Field(8, ge=1, description="spark.sql.shuffle.partitions and default parallelism")
    arrow_batch_size: Int = Field(1024, ge=1, description="rows per Arrow batch handed to operators")
    conf: dict[Str, Annotated[str, BeforeValidator(_spark_conf_value), Strict(),
                              TypeDoc("string, number or boolean")]] = Field(
        default_factory=dict, description="any other Spark settings, e.g. spark.executor.memory: 8g")


@dataclass(config=_CONFIG)
class StageConfig:
    stage: Str = Field(description="a registered stage type (winnow params) or a plug-in package.module:callable")
    name: Annotated[str, Strict(), AfterValidator(_stage_name)] = Field(
        "", description="the stage's directory name NN-<name>; default: the stage type")
    params: Annotated[dict[Str, Any], BeforeValidator(_none_as(dict))] = Field(
        default_factory=dict, description="the stage's parameters (winnow params STAGE)")

    def __post_init__(self) -> None:
        # A plug-in stage ("pkg.module:Factory") is named after its factory unless named.
        self.name = self.name or self.stage.rsplit(":", 1)[-1].lower()


@dataclass(config=_CONFIG)
class PipelineConfig:
    input: InputConfig = Field(description="what to read")
    workdir: Annotated[str, Strict(), Field(min_length=1)] = Field(description="where every stage's output goes")
    stages: Annotated[list[StageConfig], BeforeValidator(_stage_shorthand)] = Field(
        default_factory=list, description="the stages, in order, after the implicit read stage")
    name: Str = Field("winnow", description="the pipeline's name (reports, logs)")
    seed: Int = Field(42, description="seed handed to every stage (sampling, hashing)")
    samples_per_reason: Int = Field(20, ge=0, description="scrubbed rejected documents kept per reason and stage")
    materialize: Bool = Field(
        False, description="run every row-local stage as its own Spark pass and write its kept/ (debugging); "
        "default: consecutive row-local stages run fused in one pass, only the last writes kept/")
    spark: Annotated[SparkConfig, BeforeValidator(_none_as(dict))] = Field(
        default_factory=SparkConfig, description="the Spark session")
    source_file: str = "<dict>"  # set by parse_config; not a YAML key

    INTERNAL: ClassVar[tuple[str, ...]] = ("source_file",)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("source_file")
        return d


@functools.cache
def _pipeline_adapter() -> TypeAdapter:
    return TypeAdapter(PipelineConfig)


def parse_config(data: Any, src: str = "<dict>") -> PipelineConfig:
    """Validate a loaded YAML document: the pipeline keys, then every stage's parameters (by the
    stage's signature, without building it). The first problem is a one-line ``ConfigError``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{src}: a pipeline config must be a mapping at the top level")
    for key in PipelineConfig.INTERNAL:
        if key in data:
            raise ConfigError(f"{src}: unknown key {key!r} (allowed: {', '.join(field_names(PipelineConfig))})")
    try:
        cfg = _pipeline_adapter().validate_python(data)
    except ValidationError as e:
        raise ConfigError(f"{src}: {explain(e, data, PipelineConfig)}") from None
    cfg.source_file = src
    seen: dict[str, int] = {}
    for i, st in enumerate(cfg.stages):
        if st.name in seen:
            raise ConfigError(f"{src}: stage name {st.name!r} used twice (stages[{seen[st.name]}] and "
                              f"stages[{i}]); give one a 'name'")
        seen[st.name] = i
    from pipeline.registry import validate_params  # the registry imports this module

    for i, st in enumerate(cfg.stages):
        validate_params(st.stage, st.params, where=f"{src}: stages[{i}] ({st.name}): ")
    return cfg


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML would keep the last silently)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    dup = key in seen
                    seen.add(key)
                except TypeError:
                    continue
                if dup:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark, f"key {key!r} given twice",
                        key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


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
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}:{where} invalid YAML: {getattr(e, 'problem', e)}") from None
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[last] = value
    return parse_config(data, str(p))


def stable_json(obj: Any) -> str:
    """Canonical JSON used for hashing configs."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


# -- describing types and explaining validation errors (shared with pipeline/registry.py) ---------
_UNION = (Union, types.UnionType)
_SEQ = (list, tuple, set, frozenset, cabc.Sequence, cabc.MutableSequence, cabc.Set, cabc.MutableSet,
        cabc.Iterable, cabc.Collection)
_MAP = (dict, cabc.Mapping, cabc.MutableMapping)
_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}
_PLURAL = {"string": "strings", "integer": "integers", "number": "numbers", "boolean": "booleans",
           "path": "paths", "mapping": "mappings", "any value": "values"}


def _strip_annotated(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    meta: tuple[Any, ...] = ()
    while get_origin(tp) in (Annotated, typing.Required, typing.NotRequired):
        if get_origin(tp) is Annotated:
            meta = meta + tuple(tp.__metadata__)
        tp = get_args(tp)[0]
    return tp, meta


def _dedupe(items: list[str]) -> list[str]:
    out: list[str] = []
    for i in items:
        if i not in out:
            out.append(i)
    return out


def describe_type(tp: Any) -> str:
    """A type as a YAML user reads it: ``list of strings or null``, ``number``, ``one of a, b``."""
    tp, meta = _strip_annotated(tp)
    for m in meta:
        if isinstance(m, TypeDoc):
            return m.text
    if tp is Any or tp is object or tp is typing.Any:
        return "any value"
    if tp is None:
        return "null"
    if tp in _NAMES:
        return _NAMES[tp]
    desc = getattr(tp, "__winnow_desc__", None)
    if isinstance(desc, str):
        return desc
    origin, args = get_origin(tp), get_args(tp)
    if origin in _UNION:
        parts = _dedupe([describe_type(a) for a in args])
        parts = [p for p in parts if p != "null"] + (["null"] if "null" in parts else [])
        return " or ".join(parts)
    if origin is Literal:
        return "one of " + ", ".join(_show_plain(a) for a in args)
    if origin is tuple and args and args[-1] is not Ellipsis:
        return "[" + ", ".join(describe_type(a) for a in args) + "]"
    if origin in _SEQ or tp in (list, tuple, set, frozenset):
        item = _inner(args[0]) if args else "any value"
        return "list of " + _PLURAL.get(item, item)
    if origin in _MAP or tp is dict:
        if not args or (args[0] is Any and args[1] is Any):
            return "mapping"
        return f"mapping of {_inner(args[0])} to {_inner(args[1])}"
    if isinstance(tp, type):
        if issubclass(tp, PurePath):
            return "path"
        if issubclass(tp, Enum):
            return "one of " + ", ".join(_show_plain(m.value) for m in tp)
        fields = _field_types(tp)
        if fields is not None:
            return "mapping {" + ", ".join(fields) + "}"
        return tp.__name__
    return str(tp)


def _inner(tp: Any) -> str:
    """A type inside a container: a union in parentheses, so "or" binds where it should."""
    text = describe_type(tp)
    return f"({text})" if " or " in text else text


def _field_types(tp: Any) -> dict[str, Any] | None:
    """Key -> annotation of a record type (generated params model, BaseModel, dataclass, TypedDict)."""
    if not isinstance(tp, type):
        return None
    own = tp.__dict__.get("__winnow_fields__")
    if isinstance(own, dict):
        return own
    if issubclass(tp, BaseModel):
        return {(f.alias or n): f.annotation for n, f in tp.model_fields.items()}
    if dataclasses.is_dataclass(tp) or typing.is_typeddict(tp):
        try:
            hints = typing.get_type_hints(tp, include_extras=True)
        except Exception:  # noqa: BLE001 - unresolvable annotation: keys without types
            hints = {}
        names = [f.name for f in dataclasses.fields(tp)] if dataclasses.is_dataclass(tp) else list(hints)
        hidden = getattr(tp, "INTERNAL", ())
        return {n: _strip_annotated(hints[n])[0] if get_origin(hints.get(n)) in (typing.Required, typing.NotRequired)
                else hints.get(n, Any) for n in names if n not in hidden}
    return None


def field_names(tp: Any) -> list[str]:
    """The keys a record type (or the record member of a union) accepts."""
    tp, _ = _strip_annotated(tp)
    if get_origin(tp) in _UNION:
        for a in get_args(tp):
            names = field_names(a)
            if names:
                return names
        return []
    return list(_field_types(tp) or {})


def type_at(tp: Any, path: list[Any]) -> Any | None:
    """The annotation that governs ``path`` inside a value of type ``tp`` (None when unknown)."""
    for part in path:
        tp = _child_type(tp, part)
        if tp is None:
            return None
    return tp


def _child_type(tp: Any, part: Any) -> Any | None:
    tp, _ = _strip_annotated(tp)
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return Any
    if origin in _UNION:
        kids = _dedupe_types([c for a in args if (c := _child_type(a, part)) is not None])
        if not kids:
            return None
        return kids[0] if len(kids) == 1 else Union[tuple(kids)]  # noqa: UP007 - built at run time
    if isinstance(part, int) and not isinstance(part, bool) and (origin in _SEQ or tp in (list, tuple)):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return args[part] if part < len(args) else None
        return args[0] if args else Any
    if origin in _MAP or tp is dict:
        return args[1] if args else Any
    fields = _field_types(tp)
    if fields is not None and part in fields:
        return fields[part]
    return None


def _dedupe_types(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for i in items:
        if not any(i is o or i == o for o in out):
            out.append(i)
    return out


_KIND = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null",
         list: "list", tuple: "list", dict: "mapping"}
# pydantic error types that mean "a value of the wrong kind" (vs a bad value of the right kind)
_TYPE_ERRORS = {
    "int_type": "integer", "int_parsing": "integer", "int_from_float": "integer", "float_type": "number",
    "float_parsing": "number", "string_type": "string", "bool_type": "boolean", "bool_parsing": "boolean",
    "list_type": "list", "tuple_type": "list", "set_type": "list", "frozen_set_type": "list",
    "iterable_type": "list", "dict_type": "mapping", "mapping_type": "mapping", "model_type": "mapping",
    "model_attributes_type": "mapping", "dataclass_type": "mapping", "dataclass_exact_type": "mapping",
    "none_required": "null", "path_type": "path", "is_instance_of": "", "literal_error": "", "enum": "",
}
_UNKNOWN = ("extra_forbidden", "unexpected_keyword_argument")
_MISSING = ("missing", "missing_argument", "missing_keyword_only_argument", "missing_positional_only_argument")
_ABSENT = object()


def _kind(v: Any) -> str:
    for t, name in _KIND.items():
        if type(v) is t:
            return name
    return type(v).__name__


def _show_plain(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    return str(v)


def show_value(v: Any, limit: int = 60) -> str:
    """A value as it would read in YAML-ish, truncated, on one line."""
    if isinstance(v, bool) or v is None:
        s = _show_plain(v)
    else:
        s = repr(v)
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def format_path(path: list[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) and not isinstance(p, bool) else (f".{p}" if out else str(p))
    return out


def _real_path(loc: tuple[Any, ...], data: Any, etype: str) -> tuple[list[Any], Any, bool]:
    """The keys and indexes of ``loc`` that exist in ``data`` (pydantic adds union-member and
    validator labels to ``loc``), the value found there, and whether the error is about a key."""
    path: list[Any] = []
    node = data
    for i, part in enumerate(loc):
        if part == "[key]":
            return path, path[-1] if path else node, True
        if isinstance(node, dict):
            try:
                found = part in node
            except TypeError:
                found = False
            if found:
                path.append(part)
                node = node[part]
                continue
        elif (isinstance(node, (list, tuple)) and isinstance(part, int) and not isinstance(part, bool)
              and 0 <= part < len(node)):
            path.append(part)
            node = node[part]
            continue
        if etype in _MISSING and i == len(loc) - 1:
            path.append(part)
            node = _ABSENT
    return path, node, False


def _hint(expected: str, v: Any) -> str:
    if isinstance(v, str) and (expected.startswith("list") or " or list" in expected):
        return f" (a list of one is written [{v}])"
    if isinstance(v, str) and ("number" in expected or "integer" in expected):
        try:
            float(v)
            return " (write numbers without quotes)"
        except ValueError:
            return ""
    if isinstance(v, bool) and "string" in expected:
        return " (YAML reads yes/no/on/off/true/false as booleans: quote it)"
    return ""


def explain(exc: ValidationError, data: Any, root: Any, noun: str = "key", owner: str = "") -> str:
    """One line for a pydantic ``ValidationError`` on ``data`` validated as ``root``: the first wrong
    key (the branch that got furthest, for unions), what was expected and what was given."""
    items = []
    for e in exc.errors(include_url=False):
        path, node, is_key = _real_path(tuple(e["loc"]), data, e["type"])
        items.append((path, node, is_key, e))
    if not items:  # pragma: no cover
        return str(exc).splitlines()[0]
    top = items[0][0][:1]
    same = [it for it in items if it[0][:1] == top]
    others = _dedupe([format_path(it[0][:1]) for it in items if it[0][:1] != top and it[0]])
    best = max(same, key=lambda it: len(it[0]))
    path, node, is_key, _ = best
    errs = [it[3] for it in same if it[0] == path]
    msg = _message(path, node, is_key, errs, root, noun, owner)
    if others:
        msg += f" (also wrong: {', '.join(others)})"
    return " ".join(msg.split())


def _message(path: list[Any], node: Any, is_key: bool, errs: list[dict[str, Any]], root: Any, noun: str,
             owner: str) -> str:
    p = format_path(path)
    kinds = [e["type"] for e in errs]
    if any(k in _UNKNOWN for k in kinds):
        allowed = field_names(type_at(root, path[:-1]))
        label = f"unknown {noun} {p!r}" + (f" for {owner}" if owner and len(path) == 1 else "")
        return label + (f" (allowed: {', '.join(allowed)})" if allowed else "")
    if any(k in _MISSING for k in kinds):
        return f"missing required {noun} {p!r}"
    if is_key:
        want = _dedupe([_TYPE_ERRORS.get(k) or e["msg"] for k, e in zip(kinds, errs)])
        return f"{p}: key {show_value(node)} should be {' or '.join(want)}"
    values = [e for e in errs if e["type"] not in _TYPE_ERRORS]
    if values:
        e = values[0]
        text = re.sub(r"^(Value error|Assertion failed), ", "", e["msg"])
        if e["type"] == "value_error":
            return f"{p}: {text}"
        return f"{p}: {text[0].lower() + text[1:]}, got {show_value(node)}"
    tp = type_at(root, path)
    if tp is not None:
        expected = describe_type(tp)
    else:
        expected = " or ".join(_dedupe([_TYPE_ERRORS.get(k) or e["msg"] for k, e in zip(kinds, errs)]))
    got = "null" if node is None else f"{_kind(node)} {show_value(node)}"
    return f"{p}: expected {expected}, got {got}{_hint(expected, node)}"
