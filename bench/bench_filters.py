"""Rule-filter stage throughput: normalize -> langid -> filters (mixed preset), English and Chinese.

Measures, on real text from ``../shared/corpora`` in one run:

- documents/s and MB/s (UTF-8 text) per core of the operators applied directly to Arrow batches in
  one plain Python process (``pipeline.execute.apply_batches``), for an English and a Chinese sample;
- the cost of every operator and rule from the Chain's ``seconds/<name>`` metrics, so the slowest
  rules are visible;
- the same operators on Spark ``local[1]``-equivalent (one partition, one Python worker) through
  ``mapInArrow``, Parquet in and a no-op sink out; the target is Spark >= 60% of plain Python;
- quality (issue 15): on a deterministic slice of ``../shared/corpora`` English text (odd records of
  each file, >= 50 words) with injected junk (repeated lines, keyword spam, mojibake, boilerplate,
  truncated), Winnow's filter chains and datatrove 0.10.1's (Gopher + C4 + FineWeb, and FineWeb's
  own chain) side by side: clean keep rate, junk caught per kind (target >= 95%), share of
  characters retained in kept clean documents (target >= 80%).

    .venv/bin/python -m bench.bench_filters [--quick] [--quality-only]
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq

EN_FILES = ["en_wikipedia_vital_summaries", "en_debian_handbook", "en_linux_doc_txt", "en_manpages",
            "en_gnome_help", "en_libreoffice_help"]
ZH_FILES = ["zh_peoples_daily_199801", "zh_debian_handbook", "zh_manpages", "zh_libreoffice_help",
            "zh_gnome_help", "zh_reviews_pos"]
BATCH = 1024


def _load(corpora: Path, files: list[str], mb_per_file: float) -> list[str]:
    texts = []
    for name in files:
        path = corpora / f"{name}.jsonl.gz"
        if not path.exists():
            continue
        budget = mb_per_file * 1e6
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                t = json.loads(line).get("text") or ""
                texts.append(t)
                budget -= len(t.encode("utf-8"))
                if budget <= 0:
                    break
    return texts


def _table(texts: list[str], prefix: str) -> pa.Table:
    from pipeline.local import make_table

    t = make_table(texts)
    return t.set_column(0, "id", pa.array([f"{prefix}-{i}" for i in range(len(texts))]))


def _build_op():
    from contract.operator import Chain
    from operators.filters import build_filters
    from operators.langid import LangID
    from operators.normalize import Normalizer

    return Chain([Normalizer(), LangID(), build_filters("mixed")])


def _plain(op, table: pa.Table) -> dict:
    """The operators on Arrow batches in this process; returns throughput and per-rule seconds."""
    from contract import schema as S
    from operators.filters import chinese
    from pipeline.execute import apply_batches, output_schema

    op.setup()
    chinese._SEG_CACHE.clear()  # no segmentation left over from an earlier measurement
    out_schema = output_schema(op, table.schema)
    batches = table.to_batches(max_chunksize=BATCH)
    t0 = time.perf_counter()
    outs = list(apply_batches(op, batches, out_schema, "filter"))
    seconds = time.perf_counter() - t0
    out = pa.Table.from_batches(outs, schema=out_schema)
    metrics: dict[str, float] = {}
    for entry in out.column(S.METRICS).to_pylist():
        for k, v in entry or []:
            metrics[k] = metrics.get(k, 0.0) + v
    reasons: dict[str, int] = {}
    for r in out.column(S.REJECT_REASON).to_pylist():
        if r is not None:
            reasons[r] = reasons.get(r, 0) + 1
    mb = sum(pc_bytes(table)) / 1e6
    docs = table.num_rows
    rule_seconds = {k.removeprefix("seconds/"): round(v, 3) for k, v in sorted(metrics.items(), key=lambda kv: -kv[1])
                    if k.startswith("seconds/") and k != "seconds/chain"}
    checked = {k.removeprefix("docs_checked/"): int(v) for k, v in metrics.items() if k.startswith("docs_checked/")}
    return {
        "docs": docs,
        "mb": round(mb, 2),
        "seconds": round(seconds, 3),
        "docs_per_s_per_core": round(docs / seconds, 1),
        "mb_per_s_per_core": round(mb / seconds, 3),
        "kept": docs - sum(reasons.values()),
        "rejected_by_reason": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        "seconds_by_operator": rule_seconds,
        "docs_checked_by_rule": checked,
        "share_of_time_by_operator": {k: round(v / seconds, 3) for k, v in rule_seconds.items()},
    }


def pc_bytes(table: pa.Table):
    import pyarrow.compute as pc

    col = pc.fill_null(table.column("text"), "")
    yield int(pc.sum(pc.binary_length(col)).as_py() or 0)


def _spark(op, table: pa.Table, tmp: Path) -> dict:
    """The same chain through mapInArrow on one partition (one core), Parquet in, no-op sink out."""
    from pyspark.sql.pandas.types import from_arrow_schema

    from pipeline.config import SparkConfig
    from pipeline.execute import apply_batches, output_schema
    from pipeline.spark import get_spark

    spark = get_spark(SparkConfig(master="local[1]", app_name="winnow-bench-filters", driver_memory="4g",
                                  shuffle_partitions=1, arrow_batch_size=BATCH))
    path = tmp / "in.parquet"
    pq.write_table(table, path, row_group_size=BATCH * 8)
    out_schema = output_schema(op, table.schema)
    spark_schema = from_arrow_schema(out_schema)

    def job(df):
        return df.coalesce(1).mapInArrow(lambda it: apply_batches(op, it, out_schema, "filter"), spark_schema)

    # Warm-up on a slice: starts the Python worker and loads fastText and jieba once (worker reuse).
    pq.write_table(table.slice(0, min(200, table.num_rows)), tmp / "warm.parquet")
    job(spark.read.parquet(str(tmp / "warm.parquet"))).write.format("noop").mode("overwrite").save()
    df = spark.read.parquet(str(path))
    t0 = time.perf_counter()
    job(df).write.format("noop").mode("overwrite").save()
    seconds = time.perf_counter() - t0
    mb = sum(pc_bytes(table)) / 1e6
    return {
        "master": spark.sparkContext.master,
        "partitions": 1,
        "seconds": round(seconds, 3),
        "docs_per_s": round(table.num_rows / seconds, 1),
        "mb_per_s": round(mb / seconds, 3),
    }


QUALITY_FILES = ["en_wikipedia_vital_summaries", "en_debian_handbook", "en_linux_doc_txt", "en_manpages",
                 "en_gnome_help", "en_libreoffice_help", "en_dict_jargon", "en_dict_gcide", "en_fortunes",
                 "en_policy_standards", "en_install_guide", "en_python_doc_rst", "en_debian_reference",
                 "en_debian_edu_manual", "legal_common_licenses"]
JUNK_KINDS = ("repeated_lines", "keyword_spam", "mojibake", "boilerplate", "truncated")
SPAM_WORDS = ("cheap", "best", "buy", "online", "free", "download", "casino", "loans", "hotel", "flights",
              "discount", "deals", "sale", "bitcoin", "pills", "replica", "watches", "shoes", "outlet", "top",
              "2024", "review", "vpn", "crypto", "win", "bonus", "slots", "jobs", "dating", "insurance")
BOILERPLATE = ("Home", "About us", "Contact", "Blog", "Shop", "Cart (0)", "Sign in", "Register", "Search",
               "Menu", "Skip to content", "Privacy Policy", "Terms of Use", "Cookie settings",
               "We use cookies to improve your experience. Accept all", "Subscribe to our newsletter",
               "Follow us on Facebook", "Follow us on Twitter", "Share this page", "Back to top",
               "Copyright 2024 Example Ltd. All rights reserved.", "Powered by WordPress", "Sitemap",
               "FAQ", "Careers", "Press", "Help Center", "Log out", "Language: English", "Next page",
               "Previous page", "Related posts", "Leave a comment", "Read more", "Categories", "Tags")


def _quality_slice(corpora: Path, per_file: int) -> tuple[list[str], list[str]]:
    """Odd records of each English corpus file with >= 50 words and <= 40,000 characters, in file
    order (even records are left for ``winnow calibrate``)."""
    texts, sources = [], []
    for name in QUALITY_FILES:
        path = corpora / f"{name}.jsonl.gz"
        if not path.exists():
            continue
        n = 0
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i % 2 == 0:
                    continue
                t = json.loads(line).get("text") or ""
                if len(t.split()) < 50 or len(t) > 40_000:
                    continue
                texts.append(t)
                sources.append(name)
                n += 1
                if n >= per_file:
                    break
    return texts, sources


def _zh_texts(corpora: Path, n: int) -> list[str]:
    """Chinese pages (mostly Han text, >= 1,000 characters: short records joined) for the mojibake junk."""
    import re

    han = re.compile(r"[\u4e00-\u9fff]")
    out, cur = [], ""
    for name in ("zh_peoples_daily_199801", "zh_debian_handbook", "zh_libreoffice_help", "zh_reviews_pos"):
        path = corpora / f"{name}.jsonl.gz"
        if not path.exists():
            continue
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in itertools.islice(f, 4 * n):
                t = json.loads(line)["text"]
                if len(han.findall(t)) < 0.5 * len(t):
                    continue
                cur = f"{cur}\n{t}" if cur else t
                if len(cur) >= 1000:
                    out.append(cur)
                    cur = ""
    return out or ["中文文本" * 300]


def _first_sentence(doc: str, limit: int = 200) -> str:
    """The page's first sentence (at most ``limit`` characters, cut at a space)."""
    import re

    first = re.split(r"(?<=[.!?])\s", doc.strip(), maxsplit=1)[0].replace("\n", " ")
    return first if len(first) <= limit else first[:limit].rsplit(" ", 1)[0]


def make_junk(clean: list[str], zh: list[str], per_kind: int, seed: int = 15) -> dict[str, list[str]]:
    """Junk documents of each kind, made deterministically from the clean slice."""
    import random

    rng = random.Random(seed)
    junk: dict[str, list[str]] = {k: [] for k in JUNK_KINDS}
    for _ in range(per_kind):
        doc = rng.choice(clean)
        lines = [ln for ln in doc.split("\n") if ln.strip()] or [doc]
        # repeated lines: one to three of the page's lines copied until they are 40-60% of all lines
        picks = rng.sample(lines, min(len(lines), rng.randint(1, 3)))
        n_copies = max(4, int(len(lines) * rng.uniform(0.7, 1.5)))
        rep = lines + [rng.choice(picks) for _ in range(n_copies)]
        rng.shuffle(rep)
        junk["repeated_lines"].append("\n".join(rep))
        # keyword spam: lines of keywords, sometimes after one real sentence
        spam = [" ".join(rng.choice(SPAM_WORDS) for _ in range(rng.randint(4, 14))) for _ in range(rng.randint(8, 30))]
        lead = _first_sentence(doc) + "\n" if rng.random() < 0.5 else ""
        junk["keyword_spam"].append(lead + "\n".join(spam))
        # mojibake: a Chinese page's UTF-8 bytes read as Latin-1
        junk["mojibake"].append(rng.choice(zh).encode("utf-8").decode("latin-1"))
        # boilerplate: navigation, cookie and footer lines, maybe with one real sentence
        bp = [rng.choice(BOILERPLATE) for _ in range(rng.randint(15, 45))]
        if rng.random() < 0.5:
            bp.insert(rng.randint(0, len(bp)), _first_sentence(doc))
        junk["boilerplate"].append("\n".join(bp))
        # truncated: the first 15-45 words of a page and a "read more" tail
        words = doc.split()
        junk["truncated"].append(" ".join(words[: rng.randint(15, 45)]) + rng.choice([" ...", "…", " Read more", ""]))
    return junk


def _winnow_chain(preset: str):
    from operators.filters import build_filters

    return build_filters(preset)


def _run_winnow(op, texts: list[str]) -> tuple[list[str | None], float]:
    from pipeline.local import make_table, run_operator

    table = make_table(texts, lang=["en"] * len(texts))
    t0 = time.perf_counter()
    res = run_operator(op, table)
    seconds = time.perf_counter() - t0
    kept = dict(zip(res.kept.column("id").to_pylist(), res.kept.column("text").to_pylist()))
    return [kept.get(i) for i in table.column("id").to_pylist()], seconds


def _datatrove_chains() -> dict:
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    return {
        # the chain issue 15 measured: Gopher + C4 + FineWeb with published defaults
        "datatrove_gopher_c4_fineweb": lambda: [GopherQualityFilter(), C4QualityFilter(), FineWebQualityFilter(),
                                                GopherRepetitionFilter()],
        # FineWeb's own chain: C4 without its terminal-punctuation line rule
        "datatrove_fineweb": lambda: [GopherRepetitionFilter(), GopherQualityFilter(),
                                      C4QualityFilter(filter_no_terminal_punct=False), FineWebQualityFilter()],
    }


def _run_datatrove(filters: list, texts: list[str]) -> tuple[list[str | None], float]:
    from datatrove.data import Document

    out: list[str | None] = []
    t0 = time.perf_counter()
    for t in texts:
        doc = Document(text=t, id="x")
        for flt in filters:
            if flt.filter(doc) is not True:
                doc = None
                break
        out.append(None if doc is None else doc.text)
    return out, time.perf_counter() - t0


def _quality_figures(kept: list[str | None], texts: list[str], sources: list[str], n_clean: int,
                     kinds: list[str], seconds: float) -> dict:
    by_src: dict[str, list[int]] = {}
    for k, s in zip(kept[:n_clean], sources):
        by_src.setdefault(s, [0, 0])
        by_src[s][0] += k is not None
        by_src[s][1] += 1
    kept_clean = [(k, t) for k, t in zip(kept[:n_clean], texts[:n_clean]) if k is not None]
    caught: dict[str, list[int]] = {}
    for k, kind in zip(kept[n_clean:], kinds):
        caught.setdefault(kind, [0, 0])
        caught[kind][0] += k is None
        caught[kind][1] += 1
    return {
        "clean_keep_rate": round(sum(v[0] for v in by_src.values()) / max(1, n_clean), 4),
        "chars_retained_in_kept_clean": round(sum(len(k) for k, _ in kept_clean)
                                              / max(1, sum(len(t) for _, t in kept_clean)), 4),
        "junk_caught": {kind: round(v[0] / v[1], 4) for kind, v in caught.items()},
        "junk_caught_all": round(sum(v[0] for v in caught.values()) / max(1, len(kinds)), 4),
        "clean_keep_rate_by_source": {s: round(v[0] / v[1], 3) for s, v in by_src.items()},
        "seconds": round(seconds, 2),
        "docs_per_s": round(len(texts) / seconds, 1) if seconds else None,
    }


def run_quality(ctx, presets: tuple[str, ...] = ("en", "fineweb", "c4"), datatrove: bool = True,
                calibrated: bool = True) -> dict:
    """Winnow's and datatrove's filter chains on the same clean + junk documents (see module doc)."""
    if ctx.corpora is None:
        return {"skipped": "no ../shared/corpora"}
    per_file = 25 if ctx.quick else 80
    clean, sources = _quality_slice(ctx.corpora, per_file)
    junk = make_junk(clean, _zh_texts(ctx.corpora, 200), 20 if ctx.quick else 100)
    kinds = [k for k, docs in junk.items() for _ in docs]
    texts = clean + [d for docs in junk.values() for d in docs]
    out: dict = {"clean_docs": len(clean), "junk_docs": {k: len(v) for k, v in junk.items()},
                 "clean_sources": sorted(set(sources)), "targets": {"junk_caught_per_kind": 0.95,
                                                                    "chars_retained_in_kept_clean": 0.8},
                 "chains": {}}
    preset_file = Path(__file__).resolve().parents[1] / "configs" / "presets" / "en_calibrated.yaml"
    names = list(presets) + ([str(preset_file)] if calibrated and preset_file.exists() else [])
    for preset in names:
        kept, sec = _run_winnow(_winnow_chain(preset), texts)
        label = "winnow_" + (Path(preset).stem if preset.endswith(".yaml") else preset)
        out["chains"][label] = _quality_figures(kept, texts, sources, len(clean), kinds, sec)
    chains = {}
    try:
        if datatrove:
            import spacy  # noqa: F401 - datatrove's English tokenizer

            chains = _datatrove_chains()
    except ImportError as e:
        out["datatrove"] = f"skipped: {e}"
    for label, make in chains.items():
        kept, sec = _run_datatrove(make(), texts)
        out["chains"][label] = _quality_figures(kept, texts, sources, len(clean), kinds, sec)
    return out


def run(ctx) -> dict:
    if ctx.corpora is None:
        return {"skipped": "no ../shared/corpora"}
    mb_per_file = 0.3 if ctx.quick else 1.5
    en = _table(_load(ctx.corpora, EN_FILES, mb_per_file), "en")
    zh = _table(_load(ctx.corpora, ZH_FILES, mb_per_file * 0.6), "zh")
    result: dict = {"batch_rows": BATCH, "chain": "normalize -> langid -> filters(preset=mixed)"}
    op = _build_op()
    result["plain_python_en"] = _plain(op, en)
    result["plain_python_zh"] = _plain(op, zh)
    both = pa.concat_tables([en, zh])
    plain_both = _plain(op, both)
    result["plain_python_all"] = {k: plain_both[k] for k in ("docs", "mb", "seconds", "docs_per_s_per_core",
                                                            "mb_per_s_per_core")}
    tmp = Path(tempfile.mkdtemp(prefix="winnow-bench-filters-"))
    try:
        sp = _spark(op, both, tmp)
    except Exception as e:  # noqa: BLE001 - a benchmark reports instead of crashing the harness
        sp = {"error": f"{type(e).__name__}: {e}"}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["spark_one_core_all"] = sp
    if "seconds" in sp:
        ratio = plain_both["seconds"] / sp["seconds"]
        result["spark_over_plain_throughput_ratio"] = round(ratio, 3)
        result["target_ratio"] = 0.6
        result["meets_target"] = ratio >= 0.6
    result["quality"] = run_quality(ctx)
    slow = list(itertools.islice(result["plain_python_zh"]["seconds_by_operator"], 3))
    result["slowest_operators_zh"] = slow
    result["slowest_operators_en"] = list(itertools.islice(result["plain_python_en"]["seconds_by_operator"], 3))
    return result


def _uptime() -> str:
    try:
        with open("/proc/loadavg") as f:
            return "load average " + " ".join(f.read().split()[:3]) + f" on {os.cpu_count()} cores"
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(__file__).resolve().parents[1]
    try:
        from bench.run import find_corpora
        corpora = find_corpora()
    except ImportError:  # pragma: no cover - harness not present
        cand = root.parent / "shared" / "corpora"
        corpora = cand if cand.is_dir() else None
    out_dir = root / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = SimpleNamespace(corpora=corpora, quick="--quick" in argv, out_dir=out_dir)
    if "--quality-only" in argv:
        res = {"uptime": _uptime(), "quality": run_quality(ctx)}
        (out_dir / "filters_quality.json").write_text(json.dumps(res, indent=2, ensure_ascii=False))
        print(json.dumps(res, indent=2, ensure_ascii=False))
        return 0
    res = run(ctx)
    (out_dir / "filters.json").write_text(json.dumps(res, indent=2, ensure_ascii=False))
    print(json.dumps(res, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
