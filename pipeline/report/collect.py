"""Gather every figure of a run from what its stages wrote, into one JSON-able dict (``report.json``).

Reads only ``<workdir>/<NN>-<stage>/stats.json``, ``<stage>/samples/*.jsonl``, shard manifests under the
workdir and training runs' ``metrics.jsonl``: never the corpus itself. Missing pieces (a stage without
histograms, no mix stage, no training run) leave their section empty; nothing here raises on a partial
run, problems are listed under ``warnings``.
"""

from __future__ import annotations

import functools
import json
import math
import platform
import re
import time
from pathlib import Path
from typing import Any

from contract import metrics as M
from redaction import scrub_text
from shards.manifest import summarize

FORMAT = "winnow-report/1"
STAGE_DIR = re.compile(r"^(\d{2,})-(.+)$")
MAX_TRAIN_POINTS = 2000
MAX_SAMPLES_PER_REASON = 10
COUNT_KEYS = ("docs_in", "chars_in", "docs_kept", "chars_kept", "docs_rejected", "chars_rejected")

# ---------------------------------------------------------------------------------------------
# small helpers

def _read_json(path: Path, warnings: list[str]) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        warnings.append(f"{path}: unreadable ({e})")
        return None


def _read_jsonl(path: Path, warnings: list[str], limit: int | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    warnings.append(f"{path}:{i + 1}: not JSON, skipped")
                if limit is not None and len(rows) >= limit:
                    break
    except OSError as e:
        warnings.append(f"{path}: unreadable ({e})")
    return rows


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole else None


def _num(x: Any) -> float | None:
    return x if isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) else None


def stage_dirs(workdir: Path) -> list[Path]:
    """Finished stage directories (``NN-name`` with a ``stats.json``), in pipeline order."""
    out = []
    for d in workdir.iterdir() if workdir.is_dir() else []:
        m = STAGE_DIR.match(d.name)
        if d.is_dir() and m and (d / "stats.json").is_file():
            out.append((int(m.group(1)), d))
    return [d for _, d in sorted(out)]


# ---------------------------------------------------------------------------------------------
# sections

def _stage_entry(d: Path, st: dict[str, Any]) -> dict[str, Any]:
    e = {"index": st.get("index"), "name": st.get("stage", d.name.split("-", 1)[-1]), "dir": d.name}
    for k in COUNT_KEYS:
        e[k] = st.get(k)
    toks = (st.get("histograms") or {}).get("tokens")
    if toks:
        e["tokens_kept"] = toks.get("kept")
        e["tokens_rejected"] = toks.get("rejected")
        e["tokens_in"] = (toks.get("kept") or 0) + (toks.get("rejected") or 0)
    for k in ("rejected_by_reason", "seconds", "finished_at", "params", "spark", "winnow_version", "hash", "metrics",
              "declared"):
        e[k] = st.get(k)
    e["histograms"] = st.get("histograms")
    return e


def _funnel(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    first = stages[0] if stages else {}
    rows = []
    for s in stages:
        r = {"stage": s["name"], "dir": s["dir"], **{k: s.get(k) for k in COUNT_KEYS}}
        for k in ("tokens_in", "tokens_kept", "tokens_rejected"):
            if s.get(k) is not None:
                r[k] = s[k]
        r["docs_kept_share"] = _share(s.get("docs_kept") or 0, s.get("docs_in") or 0)
        r["chars_kept_share"] = _share(s.get("chars_kept") or 0, s.get("chars_in") or 0)
        r["docs_left_of_input"] = _share(s.get("docs_kept") or 0, first.get("docs_in") or 0)
        r["chars_left_of_input"] = _share(s.get("chars_kept") or 0, first.get("chars_in") or 0)
        r["seconds"] = s.get("seconds")
        rows.append(r)
    return rows


def _reasons(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for s in stages:
        for reason, v in (s.get("rejected_by_reason") or {}).items():
            rows.append({"stage": s["name"], "reason": reason, "docs": v.get("docs", 0), "chars": v.get("chars", 0),
                         "docs_share": _share(v.get("docs", 0), s.get("docs_in") or 0),
                         "chars_share": _share(v.get("chars", 0), s.get("chars_in") or 0)})
    return rows


def _by_column(stats: list[tuple[dict[str, Any], dict[str, Any]]], col: str) -> list[dict[str, Any]]:
    """Per stage and value of ``col`` (source or lang): docs/chars in, kept, and per rejection reason."""
    out = []
    for entry, st in stats:
        bg = st.get("by_group") or {}
        if col not in (bg.get("columns") or []):
            continue
        groups: dict[str, dict[str, Any]] = {}
        for r in bg.get("rows") or []:
            key = r.get(col)
            key = "(none)" if key is None else str(key)
            g = groups.setdefault(key, {"stage": entry["name"], col: key, "docs_in": 0, "chars_in": 0,
                                        "docs_kept": 0, "chars_kept": 0, "rejected": {}})
            docs, chars = int(r.get("docs") or 0), int(r.get("chars") or 0)
            g["docs_in"] += docs
            g["chars_in"] += chars
            if r.get("outcome") == "kept":
                g["docs_kept"] += docs
                g["chars_kept"] += chars
            else:
                slot = g["rejected"].setdefault(r.get("outcome"), {"docs": 0, "chars": 0})
                slot["docs"] += docs
                slot["chars"] += chars
        for g in sorted(groups.values(), key=lambda g: -g["docs_in"]):
            for v in g["rejected"].values():
                v["docs_share"] = _share(v["docs"], g["docs_in"])
                v["chars_share"] = _share(v["chars"], g["chars_in"])
            g["docs_kept_share"] = _share(g["docs_kept"], g["docs_in"])
            out.append(g)
    return out


def _hist_series(entry: dict[str, Any], col: str, which: str) -> dict[str, Any] | None:
    h = ((entry.get("histograms") or {}).get("numeric") or {}).get(col)
    if not h:
        return None
    if which == "in":
        counts = [a + b for a, b in zip(h["kept"]["counts"], h["rejected"]["counts"])]
        stats = None
    else:
        counts, stats = h[which]["counts"], {k: v for k, v in h[which].items() if k != "counts"}
    if not sum(counts):
        return None
    return {"label": f"{entry['name']} {which}", "stage": entry["name"], "outcome": which, "edges": h["edges"],
            "counts": counts, "stats": stats}


def _first_with(stages: list[dict[str, Any]], col: str) -> dict[str, Any] | None:
    for s in stages:
        if col in ((s.get("histograms") or {}).get("numeric") or {}):
            return s
    return None


def _family(stage: dict[str, Any], template: str) -> dict[str, float]:
    """``{placeholder value: metric}`` of a metric family the stage declared (``contract/metrics.py``)."""
    declared = (stage.get("declared") or {}).get("metrics") or {}
    return {k: v for k, v in M.family(stage.get("metrics") or {}, declared, template).items() if _num(v) is not None}


def _distributions(stages: list[dict[str, Any]], mix: dict[str, Any] | None) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if stages:
        # document length: what the reader produced vs what the pipeline keeps, plus per-stage medians
        series = [s for s in (_hist_series(stages[0], "length", "kept"), _hist_series(stages[-1], "length", "kept"))
                  if s]
        if len(stages) == 1 and series:
            series = series[:1]
        if series:
            series[0]["label"] = f"input ({stages[0]['name']} kept)"
            if len(series) > 1:
                series[-1]["label"] = f"output ({stages[-1]['name']} kept)"
        removed = []
        for s in stages:
            r = _hist_series(s, "length", "rejected")
            if r:
                removed.append({"stage": s["name"], **{k: (r["stats"] or {}).get(k) for k in ("n", "p10", "p50", "p90")}})
        if series or removed:
            d["length"] = {"series": series, "rejected_by_stage": removed, "xlabel": "characters"}
    for col, xlabel in (("lang_score", "lang_score"), ("quality_score", "quality_score"),
                        ("domain_score", "domain_score")):
        first = _first_with(stages, col)
        if not first:
            continue
        series = [s for s in (_hist_series(first, col, "kept"), _hist_series(first, col, "rejected")) if s]
        if stages[-1] is not first:
            last = _hist_series(stages[-1], col, "kept")
            if last:
                last["label"] = f"output ({stages[-1]['name']} kept)"
                series.append(last)
        if series:
            d[col] = {"series": series, "xlabel": xlabel, "stage": first["name"]}
    # domain shares before and after mixing (tokens when counted, else characters)
    dom_stages = [s for s in stages if "domain" in ((s.get("histograms") or {}).get("categorical") or {})]
    if dom_stages:
        if mix is not None and mix in dom_stages:
            cat = mix["histograms"]["categorical"]["domain"]
            before = _merge_counts(cat.get("kept"), cat.get("rejected"))
            after = cat.get("kept") or {}
            labels = (f"before mixing ({mix['name']} in)", f"after mixing ({mix['name']} kept)")
        else:
            first = dom_stages[0]
            cat0 = first["histograms"]["categorical"]["domain"]
            before = _merge_counts(cat0.get("kept"), cat0.get("rejected"))
            after = (dom_stages[-1]["histograms"]["categorical"]["domain"].get("kept") or {})
            labels = (f"{first['name']} in", f"{dom_stages[-1]['name']} kept")
        unit = "tokens" if any("tokens" in v for v in before.values()) else "chars"
        d["domain"] = {"unit": unit, "series": [
            {"label": labels[0], "shares": _shares(before, unit), "counts": before},
            {"label": labels[1], "shares": _shares(after, unit), "counts": after}]}
    # MinHash cluster sizes (dedup metrics) and PII counts per type
    clusters: dict[str, float] = {}
    cluster_stage = None
    for s in stages:
        h = _family(s, M.CLUSTER_SIZE_HIST)
        if h:
            clusters, cluster_stage = h, s["name"]
    if clusters:
        d["cluster_sizes"] = {"stage": cluster_stage, "counts": dict(sorted(clusters.items(), key=lambda kv: _bin_key(kv[0])))}
    pii = _pii(stages)
    if pii:
        d["pii"] = pii
    return d


def _bin_key(label: str) -> float:
    m = re.search(r"\d+(?:\.\d+)?", label)
    return float(m.group()) if m else math.inf


def _merge_counts(*ds: dict[str, dict[str, int]] | None) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for d in ds:
        for k, v in (d or {}).items():
            slot = out.setdefault(k, {})
            for kk, vv in v.items():
                slot[kk] = slot.get(kk, 0) + (vv or 0)
    return out


def _shares(counts: dict[str, dict[str, int]], unit: str) -> dict[str, float]:
    total = sum(v.get(unit, 0) for v in counts.values())
    return {k: round(v.get(unit, 0) / total, 6) if total else 0.0 for k, v in sorted(counts.items())}


def _pii_in_columns(stage: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{column: {type: findings}}`` of the ``pii/{column}/{type}`` family (PII in id, source, meta)."""
    declared = (stage.get("declared") or {}).get("metrics") or {}
    out: dict[str, dict[str, float]] = {}
    for name, value in (stage.get("metrics") or {}).items():
        if name in declared or _num(value) is None:
            continue
        for t in M.templates_for(declared, M.PII_FOUND_IN):
            m = M.match(t, name)
            if m:
                out.setdefault(m["column"], {})[m["type"]] = value
                break
    return {c: dict(sorted(v.items())) for c, v in sorted(out.items())}


def _pii(stages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """PII counts per type: the ``pii_counts`` column's sums where a stage first has it, else ``pii/*``
    metrics; ``in_columns``: that stage's findings per type in the other columns (id, source, meta)."""
    found = None
    for s in stages:
        maps = ((s.get("histograms") or {}).get("maps") or {}).get("pii_counts")
        if maps:
            merged: dict[str, dict[str, float]] = {}
            for o in ("kept", "rejected"):
                for k, v in (maps.get(o) or {}).items():
                    slot = merged.setdefault(k, {"total": 0.0, "docs": 0})
                    slot["total"] += v.get("total") or 0
                    slot["docs"] += v.get("docs") or 0
            if merged:
                found = s, {"stage": s["name"], "source": "pii_counts column",
                            "counts": {k: v["total"] for k, v in sorted(merged.items())},
                            "docs": {k: v["docs"] for k, v in sorted(merged.items())}}
                break
    if found is None:
        for s in stages:
            m = _family(s, M.PII_FOUND)
            if m or _pii_in_columns(s):
                found = s, {"stage": s["name"], "source": "pii/* metrics", "counts": dict(sorted(m.items()))}
                break
    if found is None:
        return None
    stage, out = found
    in_columns = _pii_in_columns(stage)
    if in_columns:
        out["in_columns"] = in_columns
    return out


def _find_mix(stages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The stage that declares mixture shares (the last one, if several do)."""
    found = None
    for s in stages:
        declared = (s.get("declared") or {}).get("metrics") or {}
        if any(M.declares(declared, f) for f in (M.SHARE_TARGET, M.SHARE_ACHIEVED)):
            found = s
    return found


def _mixture(mix: dict[str, Any] | None, shards: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if mix is not None:
        m = mix.get("metrics") or {}
        target, achieved = _family(mix, M.SHARE_TARGET), _family(mix, M.SHARE_ACHIEVED)
        groups = sorted(set(target) | set(achieved))
        out["stage"] = mix["name"]
        out["groups"] = [{"group": g, "target": target.get(g), "achieved": achieved.get(g),
                          "error": (round(achieved[g] - target[g], 6) if g in target and g in achieved else None)}
                         for g in groups]
        repeats = _family(mix, M.REPEAT_HIST)
        if not repeats:
            h = ((mix.get("histograms") or {}).get("numeric") or {}).get("repeat")
            if h:
                repeats = {_edge_label(h["edges"], i): c for i, c in enumerate(h["kept"]["counts"]) if c}
        out["repeats"] = dict(sorted(repeats.items(), key=lambda kv: _bin_key(kv[0])))
        declared = (mix.get("declared") or {}).get("metrics") or {}
        shown = [t for f in (M.SHARE_TARGET, M.SHARE_ACHIEVED, M.REPEAT_HIST, M.SECONDS)
                 for t in M.templates_for(declared, f)]
        out["other_metrics"] = {k: v for k, v in sorted(m.items())
                                if not any(M.match(t, k) is not None for t in shown)}
        out["params"] = mix.get("params")
    for sh in shards:
        if sh.get("recipe") or sh.get("achieved"):
            out["manifest"] = {"path": sh["path"], "recipe": sh.get("recipe"), "achieved": sh.get("achieved")}
            break
    return out


def _edge_label(edges: list[float], i: int) -> str:
    lo, hi = edges[i], edges[i + 1]
    if i == len(edges) - 2:
        return f">={_fmt_edge(lo)}"
    if hi - lo == 1 and float(lo).is_integer():
        return _fmt_edge(lo)
    return f"{_fmt_edge(lo)}-{_fmt_edge(hi)}"


def _fmt_edge(x: float) -> str:
    if float(x).is_integer():
        x = int(x)
        for unit, div in (("M", 1_000_000), ("k", 1000)):
            if x >= div and x % div == 0:
                return f"{x // div}{unit}"
        return str(x)
    return f"{x:g}"


def _shards(workdir: Path, warnings: list[str]) -> list[dict[str, Any]]:
    found = []
    for p in sorted(set(workdir.glob("*/shards/manifest.json")) | set(workdir.glob("*/manifest.json"))
                    | set(workdir.glob("*/*/shards/manifest.json"))):
        if p.parent.name.startswith(".tmp") or any(part.startswith(".tmp") for part in p.relative_to(workdir).parts):
            continue
        m = _read_json(p, warnings)
        if not isinstance(m, dict) or not str(m.get("format", "")).startswith("winnow-shards"):
            continue
        summary = summarize(m)
        tok = summary["tokenizer"]
        summary["tokenizer"] = {k: tok.get(k) for k in ("path", "sha256", "vocab_size", "bos_id", "eos_id", "pad_id")
                                if k in tok}
        found.append({"path": str(p.relative_to(workdir)), **summary})
    return found


def _training(workdir: Path, runs: list[Path], shards: list[dict[str, Any]], warnings: list[str]) -> list[dict[str, Any]]:
    candidates: list[Path] = []
    for r in runs:
        r = Path(r)
        if (r / "metrics.jsonl").is_file():
            candidates.append(r)
        elif r.is_dir():
            candidates += sorted(p.parent for p in r.glob("*/metrics.jsonl"))
        else:
            warnings.append(f"--runs {r}: no metrics.jsonl found")
    candidates += sorted(p.parent for p in workdir.glob("train*/metrics.jsonl"))
    candidates += sorted(p.parent for p in workdir.glob("train*/*/metrics.jsonl"))
    manifests = {str((workdir / s["path"]).resolve()) for s in shards}
    out, seen = [], set()
    for run in candidates:
        key = str(run.resolve())
        if key in seen:
            continue
        seen.add(key)
        rows = _read_jsonl(run / "metrics.jsonl", warnings)
        train = [r for r in rows if r.get("kind", "train") == "train" and _num(r.get("loss")) is not None]
        evals = [r for r in rows if _num(r.get("val_loss")) is not None or _num(r.get("val_ppl")) is not None]
        if len(train) > MAX_TRAIN_POINTS:
            stride = math.ceil(len(train) / MAX_TRAIN_POINTS)
            train = train[::stride] + ([train[-1]] if (len(train) - 1) % stride else [])
        msum = _read_json(run / "manifest_summary.json", warnings) or {}
        man = msum.get("manifest")
        points = None
        if man:
            mp = Path(man)
            mp = mp / "manifest.json" if mp.suffix != ".json" else mp
            points = str(mp.resolve()) in manifests or _is_under(mp, workdir)
        out.append({
            "dir": str(run), "manifest": man, "points_at_workdir": points,
            "train": [{k: r.get(k) for k in ("step", "loss", "lr", "tokens", "tokens_per_s", "tgs", "mfu")
                       if k in r} for r in train],
            "eval": [{k: r.get(k) for k in ("step", "tokens", "val_loss", "val_ppl") if k in r} for r in evals],
            "summary": _read_json(run / "summary.json", warnings),
            "run": _read_json(run / "run.json", warnings),
            "config": _read_json(run / "config.json", warnings),
        })
    return out


def _is_under(p: Path, root: Path) -> bool:
    try:
        p.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def _samples(dirs: list[Path], stages: list[dict[str, Any]], warnings: list[str]):

    def clean(s: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for k, v in s.items():
            out[k] = scrub_text(v) if isinstance(v, str) else v
        return out

    rejected, extra = [], []
    for d, st in zip(dirs, stages):
        rows = [clean(r) for r in _read_jsonl(d / "samples" / "rejected.jsonl", warnings)] \
            if (d / "samples" / "rejected.jsonl").exists() else []
        by_reason: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            by_reason.setdefault(r.get("reject_reason") or "(none)", []).append(r)
        for reason, v in (st.get("rejected_by_reason") or {}).items():
            rejected.append({"stage": st["name"], "reason": reason, "docs": v.get("docs"), "chars": v.get("chars"),
                             "docs_share": _share(v.get("docs") or 0, st.get("docs_in") or 0),
                             "samples": by_reason.get(reason, [])[:MAX_SAMPLES_PER_REASON]})
        for f in sorted((d / "samples").glob("*.jsonl")) if (d / "samples").is_dir() else []:
            if f.name == "rejected.jsonl":
                continue
            title = "kept documents at the quality threshold's edge" if f.name == "kept_edge.jsonl" else f.stem
            extra.append({"stage": st["name"], "file": f"{d.name}/samples/{f.name}", "title": title,
                          "samples": [clean(r) for r in _read_jsonl(f, warnings, limit=MAX_SAMPLES_PER_REASON)]})
    return rejected, extra


def _find_config(workdir: Path, config: str | Path | None, warnings: list[str]) -> tuple[str | None, dict | None]:
    """The pipeline config: the one given, else a ``configs/*.yaml`` (cwd) whose workdir is this workdir."""
    import yaml

    cands = [Path(config)] if config else sorted(Path("configs").glob("*.y*ml"))
    for p in cands:
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except Exception as e:  # noqa: BLE001
            if config:
                warnings.append(f"config {p}: unreadable ({e})")
            continue
        if not isinstance(data, dict):
            continue
        if config or (data.get("workdir") and Path(data["workdir"]).resolve() == workdir.resolve()):
            return str(p), data
    return None, None


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    from importlib import metadata

    for pkg in ("winnow", "pyspark", "pyarrow", "pandas", "numpy", "torch", "transformers", "tokenizers",
                "fasttext-community", "datasketch", "matplotlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _seeds(cfg: dict | None, stages: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if cfg and "seed" in cfg:
        out["pipeline"] = cfg["seed"]

    def walk(prefix: str, obj: Any) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                if "seed" in str(k).lower() and not isinstance(v, dict | list):
                    out[f"{prefix}.{k}"] = v
                else:
                    walk(f"{prefix}.{k}", v)

    for s in stages:
        walk(s["name"], s.get("params") or {})
    return out


def _run_info(workdir: Path, cfg_path: str | None, cfg: dict | None, stages: list[dict[str, Any]]) -> dict[str, Any]:
    read = stages[0] if stages else {}
    timings = []
    for s in stages:
        parts = {k.split("/", 1)[1]: v for k, v in (s.get("metrics") or {}).items()
                 if k.startswith("seconds/") and _num(v) is not None}
        rate = (s.get("docs_in") or 0) / s["seconds"] if s.get("seconds") else None
        timings.append({"stage": s["name"], "seconds": s.get("seconds"), "docs_per_s": rate,
                        "finished_at": s.get("finished_at"), "parts": parts})
    spark = {}
    for s in stages:
        if s.get("spark"):
            spark = s["spark"]
    return {
        "workdir": str(workdir),
        "config_file": cfg_path,
        "config": cfg,
        "input_paths": ((cfg or {}).get("input") or {}).get("paths"),
        "input_metrics": {k: v for k, v in (read.get("metrics") or {}).items() if not k.startswith("seconds/")},
        "seeds": _seeds(cfg, stages),
        "winnow_versions": sorted({str(s.get("winnow_version")) for s in stages if s.get("winnow_version")}),
        "versions": _versions(),
        "spark": {"session": spark, "config": (cfg or {}).get("spark")},
        "timings": timings,
        "total_seconds": round(sum(s.get("seconds") or 0 for s in stages), 3),
        "params": {s["name"]: s.get("params") for s in stages},
        "stage_hashes": {s["name"]: s.get("hash") for s in stages},
    }


def collect(workdir: str | Path, runs: list[str | Path] | None = None, config: str | Path | None = None) -> dict[str, Any]:
    """Every figure of the run in ``workdir`` as one JSON-able dict (written as ``report/report.json``)."""
    workdir = Path(workdir)
    warnings: list[str] = []
    dirs, stats = [], []
    for d in stage_dirs(workdir):
        st = _read_json(d / "stats.json", warnings)
        if isinstance(st, dict):
            dirs.append(d)
            stats.append(st)
    if not dirs:
        warnings.append(f"no finished stage (NN-name/stats.json) under {workdir}")
    stages = [_stage_entry(d, st) for d, st in zip(dirs, stats)]
    for s in stages:
        if s.get("histograms") is None:
            warnings.append(f"{s['dir']}: stats.json has no histograms (written by an older runner); "
                            "re-run the stage for its distributions")
        elif "error" in (s.get("histograms") or {}):
            warnings.append(f"{s['dir']}: histograms failed: {s['histograms']['error']}")
    for prev, s in zip(stages, stages[1:]):
        if prev.get("docs_kept") != s.get("docs_in"):
            warnings.append(f"{s['dir']}: docs_in {s.get('docs_in')} != {prev['dir']} kept {prev.get('docs_kept')} "
                            "(stages from different runs?)")
    mix = _find_mix(stages)
    shards = _shards(workdir, warnings)
    cfg_path, cfg = _find_config(workdir, config, warnings)
    rejected_samples, extra_samples = _samples(dirs, stages, warnings)
    first, last = (stages[0], stages[-1]) if stages else ({}, {})
    return {
        "format": FORMAT,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "workdir": str(workdir),
        "summary": {"stages": len(stages), "docs_in": first.get("docs_in"), "chars_in": first.get("chars_in"),
                    "docs_out": last.get("docs_kept"), "chars_out": last.get("chars_kept"),
                    "docs_out_share": _share(last.get("docs_kept") or 0, first.get("docs_in") or 0),
                    "chars_out_share": _share(last.get("chars_kept") or 0, first.get("chars_in") or 0),
                    "tokens_out": sum(v.get("tokens", 0) for v in (shards[0].get("splits") or {}).values())
                    if shards else None,
                    "seconds": round(sum(s.get("seconds") or 0 for s in stages), 3)},
        "stages": stages,
        "funnel": _funnel(stages),
        "reasons": _reasons(stages),
        "by_lang": _by_column(list(zip(stages, stats)), "lang"),
        "by_source": _by_column(list(zip(stages, stats)), "source"),
        "distributions": _distributions(stages, mix),
        "mixture": _mixture(mix, shards),
        "shards": shards,
        "samples": rejected_samples,
        "decontamination": decontamination_summary(stages, rejected_samples),
        "extra_samples": extra_samples,
        "training": _training(workdir, list(runs or []), shards, warnings),
        "run": _run_info(workdir, cfg_path, cfg, stages),
        "warnings": warnings,
        "ablation": ablation_summary(workdir),
    }


# -- the ablation (issue 14) --------------------------------------------------------------------
def ablation_summary(workdir: Path) -> dict[str, Any] | None:
    """The headline of ``winnow ablation``'s result for this workdir's config, when one was run
    (``<workdir>/ablation/report/ablation.json``): per variant the mean ± std bits per byte per
    slice, the decontamination count, and the verdict lines against ``raw``."""
    path = Path(workdir) / "ablation" / "report" / "ablation.json"
    if not path.is_file():
        return None
    try:
        r = json.loads(path.read_text(encoding="utf-8"))
        return {
            "path": str(path), "slices": r["slices"], "seeds": r["seeds"], "budget": r["budget"],
            "model": r["training"]["model"], "raw": r["inputs"]["raw"], "eval_text": r["inputs"]["eval_text"],
            "variants": [{"name": n, "off": v.get("off"), "train_docs": v.get("train_docs"),
                          "decontaminated": (v.get("decontamination") or {}).get("removed_docs"),
                          "bits_per_byte": {s: [x.get("bits_per_byte_mean"), x.get("bits_per_byte_std")]
                                            for s, x in v["summary"].items()}}
                         for n, v in r["variants"].items()],
            "verdicts": [v["line"] for v in r["verdicts"]],
        }
    except (OSError, ValueError, KeyError, TypeError) as e:
        return {"path": str(path), "error": f"unreadable ablation.json: {e}"}


# -- decontamination (issue 17) -------------------------------------------------------------------
MAX_DECONTAM_ITEMS = 20
MAX_DECONTAM_SAMPLES = 5


def _decontam_slot(per: dict[str, dict[str, Any]], b: str) -> dict[str, Any]:
    return per.setdefault(b, {"benchmark": b, "items": None, "items_indexed": None, "grams": None, "items_found": 0,
                              "docs_flagged": 0, "docs_removed": 0, "docs_cut": 0, "docs_partial": 0,
                              "top_items": [], "samples": []})


def decontamination_summary(stages: list[dict[str, Any]], samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per stage that declares the benchmark-contamination family (``contract.metrics.DECONTAM_FLAGGED``)
    and per benchmark: items in the benchmark and found in the corpus (the per-item metrics of the same
    family root), documents flagged / removed / cut / under the threshold, the items found in most
    documents, and the stage's scrubbed rejected samples whose detail names the benchmark."""
    out = []
    for s in stages:
        declared = (s.get("declared") or {}).get("metrics") or {}
        templates = M.templates_for(declared, M.DECONTAM_FLAGGED)
        if not templates:
            continue
        root = templates[0].rsplit("/", 1)[0]  # "decontaminate/{benchmark}"
        metrics = {k: v for k, v in (s.get("metrics") or {}).items() if _num(v) is not None}
        per: dict[str, dict[str, Any]] = {}
        slot = functools.partial(_decontam_slot, per)
        params = s.get("params") or {}
        for b in ((params.get("index") or {}).get("benchmarks") or []):
            if isinstance(b, dict) and b.get("name"):
                slot(str(b["name"])).update({k: b.get(k) for k in ("items", "items_indexed", "grams")})
        item_t = f"{root}/item/{{item}}"
        found: dict[str, list[tuple[str, float]]] = {}
        for name, v in metrics.items():
            m = M.match(item_t, name) if item_t in declared else None
            if m:
                found.setdefault(m["benchmark"], []).append((m["item"], v))
                continue
            for what in ("docs_flagged", "docs_removed", "docs_cut", "docs_partial"):
                m = M.match(f"{root}/{what}", name)
                if m and f"{root}/{what}" in declared:
                    slot(m["benchmark"])[what] = v
        for b, items in found.items():
            sl = slot(b)
            sl["items_found"] = len(items)
            sl["top_items"] = [{"item": i, "docs": v}
                               for i, v in sorted(items, key=lambda kv: (-kv[1], kv[0]))[:MAX_DECONTAM_ITEMS]]
        for grp in samples:
            if grp.get("stage") != s["name"]:
                continue
            for smp in grp.get("samples") or []:
                m = re.search(r"(?:^|\s)benchmark=(\S+)", str(smp.get("reject_detail") or ""))
                if m and m.group(1) in per and len(per[m.group(1)]["samples"]) < MAX_DECONTAM_SAMPLES:
                    per[m.group(1)]["samples"].append(smp)
        for sl in per.values():
            sl["items_found_share"] = _share(sl["items_found"], sl["items"]) if sl["items"] else None
            sl["docs_flagged_share"] = _share(sl["docs_flagged"], s.get("docs_in") or 0)
        cut = next((v for k, v in metrics.items() if k.endswith("/cut_chars") and k.split("/")[0] == root.split("/")[0]),
                   None)
        out.append({"stage": s["name"], "dir": s["dir"], "mode": params.get("mode"),
                    "threshold": params.get("threshold"), "docs_in": s.get("docs_in"), "cut_chars": cut,
                    "index_bytes": (params.get("index") or {}).get("bytes"),
                    "benchmarks": sorted(per.values(), key=lambda x: x["benchmark"])})
    return out
