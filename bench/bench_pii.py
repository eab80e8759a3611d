"""PII detection quality and speed: precision/recall per type on the Faker set (bench/pii_eval.py),
recall and decoy precision on the hard shapes (digits beside cards, spaced IDs, phone words, Chinese
version strings, serials), PII in ids / file names / meta through the stage, false replacements on
clean real text, and throughput beside the rule filters on the same text."""

from __future__ import annotations

import gzip
import json
import re
import time
from collections import Counter
from pathlib import Path

# Prose with no contact details. (The Jargon File and the Debian docs carry real, public e-mail
# addresses and hosts files; replacing those is correct, so they are not "clean" text.)
CLEAN_SOURCES = ["en_wikipedia_vital_summaries", "zh_peoples_daily_199801", "en_wordnet_glosses", "zh_reviews_pos",
                 "zh_reviews_neg", "en_fortunes", "zh_fortunes_tang300"]


def evaluate(samples) -> dict:
    from operators.pii.scrubber import PIIScrubber

    op = PIIScrubber()
    op.setup()
    tp, fn, fp = Counter(), Counter(), Counter()
    misses: dict[str, list[str]] = {}
    for text, inserted, _lang in samples:
        found = op._replacer.find(text)
        used = set()
        for ins in inserted:
            hit = next((j for j, (s, e, d) in enumerate(found)
                        if d.type == ins.type and s < ins.end and e > ins.start
                        and min(e, ins.end) - max(s, ins.start) >= 0.8 * (ins.end - ins.start)), None)
            if hit is None:
                fn[ins.type] += 1
                misses.setdefault(ins.type, []).append(text[ins.start:ins.end])
            else:
                tp[ins.type] += 1
                used.add(hit)
        for j, (s, e, d) in enumerate(found):
            if j not in used and not any(s < ins.end and e > ins.start for ins in inserted):
                fp[d.type] += 1
    per_type = {}
    for t in sorted(set(tp) | set(fn) | set(fp)):
        p = tp[t] / max(tp[t] + fp[t], 1)
        r = tp[t] / max(tp[t] + fn[t], 1)
        per_type[t] = {"precision": round(p, 4), "recall": round(r, 4), "tp": tp[t], "fn": fn[t], "fp": fp[t],
                       "missed_examples": misses.get(t, [])[:3]}
    return per_type


STRUCTURED = ("email", "phone", "id_number", "credit_code", "bank_card", "ip")


def _covered(found, typ: str, start: int, end: int) -> bool:
    """Findings of type ``typ`` cover every character of [start, end): nothing of the value is left."""
    pos = start
    for s, e, d in sorted(found, key=lambda f: f[0]):
        if d.type == typ and s <= pos < e:
            pos = e
    return pos >= end


def evaluate_hard(cases) -> dict:
    """Recall per shape and type (a value counts only when wholly replaced, by its own type) and, per decoy
    kind, the share kept intact. Also checks that the stage (with its RE2 pre-checks) rewrites every case
    exactly as the detectors do without them."""
    from operators.pii.scrubber import PIIScrubber
    from pipeline.local import make_table, run_operator

    op = PIIScrubber()
    op.setup()
    rep = op._replacer
    hit, total, kept, seen = Counter(), Counter(), Counter(), Counter()
    fired_on_decoys: Counter = Counter()
    misses: dict[str, list[str]] = {}
    expected = []
    for case in cases:
        found = rep.find(case.text)
        expected.append(rep.scrub(case.text)[0])
        for ins in case.positives:
            ok = _covered(found, ins.type, ins.start, ins.end)
            for key in (ins.type, case.shape):
                total[key] += 1
                hit[key] += ok
            if not ok:
                misses.setdefault(case.shape, []).append(case.text)
        for dec in case.decoys:
            over = [d.type for s, e, d in found if s < dec.end and e > dec.start]
            seen[dec.kind] += 1
            kept[dec.kind] += not over
            fired_on_decoys.update(f"{dec.kind}:{t}" for t in over)
            if over:
                misses.setdefault(f"decoy/{dec.kind}", []).append(case.text)
    res = run_operator(PIIScrubber(), make_table([c.text for c in cases]))
    stage_out = res.kept.column("text").to_pylist() + res.rejected.column("text").to_pylist()
    return {
        "cases": len(cases),
        "recall": {k: round(hit[k] / total[k], 4) for k in sorted(total)},
        "positives": dict(sorted(total.items())),
        "decoys_kept": {k: round(kept[k] / seen[k], 4) for k in sorted(seen)},
        "decoys": dict(sorted(seen.items())),
        "detector_fired_on_decoys": dict(fired_on_decoys.most_common()),
        "stage_differs_from_detectors": sum(a != b for a, b in zip(sorted(stage_out), sorted(expected))),
        "missed_examples": {k: v[:3] for k, v in sorted(misses.items())},
    }


def evaluate_fields(docs) -> dict:
    """PII in ``id``, ``source`` (file name) and ``meta`` through the stage: recall per column and type (the
    value, and every run of 5+ of its digits, gone from that column), clean columns kept byte for byte,
    ids unique, meta still JSON."""
    import pyarrow as pa

    from contract import schema as S
    from operators.pii.scrubber import PIIScrubber
    from pipeline.local import run_operator

    table = pa.table({S.ID: [d.id for d in docs], S.TEXT: [d.text for d in docs],
                      S.SOURCE: [d.source for d in docs], S.META: [d.meta for d in docs]},
                     schema=pa.schema(S.BASE_FIELDS))
    t0 = time.perf_counter()
    res = run_operator(PIIScrubber(), table)
    seconds = time.perf_counter() - t0
    out = {r[S.TEXT]: r for t in (res.kept, res.rejected) for r in t.to_pylist()}
    hit, total, kept, seen = Counter(), Counter(), Counter(), Counter()
    leaks = []
    valid_json = 0
    for d in docs:
        row = out[d.text]
        try:
            json.loads(row[S.META])
            valid_json += 1
        except ValueError:
            pass
        for col, typ, v in d.pii:
            got = row[col]
            runs = [r for r in re.findall(r"\d+", v) if len(r) >= 5]
            ok = v not in got and not any(r in got for r in runs)
            for key in (f"{col}/{typ}", col, typ):
                total[key] += 1
                hit[key] += ok
            if not ok:
                leaks.append(f"{col}: {got[:120]}")
        for col in d.clean:
            seen[col] += 1
            kept[col] += row[col] == getattr(d, col)
    ids = [r[S.ID] for r in out.values()]
    return {
        "docs": len(docs),
        "recall": {k: round(hit[k] / total[k], 4) for k in sorted(total)},
        "positives": {k: v for k, v in sorted(total.items()) if "/" not in k},
        "clean_columns_kept": {k: round(kept[k] / seen[k], 4) for k in sorted(seen)},
        "ids_unique": len(set(ids)) == len(docs),
        "meta_valid_json": round(valid_json / len(docs), 4),
        "metrics": {k: v for k, v in sorted(res.metrics.items()) if not k.startswith("seconds/")},
        # the stage's own count per column and type (pii/{column}/{type}) beside the values planted
        # (a phone or card planted in meta is also written there once more as a JSON number: 2 findings)
        "counted_vs_planted": {k: [res.metrics.get(f"pii/{k}", 0.0), v] for k, v in sorted(total.items())
                               if k.count("/") == 1},
        "docs_per_s": round(len(docs) / seconds, 1),
        "leak_examples": leaks[:5],
    }


def clean_false_positives(corpora: Path, per_source: int = 1000) -> dict:
    from operators.pii.scrubber import PIIScrubber

    op = PIIScrubber()
    op.setup()
    docs, counts, examples = 0, Counter(), []
    for name in CLEAN_SOURCES:
        with gzip.open(corpora / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i >= per_source:
                    break
                text = json.loads(line)["text"]
                docs += 1
                for s, e, d in op._replacer.find(text):
                    counts[d.type] += 1
                    if len(examples) < 10:
                        examples.append(f"{d.type}: {text[max(0, s - 20):e + 20]!r}")
    total = sum(counts.values())
    return {"docs": docs, "replacements": total, "per_1000_docs": round(1000 * total / max(docs, 1), 3),
            "by_type": dict(counts), "examples": examples,
            "note": "every replacement on these sources is counted as false, though a few may be real PII"}


def throughput(corpora: Path, quick: bool) -> dict:
    from operators.filters import build_filters
    from operators.pii.scrubber import PIIScrubber
    from pipeline.local import make_table, run_operator

    texts = []
    for name in ("en_wikipedia_vital_summaries", "zh_peoples_daily_199801", "en_gnome_help", "zh_libreoffice_help"):
        with gzip.open(corpora / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for _, line in zip(range(800 if quick else 3000), f)]
    table = make_table(texts)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    res = {}
    for label, op in (("pii", PIIScrubber()), ("filters_mixed", build_filters("mixed"))):
        op.setup()
        t0 = time.perf_counter()
        run_operator(op, table)
        res[f"{label}_mb_s_per_core"] = round(mb / (time.perf_counter() - t0), 2)
    res["mb"] = round(mb, 1)
    res["pii_over_filters_speed"] = round(res["pii_mb_s_per_core"] / res["filters_mixed_mb_s_per_core"], 2)
    return res


def run(ctx) -> dict:
    if ctx.corpora is None:
        return {"skipped": "no ../shared/corpora"}
    from bench.pii_eval import build, build_fields, build_hard

    samples = build(ctx.corpora, n_docs=200 if ctx.quick else 1000)
    per_type = evaluate(samples)
    hard = evaluate_hard(build_hard(n_per_shape=50 if ctx.quick else 300))
    fields = evaluate_fields(build_fields(n_docs=200 if ctx.quick else 1000))
    hard_types = {k: v for k, v in hard["recall"].items() if k in STRUCTURED}
    return {
        "eval_docs": len(samples),
        "per_type": per_type,
        "hard": hard,
        "fields": fields,
        "targets": "recall >= 0.99 per structured type (Faker set, hard shapes, each column); precision >= 0.98 "
                   "(Faker set); every decoy kind and clean column kept >= 0.98; ids unique; meta valid JSON",
        "targets_met": (all(v["recall"] >= 0.99 and v["precision"] >= 0.98 for k, v in per_type.items()
                            if k in STRUCTURED)
                        and all(v >= 0.99 for v in hard_types.values())
                        and all(v >= 0.98 for v in hard["decoys_kept"].values())
                        and hard["stage_differs_from_detectors"] == 0
                        and all(v >= 0.99 for k, v in fields["recall"].items() if k in ("id", "source", "meta"))
                        and all(v >= 0.98 for v in fields["clean_columns_kept"].values())
                        and fields["ids_unique"] and fields["meta_valid_json"] == 1.0),
        "clean_text": clean_false_positives(ctx.corpora, 200 if ctx.quick else 1000),
        "throughput": throughput(ctx.corpora, ctx.quick),
    }


if __name__ == "__main__":
    import sys

    from bench.run import BenchContext, find_corpora

    print(json.dumps(run(BenchContext(find_corpora(), "--quick" in sys.argv, Path("bench/results"))), indent=2,
                     ensure_ascii=False))
