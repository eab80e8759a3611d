"""The single self-contained HTML page: inline CSS, inline PNG plots, no external resource of any kind
(a Content-Security-Policy forbids every fetch), text escaped. A three-line script records JS errors
into the DOM (``data-js-errors``) and marks the page rendered (``data-rendered``), which the headless
browser test reads back."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from pipeline.report.plots import fmt_count

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1a202c;
background:#f7fafc}
header{background:#1a365d;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header .sub{opacity:.8;font-size:12px}
nav{position:sticky;top:0;background:#edf2f7;border-bottom:1px solid #cbd5e0;padding:6px 24px;z-index:2}
nav a{margin-right:14px;color:#2b6cb0;text-decoration:none;font-size:13px}
main{padding:8px 24px 40px;max-width:1200px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:6px;padding:8px 16px 14px;margin:14px 0}
h2{font-size:17px;margin:8px 0;border-bottom:1px solid #e2e8f0;padding-bottom:4px}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}th,td{padding:3px 8px;border-bottom:1px solid #edf2f7;
text-align:right;vertical-align:top}th{background:#f7fafc;position:relative}td.l,th.l{text-align:left}
.bar{display:inline-block;height:9px;background:#c05621;vertical-align:middle;margin-right:4px}
.kpis{display:flex;flex-wrap:wrap;gap:10px}.kpi{background:#ebf8ff;border-radius:6px;padding:6px 12px}
.kpi b{display:block;font-size:18px}
img.plot{max-width:100%;display:block;margin:8px 0}
pre{background:#f7fafc;border:1px solid #e2e8f0;padding:6px;white-space:pre-wrap;word-break:break-word;
max-height:220px;overflow:auto;font-size:12px;margin:4px 0}
.sample{border-left:3px solid #c05621;padding-left:8px;margin:8px 0}.sample.kept{border-color:#2f855a}
.meta{font-size:12px;color:#4a5568}.meta code{background:#edf2f7;padding:0 3px}
.warn{background:#fffaf0;border-color:#dd6b20}.muted{color:#718096}
details>summary{cursor:pointer;color:#2b6cb0}.tw{overflow-x:auto;max-width:100%}
"""

# Records script errors and marks the page rendered; the browser test reads both back from the DOM.
SCRIPT = """window.__errs=[];function __err(m){window.__errs.push(String(m));
document.documentElement.setAttribute('data-js-errors',window.__errs.join(' | '));}
window.addEventListener('error',function(e){__err(e.message);});
window.addEventListener('unhandledrejection',function(e){__err('unhandled rejection: '+e.reason);});
window.addEventListener('load',function(){document.documentElement.setAttribute('data-rendered','1');});"""
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "base-uri 'none'; form-action 'none'")

SECTIONS = [("summary", "Summary"), ("funnel", "Funnel"), ("rejections", "Rejections"),
            ("languages", "Per language"), ("sources", "Per source"), ("distributions", "Distributions"),
            ("decontamination", "Decontamination"), ("mixture", "Mixture & shards"), ("samples", "Samples"), ("training", "Training"), ("run", "Run")]


def e(x: Any) -> str:
    return escape("" if x is None else str(x))


def pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}%"


def num(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:,.3f}" if abs(x) < 1000 else f"{x:,.0f}"
    return f"{int(x):,}"


def anchor(*parts: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else "_" for ch in str(p)) for p in parts)


def table(head: list[str], rows: list[list[str]], left: int = 1) -> str:
    """``rows`` are already-escaped cell HTML; the first ``left`` columns are left-aligned."""
    th = "".join(f'<th class="{"l" if i < left else ""}">{h}</th>' for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < left else ""}">{c}</td>' for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f'<div class="tw"><table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>'


def img(images: dict[str, str], key: str, alt: str) -> str:
    src = images.get(key)
    return f'<img class="plot" alt="{e(alt)}" data-plot="{e(key)}" src="{src}">' if src else ""


def bar(share: float | None, width: int = 120) -> str:
    w = 0 if share is None else max(1, round(width * min(share, 1.0))) if share > 0 else 0
    return f'<span class="bar" style="width:{w}px"></span>'


def pre_json(obj: Any) -> str:
    return f"<pre>{e(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True, default=str))}</pre>"


# -- sections -------------------------------------------------------------------------------------

def _summary(d: dict[str, Any]) -> str:
    s = d["summary"]
    kpis = [("stages", num(s.get("stages"))), ("documents in", num(s.get("docs_in"))),
            ("documents out", f"{num(s.get('docs_out'))} ({pct(s.get('docs_out_share'))})"),
            ("characters in", fmt_count(s.get("chars_in"))),
            ("characters out", f"{fmt_count(s.get('chars_out'))} ({pct(s.get('chars_out_share'))})"),
            ("stage time", f"{s.get('seconds') or 0:.1f}s")]
    if s.get("tokens_out"):
        kpis.append(("tokens in shards", fmt_count(s["tokens_out"])))
    html = '<div class="kpis">' + "".join(f'<div class="kpi"><b>{v}</b>{e(k)}</div>' for k, v in kpis) + "</div>"
    if d.get("warnings"):
        html += "<h3>Warnings</h3><ul>" + "".join(f"<li>{e(w)}</li>" for w in d["warnings"]) + "</ul>"
    return html


def _funnel(d: dict[str, Any], images: dict[str, str]) -> str:
    rows = d["funnel"]
    has_tok = any(r.get("tokens_in") is not None for r in rows)
    head = ["stage", "docs in", "docs kept", "docs rejected", "kept", "chars in", "chars kept", "chars rejected",
            "kept", "docs left of input"]
    if has_tok:
        head += ["tokens in", "tokens kept"]
    head += ["seconds"]
    out = []
    for r in rows:
        row = [e(r["dir"]), num(r["docs_in"]), num(r["docs_kept"]), num(r["docs_rejected"]), pct(r["docs_kept_share"]),
               num(r["chars_in"]), num(r["chars_kept"]), num(r["chars_rejected"]), pct(r["chars_kept_share"]),
               bar(r["docs_left_of_input"]) + pct(r["docs_left_of_input"])]
        if has_tok:
            row += [num(r.get("tokens_in")), num(r.get("tokens_kept"))]
        row += [num(r.get("seconds"))]
        out.append(row)
    return img(images, "funnel", "funnel") + table(head, out)


def _rejections(d: dict[str, Any], images: dict[str, str]) -> str:
    rows = [[e(r["stage"]), f'<a href="#{anchor("s", r["stage"], r["reason"])}">{e(r["reason"])}</a>', num(r["docs"]),
             bar(r["docs_share"]) + pct(r["docs_share"], 2), num(r["chars"]), pct(r["chars_share"], 2)]
            for r in d["reasons"]]
    if not rows:
        return '<p class="muted">No document was rejected.</p>'
    return img(images, "reasons", "rejections per reason") + \
        table(["stage", "reason", "docs", "share of stage docs", "chars", "share of stage chars"], rows, left=2)


def _by_column(rows: list[dict[str, Any]], col: str, open_details: bool) -> str:
    """A matrix (values of ``col`` x stages: documents rejected and their share of the group's input),
    then per stage the groups that lost documents, one column per reason."""
    stages: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        stages.setdefault(r["stage"], []).append(r)
    if not stages:
        return f'<p class="muted">No stage recorded a {e(col)} column.</p>'
    names = list(stages)
    order: dict[str, int] = {}
    for n in names:
        for g in stages[n]:
            order.setdefault(g[col], g["docs_in"])
    cells = {(n, g[col]): g for n in names for g in stages[n]}
    body = []
    for v in sorted(order, key=lambda v: -order[v]):
        row = [e(v), num(order[v])]
        for n in names:
            g = cells.get((n, v))
            lost = sum(x["docs"] for x in g["rejected"].values()) if g else 0
            row.append(f'{num(lost)} <span class="muted">({pct(lost / g["docs_in"] if g["docs_in"] else None)})</span>'
                       if lost else ("" if g else '<span class="muted">·</span>'))
        last = cells.get((names[-1], v))
        kept = last["docs_kept"] if last else 0
        row.append(bar(kept / order[v] if order[v] else None, 60) + pct(kept / order[v] if order[v] else None))
        body.append(row)
    parts = ['<p class="meta">Documents each stage rejected per ' + e(col) + ' (share of that group\'s input to '
             "the stage); the last column is the share of the group's documents left after the last stage.</p>",
             table([e(col), "docs in"] + [e(n) for n in names] + ["left at end"], body)]
    for n in names:
        grp = [g for g in stages[n] if g["rejected"]]
        reasons = sorted({k for g in grp for k in g["rejected"]})
        if not reasons:
            continue
        head = [e(col), "docs in", "kept"] + [e(x) for x in reasons]
        detail = []
        for g in grp:
            cells_ = [e(g[col]), num(g["docs_in"]), pct(g["docs_kept_share"])]
            for x in reasons:
                v = g["rejected"].get(x)
                cells_.append(f'{num(v["docs"])} <span class="muted">({pct(v["docs_share"])})</span>' if v else "")
            detail.append(cells_)
        parts.append(f'<details{" open" if open_details else ""}><summary>{e(n)}: rejections per reason and '
                     f"{e(col)} ({len(grp)} of {len(stages[n])} groups lost documents)</summary>"
                     + table(head, detail) + "</details>")
    return "".join(parts)


def _distributions(d: dict[str, Any], images: dict[str, str]) -> str:
    dist = d["distributions"]
    parts = []
    length = dist.get("length") or {}
    if images.get("length"):
        parts.append("<h3>Document length</h3>" + img(images, "length", "document length"))
        qrows = []
        for s in length.get("series", []):
            st = s.get("stats") or {}
            qrows.append([e(s["label"]), num(st.get("n")), num(st.get("p10")), num(st.get("p50")), num(st.get("p90")),
                          num(st.get("max"))])
        for r in length.get("rejected_by_stage", []):
            qrows.append([e(f"rejected by {r['stage']}"), num(r.get("n")), num(r.get("p10")), num(r.get("p50")),
                          num(r.get("p90")), ""])
        parts.append(table(["documents", "n", "p10", "median", "p90", "max"], qrows))
    for key, title in (("lang_score", "Language-ID confidence"), ("quality_score", "Quality score"),
                       ("domain_score", "Domain score")):
        if images.get(key):
            parts.append(f"<h3>{title}</h3>" + img(images, key, title))
    if images.get("domain"):
        parts.append("<h3>Domain shares</h3>" + img(images, "domain", "domain shares"))
    if images.get("cluster_sizes"):
        cs = dist["cluster_sizes"]
        parts.append(f"<h3>MinHash cluster sizes <span class='muted'>({e(cs['stage'])})</span></h3>"
                     + img(images, "cluster_sizes", "cluster sizes"))
    if images.get("pii"):
        p = dist["pii"]
        parts.append(f"<h3>PII per type <span class='muted'>({e(p['stage'])}, {e(p['source'])})</span></h3>"
                     + img(images, "pii", "PII counts"))
        if p.get("in_columns"):
            rows = "".join(f"<tr><td>{e(col)}</td><td>{e(t)}</td><td>{int(n):,}</td></tr>"
                           for col, counts in p["in_columns"].items() for t, n in counts.items())
            parts.append("<p>PII found outside the text (replaced; an id becomes its pseudonym):</p>"
                         f"<table class='pii-columns'><tr><th>column</th><th>type</th><th>found</th></tr>{rows}</table>")
    missing = [n for n, k in (("lang_score", "lang_score"), ("quality_score", "quality_score"), ("domain", "domain"),
                              ("MinHash cluster sizes", "cluster_sizes"), ("PII counts", "pii")) if not images.get(k)]
    if missing:
        parts.append(f'<p class="muted">Not in this run: {e(", ".join(missing))}.</p>')
    return "".join(parts) or '<p class="muted">No distributions recorded.</p>'


def _mixture(d: dict[str, Any], images: dict[str, str]) -> str:
    m = d.get("mixture") or {}
    parts = []
    if m.get("groups"):
        parts.append(img(images, "mixture", "mixture") + table(
            ["group", "target share", "achieved share", "achieved - target"],
            [[e(g["group"]), pct(g.get("target"), 2), pct(g.get("achieved"), 2),
              "-" if g.get("error") is None else f"{100 * g['error']:+.2f} pp"] for g in m["groups"]]))
    if images.get("repeats"):
        parts.append("<h3>Repeats</h3>" + img(images, "repeats", "repeats"))
    if m.get("other_metrics"):
        parts.append("<h3>Mix stage metrics</h3>" + table(["metric", "value"], [[e(k), num(v)] for k, v in
                                                                                 m["other_metrics"].items()]))
    if m.get("manifest"):
        parts.append(f"<h3>Recipe in {e(m['manifest']['path'])}</h3>" + pre_json(
            {"recipe": m["manifest"].get("recipe"), "achieved": m["manifest"].get("achieved")}))
    for sh in d.get("shards") or []:
        rows = [[e(split), num(v["shards"]), num(v["docs"]), num(v["tokens"])] for split, v in sh["splits"].items()]
        tok = sh.get("tokenizer") or {}
        parts.append(f"<h3>Shards: {e(sh['path'])}</h3>" + table(["split", "shards", "docs", "tokens"], rows)
                     + f'<p class="meta">dtype {e(", ".join(sh["dtypes"]))}; complete: {e(sh["complete"])}; tokenizer '
                       f'<code>{e(tok.get("path"))}</code> vocab {e(tok.get("vocab_size"))}, sha256 '
                       f'<code>{e(str(tok.get("sha256") or "")[:16])}</code></p>')
    return "".join(parts) or '<p class="muted">No mix stage or shard manifest in this run.</p>'


def _sample_block(s: dict[str, Any], kept: bool = False) -> str:
    meta = [f"<code>{e(s.get('id'))}</code>"]
    for k in ("source", "lang", "domain"):
        if s.get(k) is not None:
            meta.append(f"{k} {e(s[k])}")
    detail = s.get("reject_detail", s.get("detail"))
    if detail not in (None, ""):
        meta.append(f"statistic <b>{e(detail)}</b>")
    if s.get("truncated"):
        meta.append("truncated")
    return (f'<div class="sample{" kept" if kept else ""}"><div class="meta">{" · ".join(meta)}</div>'
            f"<pre>{e(s.get('text'))}</pre></div>")


def _samples(d: dict[str, Any]) -> str:
    parts = []
    for grp in d.get("samples") or []:
        sid = anchor("s", grp["stage"], grp["reason"])
        body = "".join(_sample_block(s) for s in grp["samples"]) or \
            '<p class="muted">No sample written for this reason.</p>'
        parts.append(f'<div class="reason-samples" id="{sid}" data-stage="{e(grp["stage"])}" '
                     f'data-reason="{e(grp["reason"])}"><h3>{e(grp["stage"])}: {e(grp["reason"])} '
                     f'<span class="muted">({num(grp["docs"])} docs, {pct(grp.get("docs_share"))} of stage input; '
                     f'{len(grp["samples"])} shown)</span></h3>{body}</div>')
    for grp in d.get("extra_samples") or []:
        body = "".join(_sample_block(s, kept=True) for s in grp["samples"]) or '<p class="muted">empty</p>'
        parts.append(f'<div class="extra-samples" data-stage="{e(grp["stage"])}" data-file="{e(grp["file"])}">'
                     f'<h3>{e(grp["stage"])}: {e(grp["title"])} <span class="muted">({e(grp["file"])})</span></h3>'
                     f"{body}</div>")
    if not parts:
        return '<p class="muted">No rejected documents, so no samples.</p>'
    return ('<p class="meta">Rejected documents per reason with the statistic that triggered the rule; texts are '
            "PII-scrubbed and truncated.</p>" + "".join(parts))


def _training(d: dict[str, Any], images: dict[str, str]) -> str:
    runs = d.get("training") or []
    if not runs:
        return ('<p class="muted">No training run found (looked for <code>train*/metrics.jsonl</code> in the '
                "workdir; pass <code>--runs DIR</code>).</p>")
    rows = []
    for r in runs:
        s = r.get("summary") or {}
        last = r["train"][-1] if r.get("train") else {}
        rows.append([e(r["dir"]), e(r.get("points_at_workdir")), num(last.get("step")), num(last.get("tokens")),
                     num(last.get("loss")), num(s.get("initial_val_ppl")), num(s.get("final_val_ppl"))])
    return img(images, "training", "training curves") + table(
        ["run", "uses these shards", "steps", "tokens", "last loss", "val ppl start", "val ppl end"], rows)


def _run(d: dict[str, Any]) -> str:
    r = d["run"]
    t = [[e(x["stage"]), num(x["seconds"]), num(x["docs_per_s"]), e(x["finished_at"]),
          e(", ".join(f"{k} {v:.2f}s" for k, v in sorted(x["parts"].items(), key=lambda kv: -kv[1])[:6]))]
         for x in r["timings"]]
    parts = [f'<p class="meta">workdir <code>{e(r["workdir"])}</code>; config '
             f'<code>{e(r["config_file"] or "not found (pass --config)")}</code>; input paths '
             f'<code>{e(", ".join(map(str, r["input_paths"] or [])) or "-")}</code>; Winnow '
             f'{e(", ".join(r["winnow_versions"]))}</p>',
             "<h3>Timings</h3>" + table(["stage", "seconds", "docs/s", "finished", "slowest parts"], t, left=1),
             "<h3>Seeds</h3>" + (table(["where", "seed"], [[e(k), e(v)] for k, v in r["seeds"].items()])
                                 if r["seeds"] else '<p class="muted">none recorded</p>'),
             "<h3>Spark</h3>" + pre_json(r["spark"]),
             "<h3>Versions (report built with)</h3>" + table(["package", "version"],
                                                             [[e(k), e(v)] for k, v in r["versions"].items()]),
             "<h3>Input</h3>" + pre_json(r["input_metrics"]),
             "<details><summary>Stage parameters</summary>" + pre_json(r["params"]) + "</details>",
             "<details><summary>Pipeline config</summary>" + pre_json(r["config"]) + "</details>"]
    return "".join(parts)


def render(data: dict[str, Any], images: dict[str, str]) -> str:
    body = {
        "summary": _summary(data),
        "funnel": _funnel(data, images),
        "rejections": _rejections(data, images),
        "languages": _by_column(data.get("by_lang") or [], "lang", open_details=True),
        "sources": _by_column(data.get("by_source") or [], "source", open_details=False),
        "distributions": _distributions(data, images),
        "decontamination": decontamination_section(data),
        "mixture": _mixture(data, images),
        "samples": _samples(data),
        "training": _training(data, images),
        "run": _run(data),
    }
    nav = "".join(f'<a href="#{k}">{t}</a>' for k, t in SECTIONS)
    sections = "".join(f'<section id="{k}"><h2>{t}</h2>{body[k]}</section>' for k, t in SECTIONS)
    sections += ablation_section(data)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>Winnow run report: {e(data['workdir'])}</title><style>{CSS}</style>"
            f"<script>{SCRIPT}</script></head><body>"
            f"<header><h1>Winnow run report</h1><div class='sub'>{e(data['workdir'])} · generated "
            f"{e(data['generated_at'])} · report.json beside this page</div></header>"
            f"<nav>{nav}</nav><main>{sections}</main></body></html>")


# -- the ablation (issue 14) --------------------------------------------------------------------
def ablation_section(data: dict[str, Any]) -> str:
    """A section with ``winnow ablation``'s table and verdicts; empty when no ablation was run."""
    a = data.get("ablation")
    if not a:
        return ""
    if a.get("error"):
        return f'<section id="ablation"><h2>Ablation</h2><p class="muted">{e(a["error"])}</p></section>'

    def cell(v: list[Any] | None) -> str:
        if not v or v[0] is None:
            return "-"
        return f"{v[0]:.4f}" + (f" ± {v[1]:.4f}" if v[1] is not None else "")

    rows = [[e(v["name"]), e(v["off"] or "-"), num(v["train_docs"]), num(v["decontaminated"])]
            + [cell(v["bits_per_byte"].get(s)) for s in a["slices"]] for v in a["variants"]]
    b = a["budget"]
    return (f'<section id="ablation"><h2>Ablation</h2><p class="meta">{e(a["model"])} trained on each variant '
            f'for {num(b["train_tokens"])} tokens, seeds {e(a["seeds"])}; bits per byte on '
            f'<code>{e(", ".join(a["eval_text"]))}</code> (mean ± std; lower is better); full report: '
            f'<code>{e(a["path"])}</code></p>'
            + table(["variant", "decision off", "train docs", "decontaminated"] + [f"{s} bits/byte" for s in a["slices"]],
                    rows)
            + "<ul>" + "".join(f"<li>{e(v)}</li>" for v in a["verdicts"]) + "</ul></section>")


# -- decontamination (issue 17) -------------------------------------------------------------------
def decontamination_section(data: dict[str, Any]) -> str:
    """Per decontamination stage and benchmark: items found, documents removed or cut, the items found
    most often and scrubbed samples of the removed documents."""
    stages = data.get("decontamination") or []
    if not stages:
        return '<p class="muted">No decontamination stage in this run.</p>'
    parts = []
    for st in stages:
        cut = st.get("mode") == "cut"
        rows = [[e(b["benchmark"]), num(b["items"]), num(b["items_found"]), pct(b.get("items_found_share")),
                 num(b["docs_flagged"]), num(b["docs_removed"]), num(b["docs_cut"]), num(b["docs_partial"])]
                for b in st["benchmarks"]]
        parts.append(
            f'<div class="decontam-stage" data-stage="{e(st["stage"])}"><p class="meta">{e(st["dir"])}: mode '
            f'<b>{e(st.get("mode"))}</b>, threshold {e(st.get("threshold"))} (share of an item\'s n-grams found in '
            f"one document); {num(st.get('docs_in'))} documents in"
            + (f"; {num(st.get('cut_chars'))} characters cut out of kept documents" if cut else "")
            + (f"; n-gram index {fmt_count(st.get('index_bytes'))}B" if st.get("index_bytes") else "") + "</p>"
            + table(["benchmark", "items", "items found in corpus", "share of items", "documents flagged",
                     "removed", "cut (kept)", "under threshold"], rows) + "</div>")
        for b in st["benchmarks"]:
            top = ", ".join(f"<code>{e(t['item'])}</code> ({num(t['docs'])})" for t in b["top_items"])
            smp = "".join(_sample_block(x) for x in b["samples"])
            parts.append(
                f'<div class="decontam-benchmark" data-stage="{e(st["stage"])}" data-benchmark="{e(b["benchmark"])}">'
                f'<h3>{e(b["benchmark"])} <span class="muted">({num(b["items_found"])} of {num(b["items"])} items found; '
                f'{num(b["docs_flagged"])} documents flagged, {pct(b.get("docs_flagged_share"), 3)} of stage input)'
                f"</span></h3>"
                + (f'<p class="meta">items found (documents): {top}</p>' if top else
                   '<p class="muted">No item of this benchmark was found.</p>')
                + (f"<details><summary>{len(b['samples'])} removed documents (scrubbed, truncated)</summary>{smp}"
                   "</details>" if smp else "") + "</div>")
    return "".join(parts)
