"""``winnow calibrate``: propose rule thresholds from a corpus you trust (FineWeb2-style).

    winnow calibrate --trusted data/trusted/ [--junk data/junk.jsonl] [--preset en] [--keep 0.99]
                     [--out calibration/] [--name en_calibrated] [--script Hans|Hant] [--convert s2twp]

Reads the trusted corpus (and optionally a junk corpus) like a pipeline does (jsonl, jsonl.gz,
jsonl.zst, Parquet; files, folders, globs), normalizes it and labels its language (the ``normalize``
and ``langid`` stages; ``--lang script`` routes by script instead, ``--lang field`` reads the
records' ``lang`` field), then runs every rule of the base preset's filters on every document of
the rule's language and records the statistic each rule compares (the reject detail). For every
rule and language (and script for Chinese: Hans, Hant) it proposes the threshold that keeps
``--keep`` (0.99) of the trusted documents on that rule alone:

* a rule that drops documents *below* a threshold (``min_doc_words``, ``line_punct_thr``, ...):
  the ``1 - keep`` quantile of the trusted documents' statistic;
* a rule that drops documents *above* one (``max_symbol_word_ratio``, repetition fractions, ...):
  the ``keep`` quantile.

``--only-loosen`` writes the published threshold where the proposal is stricter (a trusted corpus
says what clean text looks like, not what junk looks like; the report still shows both).

Chinese per script: the statistics of every rule are measured the way the filter stage measures
them (Traditional documents through the rule's Simplified view) and reported for ``zh`` and for
``zh-Hans`` / ``zh-Hant`` apart. A preset holds one threshold per rule and language; by default the
Chinese thresholds come from all Chinese documents, with ``--script Hans`` (``Hant``) from that
script's documents only (fewer than ``--min-docs`` of them is an error). ``--convert CONFIG`` runs
OpenCC (``s2twp``, ``s2t``, ``t2s``, ...) on every trusted and junk text first: a zh-Hant preset from
trusted Simplified text when no trusted Traditional corpus exists (``--convert s2twp --script Hant``).

Written to ``--out``: ``<name>.yaml`` (a filter preset: ``build_filters(preset="<name>.yaml")`` or
``preset: path/to/<name>.yaml`` in a pipeline config; the ``calibration`` section records how it was
computed, every proposal next to the published threshold, and, with ``--junk``, the share of junk
each threshold catches), ``<name>.json`` (the same figures and per-language quantiles) and one PNG
per statistic and language under ``plots/`` (trusted and junk histograms, published and proposed
thresholds). Rules the base preset turns off are not calibrated.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

# reason -> (filter, parameter, direction, n for the n-gram lists). "min": a document fails below the
# threshold; "max": above it.
RULES: dict[str, tuple[str, str, str, int | None]] = {
    "gopher_short_doc": ("gopher_quality", "min_doc_words", "min", None),
    "gopher_long_doc": ("gopher_quality", "max_doc_words", "max", None),
    "gopher_below_avg_word_length": ("gopher_quality", "min_avg_word_length", "min", None),
    "gopher_above_avg_word_length": ("gopher_quality", "max_avg_word_length", "max", None),
    "gopher_too_many_hashes": ("gopher_quality", "max_symbol_word_ratio", "max", None),
    "gopher_too_many_ellipsis": ("gopher_quality", "max_symbol_word_ratio", "max", None),
    "gopher_too_many_bullets": ("gopher_quality", "max_bullet_lines_ratio", "max", None),
    "gopher_too_many_end_ellipsis": ("gopher_quality", "max_ellipsis_lines_ratio", "max", None),
    "gopher_below_alpha_threshold": ("gopher_quality", "min_alpha_words_ratio", "min", None),
    "gopher_few_stop_words": ("gopher_quality", "min_stop_words", "min", None),
    "c4_too_few_sentences": ("c4_quality", "min_num_sentences", "min", None),
    "fineweb_line_punct_ratio": ("fineweb_quality", "line_punct_thr", "min", None),
    "fineweb_short_line_ratio": ("fineweb_quality", "short_line_thr", "max", None),
    "fineweb_char_dup_ratio": ("fineweb_quality", "char_duplicates_ratio", "max", None),
    "fineweb_list_ratio": ("fineweb_quality", "new_line_ratio", "max", None),
    "zh_short_doc": ("zh_quality", "min_chars", "min", None),
    "zh_long_doc": ("zh_quality", "max_chars", "max", None),
    "zh_high_digit_ratio": ("zh_quality", "max_digit_ratio", "max", None),
    "zh_high_symbol_ratio": ("zh_quality", "max_symbol_ratio", "max", None),
    "zh_url_density": ("zh_quality", "max_url_char_ratio", "max", None),
    "zh_low_cjk_ratio": ("zh_quality", "min_cjk_ratio", "min", None),
    "zh_low_terminal_punct": ("zh_quality", "min_terminal_punct_ratio", "min", None),
    "zh_low_avg_word_length": ("zh_quality", "min_avg_word_length", "min", None),
    "zh_high_avg_word_length": ("zh_quality", "max_avg_word_length", "max", None),
}
for _p in ("gopher", "zh"):
    _f = "gopher_repetition" if _p == "gopher" else "zh_repetition"
    for _k in ("dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac"):
        RULES[f"{_p}_{_k}"] = (_f, _k, "max", None)
    for _n in (2, 3, 4):
        RULES[f"{_p}_top_{_n}_gram"] = (_f, "top_n_grams", "max", _n)
    for _n in range(5, 11):
        RULES[f"{_p}_dup_{_n}_gram"] = (_f, "dup_n_grams", "max", _n)
# Integer parameters: a "min" threshold is rounded down, a "max" one up (never stricter than measured).
INTEGER_PARAMS = {"min_doc_words", "max_doc_words", "min_stop_words", "min_num_sentences", "min_chars", "max_chars"}


def read_texts(paths: list[str], max_docs: int | None, every: int, offset: int) -> tuple[list[str], list[str | None]]:
    """Texts (and the records' ``lang`` field) of every readable record, with Winnow's reader."""
    from contract import schema as S
    from pipeline.config import InputConfig
    from pipeline.io import list_inputs, plan_tasks, read_task

    cfg = InputConfig(paths=list(paths))
    files = [f for f in list_inputs(cfg.paths, cfg.format).files if f.problem is None]
    texts: list[str] = []
    langs: list[str | None] = []
    i = 0
    for task in plan_tasks(files, cfg):
        for batch in read_task(task, cfg):
            rows = batch.to_pydict()
            reasons = rows.get(S.REJECT_REASON) or [None] * len(rows[S.TEXT])
            for text, meta, reason in zip(rows[S.TEXT], rows[S.META], reasons):
                if reason is not None or not text:
                    continue
                i += 1
                if (i - 1) % every != offset:
                    continue
                try:
                    lang = json.loads(meta or "{}").get("lang")
                except ValueError:
                    lang = None
                texts.append(text)
                langs.append(lang if isinstance(lang, str) else None)
                if max_docs and len(texts) >= max_docs:
                    return texts, langs
    return texts, langs


def label(texts: list[str], field_langs: list[str | None], how: str, normalize: bool) -> tuple[list[str], np.ndarray]:
    """(texts as the filter stage sees them, routing language per text)."""
    from contract.textstats import script_langs
    from pipeline.local import make_table, run_operator

    table = make_table(texts)
    if normalize and texts:
        from operators.normalize import Normalizer

        res = run_operator(Normalizer(), table)
        kept = dict(zip(res.kept.column("id").to_pylist(), res.kept.column("text").to_pylist()))
        ids = table.column("id").to_pylist()
        texts = [kept.get(i) or "" for i in ids]
        table = make_table(texts)
    if how == "script" or not texts:
        langs = script_langs(pa.array(texts, pa.string()))
    elif how == "field":
        langs = np.array([v or "und" for v in field_langs], dtype=object)
    else:
        from operators.langid import LangID

        op = LangID(keep_langs=None, min_score=0.0, reject=False)
        op.setup()
        res = run_operator(op, table)
        by_id = dict(zip(res.kept.column("id").to_pylist(), res.kept.column("lang").to_pylist()))
        langs = np.array([by_id.get(i) or "und" for i in table.column("id").to_pylist()], dtype=object)
    from contract.langs import ZH_CODES

    langs = np.array(["zh" if v in ZH_CODES else v for v in langs], dtype=object)
    return texts, langs


def groups_of(texts: list[str], langs: np.ndarray) -> dict[str, np.ndarray]:
    """Index arrays per group: each language, and for Chinese also each script (zh-Hans, zh-Hant)."""
    out: dict[str, np.ndarray] = {}
    for lang in sorted(set(langs.tolist())):
        out[lang] = np.nonzero(langs == lang)[0]
    zh = out.get("zh")
    if zh is not None and len(zh):
        try:
            from contract.textstats import han_scripts

            scripts, _ = han_scripts(pa.array([texts[i] for i in zh], pa.string()))
            for s in ("Hans", "Hant"):
                sel = zh[np.asarray(scripts == s, bool)]
                if len(sel):
                    out[f"zh-{s}"] = sel
        except ImportError:  # pragma: no cover - no script helper
            pass
    return out


def measure(chain, texts: list[str], lang: str) -> dict[str, np.ndarray]:
    """reason -> statistic of every text (all routed to ``lang``), for every calibrated rule. A
    Chinese rule sees what the filter stage gives it (``RuleFilter.process``): Traditional documents
    in the rule's Simplified view, unless the rule converts what it needs itself."""
    from pipeline.local import make_table

    out: dict[str, np.ndarray] = {}
    if not texts:
        return out
    batch = make_table(texts, lang=[lang] * len(texts)).to_batches()[0] if len(texts) else None
    arr = pa.array(texts, pa.string())
    trad = None
    if lang == "zh":
        from contract.textstats import han_scripts

        _, trad = han_scripts(arr, np.ones(len(texts), bool))
    for op in chain.operators:
        if lang not in op.languages and "*" not in op.languages:
            continue
        if hasattr(op, "setup"):
            op.setup()
        seen = arr
        if trad is not None and getattr(op, "simplified_view", None) and not getattr(op, "view_in_decide", False) \
                and (np.asarray(trad) > 0).any():
            from contract.textstats import simplified_view

            seen = simplified_view(arr, np.asarray(trad), op.simplified_view)
        # A rule that decide() measures only on some documents (zh_quality's jieba rules, on the
        # documents that passed the cheaper ones) is measured on every document.
        checks = op.checks_all(seen) if hasattr(op, "checks_all") else op.decide(batch, seen).checks
        for chk in checks:
            if chk.reason not in RULES or chk.reason in out:
                continue
            try:
                vals = np.asarray(chk.stat, dtype=np.float64)
            except (TypeError, ValueError):
                continue
            out[chk.reason] = vals
    return out


def published(chain, reason: str) -> float | None:
    flt, param, _, n = RULES[reason]
    for op in chain.operators:
        if op.name == flt:
            v = getattr(op, param, None)
            if n is not None:
                v = dict(v or ()).get(n)
            return None if v is None else float(v)
    return None


def propose(values: np.ndarray, direction: str, keep: float, integer: bool) -> float:
    v = values[np.isfinite(values)]
    if not len(v):
        return math.nan
    if direction == "min":
        q = float(np.quantile(v, 1.0 - keep, method="lower"))
        return float(math.floor(q)) if integer else q
    q = float(np.quantile(v, keep, method="higher"))
    return float(math.ceil(q)) if integer else q


def fails(values: np.ndarray, direction: str, thr: float | None) -> np.ndarray:
    if thr is None or math.isnan(thr):
        return np.zeros(len(values), bool)
    return values < thr if direction == "min" else values > thr


def plot(path: Path, reason: str, group: str, trusted: np.ndarray, junk: np.ndarray | None,
         pub: float | None, prop: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    data = [trusted[np.isfinite(trusted)]] + ([junk[np.isfinite(junk)]] if junk is not None and len(junk) else [])
    both = np.concatenate(data) if data else np.zeros(1)
    lo, hi = float(np.quantile(both, 0.0)), float(np.quantile(both, 0.995))
    for thr in (pub, prop):
        if thr is not None and math.isfinite(thr):
            lo, hi = min(lo, thr), max(hi, thr)
    bins = np.linspace(lo, hi if hi > lo else lo + 1, 50)
    ax.hist(np.clip(data[0], lo, hi), bins=bins, alpha=0.6, label=f"trusted ({len(data[0])})", density=True)
    if len(data) > 1:
        ax.hist(np.clip(data[1], lo, hi), bins=bins, alpha=0.5, label=f"junk ({len(data[1])})", density=True)
    if pub is not None:
        ax.axvline(pub, color="black", linestyle="--", label=f"published {pub:g}")
    if math.isfinite(prop):
        ax.axvline(prop, color="red", label=f"proposed {prop:.4g}")
    ax.set_title(f"{reason} ({group})", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def to_param(filters: dict[str, dict[str, Any]], chain, reason: str, value: float) -> None:
    """Write a proposed threshold into the preset's filter parameters (the loosest of rules sharing one)."""
    flt, param, direction, n = RULES[reason]
    if flt not in filters or math.isnan(value):
        return
    kw = filters[flt]
    if param in INTEGER_PARAMS:
        value = int(value)
    else:
        value = float(f"{value:.4g}")
    if n is None:
        old = kw.get(param)
        if old is not None and param in kw.get("_calibrated", set()):
            value = min(old, value) if direction == "min" else max(old, value)
        kw[param] = value
        kw.setdefault("_calibrated", set()).add(param)
        return
    op = next(o for o in chain.operators if o.name == flt)
    pairs = dict(kw.get(param) or getattr(op, param))
    pairs[n] = value
    kw[param] = [[k, v] for k, v in sorted(pairs.items())]


def convert_texts(texts: list[str], config: str | None) -> list[str]:
    """``texts`` through OpenCC ``config`` (``s2twp``: Simplified to Taiwan Traditional, ...), or as they are."""
    if not config:
        return texts
    import opencc

    conv = opencc.OpenCC(config)
    return [conv.convert(t) for t in texts]


def calibrate(args) -> dict:
    from operators.filters import build_filters, preset_chain

    t0 = time.time()
    base = preset_chain(args.preset)
    chain = build_filters(args.preset)
    texts, flangs = read_texts(args.trusted, args.max_docs, args.every, args.offset)
    if not texts:
        raise SystemExit("winnow calibrate: no documents in the trusted corpus")
    texts = convert_texts(texts, args.convert)
    texts, langs = label(texts, flangs, args.lang, not args.no_normalize)
    junk_texts: list[str] = []
    junk_langs = np.zeros(0, dtype=object)
    if args.junk:
        jt, jl = read_texts(args.junk, args.max_docs, 1, 0)
        junk_texts, junk_langs = label(convert_texts(jt, args.convert), jl, args.lang, not args.no_normalize)
    groups = groups_of(texts, langs)
    # The group whose proposals go into the preset, per language (Chinese: one script with --script).
    preset_group = {"zh": f"zh-{args.script}"} if args.script else {}
    for group in preset_group.values():
        if len(groups.get(group, ())) < args.min_docs:
            raise SystemExit(f"winnow calibrate: --script {args.script}: {len(groups.get(group, ()))} trusted "
                             f"{group} documents, fewer than --min-docs {args.min_docs}")
    out_dir = Path(args.out)
    report: dict[str, Any] = {"groups": {}, "rules": {}}
    filters = {name: dict(kw) for name, kw in base.items()}
    calibrated_langs = {lang for op in chain.operators for lang in op.languages}
    for group, idx in groups.items():
        lang = group.split("-")[0]
        if lang not in calibrated_langs or len(idx) < args.min_docs:
            report["groups"][group] = {"docs": int(len(idx)), "calibrated": False}
            continue
        stats = measure(chain, [texts[i] for i in idx], lang)
        jidx = np.nonzero(junk_langs == lang)[0] if len(junk_langs) else np.zeros(0, int)
        jstats = measure(chain, [junk_texts[i] for i in jidx], lang) if len(jidx) else {}
        report["groups"][group] = {"docs": int(len(idx)), "junk_docs": int(len(jidx)), "calibrated": True}
        for reason, vals in stats.items():
            _, param, direction, _ = RULES[reason]
            prop = propose(vals, direction, args.keep, param in INTEGER_PARAMS)
            pub = published(chain, reason)
            entry = {
                "param": f"{RULES[reason][0]}.{param}" + (f"[{RULES[reason][3]}]" if RULES[reason][3] else ""),
                "direction": direction,
                "published": pub,
                "proposed": None if math.isnan(prop) else round(prop, 6),
                "trusted_kept_published": round(1 - float(fails(vals, direction, pub).mean()), 4),
                "trusted_kept_proposed": round(1 - float(fails(vals, direction, prop).mean()), 4),
                "quantiles": {str(q): round(float(np.nanquantile(vals, q)), 6) for q in (0.01, 0.05, 0.5, 0.95, 0.99)},
            }
            if reason in jstats and len(jstats[reason]):
                jv = jstats[reason]
                entry["junk_caught_published"] = round(float(fails(jv, direction, pub).mean()), 4)
                entry["junk_caught_proposed"] = round(float(fails(jv, direction, prop).mean()), 4)
            report["rules"].setdefault(group, {})[reason] = entry
            if not args.no_plots:
                plot(out_dir / "plots" / group / f"{reason}.png", reason, group, vals, jstats.get(reason), pub, prop)
            if group == preset_group.get(lang, lang):  # the preset holds one threshold per rule and language
                value = prop
                if args.only_loosen and pub is not None and not math.isnan(prop):
                    value = min(prop, pub) if direction == "min" else max(prop, pub)
                entry["in_preset"] = None if math.isnan(value) else round(value, 6)
                to_param(filters, chain, reason, value)
    for kw in filters.values():
        kw.pop("_calibrated", None)
    report["seconds"] = round(time.time() - t0, 1)
    return {"filters": filters, "report": report, "docs": len(texts), "junk_docs": len(junk_texts)}


def write_preset(args, result: dict, argv: list[str]) -> Path:
    import yaml

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{args.name}.yaml"
    rules = {g: {r: {k: e[k] for k in ("param", "published", "proposed", "in_preset", "trusted_kept_published",
                                       "trusted_kept_proposed", "junk_caught_published", "junk_caught_proposed")
                     if k in e}
                 for r, e in rs.items()} for g, rs in result["report"]["rules"].items()}
    date = time.strftime("%Y-%m-%d", time.gmtime())
    doc = {
        "name": args.name,
        "calibration": {
            "command": "winnow calibrate " + " ".join(argv),
            "date": date,
            "note": args.note,
            "base_preset": args.preset,
            "keep": args.keep,
            "only_loosen": bool(args.only_loosen),
            "script": args.script,
            "convert": args.convert,
            "trusted": list(args.trusted),
            "junk": list(args.junk or []),
            "docs": result["docs"],
            "junk_docs": result["junk_docs"],
            "groups": result["report"]["groups"],
            "rules": rules,
        },
        "filters": result["filters"],
    }
    shown = [("'<the note below>'" if i and argv[i - 1] == "--note" else a) for i, a in enumerate(argv)]
    header = (f"# Filter preset written by `winnow calibrate` (jobs/calibrate.py) on {date}:\n"
              + "".join(f"#   {line}\n" for line in textwrap.wrap("winnow calibrate " + " ".join(shown), 96,
                                                                     break_on_hyphens=False))
              + f"# Thresholds: for every rule of the base preset `{args.preset}`, the value that keeps {args.keep:g}\n"
              f"# of the trusted documents of the rule's language on that rule alone (min rules: the\n"
              f"# {1 - args.keep:.2g} quantile of the statistic; max rules: the {args.keep:g} quantile).\n"
              + ("# --only-loosen: where the proposal is stricter than the published threshold, the published one\n"
                 "# is kept.\n" if args.only_loosen else "")
              + (f"# Chinese thresholds from the trusted zh-{args.script} documents only (--script {args.script}).\n"
                 if args.script else "")
              + (f"# Every trusted and junk text was converted with OpenCC `{args.convert}` first (--convert).\n"
                 if args.convert else "")
              + "# The rest are the base preset's. `calibration` says what it was computed from.\n"
              + "".join(f"# {line}\n" for line in textwrap.wrap(args.note, 100)))
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110), encoding="utf-8")
    (out_dir / f"{args.name}.json").write_text(json.dumps(result["report"], indent=2), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="winnow calibrate", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trusted", nargs="+", required=True, help="trusted corpus: files, folders or globs")
    ap.add_argument("--junk", nargs="+", help="optional junk corpus, to report what each threshold catches")
    ap.add_argument("--preset", default="mixed", help="base preset (name or .yaml) whose rules are calibrated")
    ap.add_argument("--keep", type=float, default=0.99, help="share of trusted documents each rule keeps (0.99)")
    ap.add_argument("--out", default="calibration", help="output folder (preset YAML, JSON report, plots/)")
    ap.add_argument("--name", default="calibrated", help="preset name: <out>/<name>.yaml")
    ap.add_argument("--lang", choices=("langid", "script", "field"), default="langid",
                    help="how documents get their language: the langid stage, script, or the records' lang field")
    ap.add_argument("--no-normalize", action="store_true", help="measure the text as read, not normalized")
    ap.add_argument("--max-docs", type=int, default=None, help="read at most this many documents per corpus")
    ap.add_argument("--every", type=int, default=1, help="use every k-th readable record (with --offset)")
    ap.add_argument("--offset", type=int, default=0, help="which record of every --every to use")
    ap.add_argument("--min-docs", type=int, default=50, help="a language with fewer documents is not calibrated")
    ap.add_argument("--only-loosen", action="store_true",
                    help="the preset keeps the published threshold where the proposal is stricter")
    ap.add_argument("--script", choices=("Hans", "Hant"), default=None,
                    help="Chinese thresholds from this script's trusted documents only (default: all Chinese)")
    ap.add_argument("--convert", default=None, metavar="OPENCC_CONFIG",
                    help="convert every trusted and junk text with OpenCC first (s2twp, s2t, t2s, ...)")
    ap.add_argument("--note", default="", help="a sentence on where the corpora came from, kept in the preset")
    ap.add_argument("--no-plots", action="store_true")
    args = ap.parse_args(argv)
    if not 0.5 <= args.keep < 1:
        ap.error("--keep must be in [0.5, 1)")
    if args.every < 1 or not 0 <= args.offset < args.every:
        ap.error("--every must be >= 1 and 0 <= --offset < --every")
    if args.convert:
        import opencc

        try:
            opencc.OpenCC(args.convert)
        except Exception as e:  # noqa: BLE001 - the package raises various errors for an unknown configuration
            ap.error(f"--convert {args.convert!r}: not an OpenCC configuration ({type(e).__name__}: {e})")
    result = calibrate(args)
    path = write_preset(args, result, argv)
    print(f"winnow calibrate: {result['docs']} trusted documents, {result['junk_docs']} junk; preset {path}")
    for group, rules in result["report"]["rules"].items():
        for reason, e in rules.items():
            junk = f"  junk caught {e.get('junk_caught_published')} -> {e.get('junk_caught_proposed')}" \
                if "junk_caught_proposed" in e else ""
            print(f"  {group:8} {reason:30} {e['param']:42} published {e['published']!s:>8}  proposed {e['proposed']!s:>10}"
                  f"  trusted kept {e['trusted_kept_published']} -> {e['trusted_kept_proposed']}{junk}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
