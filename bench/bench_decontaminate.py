"""Decontamination speed and index size (docs/decontaminate.md).

* **Index memory per 10,000 items**, per kind: 10,000 benchmark-like items built from real text
  (en: a Wikipedia summary's first sentence as the question, four sentences as choices; zh: a People's
  Daily line as the question, four clauses as choices; code: a standard-library function,
  signature + docstring as the prompt, body as the solution), the bytes of the built n-gram set
  (sorted keys, postings, bit filters, per-item counts; item id strings apart) and the build time.
* **Throughput**: documents per second per core (CPU seconds of this process, ``time.process_time``,
  and wall seconds) of the stage with all 30,000 items loaded, over documents of other corpora
  (Debian, GNOME, LibreOffice help, manpages, reviews, Linux C) and the bundled sample's documents of other
  sources; drop and cut mode.

Needs ../shared/corpora for the full run; without it, items come from data/benchmarks' held-out
sets and documents from data/sample (figures are then per the items there, scaled to 10,000).
"""

from __future__ import annotations

import ast
import gzip
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC_SOURCES = ["en_debian_handbook", "en_gnome_help", "en_libreoffice_help", "en_manpages", "zh_debian_handbook",
               "zh_gnome_help", "zh_libreoffice_help", "zh_reviews_pos", "zh_reviews_neg", "code_linux_c",
               "en_linux_doc_txt"]


def _read(path: Path, limit: int | None = None) -> list[dict]:
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            out.append(json.loads(line))
            if limit is not None and len(out) >= limit:
                break
    return out


def _en_items(corpora: Path, n: int) -> list[dict]:
    docs = [r["text"] for r in _read(corpora / "en_wikipedia_vital_summaries.jsonl.gz")]
    sents = [[s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", " ".join(t.split())) if s] for t in docs]
    sents = [s for s in sents if len(s) >= 2]
    rng = random.Random(0)
    out = []
    for i in range(n):
        q = sents[i % len(sents)]
        others = [sents[rng.randrange(len(sents))] for _ in range(3)]
        out.append({"id": f"en-{i}", "question": q[0] if i < len(sents) else f"{q[0]} ({i})",
                    "choices": [q[1]] + [o[-1] for o in others], "answer": "A"})
    return out


def _zh_items(corpora: Path, n: int) -> list[dict]:
    lines = [" ".join(r["text"].split()) for r in _read(corpora / "zh_peoples_daily_199801.jsonl.gz")]
    qs = [x for x in lines if len(x) >= 15]
    clauses = [c for x in lines for c in re.split(r"[，。；！？]", x) if 6 <= len(c) <= 20]
    rng = random.Random(1)
    return [{"id": f"zh-{i}", "question": qs[i % len(qs)], "choices": [rng.choice(clauses) for _ in range(4)],
             "answer": "B"} for i in range(n)]


def _code_items(corpora: Path, n: int) -> list[dict]:
    out: list[dict] = []
    for r in _read(corpora / "code_python_stdlib.jsonl.gz"):
        try:
            tree = ast.parse(r["text"])
        except SyntaxError:
            continue
        lines = r["text"].splitlines(keepends=True)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.body and node.end_lineno - node.lineno >= 3:
                head_end = node.body[0].end_lineno if ast.get_docstring(node) else node.lineno
                out.append({"task_id": f"code/{len(out)}", "prompt": "".join(lines[node.lineno - 1:head_end]),
                            "canonical_solution": "".join(lines[head_end:node.end_lineno])})
                if len(out) >= n:
                    return out
    return out


def _write(rows: list[dict], path: Path) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _specs(tmp: Path, corpora: Path | None, n: int) -> dict[str, dict]:
    mcq = {"id": "id", "question": "question", "choices": "choices", "answer": "answer"}
    code = {"id": "task_id", "question": "prompt", "answer": "canonical_solution"}
    bench = ROOT / "data" / "benchmarks"
    if corpora is None:
        return {"en": {"name": "en", "path": str(bench / "heldout_en.jsonl.gz"), "kind": "en", **mcq},
                "zh": {"name": "zh", "path": str(bench / "heldout_zh.jsonl.gz"), "kind": "zh", **mcq},
                "code": {"name": "code", "path": str(bench / "heldout_code.jsonl.gz"), "kind": "code", **code}}
    return {"en": {"name": "en", "path": _write(_en_items(corpora, n), tmp / "en.jsonl"), "kind": "en", **mcq},
            "zh": {"name": "zh", "path": _write(_zh_items(corpora, n), tmp / "zh.jsonl"), "kind": "zh", **mcq},
            "code": {"name": "code", "path": _write(_code_items(corpora, n), tmp / "code.jsonl"), "kind": "code",
                     **code}}


def _docs(corpora: Path | None, quick: bool) -> list[str]:
    """Documents of other texts than the items (with the corpora: the sample's Wikipedia, People's
    Daily, standard-library and synthetic documents are left out, the items being made of those)."""
    texts = []
    for f in ("en", "zh", "code", "web_junk"):
        texts += [r["text"] for r in _read(ROOT / "data" / "sample" / f"{f}.jsonl.gz")
                  if corpora is None or not r["source"].startswith(("en_wikipedia", "zh_peoples", "code_python",
                                                                    "synthetic"))]
    if corpora is not None:
        per = 150 if quick else 1000
        for name in DOC_SOURCES:
            p = corpora / f"{name}.jsonl.gz"
            if p.is_file():
                texts += [r["text"] for r in _read(p, per)]
    return texts


def _timed(op, table) -> tuple[object, float, float]:
    from pipeline.local import run_operator

    c0, w0 = time.process_time(), time.perf_counter()
    res = run_operator(op, table)
    return res, time.process_time() - c0, time.perf_counter() - w0


def run(ctx) -> dict:
    from operators.decontaminate import Decontaminate
    from operators.decontaminate.text import tables
    from pipeline.local import make_table

    n = 2000 if ctx.quick else 10000
    load_before = os.getloadavg()
    c0 = time.perf_counter()
    tables()
    tables_s = time.perf_counter() - c0
    out: dict = {"items_per_kind": n if ctx.corpora else None, "normalisation_tables_s": round(tables_s, 2),
                 "index": {}}
    with tempfile.TemporaryDirectory() as tmp:
        specs = _specs(Path(tmp), ctx.corpora, n)
        for kind, spec in specs.items():
            c0, w0 = time.process_time(), time.perf_counter()
            op = Decontaminate(benchmarks=[spec])
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            s = op.params()["index"]["benchmarks"][0]
            scale = 10000 / max(s["items"], 1)
            ids = sum(sys.getsizeof(i) for i in op.index.item_ids)
            out["index"][kind] = {
                "items": s["items"], "items_indexed": s["items_indexed"], "grams": s["grams"],
                "grams_per_item": round(s["grams"] / max(s["items"], 1), 1), "n": op.params()["benchmarks"][0]["n"],
                "bytes": op.index.nbytes, "mib_per_10k_items": round(op.index.nbytes * scale / 2**20, 3),
                "bytes_per_gram": round(op.index.nbytes / max(s["grams"], 1), 1),
                "item_id_strings_mib_per_10k_items": round(ids * scale / 2**20, 3),
                "build_cpu_s": round(cpu, 2), "build_wall_s": round(wall, 2)}
        all_op = Decontaminate(benchmarks=list(specs.values()))
        out["index"]["all"] = {"items": len(all_op.index.item_ids), "bytes": all_op.index.nbytes,
                               "mib": round(all_op.index.nbytes / 2**20, 2)}
        texts = _docs(ctx.corpora, ctx.quick)
        table = make_table(texts)
        mb = sum(len(t.encode()) for t in texts) / 1e6
        out["docs"] = len(texts)
        out["mb"] = round(mb, 1)
        all_op.setup()
        _timed(all_op, make_table(texts[:500]))  # warm-up (powers tables, caches)
        for mode in ("drop", "cut"):
            op = all_op if mode == "drop" else Decontaminate(benchmarks=list(specs.values()), mode="cut")
            res, cpu, wall = _timed(op, table)
            out[f"throughput_{mode}"] = {
                "docs_per_cpu_s": round(len(texts) / cpu), "docs_per_wall_s": round(len(texts) / wall),
                "mb_per_cpu_s": round(mb / cpu, 2), "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
                "flagged": res.rejected.num_rows + int(sum(v for k, v in res.metrics.items() if k.endswith("/docs_cut")))}
    out["loadavg_before"] = [round(x, 2) for x in load_before]
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    out["note"] = ("docs_per_cpu_s counts this process's CPU seconds (one core: the operator is single-threaded); "
                   "docs_per_wall_s depends on the machine's load (loadavg_*)")
    return out


if __name__ == "__main__":
    from bench.run import BenchContext, find_corpora

    print(json.dumps(run(BenchContext(find_corpora(), "--quick" in sys.argv, ROOT / "bench" / "results")), indent=2))
