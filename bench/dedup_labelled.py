"""A labelled near-duplicate set built from real documents (``../shared/corpora``).

Each sampled document gets an edited copy: word edits (substitute / delete / insert a word from the
same document, or for Chinese characters from the same document) at a rate drawn uniformly from
``[0, max_edit]``, and, for a third of them, a header and a footer like a repost adds. Untouched
pairs (two different real documents of the same source) are added as negatives. Every pair's label
is the **exact** Jaccard similarity of the same shingles the stage uses (word 5-grams after
simplification; CJK character 3-grams), computed with Python sets: ``duplicate = J >= threshold``.
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass
from pathlib import Path

EN_FILES = ["en_wikipedia_vital_summaries", "en_manpages", "en_python_doc_rst", "en_linux_doc_txt",
            "en_libreoffice_help", "en_dict_jargon", "legal_debian_copyright"]
ZH_FILES = ["zh_libreoffice_help", "zh_manpages", "zh_gnome_help", "zh_debian_handbook", "zh_fortunes_chinese"]
EN_HEADERS = ["Posted by admin on 2023-04-01 | Share this article", "Reposted from the community wiki, all rights "
              "reserved by the original authors", "Originally published in our newsletter, issue 42"]
EN_FOOTERS = ["Click here to subscribe to our newsletter and never miss an update.", "Copyright 2024. "
              "This page was mirrored automatically; report problems to the webmaster.", "Related posts: none"]
ZH_HEADERS = ["转载自技术社区 作者：佚名 发布时间：2023年5月1日", "本文来源于网络，仅供学习交流使用", "【原创】欢迎关注我们的公众号"]
ZH_FOOTERS = ["本文版权归原作者所有，如有侵权请联系删除。", "更多精彩内容请访问我们的网站，欢迎转发分享。", "责任编辑：小王"]


@dataclass
class LabelledPair:
    a: str
    b: str
    jaccard: float
    kind: str  # edit | untouched
    lang: str


def read_docs(corpora: Path, files: list[str], min_chars: int, max_chars: int, per_file: int,
              rng: random.Random) -> list[dict]:
    out = []
    for name in files:
        p = corpora / f"{name}.jsonl.gz"
        if not p.exists():
            continue
        with gzip.open(p, "rt", encoding="utf-8") as f:
            docs = [json.loads(line) for line in f]
        docs = [d for d in docs if len(d.get("text") or "") >= min_chars]
        rng.shuffle(docs)
        for d in docs[:per_file]:
            d["text"] = d["text"][:max_chars]
            d["source"] = name
            out.append(d)
    return out


def shingle_set(text: str, lang: str, ngram: int = 5, cjk_ngram: int = 3) -> set:
    """The stage's shingles as Python strings (same simplification, see operators/dedup/shingle.py)."""
    import pyarrow as pa

    from operators.dedup import shingle as sh

    if lang == "zh":
        s = sh.simplify_cjk(pa.array([text])).to_pylist()[0]
        return {s[i: i + cjk_ngram] for i in range(len(s) - cjk_ngram + 1)}
    toks = sh.simplify_words(pa.array([text])).to_pylist()[0].split()
    return {" ".join(toks[i: i + ngram]) for i in range(len(toks) - ngram + 1)}


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def edit_text(text: str, lang: str, rate: float, frame: bool, rng: random.Random) -> str:
    if lang == "zh":
        units = list(text)
        pool = [c for c in units if not c.isspace()] or ["的"]
    else:
        units = text.split(" ")
        pool = [w for w in units if w] or ["the"]
    out = []
    for u in units:
        r = rng.random()
        if r < rate / 3:  # substitute
            out.append(rng.choice(pool))
        elif r < 2 * rate / 3:  # delete
            continue
        elif r < rate:  # insert
            out.extend([u, rng.choice(pool)])
        else:
            out.append(u)
    body = ("" if lang == "zh" else " ").join(out)
    if frame:
        h = rng.choice(ZH_HEADERS if lang == "zh" else EN_HEADERS)
        f = rng.choice(ZH_FOOTERS if lang == "zh" else EN_FOOTERS)
        body = f"{h}\n\n{body}\n\n{f}"
    return body


def build(corpora: Path, n_en: int = 600, n_zh: int = 300, n_untouched: int = 600, max_edit: float = 0.12,
          seed: int = 0) -> tuple[list[dict], list[LabelledPair]]:
    """(documents, labelled pairs). Documents have id, text, source, lang."""
    rng = random.Random(seed)
    en = read_docs(corpora, EN_FILES, 400, 6000, max(n_en // len(EN_FILES) + 1, 1), rng)[:n_en]
    zh = read_docs(corpora, ZH_FILES, 200, 3000, max(n_zh // len(ZH_FILES) + 1, 1), rng)[:n_zh]
    docs, pairs = [], []
    for lang, base in (("en", en), ("zh", zh)):
        for i, d in enumerate(base):
            a_id = f"{lang}-orig-{i}"
            b_id = f"{lang}-edit-{i}"
            # zh edits are per character (a 5-gram spans ~3 words): the same rate range is harsher
            rate = rng.uniform(0, max_edit if lang == "en" else max_edit / 2)
            edited = edit_text(d["text"], lang, rate, rng.random() < 1 / 3, rng)
            docs.append({"id": a_id, "text": d["text"], "source": d["source"], "lang": lang})
            docs.append({"id": b_id, "text": edited, "source": d["source"], "lang": lang})
            j = jaccard(shingle_set(d["text"], lang), shingle_set(edited, lang))
            pairs.append(LabelledPair(a_id, b_id, j, "edit", lang))
        by_source: dict[str, list[int]] = {}
        for i, d in enumerate(base):
            by_source.setdefault(d["source"], []).append(i)
        groups = [g for g in by_source.values() if len(g) > 1]
        share = n_untouched * len(base) // max(len(en) + len(zh), 1)
        for _ in range(share if groups else 0):
            g = rng.choice(groups)
            i, k = rng.sample(g, 2)
            j = jaccard(shingle_set(base[i]["text"], lang), shingle_set(base[k]["text"], lang))
            pairs.append(LabelledPair(f"{lang}-orig-{i}", f"{lang}-orig-{k}", j, "untouched", lang))
    return docs, pairs
