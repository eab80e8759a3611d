"""Dedup benchmark: CPU-seconds per document against datasketch, accuracy on a labelled near-duplicate
set, signature throughput, whole-stage time and peak memory, and (``--large``) one million documents.

    python -m bench.bench_dedup            # cost at 100k + 300k docs, accuracy, throughput, 200k stage run
    python -m bench.bench_dedup --quick    # smaller inputs (cost at 10k + 30k)
    python -m bench.bench_dedup --large    # adds the 1M-document cost run and 1M short documents (slow)
    python -m bench.bench_dedup --parts cost --cost-sizes 100000

The cost part (:func:`cost_comparison`) runs Winnow's whole dedup stage (read, dedup, kept + rejected
written) and datasketch's fast path (``MinHash.update_batch`` + ``MinHashLSH``, 128 permutations,
threshold 0.8, one process) on the same ~2 KB English + Chinese documents, and reports CPU-seconds of
the whole process tree per document side by side, with the machine load, and pass/fail against
"Winnow <= datasketch per document at 300k documents".

All figures come from one run on this machine; see docs/dedup.md for the recorded ones.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.dedup_labelled import ZH_FOOTERS, ZH_HEADERS, build, edit_text, jaccard
from bench.proc import children_map as _children_map
from bench.proc import load_average, tree_cpu_seconds

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------
# memory sampling: the JVM (driver + executor in local mode) and the Python workers
# ------------------------------------------------------------------------------------------------
def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cmd(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class MemorySampler:
    def __init__(self, interval: float = 0.5):
        self.interval = interval
        self.jvm_peak = 0.0
        self.workers_peak = 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *a):
        self._stop.set()
        self._t.join()

    def _loop(self):
        me = os.getpid()
        while not self._stop.is_set():
            kids = _children_map()
            stack, desc = [me], []
            while stack:
                p = stack.pop()
                for c in kids.get(p, []):
                    desc.append(c)
                    stack.append(c)
            jvm = sum(_rss_mb(p) for p in desc if "java" in _cmd(p).split(" ")[0])
            workers = sum(_rss_mb(p) for p in desc if "pyspark" in _cmd(p) or "python" in _cmd(p).split(" ")[0])
            self.jvm_peak = max(self.jvm_peak, jvm)
            self.workers_peak = max(self.workers_peak, workers)
            self._stop.wait(self.interval)

    def report(self) -> dict:
        return {"jvm_driver_executor_peak_rss_mb": round(self.jvm_peak),
                "python_workers_peak_rss_mb_total": round(self.workers_peak),
                "driver_python_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


# ------------------------------------------------------------------------------------------------
def _spark(shuffle_partitions: int = 8, driver_memory: str = "8g"):
    from pipeline.config import SparkConfig
    from pipeline.spark import get_spark

    return get_spark(SparkConfig(master="local[2]", app_name="winnow-bench-dedup", driver_memory=driver_memory,
                                 shuffle_partitions=shuffle_partitions, arrow_batch_size=1024))


def _run_stage(spark, in_path: Path, work: Path, **params) -> tuple[dict, dict, float]:
    """Run the stage on a Parquet input and write kept/rejected like the runner does."""
    from operators.dedup import build_dedup

    out_dir = work / "stage"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    ctx = SimpleNamespace(spark=spark, out_dir=out_dir, seed=42, log=lambda m: print(f"  [dedup] {m}", flush=True))
    t0 = time.perf_counter()
    res = build_dedup(**params).run(spark.read.parquet(str(in_path)), ctx)
    res.kept.write.mode("overwrite").parquet(str(out_dir / "kept"))
    res.rejected.write.mode("overwrite").parquet(str(out_dir / "rejected"))
    secs = time.perf_counter() - t0
    return res.metrics, {"kept": str(out_dir / "kept"), "rejected": str(out_dir / "rejected")}, secs


def _write_docs(docs: list[dict], path: Path, rows_per_file: int = 50_000) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for i in range(0, len(docs), rows_per_file):
        chunk = docs[i: i + rows_per_file]
        cols = {k: [d.get(k) for d in chunk] for k in ("id", "text", "source", "lang")}
        cols["meta"] = ["{}"] * len(chunk)
        pq.write_table(pa.table(cols), path / f"part-{i // rows_per_file:05d}.parquet")


# ------------------------------------------------------------------------------------------------
def accuracy(ctx, spark, work: Path) -> dict:
    """P/R of duplicate pairs at threshold 0.8 on the labelled set, through the Spark stage."""
    n_en, n_zh, n_un = (200, 100, 200) if ctx.quick else (600, 300, 600)
    docs, pairs = build(ctx.corpora, n_en=n_en, n_zh=n_zh, n_untouched=n_un)
    in_path = work / "labelled"
    _write_docs(docs, in_path)
    truth = np.array([p.jaccard >= 0.8 for p in pairs])
    out: dict = {"docs": len(docs), "pairs": len(pairs), "true_duplicate_pairs": int(truth.sum()),
                 "pairs_by_true_jaccard": dict(zip(["<0.5", "0.5-0.7", "0.7-0.8", "0.8-0.9", ">=0.9"],
                                                   np.histogram([p.jaccard for p in pairs],
                                                                [0, .5, .7, .8, .9, 1.01])[0].tolist()))}
    configs = {"default (128 perm, exact verification)": {},
               "estimate verification, 256 perm": {"verify": "estimate", "num_perm": 256},
               "no verification, bands for 0.8 (datasketch optimum)": {"verify": "none"}}
    for name, params in configs.items():
        metrics, paths, secs = _run_stage(spark, in_path, work, threshold=0.8, save_signatures=False, **params)
        cluster = {}
        for r in spark.read.parquet(paths["kept"]).select("id", "dup_cluster").collect():
            cluster[r["id"]] = r["dup_cluster"]
        for r in spark.read.parquet(paths["rejected"]).select("id", "reject_detail").collect():
            cluster[r["id"]] = json.loads(r["reject_detail"])["dup_of"]
        pred = np.array([cluster[p.a] == cluster[p.b] for p in pairs])
        tp = int((pred & truth).sum())
        res = {"precision": round(tp / max(int(pred.sum()), 1), 4), "recall": round(tp / max(int(truth.sum()), 1), 4),
               "seconds": round(secs, 1), "bands": metrics["dedup/bands"], "rows": metrics["dedup/rows"],
               "candidate_pairs": metrics.get("dedup/candidate_pairs")}
        for lang in ("en", "zh"):
            m = np.array([p.lang == lang for p in pairs])
            tpl = int((pred & truth & m).sum())
            res[f"precision_{lang}"] = round(tpl / max(int((pred & m).sum()), 1), 4)
            res[f"recall_{lang}"] = round(tpl / max(int((truth & m).sum()), 1), 4)
        outside = np.array([abs(p.jaccard - 0.8) >= 0.05 for p in pairs])
        tpo = int((pred & truth & outside).sum())
        res["precision_outside_0.75-0.85"] = round(tpo / max(int((pred & outside).sum()), 1), 4)
        res["recall_outside_0.75-0.85"] = round(tpo / max(int((truth & outside).sum()), 1), 4)
        out[name] = res
        print(f"  accuracy {name}: {res}", flush=True)
    return out


def cjk_shingle_study(ctx) -> dict:
    """Which Chinese shingles separate reposts from distinct documents best, and how fast."""
    from operators.dedup.signer import Signer, SignerConfig

    rng = random.Random(5)
    from bench.dedup_labelled import ZH_FILES, read_docs

    base = read_docs(ctx.corpora, ZH_FILES, 200, 3000, 60 if ctx.quick else 200, rng)
    reposts = []
    for d in base:  # a repost: header + footer + 1% character edits
        t = edit_text(d["text"], "zh", 0.01, False, rng)
        reposts.append(f"{rng.choice(ZH_HEADERS)}\n{t}\n{rng.choice(ZH_FOOTERS)}")
    by_src: dict[str, list[int]] = {}
    for i, d in enumerate(base):
        by_src.setdefault(d["source"], []).append(i)
    neg = [tuple(rng.sample(g, 2)) for g in by_src.values() if len(g) > 1 for _ in range(len(g))]
    out = {"docs": len(base), "negative_pairs": len(neg)}
    texts = pa.array([d["text"] for d in base])
    langs = pa.array(["zh"] * len(base))
    for mode, n in (("char", 3), ("char", 5), ("jieba", 2), ("jieba", 3)):
        cfg = SignerConfig(cjk_shingle=mode, cjk_ngram=n)
        signer = Signer(cfg)

        def sets(arr, signer=signer):
            hv, counts = signer.shingle_hashes(arr, np.ones(len(arr), bool))
            ends = np.cumsum(counts)
            return [set(hv[e - c: e].tolist()) for e, c in zip(ends, counts)]

        t0 = time.perf_counter()
        signer.signatures(texts, langs)
        secs = time.perf_counter() - t0
        a, b = sets(texts), sets(pa.array(reposts))
        rec = float(np.mean([jaccard(x, y) >= 0.8 for x, y in zip(a, b)]))
        fp = float(np.mean([jaccard(a[i], a[k]) >= 0.8 for i, k in neg])) if neg else 0.0
        med = float(np.median([jaccard(x, y) for x, y in zip(a, b)]))
        out[f"{mode}-{n}"] = {"repost_recall_at_0.8": round(rec, 4), "distinct_pairs_merged_at_0.8": round(fp, 4),
                              "median_repost_jaccard": round(med, 4), "docs_per_s": round(len(base) / secs, 1)}
        print(f"  cjk {mode}-{n}: {out[f'{mode}-{n}']}", flush=True)
    return out


def throughput(ctx) -> dict:
    """Signature docs/s in one process (= per core), fast vs datasketch-exact hashing."""
    from operators.dedup.signer import Signer, SignerConfig

    docs, _ = build(ctx.corpora, n_en=300 if ctx.quick else 1500, n_zh=150 if ctx.quick else 600, n_untouched=0)
    batch = pa.RecordBatch.from_pydict({"id": [d["id"] for d in docs], "text": [d["text"] for d in docs],
                                        "source": [d["source"] for d in docs], "lang": [d["lang"] for d in docs]})
    chars = sum(len(d["text"]) for d in docs)
    out = {"docs": len(docs), "mean_chars": round(chars / len(docs))}
    for hash_ in ("fast", "datasketch"):
        for num_perm in (128, 256):
            s = Signer(SignerConfig(hash=hash_, num_perm=num_perm))
            s.process(batch.slice(0, 50))  # warm-up (jieba, caches)
            t0 = time.perf_counter()
            for i in range(0, batch.num_rows, 1024):
                s.process(batch.slice(i, 1024))
            secs = time.perf_counter() - t0
            out[f"{hash_}_{num_perm}_docs_per_s"] = round(len(docs) / secs, 1)
            out[f"{hash_}_{num_perm}_mb_per_s"] = round(chars / secs / 1e6, 2)
    out["fast_over_datasketch_128"] = round(out["fast_128_docs_per_s"] / out["datasketch_128_docs_per_s"], 2)
    print(f"  throughput: {out}", flush=True)
    return out


# ------------------------------------------------------------------------------------------------
def _corpus_docs(corpora: Path, files: list[str], max_chars: int, split_paragraphs: bool = False):
    for name in files:
        p = corpora / f"{name}.jsonl.gz"
        if not p.exists():
            continue
        with gzip.open(p, "rt", encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                texts = [t for t in d["text"].split("\n\n") if len(t.strip()) > 20] if split_paragraphs else [d["text"]]
                for k, t in enumerate(texts):
                    yield {"id": f"{d['id']}#{k}", "text": t[:max_chars], "source": name, "lang": d.get("lang")}


def scale_docs(corpora: Path, n: int, short: bool, seed: int = 0) -> list[dict]:
    """n real documents (with about 10% edited near-duplicate copies and 5% exact copies)."""
    rng = random.Random(seed)
    if short:
        files = ["en_dict_gcide", "en_wordnet_glosses", "en_fortunes", "zh_reviews_neg", "zh_reviews_pos",
                 "zh_peoples_daily_199801", "zh_fortunes_chinese", "en_manpages", "en_linux_doc_txt"]
        src = _corpus_docs(corpora, files, 400, split_paragraphs=True)
    else:
        files = ["en_wikipedia_vital_summaries", "en_dict_gcide", "en_wordnet_glosses", "en_fortunes",
                 "en_manpages", "en_linux_doc_txt", "zh_reviews_pos", "zh_peoples_daily_199801", "zh_libreoffice_help",
                 "en_libreoffice_help", "legal_debian_copyright", "en_dict_jargon"]
        src = _corpus_docs(corpora, files, 3000)
    docs: list[dict] = []
    for d in src:
        docs.append(d)
        r = rng.random()
        if r < 0.10:
            lang = "zh" if (d["lang"] or "").startswith("zh") else "en"
            docs.append({**d, "id": d["id"] + "~near", "text": edit_text(d["text"], lang, 0.02, r < 0.03, rng)})
        elif r < 0.15:
            docs.append({**d, "id": d["id"] + "~copy"})
        if len(docs) >= n:
            break
    k = 0
    while len(docs) < n:  # corpora exhausted: recycle with a marker so documents stay distinct
        d = docs[k]
        docs.append({**d, "id": f"{d['id']}~r{len(docs)}", "text": f"{d['text']} [{len(docs)}]"})
        k += 1
    return docs[:n]


def scale_run(ctx, spark, work: Path, n: int, short: bool) -> dict:
    t0 = time.perf_counter()
    docs = scale_docs(ctx.corpora, n, short)
    in_path = work / f"scale-{n}"
    _write_docs(docs, in_path)
    chars = sum(len(d["text"]) for d in docs)
    del docs
    build_s = time.perf_counter() - t0
    with MemorySampler() as mem:
        metrics, _, secs = _run_stage(spark, in_path, work)
    out = {"docs": n, "mean_chars": round(chars / n), "input_build_seconds": round(build_s, 1),
           "stage_seconds": round(secs, 1), "docs_per_s": round(n / secs, 1),
           "exact_duplicates": metrics.get("dedup/exact_duplicates"),
           "near_duplicates": metrics.get("dedup/near_duplicates"), "too_short": metrics.get("dedup/too_short"),
           "candidate_pairs": metrics.get("dedup/candidate_pairs"), "cc_rounds": metrics.get("dedup/cc_rounds"),
           "oversized_buckets": metrics.get("dedup/oversized_buckets"),
           "phase_seconds": {k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith("seconds/")},
           **mem.report()}
    print(f"  scale {n}: {out}", flush=True)
    shutil.rmtree(in_path, ignore_errors=True)
    return out

# ------------------------------------------------------------------------------------------------
# CPU-seconds of the whole process tree: Winnow's stage (driver + JVM + Python workers) against
# datasketch's fast path (MinHash.update_batch + MinHashLSH) in one process, per document
# ------------------------------------------------------------------------------------------------
COST_EN_FILES = ["en_manpages", "en_linux_doc_txt", "en_dict_gcide", "en_python_doc_rst", "en_python_doc_html",
                 "legal_debian_copyright", "en_wikipedia_vital_summaries", "en_libreoffice_help", "en_dict_jargon",
                 "en_debian_handbook", "en_fortunes", "en_wordnet_glosses"]
COST_ZH_FILES = ["zh_manpages", "zh_libreoffice_help", "zh_peoples_daily_199801", "zh_reviews_pos", "zh_reviews_neg",
                 "zh_fortunes_chinese", "zh_debian_handbook", "zh_gnome_help"]


def _chunks(corpora: Path, files: list[str], lang: str, rng: random.Random):
    """Real text cut into pieces of about 2 KB of UTF-8 (English 1-3k characters; Chinese 330-1000
    characters, short records such as reviews joined until the piece is long enough)."""
    lo, hi = (1000, 3000) if lang == "en" else (330, 1000)
    for name in files:
        p = corpora / f"{name}.jsonl.gz"
        if not p.exists():
            continue
        buf = ""
        with gzip.open(p, "rt", encoding="utf-8") as f:
            for k, line in enumerate(f):
                buf = f"{buf}\n{json.loads(line)['text']}" if buf else json.loads(line)["text"]
                while len(buf) >= lo:
                    cut = rng.randint(lo, hi)
                    yield {"id": f"{name}:{k}:{len(buf)}", "text": buf[:cut], "source": name, "lang": lang}
                    buf = buf[cut:]


def cost_docs(corpora: Path, n: int, seed: int = 0):
    """``n`` documents of about 2 KB (UTF-8) mean, English and Chinese, ~10% edited near-duplicate copies
    (2% word/character edits, a third with a repost header and footer) and ~5% exact copies. When
    the real pieces run out, new distinct documents are spliced from two random pieces (second half of
    one, first half of another: Jaccard about 1/3 or less with either). Deterministic for a seed."""
    rng = random.Random(seed)
    made = 0
    pool: list[dict] = []
    sources = [_chunks(corpora, COST_EN_FILES, "en", rng), _chunks(corpora, COST_ZH_FILES, "zh", rng)]
    while made < n:
        live = [s for s in sources if s is not None]
        if live:
            k = 1 if (rng.random() < 0.25 and sources[1] is not None) or sources[0] is None else 0
            d = next(sources[k], None)
            if d is None:
                sources[k] = None
                continue
            pool.append(d)
        else:
            a, b = rng.choice(pool), rng.choice(pool)
            if a["lang"] != b["lang"]:
                continue
            ta, tb = a["text"], b["text"]
            d = {"id": f"splice-{made}", "text": ta[len(ta) // 2:] + ("" if a["lang"] == "zh" else " ")
                 + tb[: len(tb) // 2 + len(ta) % 7], "source": a["source"], "lang": a["lang"]}
        yield d
        made += 1
        r = rng.random()
        if made < n and r < 0.10:
            yield {**d, "id": d["id"] + "~near", "text": edit_text(d["text"], d["lang"], 0.02, r < 0.03, rng)}
            made += 1
        elif made < n and r < 0.15:
            yield {**d, "id": d["id"] + "~copy"}
            made += 1


def write_cost_docs(corpora: Path, n: int, path: Path, rows_per_file: int = 25_000) -> dict:
    path.mkdir(parents=True, exist_ok=True)
    chunk: list[dict] = []
    chars = nbytes = files = 0

    def flush():
        nonlocal files
        cols = {k: [d[k] for d in chunk] for k in ("id", "text", "source", "lang")}
        cols["meta"] = ["{}"] * len(chunk)
        pq.write_table(pa.table(cols), path / f"part-{files:05d}.parquet")
        files += 1
        chunk.clear()

    for d in cost_docs(corpora, n):
        chunk.append(d)
        chars += len(d["text"])
        nbytes += len(d["text"].encode("utf-8"))
        if len(chunk) >= rows_per_file:
            flush()
    if chunk:
        flush()
    return {"docs": n, "mean_chars": round(chars / n), "mean_utf8_bytes": round(nbytes / n)}


_DS_WORDS_RE = r"[\p{P}\p{S}]"


def datasketch_dedup(in_path: str, num_perm: int = 128, threshold: float = 0.8) -> dict:
    """datasketch's fast path in one process: read the Parquet input, shingle each document (word
    5-grams of the lowercased text with punctuation as spaces; Chinese: character 3-grams without
    whitespace and punctuation, as Winnow does), ``MinHash.update_batch``, then ``MinHashLSH`` (query,
    insert when no match); every MinHash is a copy of one template, so permutations are made once.
    Returns the number of documents found to duplicate an earlier one."""
    import regex
    from datasketch import MinHash, MinHashLSH

    punct = regex.compile(_DS_WORDS_RE)
    cjk_drop = regex.compile(r"[\p{P}\p{S}\s]+")
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    template = MinHash(num_perm=num_perm)  # permutations made once, shared by every copy
    n = dups = 0
    for f in sorted(Path(in_path).glob("*.parquet")):
        t = pq.read_table(f, columns=["id", "text", "lang"])
        for id_, text, lang in zip(t.column("id").to_pylist(), t.column("text").to_pylist(),
                                   t.column("lang").to_pylist()):
            text = (text or "").lower()
            if (lang or "").startswith("zh"):
                s = cjk_drop.sub("", text)
                sh_ = [s[i: i + 3].encode("utf-8") for i in range(len(s) - 2)]
            else:
                w = punct.sub(" ", text).split()
                sh_ = [" ".join(w[i: i + 5]).encode("utf-8") for i in range(len(w) - 4)]
            n += 1
            if not sh_:
                continue
            m = template.copy()
            m.update_batch(sh_)
            if lsh.query(m):
                dups += 1
            else:
                lsh.insert(id_, m)
    return {"docs": n, "duplicates": dups}


def datasketch_cost(in_path: Path) -> dict:
    """CPU-seconds of a fresh Python process running :func:`datasketch_dedup` (interpreter start
    included), from ``RUSAGE_CHILDREN``."""
    import subprocess
    import sys

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    code = ("import json, sys; from bench.bench_dedup import datasketch_dedup; "
            f"print(json.dumps(datasketch_dedup({str(in_path)!r})))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**res, "cpu_seconds": round(cpu, 1), "wall_seconds": round(time.perf_counter() - t0, 1)}


def _spark_job_count(spark) -> int:
    return len(spark.sparkContext.statusTracker().getJobIdsForGroup())


def winnow_cost(spark, in_path: Path, work: Path, **params) -> dict:
    """Process-tree CPU-seconds of one dedup stage: read the Parquet input, dedup, write kept and rejected."""
    load0 = load_average()
    jobs0 = _spark_job_count(spark)
    cpu0 = tree_cpu_seconds()
    metrics, _, secs = _run_stage(spark, in_path, work, **params)
    cpu = tree_cpu_seconds() - cpu0
    return {"cpu_seconds": round(cpu, 1), "wall_seconds": round(secs, 1),
            "spark_jobs": _spark_job_count(spark) - jobs0, "load_before": load0, "load_after": load_average(),
            "exact_duplicates": metrics.get("dedup/exact_duplicates"),
            "near_duplicates": metrics.get("dedup/near_duplicates"),
            "candidate_pairs": metrics.get("dedup/candidate_pairs"), "cc_rounds": metrics.get("dedup/cc_rounds"),
            "components_local": metrics.get("dedup/components_local"),
            "phase_wall_seconds": {k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith("seconds/")}}


def cost_comparison(ctx, spark, work: Path, sizes: tuple[int, ...]) -> dict:
    """Winnow's dedup stage against datasketch's update_batch + LSH on the same documents, CPU-seconds
    of the whole process tree per document; pass when Winnow <= datasketch at 300k documents."""
    out: dict = {"note": "CPU-seconds of the whole process tree (driver, JVM, Python workers) for Winnow's "
                         "stage after a 5k-document warm-up run; datasketch in one fresh process"}
    warm = work / "cost-warm"
    write_cost_docs(ctx.corpora, 5_000, warm)
    out["warmup_5k"] = winnow_cost(spark, warm, work)
    shutil.rmtree(warm, ignore_errors=True)
    for n in sizes:
        in_path = work / f"cost-{n}"
        shape = write_cost_docs(ctx.corpora, n, in_path)
        w = winnow_cost(spark, in_path, work)
        d = datasketch_cost(in_path)
        row = {**shape, "winnow": w, "datasketch": d,
               "winnow_ms_per_doc": round(1000 * w["cpu_seconds"] / n, 3),
               "datasketch_ms_per_doc": round(1000 * d["cpu_seconds"] / n, 3)}
        row["winnow_over_datasketch"] = round(w["cpu_seconds"] / max(d["cpu_seconds"], 1e-9), 3)
        out[f"{n}"] = row
        print(f"  cost {n}: {row}", flush=True)
        shutil.rmtree(in_path, ignore_errors=True)
    if "300000" in out:
        r = out["300000"]
        out["target"] = "Winnow <= datasketch CPU-seconds per document at 300k documents"
        out["pass"] = r["winnow_ms_per_doc"] <= r["datasketch_ms_per_doc"]
    return out


def run(ctx, large: bool = False,
        parts: tuple[str, ...] = ("cost", "throughput", "cjk", "accuracy", "scale"),
        cost_sizes: tuple[int, ...] | None = None) -> dict:
    if ctx.corpora is None:
        return {"skipped": "no ../shared/corpora"}
    work = Path(tempfile.mkdtemp(prefix="winnow-bench-dedup-"))
    result: dict = {"machine_note": "2-core CPU, local[2] Spark, driver memory 8g", "load_at_start": load_average()}
    try:
        if "throughput" in parts:
            result["signature_throughput_per_core"] = throughput(ctx)
        if "cjk" in parts:
            result["cjk_shingles"] = cjk_shingle_study(ctx)
        spark = _spark()
        if "cost" in parts:
            sizes = cost_sizes or ((10_000, 30_000) if ctx.quick else (100_000, 300_000))
            if large and not cost_sizes:
                sizes = (*sizes, 1_000_000)
            result["cost_vs_datasketch"] = cost_comparison(ctx, spark, work, tuple(sizes))
        if "accuracy" in parts:
            result["accuracy_threshold_0.8"] = accuracy(ctx, spark, work)
        if "scale" in parts:
            n = 20_000 if ctx.quick else 200_000
            result[f"stage_{n}_docs"] = scale_run(ctx, spark, work, n, short=False)
        if large:
            result["stage_1M_short_docs"] = scale_run(ctx, spark, work, 1_000_000, short=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["load_at_end"] = load_average()
    return result


def main(argv=None) -> int:
    from bench.run import BenchContext, find_corpora

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--large", action="store_true",
                    help="also the 1M-document cost run and the 1M-short-documents stage run (slow)")
    ap.add_argument("--parts", default="cost,throughput,cjk,accuracy,scale")
    ap.add_argument("--cost-sizes", default="", help="comma-separated document counts for the cost part "
                    "(default 100000,300000; --quick 10000,30000)")
    args = ap.parse_args(argv)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = BenchContext(find_corpora(), args.quick, out_dir)
    sizes = tuple(int(x) for x in args.cost_sizes.split(",") if x) or None
    res = run(ctx, large=args.large, parts=tuple(p for p in args.parts.split(",") if p), cost_sizes=sizes)
    name = "dedup" + ("_quick" if args.quick else "") + ("_large" if args.large else "")
    (out_dir / f"{name}.json").write_text(json.dumps(res, indent=2, ensure_ascii=False))
    print(json.dumps(res, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
