"""The ablation's outputs: summary statistics, verdicts against ``raw``, the table and the plot.

``<out>/report/``: ``ablation.json`` (variant x seed x slice), ``ablation.md`` (the table and the
verdicts), ``index.html`` (the same, self-contained, plot inlined) and ``ablation.png`` (mean ± std
of bits per byte per variant and slice).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from pathlib import Path
from typing import Any

# |difference| in units of the seeds' standard deviation above which a verdict calls it real
SIGNIFICANT_SD = 2.0


def mean_std(xs: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (n - 1); std None with fewer than two values."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return None, None
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, None
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def summarize(seed_results: dict[str, dict[str, Any]], slices: list[str]) -> dict[str, dict[str, Any]]:
    """Per slice: mean and std over seeds of bits per byte and nats per token."""
    out: dict[str, dict[str, Any]] = {}
    for s in slices:
        bpb = [r["slices"][s]["bits_per_byte"] for r in seed_results.values() if s in r["slices"]]
        npt = [r["slices"][s]["nats_per_token"] for r in seed_results.values() if s in r["slices"]]
        mb, sb = mean_std(bpb)
        mn, sn = mean_std(npt)
        out[s] = {"bits_per_byte_mean": _r(mb), "bits_per_byte_std": _r(sb), "nats_per_token_mean": _r(mn),
                  "nats_per_token_std": _r(sn), "seeds": len([x for x in bpb if x is not None])}
    return out


def _r(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else round(x, digits)


def verdict(name: str, summary: dict[str, Any], raw: dict[str, Any], slice_: str = "total") -> dict[str, Any]:
    """``name`` against ``raw`` on one slice: the difference in bits per byte (negative: better than
    raw) and in units of the seeds' pooled standard deviation sqrt((sd_v^2 + sd_raw^2) / 2)."""
    v, r = summary.get(slice_) or {}, raw.get(slice_) or {}
    mv, mr = v.get("bits_per_byte_mean"), r.get("bits_per_byte_mean")
    if mv is None or mr is None:
        return {"variant": name, "slice": slice_, "delta_bpb": None, "sd": None, "delta_in_sd": None,
                "call": "no data", "line": f"{name}: no {slice_} evaluation data"}
    delta = mv - mr
    sv, sr = v.get("bits_per_byte_std"), r.get("bits_per_byte_std")
    sd = math.sqrt((sv ** 2 + sr ** 2) / 2) if sv is not None and sr is not None else None
    z = delta / sd if sd else None
    if z is None:
        call = "better" if delta < 0 else "worse" if delta > 0 else "equal"
        call += " (one seed: no spread to judge)" if sd is None else " (no spread between seeds)"
        sd_txt = "seeds' sd n/a"
    else:
        call = ("better" if delta < 0 else "worse") if abs(z) >= SIGNIFICANT_SD else "within noise"
        sd_txt = f"{z:+.1f} sd of the seeds (sd {sd:.4f})"
    by_slice = {s: _r(x["bits_per_byte_mean"] - raw[s]["bits_per_byte_mean"]) for s, x in summary.items()
                if s != slice_ and s in raw and x.get("bits_per_byte_mean") is not None
                and raw[s].get("bits_per_byte_mean") is not None}
    line = (f"{name} vs raw: {delta:+.4f} bits/byte on {slice_} ({mv:.4f} vs {mr:.4f}; {sd_txt}) -> {call}"
            + (f"; by slice {', '.join(f'{s} {d:+.4f}' for s, d in by_slice.items())}" if by_slice else ""))
    return {"variant": name, "slice": slice_, "delta_bpb": _r(delta), "sd": _r(sd),
            "delta_in_sd": None if z is None else round(z, 3), "call": call, "delta_bpb_by_slice": by_slice,
            "line": line}


# -- files ---------------------------------------------------------------------------------------
def _fmt(m: float | None, s: float | None) -> str:
    if m is None:
        return "-"
    return f"{m:.4f}" + (f" ± {s:.4f}" if s is not None else "")


def table_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    slices = result["slices"]
    head = ["variant", "off", "train docs", "unique tokens", "decontaminated"] + \
           [f"{s} bits/byte" for s in slices] + ["total nats/token"]
    rows = []
    for name, v in result["variants"].items():
        sm = v["summary"]
        rows.append([name, v["off"] or "-", f"{v['train_docs']:,}", f"{v['unique_tokens']:,}",
                     str(v["decontamination"]["removed_docs"])]
                    + [_fmt(sm[s]["bits_per_byte_mean"], sm[s]["bits_per_byte_std"]) for s in slices]
                    + [_fmt(sm["total"]["nats_per_token_mean"], sm["total"]["nats_per_token_std"])])
    return head, rows


def markdown(result: dict[str, Any], png_name: str | None) -> str:
    head, rows = table_rows(result)
    b = result["budget"]
    lines = [f"# Ablation: {result['config']['name']}", "",
             f"Raw corpus `{', '.join(result['inputs']['raw'])}`; evaluation text "
             f"`{', '.join(result['inputs']['eval_text'])}` ({result['eval']['docs']} documents). "
             f"Every variant trains `{result['training']['model']}` for {b['train_tokens']:,} tokens "
             f"({b['steps']} steps of {b['tokens_per_step']:,}) on at most {b['unique_tokens_per_variant']:,} "
             f"unique tokens (repeats {b['repeats']}); seeds {result['seeds']}. "
             "Bits per byte: lower is better; mean ± std over seeds.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", "## Verdicts (total, against raw)", ""] + [f"- {v['line']}" for v in result["verdicts"]]
    if png_name:
        lines += ["", f"![bits per byte per variant and slice]({png_name})"]
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    slices = result["slices"]
    names = list(result["variants"])
    fig, axes = plt.subplots(1, len(slices), figsize=(3.2 * len(slices) + 1, 3.8), squeeze=False)
    colors = ["#94a3b8" if n == "raw" else "#2563eb" if n == "full" else "#f59e0b" for n in names]
    for ax, s in zip(axes[0], slices):
        means = [result["variants"][n]["summary"][s]["bits_per_byte_mean"] for n in names]
        stds = [result["variants"][n]["summary"][s]["bits_per_byte_std"] or 0.0 for n in names]
        xs = list(range(len(names)))
        for x, m, sd, c in zip(xs, means, stds, colors):
            if m is not None:  # a point with its spread: bars on a cut axis would exaggerate
                ax.errorbar([x], [m], yerr=[sd], fmt="o", color=c, ecolor=c, capsize=4, markersize=6)
        vals = [m for m in means if m is not None]
        if vals:
            lo, hi = min(vals), max(vals)
            pad = max((hi - lo) * 0.3, max(stds) * 1.5, 0.01)
            ax.set_ylim(lo - pad, hi + pad)
        if "raw" in names and means[names.index("raw")] is not None:
            ax.axhline(means[names.index("raw")], color="#94a3b8", lw=0.8, ls="--")
        ax.set_xlim(-0.5, len(names) - 0.5)
        ax.set_xticks(xs, names, rotation=45, ha="right", fontsize=8)
        ax.set_title(s)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("bits per byte (mean ± std over seeds)")
    fig.suptitle(f"{result['training']['model']}, {result['budget']['train_tokens']:,} tokens per run, "
                 f"{len(result['seeds'])} seed(s)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def html_page(result: dict[str, Any], png: Path | None) -> str:
    head, rows = table_rows(result)
    e = html.escape
    img = ""
    if png is not None and png.exists():
        img = f'<img alt="bits per byte per variant" src="data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}">'
    t = ("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"
         + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows) + "</table>")
    verdicts = "<ul>" + "".join(f"<li>{e(v['line'])}</li>" for v in result["verdicts"]) + "</ul>"
    md = markdown(result, None).split("\n")[2]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Winnow ablation</title><style>"
            "body{font:14px system-ui,sans-serif;margin:24px;color:#0f172a}table{border-collapse:collapse}"
            "td,th{border:1px solid #cbd5e1;padding:3px 8px;text-align:right}td:first-child{text-align:left}"
            "img{max-width:100%}</style></head><body>"
            f"<h1>Ablation: {e(result['config']['name'])}</h1><p>{e(md)}</p>{t}<h2>Verdicts</h2>{verdicts}{img}"
            "</body></html>")


def write_report(result: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    png = plot(result, out_dir / "ablation.png")
    files = {"json": out_dir / "ablation.json", "markdown": out_dir / "ablation.md", "html": out_dir / "index.html"}
    _write(files["json"], json.dumps(result, indent=1, ensure_ascii=False, sort_keys=False) + "\n")
    _write(files["markdown"], markdown(result, png.name if png else None))
    _write(files["html"], html_page(result, png))
    if png:
        files["png"] = png
    return files


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
