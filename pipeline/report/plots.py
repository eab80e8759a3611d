"""The report's plots: matplotlib (Agg, no display), returned as ``data:image/png;base64,...`` URIs so the
page embeds them and needs no other file. Each function takes a section of ``collect()``'s dict and
returns None when there is nothing to draw."""

from __future__ import annotations

import base64
import io
import math
import warnings
from typing import Any

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402  (after the backend is chosen)

COLORS = ["#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#4a5568", "#d69e2e", "#319795"]
DPI = 96


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. a glyph missing from the default font
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _fig(w: float = 8.0, h: float = 3.6) -> tuple[Figure, Any]:
    fig = Figure(figsize=(w, h))
    ax = fig.add_subplot(111)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", alpha=0.3)
    return fig, ax


def fmt_count(x: float | None) -> str:
    if x is None:
        return "-"
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:.1f}{unit}"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.3g}"


def edge_label(edges: list[float], i: int) -> str:
    lo, hi = edges[i], edges[i + 1]
    if i == len(edges) - 2 and hi != 1.0:
        return f"≥{fmt_count(lo)}"
    if hi - lo == 1 and float(lo).is_integer():
        return fmt_count(lo)
    return f"{fmt_count(lo)}–{fmt_count(hi)}" if hi > 1 or lo >= 1 else f"{lo:.2f}"


def funnel(rows: list[dict[str, Any]]) -> str | None:
    if not rows:
        return None
    fig = Figure(figsize=(9, 3.4))
    names = [r["stage"] for r in rows]
    for k, (key, title) in enumerate((("docs", "documents"), ("chars", "characters"))):
        ax = fig.add_subplot(1, 2, k + 1)
        ax.spines[["top", "right"]].set_visible(False)
        start = rows[0].get(f"{key}_in") or 0
        vals = [start] + [r.get(f"{key}_kept") or 0 for r in rows]
        labels = ["input"] + names
        ax.bar(range(len(vals)), vals, color=[COLORS[5]] + [COLORS[k]] * len(rows))
        for i, v in enumerate(vals):
            pct = f"\n{100 * v / start:.0f}%" if start else ""
            ax.text(i, v, fmt_count(v) + pct, ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(vals)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{title} left after each stage", fontsize=10)
        ax.set_ylim(0, max(vals + [1]) * 1.25)
    fig.tight_layout()
    return _png(fig)


def reasons(rows: list[dict[str, Any]], top: int = 30) -> str | None:
    rows = sorted((r for r in rows if r.get("docs")), key=lambda r: -r["docs"])[:top]
    if not rows:
        return None
    fig, ax = _fig(8, 0.3 * len(rows) + 1.2)
    ax.grid(axis="x", alpha=0.3)
    ax.grid(axis="y", visible=False)
    labels = [f"{r['stage']}: {r['reason']}" for r in rows][::-1]
    vals = [r["docs"] for r in rows][::-1]
    stages = sorted({r["stage"] for r in rows})
    colors = [COLORS[stages.index(r["stage"]) % len(COLORS)] for r in rows][::-1]
    ax.barh(range(len(vals)), vals, color=colors)
    for i, (v, r) in enumerate(zip(vals, rows[::-1])):
        share = f" ({100 * r['docs_share']:.1f}% of stage input)" if r.get("docs_share") is not None else ""
        ax.text(v, i, " " + fmt_count(v) + share, va="center", fontsize=7)
    ax.set_yticks(range(len(vals)), labels, fontsize=8)
    ax.set_xlabel("documents rejected")
    ax.set_xlim(0, max(vals) * 1.5)
    ax.set_title("documents rejected per reason", fontsize=10)
    return _png(fig)


def histogram(section: dict[str, Any] | None, title: str) -> str | None:
    """Overlaid bar histograms (share of each series' documents per fixed bin)."""
    series = [s for s in (section or {}).get("series", []) if sum(s.get("counts") or [])]
    if not series:
        return None
    edges = series[0]["edges"]
    n = len(edges) - 1
    used = [i for i in range(n) if any(s["counts"][i] for s in series if len(s["counts"]) == n)]
    lo, hi = (min(used), max(used)) if used else (0, n - 1)
    idx = list(range(lo, hi + 1))
    fig, ax = _fig(8, 3.4)
    width = 0.8 / len(series)
    for k, s in enumerate(series):
        total = sum(s["counts"])
        vals = [s["counts"][i] / total for i in idx]
        ax.bar([j + (k - (len(series) - 1) / 2) * width for j in range(len(idx))], vals, width=width,
               color=COLORS[k % len(COLORS)], label=f"{s['label']} ({fmt_count(total)} docs)")
    step = max(1, math.ceil(len(idx) / 14))
    ax.set_xticks(range(0, len(idx), step), [edge_label(edges, i) for i in idx][::step], rotation=30, ha="right",
                  fontsize=8)
    ax.set_xlabel(section.get("xlabel", ""))
    ax.set_ylabel("share of documents")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    return _png(fig)


def grouped_bars(categories: list[str], series: list[tuple[str, list[float | None]]], title: str, ylabel: str,
                 percent: bool = False) -> str | None:
    if not categories or not series:
        return None
    fig, ax = _fig(max(6.0, 0.6 * len(categories) * max(1, len(series)) + 2), 3.4)
    width = 0.8 / len(series)
    for k, (label, vals) in enumerate(series):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(categories))]
        ys = [v or 0 for v in vals]
        ax.bar(xs, ys, width=width, label=label, color=COLORS[k % len(COLORS)])
        for x, v in zip(xs, vals):
            if v is not None:
                ax.text(x, v, f"{100 * v:.1f}%" if percent else fmt_count(v), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(categories)), categories, rotation=30 if len(categories) > 4 else 0,
                  ha="right" if len(categories) > 4 else "center", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    top = max((v or 0) for _, vals in series for v in vals) or 1
    ax.set_ylim(0, top * 1.2)
    if len(series) > 1:
        ax.legend(fontsize=8, frameon=False)
    return _png(fig)


def domain_shares(section: dict[str, Any] | None) -> str | None:
    if not section:
        return None
    cats = sorted({k for s in section["series"] for k in s["shares"]})
    return grouped_bars(cats, [(s["label"], [s["shares"].get(c, 0.0) for c in cats]) for s in section["series"]],
                        f"domain shares ({section['unit']})", f"share of {section['unit']}", percent=True)


def counts_bar(counts: dict[str, float] | None, title: str, ylabel: str) -> str | None:
    if not counts:
        return None
    return grouped_bars(list(counts), [("", list(counts.values()))], title, ylabel)


def pii_bars(section: dict[str, Any] | None) -> str | None:
    """Findings per type: the text's, and beside them those in id, source and meta when there are any."""
    section = section or {}
    text, columns = section.get("counts") or {}, section.get("in_columns") or {}
    if not columns:
        return counts_bar(text, "PII found per type", "count")
    types = sorted({*text, *(t for c in columns.values() for t in c)})
    series = [("text", [text.get(t, 0) for t in types])]
    series += [(col, [counts.get(t, 0) for t in types]) for col, counts in columns.items()]
    return grouped_bars(types, series, "PII found per type and column", "count")


def mixture(section: dict[str, Any] | None) -> str | None:
    groups = (section or {}).get("groups") or []
    if not groups:
        return None
    cats = [g["group"] for g in groups]
    return grouped_bars(cats, [("target", [g.get("target") for g in groups]),
                               ("achieved", [g.get("achieved") for g in groups])],
                        "token share per group: target vs achieved", "share of tokens", percent=True)


def training(runs: list[dict[str, Any]]) -> str | None:
    runs = [r for r in runs if r.get("train") or r.get("eval")]
    if not runs:
        return None
    fig = Figure(figsize=(9, 3.4))
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for ax in (ax1, ax2):
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(alpha=0.3)
    for k, r in enumerate(runs):
        c = COLORS[k % len(COLORS)]
        name = r["dir"].rstrip("/").rsplit("/", 1)[-1]
        if r.get("train"):
            ax1.plot([p["step"] for p in r["train"]], [p["loss"] for p in r["train"]], color=c, lw=1,
                     label=f"{name} train")
        ev = [p for p in r.get("eval") or [] if p.get("val_loss") is not None]
        if ev:
            ax1.plot([p["step"] for p in ev], [p["val_loss"] for p in ev], "o--", color=c, ms=3, lw=1,
                     label=f"{name} validation")
        pp = [p for p in r.get("eval") or [] if p.get("val_ppl") is not None]
        if pp:
            ax2.plot([p["step"] for p in pp], [p["val_ppl"] for p in pp], "o-", color=c, ms=3, lw=1, label=name)
    ax1.set_title("loss", fontsize=10)
    ax1.set_xlabel("step")
    ax1.legend(fontsize=7, frameon=False)
    ax2.set_title("validation perplexity", fontsize=10)
    ax2.set_xlabel("step")
    if ax2.lines:
        ax2.set_yscale("log")
        ax2.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return _png(fig)


def make_all(data: dict[str, Any]) -> dict[str, str]:
    """Every plot the data supports, by name."""
    d = data.get("distributions") or {}
    out = {
        "funnel": funnel(data.get("funnel") or []),
        "reasons": reasons(data.get("reasons") or []),
        "length": histogram(d.get("length"), "document length (characters)"),
        "lang_score": histogram(d.get("lang_score"), "language-ID confidence (lang_score)"),
        "quality_score": histogram(d.get("quality_score"), "quality_score"),
        "domain_score": histogram(d.get("domain_score"), "domain_score"),
        "domain": domain_shares(d.get("domain")),
        "cluster_sizes": counts_bar((d.get("cluster_sizes") or {}).get("counts"), "near-duplicate cluster sizes",
                                    "clusters"),
        "pii": pii_bars(d.get("pii")),
        "mixture": mixture(data.get("mixture")),
        "repeats": counts_bar((data.get("mixture") or {}).get("repeats"), "documents per repeat count", "documents"),
        "training": training(data.get("training") or []),
    }
    return {k: v for k, v in out.items() if v}
