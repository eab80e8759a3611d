"""The mix stage: token-weighted ratio mixing with quality-aware down- and upsampling.

Pipeline YAML::

    - stage: mix
      params:
        budget_tokens: 2M              # total tokens of the mixture (null: largest mix without repeats)
        groups:                         # first matching group wins (order = precedence)
          - {name: code, where: "domain=code", weight: 2}
          - {name: zh,   where: "lang=zh",     weight: 4}
          - {name: en,   where: "lang=en",     weight: 4}
        max_repeats: 4
        select: topk                    # topk | weighted | random
        tokenizer: models/tokenizer     # optional: exact token counts; else chars_per_token

``where`` is ``column=value`` / ``column!=value`` / ``column in (a, b)`` / ``column not in (a, b)``,
several joined with ``&`` or `` and ``; a value with ``*`` (any characters) or ``?`` (one) is a
pattern: ``lang=code:*`` is every code language, ``kind=code`` every code document (docs/code.md); or, explicitly, a Spark SQL boolean expression after the
prefix ``sql:`` (``"sql: lang = 'en' AND length(text) > 200"``). Anything else is a ``ConfigError``
when the stage is built, so a typo never silently becomes SQL.
``groups`` may also be a mapping ``{name: {where:, weight:}}`` or ``{name: weight}`` with
``where`` defaulting to ``lang=<name>``.

Plan (only per-group totals reach the driver)::

    docs --group, n_tokens, priority--> narrow rows (id, group, n_tokens, priority)   [scratch parquet]
    groupBy(group) sum(n_tokens) --> driver: targets t_g = B * w_g / sum(w)
    window(group, priority desc) running token sum --> repeat per doc          [assignments parquet]
    docs JOIN assignments --> kept (repeat >= 1) / rejected (mix_budget, mix_no_group)

Per group with T_g tokens available and target t_g: every document is repeated
``full = min(floor(t_g / T_g), max_repeats)`` times, and the remaining ``t_g - full * T_g`` tokens are
taken in priority order (a document is in while its running total minus half its own tokens is
below the remainder: rounding to the nearest document). ``full = 0`` is plain downsampling.
Priority: ``topk`` = highest ``quality_score`` first; ``weighted`` = Efraimidis-Spirakis weighted
sampling without replacement (key ``ln(u) / quality``); ``random`` = seeded hash order; ties and
missing quality fall back to the seeded hash of the id, then the id: a total order on data only,
so the result does not depend on partitioning.

A group that cannot reach its target even with every document at ``max_repeats`` is **short**:
it is always reported (``short/<g>``, ``shortfall_tokens/<g>``, a log line, ``mix.json``) and
``on_short`` decides: ``shrink`` (default) lowers the whole budget so every share still holds,
``keep`` keeps the other groups' targets (shares drift), ``error`` stops the pipeline.

Outputs: kept rows gain ``mix_group``, ``repeat`` and ``n_tokens`` (tokens per copy, EOS
included); rejected rows have reason ``mix_budget`` (left out by the budget) or ``mix_no_group``.
``<stage>/mix.json`` holds the recipe and the achieved report (read by the tokenize stage);
``<stage>/assignments/`` the per-document decision (id, group, tokens, priority rank, repeat).
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path
from typing import Any, Required, TypedDict

import pyarrow as pa

from contract import metrics as M
from contract import schema as S
from contract.errors import ConfigError
from contract.operator import GlobalStage, StageOutput

BUDGET = "mix_budget"
NO_GROUP = "mix_no_group"
SELECT_MODES = ("topk", "weighted", "random")
ON_SHORT = ("shrink", "keep", "error")
MIX_JSON = "mix.json"
# Characters per token when no tokenizer is given: Winnow's tokenizer trained on the demo mixture,
# measured on held-out text (zh 1.58, en 4.34; code 4.05 on its training text, rounded down);
# docs/mixing.md. Keys: group name, then lang value, then default.
DEFAULT_CHARS_PER_TOKEN = {"zh": 1.6, "en": 4.3, "code": 3.6, "default": 3.0}
SQL_PREFIX = "sql:"
_SIMPLE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(==|=|!=|<>)\s*(.+?)\s*$")
_IN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s+(not\s+in|in)\s*[\(\[](.*)[\)\]]\s*$", re.I)
_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}


def parse_count(v: Any) -> int | None:
    """``2000000``, ``2e6``, ``"2M"``, ``"1.5B"`` -> int; None stays None."""
    if v is None:
        return None
    if isinstance(v, (int, float)):
        return int(v)
    s = str(v).strip().replace("_", "").replace(",", "")
    if s and s[-1].lower() in _SUFFIX:
        return int(float(s[:-1]) * _SUFFIX[s[-1].lower()])
    return int(float(s))


def _unquote(v: str) -> str:
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        return v[1:-1]
    return v


def normalize_groups(groups: Any) -> list[dict[str, Any]]:
    """The groups as a list of ``{name, where, weight}`` in precedence order."""
    if not groups:
        raise ValueError("mix: 'groups' is required (e.g. [{name: zh, where: 'lang=zh', weight: 4}])")
    items: list[dict[str, Any]] = []
    if isinstance(groups, dict):
        for name, spec in groups.items():
            spec = {"weight": spec} if isinstance(spec, (int, float)) else dict(spec)
            items.append({"name": str(name), **spec})
    else:
        items = [dict(g) for g in groups]
    out, seen = [], set()
    for g in items:
        name = str(g.get("name") or "")
        if not name or name in seen:
            raise ValueError(f"mix: every group needs a unique name (got {name!r})")
        seen.add(name)
        weight = float(g.get("weight", 0))
        if not weight > 0 or math.isinf(weight):
            raise ValueError(f"mix: group {name!r}: weight must be a positive number (got {g.get('weight')!r})")
        unknown = set(g) - {"name", "where", "weight"}
        if unknown:
            raise ValueError(f"mix: group {name!r}: unknown key(s) {sorted(unknown)} (allowed: name, where, weight)")
        where = str(g.get("where") or f"lang={name}")
        check_where(name, where)
        out.append({"name": name, "where": where, "weight": weight})
    return out


def check_where(group: str, where: str) -> None:
    """ConfigError unless ``where`` is in the mini-language or is an explicit ``sql:`` expression."""
    valid = bool(sql_of(where)) if is_sql(where) else parse_where(where) is not None
    if not valid:
        raise ConfigError(
            f"mix: group {group!r}: where {where!r} is neither the mini-language (col=value, col!=value, "
            f"col in (a, b), col not in (a, b), joined with & or 'and') nor Spark SQL written as "
            f"'{SQL_PREFIX} <expression>'")


def is_sql(where: str) -> bool:
    return where.lstrip().lower().startswith(SQL_PREFIX)


def sql_of(where: str) -> str:
    """The Spark SQL expression of an explicit ``sql:`` where."""
    return where.lstrip()[len(SQL_PREFIX):].strip()


def parse_where(expr: str) -> list[tuple[str, str, list[str]]] | None:
    """The mini-language's conditions, all of which must hold: (column, op, values) with op one of
    ``=``, ``!=``, ``in``, ``not in``; None when ``expr`` is not in the mini-language."""
    conds = []
    for part in re.split(r"\s+and\s+|\s*&\s*", expr.strip(), flags=re.I):
        m_in = _IN.match(part)
        m = _SIMPLE.match(part)
        if m_in:
            op = "not in" if m_in.group(2).lower().startswith("not") else "in"
            conds.append((m_in.group(1), op, [_unquote(v) for v in m_in.group(3).split(",")]))
        elif m and not any(ch in m.group(3) for ch in "()<>=") and " " not in _unquote(m.group(3)).strip():
            conds.append((m.group(1), "!=" if m.group(2) in ("!=", "<>") else "=", [_unquote(m.group(3))]))
        else:
            return None
    return conds


def like_pattern(value: str) -> str | None:
    """A where value with ``*``/``?`` as a SQL LIKE pattern (``%``, ``_`` and ``\\`` escaped); None
    for a plain value."""
    if "*" not in value and "?" not in value:
        return None
    out = []
    for ch in value:
        out.append("%" if ch == "*" else "_" if ch == "?" else "\\" + ch if ch in "%_\\" else ch)
    return "".join(out)


def value_match(col, value: str):
    """``col`` equals ``value``, or matches it when it is a pattern (:func:`like_pattern`)."""
    from pyspark.sql import functions as F

    pattern = like_pattern(value)
    return col.like(pattern) if pattern is not None else col == F.lit(value)


def where_column(expr: str, columns: list[str]):
    """A Spark boolean Column for a group's ``where`` (never null: null counts as no match)."""
    from pyspark.sql import functions as F

    if is_sql(expr):
        return F.coalesce(F.expr(sql_of(expr)), F.lit(False))
    conds = parse_where(expr)
    if conds is None:
        raise ConfigError(f"mix: where {expr!r} is not in the mini-language (Spark SQL needs '{SQL_PREFIX}')")
    cond = None
    for col, op, values in conds:
        if col not in columns:
            raise ValueError(f"mix: where {expr!r}: no column {col!r} in the input (columns: {', '.join(columns)})")
        if op in ("in", "not in"):
            c = None
            for v in (v for v in values if v):
                one = value_match(F.col(col), v)
                c = one if c is None else c | one
            c = F.lit(False) if c is None else c
            c = ~c if op == "not in" else c
        else:
            c = value_match(F.col(col), values[0])
            c = ~c if op == "!=" else c
        cond = c if cond is None else cond & c
    return F.coalesce(cond, F.lit(False))


def count_tokens_batches(tokenizer_path: str, eos: bool = True):
    """mapInArrow function: adds ``n_tokens`` (exact tokenizer count, + 1 for EOS)."""
    import pyarrow as pa

    def fn(batches):
        from operators.tokenize.tokenizer import cached_tokenizer

        tok = cached_tokenizer(tokenizer_path).backend
        for b in batches:
            texts = [t or "" for t in b.column(S.TEXT).to_pylist()]
            n = [len(e.ids) + int(eos) for e in tok.encode_batch(texts, add_special_tokens=False)]
            yield pa.RecordBatch.from_arrays(
                [b.column(S.ID), pa.array(n, pa.int64())], names=[S.ID, "n_tokens"])

    return fn


class MixGroup(TypedDict, total=False):
    """One entry of ``groups`` (the type the params check and ``winnow params`` read; no behaviour)."""

    name: str  # required in the list form; the mapping form {name: {...}} takes it from the key
    where: str  # default: lang=<name>
    weight: Required[float]


class MixStage(GlobalStage):
    """Token-weighted mixing. See the module docstring and ``docs/mixing.md``."""

    name = "mix"
    metrics = {
        "tokens_total": "tokens in the mixture (repeats counted)",
        "budget_tokens": "the configured token budget",
        "effective_budget_tokens": "the budget after shrinking for short groups",
        M.SHARE_TARGET: "each group's target share of tokens",
        M.SHARE_ACHIEVED: "each group's achieved share of tokens",
        "tokens_available/{group}": "tokens available per group before mixing",
        "tokens_target/{group}": "tokens wanted per group",
        "tokens_achieved/{group}": "tokens mixed per group (repeats counted)",
        "docs_kept/{group}": "documents mixed per group",
        "copies/{group}": "document copies per group (repeats counted)",
        "shortfall_tokens/{group}": "tokens a short group lacks",
        "short/{group}": "1 when the group could not reach its share",
        M.REPEAT_HIST: "documents per repeat count",
    }

    def output_fields(self) -> list[pa.Field]:
        return [S.category_field("mix_group"), pa.field("repeat", pa.int32()), pa.field("n_tokens", pa.int64())]

    def __init__(
        self,
        groups: list[MixGroup] | dict[str, float | MixGroup] | None = None,
        budget_tokens: int | str | None = None,
        max_repeats: int = 4,
        select: str = "topk",
        quality_column: str = "quality_score",
        lang_column: str = "lang",
        tokenizer: str | None = None,
        chars_per_token: dict[str, float] | None = None,
        on_short: str = "shrink",
        seed: int | None = None,
    ):
        self.groups = normalize_groups(groups)
        self.budget_tokens = parse_count(budget_tokens)
        if self.budget_tokens is not None and self.budget_tokens <= 0:
            raise ValueError(f"mix: budget_tokens must be positive (got {budget_tokens!r})")
        self.max_repeats = int(max_repeats)
        if self.max_repeats < 1:
            raise ValueError("mix: max_repeats must be >= 1")
        if select not in SELECT_MODES:
            raise ValueError(f"mix: select must be one of {SELECT_MODES} (got {select!r})")
        self.select = select
        if on_short not in ON_SHORT:
            raise ValueError(f"mix: on_short must be one of {ON_SHORT} (got {on_short!r})")
        self.on_short = on_short
        self.quality_column = quality_column
        self.lang_column = lang_column
        self.tokenizer = str(tokenizer) if tokenizer else None
        self.chars_per_token = {**DEFAULT_CHARS_PER_TOKEN, **(chars_per_token or {})}
        self.seed = seed

    # -- planning on the driver -------------------------------------------------------------------
    def plan(self, available: dict[str, int]) -> dict[str, Any]:
        """Targets per group from the available tokens: the heart of the stage, pure Python."""
        weights = {g["name"]: g["weight"] for g in self.groups}
        total_w = sum(weights.values())
        share = {g: w / total_w for g, w in weights.items()}
        avail = {g: int(available.get(g, 0)) for g in weights}
        cap = {g: avail[g] * self.max_repeats for g in weights}
        budget = self.budget_tokens
        if budget is None:  # the largest mixture that needs no repeats
            budget = int(min(avail[g] / share[g] for g in weights))
        wanted = {g: budget * share[g] for g in weights}
        short = {g: wanted[g] - cap[g] for g in weights if wanted[g] > cap[g]}
        effective = budget
        if short:
            if self.on_short == "error":
                raise ValueError("mix: group(s) cannot reach their share even at max_repeats="
                                 f"{self.max_repeats}: " + ", ".join(
                                     f"{g} needs {wanted[g]:,.0f} tokens, has {avail[g]:,} (cap {cap[g]:,})"
                                     for g in short))
            if self.on_short == "shrink":
                effective = int(min(cap[g] / share[g] for g in weights))
                targets = {g: effective * share[g] for g in weights}
            else:
                targets = {g: min(wanted[g], cap[g]) for g in weights}
        else:
            targets = wanted
        return {"budget_tokens": budget, "effective_budget_tokens": effective, "share_target": share,
                "available": avail, "wanted": wanted, "targets": targets, "short": short}

    @staticmethod
    def repeats_for(target: float, available: int, max_repeats: int) -> tuple[int, float]:
        """(full repeats for every document, remaining tokens taken in priority order)."""
        if available <= 0:
            return 0, 0.0
        full = min(int(target // available), max_repeats)
        rem = 0.0 if full >= max_repeats else max(target - full * available, 0.0)
        return full, rem

    # -- Spark ------------------------------------------------------------------------------------
    def run(self, df, ctx) -> StageOutput:
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        seed = int(self.seed if self.seed is not None else getattr(ctx, "seed", 0))
        out_dir = Path(ctx.out_dir)
        scratch = out_dir / "scratch_mix"
        cols = df.columns
        group_col = F.lit(None).cast("string")
        for g in reversed(self.groups):
            group_col = F.when(where_column(g["where"], cols), F.lit(g["name"])).otherwise(group_col)
        has_q = self.quality_column in cols
        q = F.col(self.quality_column).cast("double") if has_q else F.lit(None).cast("double")
        # seeded uniform in (0, 1] from the id
        h = F.xxhash64(F.col(S.ID), F.lit(seed))
        u = (F.pmod(h, F.lit(1 << 53)).cast("double") + 1.0) / float(1 << 53)
        if self.tokenizer:
            counts = df.select(S.ID, S.TEXT).mapInArrow(
                count_tokens_batches(self.tokenizer), f"{S.ID} string, n_tokens long")
            base = df.join(counts, on=S.ID)
            n_tok = F.col("n_tokens")
        else:
            base = df
            cpt = F.lit(self.chars_per_token["default"])
            lang = F.col(self.lang_column) if self.lang_column in cols else F.lit(None).cast("string")
            for key, v in self.chars_per_token.items():
                if key != "default":
                    cpt = F.when(lang == key, F.lit(float(v))).otherwise(cpt)
            if S.KIND_CODE in self.chars_per_token:  # code:<language> without its own entry: "code"
                cpt = F.when(lang.startswith(S.CODE_LANG_PREFIX) & ~lang.isin(list(self.chars_per_token)),
                             F.lit(float(self.chars_per_token[S.KIND_CODE]))).otherwise(cpt)
            for g in self.groups:  # a group's own estimate wins over its language's
                if g["name"] in self.chars_per_token:
                    cpt = F.when(F.col("mix_group") == g["name"],
                                 F.lit(float(self.chars_per_token[g["name"]]))).otherwise(cpt)
            n_tok = (F.ceil(F.coalesce(F.length(S.TEXT), F.lit(0)) / cpt) + 1).cast("long")
        if self.select == "topk":
            prio = F.coalesce(q, F.lit(-math.inf))
        elif self.select == "weighted":
            prio = F.log(u) / F.greatest(F.coalesce(q, F.lit(1e-6)), F.lit(1e-6))
        else:
            prio = F.lit(0.0)
        base = base.withColumn("mix_group", group_col)
        narrow = base.select(
            F.col(S.ID), F.col("mix_group"), n_tok.alias("n_tokens"),
            prio.cast("double").alias("_prio"), u.alias("_u"))
        shutil.rmtree(scratch, ignore_errors=True)
        narrow.write.mode("overwrite").parquet(str(scratch))
        narrow = df.sparkSession.read.parquet(str(scratch))

        available = {r["mix_group"]: int(r["t"]) for r in
                     narrow.filter(F.col("mix_group").isNotNull()).groupBy("mix_group")
                     .agg(F.sum("n_tokens").alias("t")).collect()}
        plan = self.plan(available)
        for g, deficit in plan["short"].items():
            ctx_log(ctx, f"group {g!r} is short by {deficit:,.0f} tokens: wants {plan['wanted'][g]:,.0f}, has "
                         f"{plan['available'][g]:,} (x{self.max_repeats} = {plan['available'][g] * self.max_repeats:,}); "
                         f"on_short={self.on_short}")
        full_rem = {g: self.repeats_for(plan["targets"][g], plan["available"][g], self.max_repeats)
                    for g in plan["targets"]}
        full_map = F.create_map(*[x for g, (f, _) in full_rem.items() for x in (F.lit(g), F.lit(f))])
        rem_map = F.create_map(*[x for g, (_, r) in full_rem.items() for x in (F.lit(g), F.lit(float(r)))])
        w = (Window.partitionBy("mix_group").orderBy(F.col("_prio").desc(), F.col("_u").desc(), F.col(S.ID))
             .rowsBetween(Window.unboundedPreceding, Window.currentRow))
        grouped = narrow.filter(F.col("mix_group").isNotNull())
        cum = F.sum("n_tokens").over(w)
        rank = F.row_number().over(Window.partitionBy("mix_group")
                                   .orderBy(F.col("_prio").desc(), F.col("_u").desc(), F.col(S.ID)))
        extra = (cum - F.col("n_tokens") / 2.0 < rem_map[F.col("mix_group")]).cast("int")
        assigned = grouped.select(
            S.ID, "mix_group", "n_tokens", rank.alias("rank"),
            (full_map[F.col("mix_group")] + extra).cast("int").alias("repeat"))
        ungrouped = narrow.filter(F.col("mix_group").isNull()).select(
            S.ID, "mix_group", "n_tokens", F.lit(None).cast("int").alias("rank"), F.lit(0).alias("repeat"))
        assign_dir = out_dir / "assignments"
        assigned.unionByName(ungrouped).write.mode("overwrite").parquet(str(assign_dir))
        shutil.rmtree(scratch, ignore_errors=True)
        assign = df.sparkSession.read.parquet(str(assign_dir))

        report = self._report(assign, plan, F)
        (out_dir / MIX_JSON).write_text(json.dumps(report, indent=2, sort_keys=True))
        metrics = self._metrics(report)

        drop = [c for c in ("mix_group", "repeat", "n_tokens") if c in cols]
        docs = df.drop(*drop)
        joined = docs.join(assign.select(S.ID, "mix_group", "n_tokens", "repeat", "rank"), on=S.ID)
        kept = joined.filter(F.col("repeat") >= 1).drop("rank").withColumn(
            "repeat", F.col("repeat").cast("int")).withColumn("n_tokens", F.col("n_tokens").cast("long"))
        rejected = joined.filter(F.col("repeat") < 1).select(
            *[F.col(c) for c in docs.columns],
            F.col("mix_group"), F.col("n_tokens").cast("long").alias("n_tokens"),
            F.col("repeat").cast("int").alias("repeat"),
            F.when(F.col("mix_group").isNull(), F.lit(NO_GROUP)).otherwise(F.lit(BUDGET)).alias(S.REJECT_REASON),
            F.when(F.col("mix_group").isNull(), F.lit("no group matched"))
            .otherwise(F.concat(F.lit("group="), F.col("mix_group"), F.lit(" rank="), F.col("rank").cast("string"),
                                F.lit(" tokens="), F.col("n_tokens").cast("string"))).alias(S.REJECT_DETAIL))
        return StageOutput(kept, rejected, metrics)

    def _report(self, assign, plan: dict[str, Any], F) -> dict[str, Any]:
        rows = (assign.filter(F.col("mix_group").isNotNull()).groupBy("mix_group")
                .agg(F.sum(F.col("n_tokens") * F.col("repeat")).alias("tokens"),
                     F.sum((F.col("repeat") > 0).cast("long")).alias("docs"),
                     F.sum("repeat").alias("copies"), F.count("*").alias("docs_in")).collect())
        got = {r["mix_group"]: r.asDict() for r in rows}
        hist = {int(r["repeat"]): int(r["count"]) for r in
                assign.filter(F.col("repeat") > 0).groupBy("repeat").count().collect()}
        total = sum(int(v["tokens"] or 0) for v in got.values())
        groups = {}
        for g in self.groups:
            name = g["name"]
            r = got.get(name, {})
            tokens = int(r.get("tokens") or 0)
            groups[name] = {
                "where": g["where"], "weight": g["weight"],
                "share_target": plan["share_target"][name],
                "share_achieved": tokens / total if total else 0.0,
                "tokens_available": plan["available"][name], "tokens_wanted": plan["wanted"][name],
                "tokens_target": plan["targets"][name], "tokens_achieved": tokens,
                "docs_in": int(r.get("docs_in") or 0), "docs_kept": int(r.get("docs") or 0),
                "copies": int(r.get("copies") or 0),
                "short": name in plan["short"], "shortfall_tokens": plan["short"].get(name, 0.0),
            }
        return {
            "recipe": {"groups": self.groups, "budget_tokens": plan["budget_tokens"],
                       "max_repeats": self.max_repeats, "select": self.select,
                       "quality_column": self.quality_column, "on_short": self.on_short,
                       "token_counts": "tokenizer" if self.tokenizer else "chars_per_token",
                       "tokenizer": self.tokenizer,
                       "chars_per_token": None if self.tokenizer else self.chars_per_token},
            "effective_budget_tokens": plan["effective_budget_tokens"],
            "tokens_total": total, "groups": groups,
            "short_groups": sorted(plan["short"]),
            "repeat_hist": {str(k): v for k, v in sorted(hist.items())},
        }

    @staticmethod
    def _metrics(report: dict[str, Any]) -> dict[str, float]:
        m: dict[str, float] = {"tokens_total": float(report["tokens_total"]),
                               "budget_tokens": float(report["recipe"]["budget_tokens"]),
                               "effective_budget_tokens": float(report["effective_budget_tokens"])}
        for g, r in report["groups"].items():
            for k in ("share_target", "share_achieved", "tokens_available", "tokens_target", "tokens_achieved",
                      "docs_kept", "copies", "shortfall_tokens"):
                m[f"{k}/{g}"] = float(r[k])
            m[f"short/{g}"] = float(r["short"])
        for k, v in report["repeat_hist"].items():
            m[f"repeat_hist/{k}"] = float(v)
        return m


def ctx_log(ctx, msg: str) -> None:
    log = getattr(ctx, "log", None)
    if callable(log):
        log(msg)
    else:
        print(f"[winnow] mix: {msg}", flush=True)


def build_mixer(**params) -> MixStage:
    """Registry factory for the ``mix`` stage."""
    return MixStage(**params)


build_mixer.__wrapped__ = MixStage  # its parameters are MixStage's (inspect.signature, `winnow params`)


def read_mix_report(stage_dir: str | Path | None) -> dict[str, Any] | None:
    """The mix stage's ``mix.json`` (recipe + achieved report), or None."""
    if stage_dir is None:
        return None
    f = Path(stage_dir) / MIX_JSON
    return json.loads(f.read_text()) if f.exists() else None
