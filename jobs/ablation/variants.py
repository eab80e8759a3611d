"""The ablation's variants, built from the user's pipeline config: which stages decide in each.

* ``raw``: the read stage only (bad records quarantined, nothing else);
* ``full``: every stage of the config;
* ``no-<stage>``: the config with one deciding stage's decision switched off, one variant per
  deciding stage, so each stage's contribution is visible against ``full`` and ``raw``.

``mix`` and ``tokenize`` are never part of a variant: the harness tokenizes every variant itself
with one shared tokenizer and an equal token budget.

How a stage's decision is switched off (``decision_off``):

* ``langid``: kept as an annotator (``reject: false``), because later stages route by ``lang``;
* ``score`` with models and thresholds: the scores stay, the thresholds go (``min_quality``,
  ``exclude_domains``); a model-less ``score`` stage (a quality gate) is removed; a ``score``
  stage without thresholds never decides and has no variant;
* any other stage (``normalize``, ``filter``, ``pii``, ``dedup``, plug-ins): removed.

Every variant has its own workdir ``<out>/variants/<name>``. Variants with an identical stage
prefix share that prefix's finished stage directories (hard links): the runner's resume then
skips them, so the read stage runs once and ``no-dedup`` re-runs nothing before dedup.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from contract.errors import ConfigError
from pipeline.config import PipelineConfig, StageConfig, stable_json

NOT_VARIANTS = ("mix", "tokenize")  # dropped from every variant: the harness tokenizes itself
SCORE_MODELS = ("quality_model", "domain_model", "quality_fasttext", "domain_fasttext")
SCORE_THRESHOLDS = ("min_quality", "exclude_domains", "min_domain_score")


@dataclass
class Variant:
    name: str  # raw | full | no-<stage name>
    config: PipelineConfig
    off: str | None = None  # the stage whose decision is off (no-<stage> variants)
    how: str = ""  # how it was switched off
    stages: list[str] = field(default_factory=list)  # the stage names this variant runs (after read)

    @property
    def workdir(self) -> Path:
        return Path(self.config.workdir)

    def describe(self) -> dict:
        return {"name": self.name, "off": self.off, "how": self.how, "stages": ["read", *self.stages],
                "stage_params": [{"stage": s.stage, "name": s.name, "params": s.params} for s in self.config.stages]}


def decision_off(st: StageConfig) -> tuple[StageConfig | None, str] | None:
    """How ``st`` runs when it must not decide: ``(replacement, how)`` with ``replacement`` None when
    the stage is removed; None when the stage never decides (no variant for it)."""
    if st.stage in NOT_VARIANTS:
        return None
    if st.stage == "langid":
        if st.params.get("reject") is False:
            return None
        return StageConfig(st.stage, st.name, {**st.params, "reject": False}), "annotates only (reject: false)"
    if st.stage == "score":
        decides = st.params.get("min_quality") is not None or bool(st.params.get("exclude_domains"))
        if not decides:
            return None
        if any(st.params.get(k) for k in SCORE_MODELS):
            params = {k: v for k, v in st.params.items() if k not in SCORE_THRESHOLDS}
            return StageConfig(st.stage, st.name, params), "scores kept, thresholds dropped"
        return None, "removed"
    return None, "removed"


def _variant(cfg: PipelineConfig, name: str, stages: list[StageConfig], out_dir: Path,
             off: str | None = None, how: str = "") -> Variant:
    c = copy.deepcopy(cfg)
    c.stages = copy.deepcopy(stages)
    c.workdir = str(out_dir / "variants" / name)
    c.name = f"{cfg.name}-ablation-{name}"
    return Variant(name, c, off, how, [s.name for s in stages])


def build_variants(cfg: PipelineConfig, out_dir: str | os.PathLike, raw_paths: list[str] | None = None,
                   only: list[str] | None = None) -> list[Variant]:
    """``raw``, ``full`` and one ``no-<stage>`` per deciding stage of ``cfg`` (in stage order).

    ``raw_paths`` replaces the config's input paths (the raw corpus); ``only`` keeps the named
    variants (``raw`` is always kept: every verdict is against it)."""
    out_dir = Path(out_dir)
    cfg = copy.deepcopy(cfg)
    if raw_paths:
        cfg.input.paths = [str(p) for p in raw_paths]
    base = [s for s in cfg.stages if s.stage not in NOT_VARIANTS]
    variants = [_variant(cfg, "raw", [], out_dir), _variant(cfg, "full", base, out_dir)]
    for i, st in enumerate(base):
        off = decision_off(st)
        if off is None:
            continue
        repl, how = off
        stages = base[:i] + ([repl] if repl is not None else []) + base[i + 1:]
        variants.append(_variant(cfg, f"no-{st.name}", stages, out_dir, off=st.name, how=how))
    if only:
        known = [v.name for v in variants]
        unknown = [n for n in only if n not in known]
        if unknown:
            raise ConfigError(f"unknown variant(s) {', '.join(unknown)} (this config has: {', '.join(known)})")
        variants = [v for v in variants if v.name == "raw" or v.name in only]
    return variants


def _stage_key(s: StageConfig) -> str:
    return stable_json({"stage": s.stage, "name": s.name, "params": s.params})


def shared_prefix(a: Variant, b: Variant) -> int:
    """How many stages (after read) ``a`` and ``b`` run identically from the start."""
    n = 0
    for x, y in zip(a.config.stages, b.config.stages):
        if _stage_key(x) != _stage_key(y):
            break
        n += 1
    return n


def _success(d: Path) -> str | None:
    try:
        return json.loads((d / "_SUCCESS").read_text())["hash"]
    except (OSError, ValueError, KeyError):
        return None


def _link_tree(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".link-{dst.name}")
    shutil.rmtree(tmp, ignore_errors=True)

    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:  # another filesystem, or no hard links: copy
            shutil.copy2(s, d)

    shutil.copytree(src, tmp, copy_function=link)
    tmp.rename(dst)


def reuse_prefix(variant: Variant, done: list[Variant]) -> list[str]:
    """Hard-link the finished stage directories ``variant`` shares with an already-run variant into
    its workdir (the runner's resume then skips them). Returns the directory names linked."""
    from pipeline.runner import stage_dirname

    best, n = None, -1
    for d in done:
        k = shared_prefix(variant, d)
        if k > n:
            best, n = d, k
    if best is None:
        return []
    names = [stage_dirname(1, "read")] + [stage_dirname(i + 2, s.name) for i, s in enumerate(variant.config.stages[:n])]
    linked = []
    variant.workdir.mkdir(parents=True, exist_ok=True)
    for name in names:
        src, dst = best.workdir / name, variant.workdir / name
        if _success(src) is None:
            break
        if dst.exists():
            if _success(dst) == _success(src):
                continue
            shutil.rmtree(dst)
        _link_tree(src, dst)
        linked.append(name)
    return linked


def final_stage_dir(variant: Variant) -> Path:
    """The directory whose ``kept/`` is the variant's output (its last stage, or read)."""
    from pipeline.runner import stage_dirname

    if not variant.config.stages:
        return variant.workdir / stage_dirname(1, "read")
    return variant.workdir / stage_dirname(len(variant.config.stages) + 1, variant.config.stages[-1].name)
