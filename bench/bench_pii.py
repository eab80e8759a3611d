"""PII detection quality and speed: precision/recall per type on the Faker set (bench/pii_eval.py),
false replacements on clean real text, and throughput beside the rule filters on the same text."""

from __future__ import annotations

import gzip
import json
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
    from bench.pii_eval import build

    samples = build(ctx.corpora, n_docs=200 if ctx.quick else 1000)
    per_type = evaluate(samples)
    return {
        "eval_docs": len(samples),
        "per_type": per_type,
        "targets_met": all(v["recall"] >= 0.99 and v["precision"] >= 0.98 for k, v in per_type.items()
                           if k in ("email", "phone", "id_number", "bank_card", "ip")),
        "clean_text": clean_false_positives(ctx.corpora, 200 if ctx.quick else 1000),
        "throughput": throughput(ctx.corpora, ctx.quick),
    }


if __name__ == "__main__":
    import sys

    from bench.run import BenchContext, find_corpora

    print(json.dumps(run(BenchContext(find_corpora(), "--quick" in sys.argv, Path("bench/results"))), indent=2,
                     ensure_ascii=False))
