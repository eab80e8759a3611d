"""Dedup benchmark: accuracy on a labelled near-duplicate set, signature throughput, whole-stage time
and peak memory, and (``--large``) one million short documents.

    python -m bench.bench_dedup            # accuracy + throughput + 200k-document stage run
    python -m bench.bench_dedup --quick    # smaller inputs
    python -m bench.bench_dedup --large    # adds the 1M-short-documents run (slow)

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

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------
# memory sampling: the JVM (driver + executor in local mode) and the Python workers
# ------------------------------------------------------------------------------------------------
def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


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


def run(ctx, large: bool = False, parts: tuple[str, ...] = ("throughput", "cjk", "accuracy", "scale")) -> dict:
    if ctx.corpora is None:
        return {"skipped": "no ../shared/corpora"}
    work = Path(tempfile.mkdtemp(prefix="winnow-bench-dedup-"))
    result: dict = {"machine_note": "2-core CPU, local[2] Spark, driver memory 8g"}
    try:
        if "throughput" in parts:
            result["signature_throughput_per_core"] = throughput(ctx)
        if "cjk" in parts:
            result["cjk_shingles"] = cjk_shingle_study(ctx)
        spark = _spark()
        if "accuracy" in parts:
            result["accuracy_threshold_0.8"] = accuracy(ctx, spark, work)
        if "scale" in parts:
            n = 20_000 if ctx.quick else 200_000
            result[f"stage_{n}_docs"] = scale_run(ctx, spark, work, n, short=False)
        if large:
            result["stage_1M_short_docs"] = scale_run(ctx, spark, work, 1_000_000, short=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def main(argv=None) -> int:
    from bench.run import BenchContext, find_corpora

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--large", action="store_true", help="also run 1M short documents (slow)")
    ap.add_argument("--parts", default="throughput,cjk,accuracy,scale")
    args = ap.parse_args(argv)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = BenchContext(find_corpora(), args.quick, out_dir)
    res = run(ctx, large=args.large, parts=tuple(p for p in args.parts.split(",") if p))
    name = "dedup" + ("_quick" if args.quick else "") + ("_large" if args.large else "")
    (out_dir / f"{name}.json").write_text(json.dumps(res, indent=2, ensure_ascii=False))
    print(json.dumps(res, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
