"""Code near-duplicate benchmark: a labelled set of real code near-duplicates and distinct files.

    python -m bench.bench_dedup_code            # 150 C + 150 Python base files
    python -m bench.bench_dedup_code --quick    # 60 + 60

Built deterministically from ``../shared/corpora`` (``code_linux_c``: Linux kernel C sources;
``code_python_stdlib``: the Python 3.11 standard library):

* **positives** (near-duplicates by construction): each base file gets one copy with one or two of
  these edits, the kinds vendored copies and forks carry: ``vendored`` (another licence / provenance
  comment block on top), ``rename`` (one or two identifiers renamed everywhere), ``comments`` (three to
  six comment lines added), ``reformat`` (re-indented, C braces moved to their own line, trailing
  spaces and blank lines), ``changed_function`` (a few lines of one function changed: a constant, an
  added check, a deleted line);
* **negatives**: two distinct files of the same language that share the same long licence header
  (``licence_shared``, both files prefixed with the same header, short files favoured so the header
  is a large share) and two distinct files of the same directory (``same_dir``: same includes and
  boilerplate).

A pair is predicted duplicate when the Jaccard similarity of the stage's shingles reaches the
threshold (what ``verify: exact`` decides once LSH made the pair a candidate), and by the MinHash
estimate (128 permutations). Reported for Winnow's code shingles (``kind: code``) and, as the
baseline, for the prose word 5-grams code got before. The exact hash is checked on whitespace-only
reformatted copies.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
FILES = {"c": "code_linux_c", "python": "code_python_stdlib"}
C_KEYWORDS = {"if", "else", "for", "while", "do", "return", "switch", "case", "break", "continue", "goto", "sizeof",
              "struct", "union", "enum", "static", "const", "void", "int", "char", "long", "short", "unsigned",
              "signed", "float", "double", "typedef", "extern", "inline", "volatile", "default", "include",
              "define", "ifdef", "ifndef", "endif", "bool", "true", "false", "NULL", "u8", "u16", "u32", "u64"}
PY_KEYWORDS = {"def", "class", "return", "if", "elif", "else", "for", "while", "in", "not", "and", "or", "is",
               "None", "True", "False", "import", "from", "as", "with", "try", "except", "finally", "raise",
               "lambda", "yield", "pass", "break", "continue", "self", "global", "nonlocal", "assert", "del",
               "async", "await", "print", "len", "str", "int", "list", "dict", "set", "object"}
GPL_HEADER = """/*
 * This program is free software; you can redistribute it and/or modify
 * it under the terms of the GNU General Public License version 2 as
 * published by the Free Software Foundation.
 *
 * This program is distributed in the hope that it will be useful,
 * but WITHOUT ANY WARRANTY; without even the implied warranty of
 * MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
 * GNU General Public License for more details.
 *
 * You should have received a copy of the GNU General Public License
 * along with this program; if not, write to the Free Software
 * Foundation, Inc., 51 Franklin Street, Fifth Floor, Boston, MA 02110-1301 USA.
 */
"""
APACHE_HEADER = """# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""
EDITS = ("vendored", "rename", "comments", "reformat", "changed_function")


def read_code(corpora: Path, lang: str, min_chars: int = 600, max_chars: int = 20_000) -> list[dict]:
    p = corpora / f"{FILES[lang]}.jsonl.gz"
    if not p.exists():
        return []
    with gzip.open(p, "rt", encoding="utf-8") as f:
        docs = [json.loads(line) for line in f]
    docs = [d for d in docs if min_chars <= len(d.get("text") or "") <= max_chars]
    return sorted(docs, key=lambda d: d["id"])


def _comment(lang: str, text: str) -> str:
    return f"# {text}" if lang == "python" else f"/* {text} */"


def _header(lang: str) -> str:
    return APACHE_HEADER if lang == "python" else GPL_HEADER


def vendored(text: str, lang: str, rng: random.Random) -> str:
    who = rng.choice(["acme-embedded", "vendor/third_party", "contrib/upstream", "libfoo-compat"])
    lines = [f"Vendored from {who} at revision {rng.randrange(16 ** 8):08x}; local changes marked XXX.",
             "Do not edit by hand unless the upstream copy is updated as well."]
    block = "\n".join(_comment(lang, ln) for ln in lines)
    return f"{block}\n{text}"


def rename(text: str, lang: str, rng: random.Random) -> str:
    keywords = PY_KEYWORDS if lang == "python" else C_KEYWORDS
    counts: dict[str, int] = {}
    for m in re.finditer(r"\b[a-z_][a-z0-9_]{2,}\b", text):
        counts[m.group()] = counts.get(m.group(), 0) + 1
    names = sorted(n for n, c in counts.items() if 2 <= c <= 8 and n not in keywords)
    for name in rng.sample(names, min(len(names), rng.choice([1, 2]))):
        new = rng.choice(["tmp", "val", "ctx", "buf", "res", "item"]) + "_" + name[:3]
        text = re.sub(rf"\b{re.escape(name)}\b", new, text)
    return text


def comments(text: str, lang: str, rng: random.Random) -> str:
    lines = text.split("\n")
    notes = ["FIXME: check this on big-endian targets", "keep in sync with the upstream version",
             "see the bug tracker for the history of this workaround", "NOTE: called with the lock held",
             "TODO: handle the error path", "local patch: disabled tracing"]
    for _ in range(rng.randint(3, 6)):
        i = rng.randrange(len(lines) + 1)
        indent = re.match(r"\s*", lines[i] if i < len(lines) else "").group()
        lines.insert(i, indent + _comment(lang, rng.choice(notes)))
    return "\n".join(lines)


def reformat(text: str, lang: str, rng: random.Random) -> str:
    out = []
    for ln in text.split("\n"):
        if lang == "python":
            stripped = ln.lstrip(" ")
            ln = " " * ((len(ln) - len(stripped)) // 2) + stripped  # 4-space -> 2-space indent
        else:
            ln = ln.replace("\t", "    ")
            if ln.rstrip().endswith(") {") and rng.random() < 0.7:  # brace on its own line
                head = ln.rstrip()[:-1].rstrip()
                ln = head + "\n" + re.match(r"\s*", ln).group() + "{"
        if rng.random() < 0.1:
            ln += "  "
        out.append(ln)
        if rng.random() < 0.03:
            out.append("")
    return "\n".join(out)


def changed_function(text: str, lang: str, rng: random.Random) -> str:
    lines = text.split("\n")
    starts = [i for i, ln in enumerate(lines)
              if (ln.lstrip().startswith("def ") if lang == "python" else (ln.startswith("{") or ln.endswith(") {")))]
    i = rng.choice(starts) if starts else rng.randrange(len(lines))
    body = list(range(i + 1, min(i + 12, len(lines))))
    if not body:
        return text + "\n" + _comment(lang, "changed")
    for j in rng.sample(body, min(2, len(body))):  # a changed constant or a deleted line
        if re.search(r"\b\d+\b", lines[j]):
            lines[j] = re.sub(r"\b\d+\b", lambda m: str(int(m.group()) + 1), lines[j], count=1)
        else:
            lines[j] = ""
    k = body[0]
    indent = re.match(r"\s*", lines[k]).group() or ("    " if lang == "python" else "\t")
    check = "if value is None:\n" + indent + "    return None" if lang == "python" else "if (!dev)\n" + indent + \
        "\treturn -EINVAL;"
    lines.insert(k, indent + check)
    return "\n".join(lines)


EDIT_FUNCS = {"vendored": vendored, "rename": rename, "comments": comments, "reformat": reformat,
              "changed_function": changed_function}


def build(corpora: Path, n_per_lang: int = 150, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(documents, labelled pairs). Documents: id, text, source, lang (``code:<language>``), kind
    ("code"). Pairs: a, b, duplicate (bool), kind (the edits, or the negative's kind), lang."""
    rng = random.Random(seed)
    docs: list[dict] = []
    pairs: list[dict] = []
    for lang in ("c", "python"):
        pool = read_code(corpora, lang)
        if len(pool) < 4:
            continue
        rng.shuffle(pool)
        base, rest = pool[:n_per_lang], pool[n_per_lang:]

        def add(id_, text, path, lang=lang):
            docs.append({"id": id_, "text": text, "source": FILES[lang], "lang": f"code:{lang}", "kind": "code",
                         "path": path})

        for i, d in enumerate(base):
            kinds = sorted(rng.sample(EDITS, rng.choice([1, 2])))
            text = d["text"]
            for k in kinds:
                text = EDIT_FUNCS[k](text, lang, rng)
            add(f"{lang}-orig-{i}", d["text"], d.get("path", ""))
            add(f"{lang}-copy-{i}", text, d.get("path", ""))
            pairs.append({"a": f"{lang}-orig-{i}", "b": f"{lang}-copy-{i}", "duplicate": True,
                          "kind": "+".join(kinds), "lang": lang})
        # negatives: distinct files sharing a licence header (short ones first), and same-directory files
        short = sorted(rest, key=lambda d: len(d["text"]))[: max(n_per_lang, 2)]
        rng.shuffle(short)
        for j in range(0, len(short) - 1, 2):
            a, b = short[j], short[j + 1]
            add(f"{lang}-lic-{j}", _header(lang) + a["text"], a.get("path", ""))
            add(f"{lang}-lic-{j + 1}", _header(lang) + b["text"], b.get("path", ""))
            pairs.append({"a": f"{lang}-lic-{j}", "b": f"{lang}-lic-{j + 1}", "duplicate": False,
                          "kind": "licence_shared", "lang": lang})
        by_dir: dict[str, list[int]] = {}
        for i, d in enumerate(base):
            by_dir.setdefault(str(Path(d.get("path", "")).parent), []).append(i)
        for g in sorted(by_dir.values()):
            for x, y in zip(g, g[1:]):
                pairs.append({"a": f"{lang}-orig-{x}", "b": f"{lang}-orig-{y}", "duplicate": False,
                              "kind": "same_dir", "lang": lang})
    return docs, pairs


def _shingle_sets(docs: list[dict], kind_column: bool, cfg) -> dict[str, np.ndarray]:
    from operators.dedup import shingle as sh
    from operators.dedup.signer import Signer, code_mask

    signer = Signer(cfg)
    texts = pa.array([d["text"] for d in docs])
    langs = pa.array([d["lang"] for d in docs])
    kinds = pa.array([d["kind"] for d in docs]) if kind_column else None
    hv, counts = signer.shingle_hashes(texts, sh.cjk_mask(texts, langs, cfg.cjk_ratio), code_mask(kinds), langs)
    ends = np.cumsum(counts)
    return {d["id"]: np.unique(hv[e - c: e]) for d, e, c in zip(docs, ends, counts)}


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = len(np.union1d(a, b))
    return len(np.intersect1d(a, b, assume_unique=True)) / union if union else 1.0


def evaluate(docs: list[dict], pairs: list[dict], threshold: float = 0.8, kind_column: bool = True,
             code_ngram: int = 5, num_perm: int = 128) -> dict:
    from operators.dedup import minhash as mh
    from operators.dedup.signer import SignerConfig

    cfg = SignerConfig(code_ngram=code_ngram, num_perm=num_perm)
    sets = _shingle_sets(docs, kind_column, cfg)
    ids = sorted(sets)
    perms = mh.permutations(num_perm, cfg.seed, cfg.scheme)
    hv = np.concatenate([sets[i] for i in ids]).astype(np.uint32)
    sig = dict(zip(ids, mh.signatures(hv, np.array([len(sets[i]) for i in ids]), perms)))
    truth = np.array([p["duplicate"] for p in pairs])
    jac = np.array([_jaccard(sets[p["a"]], sets[p["b"]]) for p in pairs])
    est = np.array([float(mh.estimate_jaccard(sig[p["a"]], sig[p["b"]])) for p in pairs])
    out: dict = {}
    for name, score in (("exact_jaccard", jac), ("minhash_estimate", est)):
        pred = score >= threshold
        tp = int((pred & truth).sum())
        out[name] = {"precision": round(tp / max(int(pred.sum()), 1), 4),
                     "recall": round(tp / max(int(truth.sum()), 1), 4)}
    by_kind: dict[str, dict] = {}
    for p, j in zip(pairs, jac):
        for k in p["kind"].split("+"):
            r = by_kind.setdefault(k, {"pairs": 0, "predicted_duplicate": 0, "median_jaccard": []})
            r["pairs"] += 1
            r["predicted_duplicate"] += int(j >= threshold)
            r["median_jaccard"].append(j)
    for r in by_kind.values():
        r["median_jaccard"] = round(float(np.median(r["median_jaccard"])), 3)
    out["by_edit_or_negative_kind"] = dict(sorted(by_kind.items()))
    return out


def exact_check(docs: list[dict], pairs: list[dict]) -> dict:
    """Whitespace-only reformatted copies (re-indented, trailing spaces, spacing after commas changed)
    that the exact hash catches: code normalisation (whitespace removed) against the prose one."""
    from operators.dedup.signer import Signer, SignerConfig

    rng = random.Random(3)
    by_id = {d["id"]: d for d in docs}
    originals = [by_id[p["a"]] for p in pairs if p["duplicate"]]
    copies = []
    for d in originals:
        lines = d["text"].split("\n")
        out = []
        for ln in lines:  # re-indent, trailing spaces, and a formatter's spacing after commas
            ln = "  " + ln if rng.random() < 0.5 else ln.replace("\t", "    ")
            ln = ln.replace(", ", ",") if rng.random() < 0.5 else ln.replace(",", ", ")
            out.append(ln + " " * rng.randint(0, 2))
        copies.append("\n".join(out))
    signer = Signer(SignerConfig())
    orig = pa.array([d["text"] for d in originals])
    cop = pa.array(copies)
    n = len(originals)
    out = {"pairs": n}
    for name, code in (("code_normalisation", np.ones(n, bool)), ("prose_normalisation", np.zeros(n, bool))):
        same = [a == b for a, b in zip(signer.exact_hashes(orig, code), signer.exact_hashes(cop, code))]
        out[f"{name}_caught"] = round(sum(same) / max(n, 1), 4)
    return out


def run(ctx, threshold: float = 0.8) -> dict:
    if ctx.corpora is None:
        return {"skipped": "no ../shared/corpora"}
    n = 60 if ctx.quick else 150
    docs, pairs = build(ctx.corpora, n_per_lang=n)
    if not pairs:
        return {"skipped": "no code files in ../shared/corpora"}
    truth = [p["duplicate"] for p in pairs]
    res: dict = {"docs": len(docs), "pairs": len(pairs), "near_duplicate_pairs": sum(truth),
                 "distinct_pairs": len(truth) - sum(truth), "threshold": threshold}
    res["code_shingles_token_5grams"] = evaluate(docs, pairs, threshold, kind_column=True, code_ngram=5)
    res["code_shingles_token_3grams"] = evaluate(docs, pairs, threshold, kind_column=True, code_ngram=3)
    res["code_shingles_token_5grams_at_0.7"] = evaluate(docs, pairs, 0.7, kind_column=True, code_ngram=5)
    res["baseline_prose_word_5grams"] = evaluate(docs, pairs, threshold, kind_column=False)
    res["exact_whitespace_reformat"] = exact_check(docs, pairs)
    return res


def main(argv=None) -> int:
    from bench.run import BenchContext, find_corpora

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    res = run(BenchContext(find_corpora(), args.quick, out_dir))
    (out_dir / ("dedup_code" + ("_quick" if args.quick else "") + ".json")).write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
