"""Build the ablation's default raw corpus and held-out evaluation set, deterministically.

    python -m bench.build_ablation_corpus [--corpora ../shared/corpora] [--out work/ablation-corpus]
                                          [--scale 1.0]

Real text from ``../shared/corpora`` (the bundled ``data/sample`` when that folder is absent) plus
the noise a web crawl carries, each at a written-down rate (``RATES``: what it is, the rate, and
where the rate comes from, or "assumed"). Output::

    <out>/raw/web.jsonl.gz      the raw corpus: real pages (some with boilerplate, PII, mojibake or cut
                                short), duplicates and reposts, spam, generated lists, junk code, tiny pages
    <out>/raw/broken.jsonl      malformed records (the read stage quarantines them)
    <out>/eval/eval.jsonl.gz    held-out clean text: encyclopedic (en Wikipedia summaries), news
                                (People's Daily 1998 articles) and code (Python stdlib, Linux C);
                                each record has ``slice`` (en | zh | code) and ``kind``
    <out>/corpus.json           counts per kind, the rates and their sources, the seed, file hashes

The evaluation documents are chosen first (by a seeded hash of their ids) and never used again:
no real page, copy, repost or noise page of the raw corpus is made from them, and any raw page whose
normalized text equals an evaluation document's is dropped. Same inputs and seed: byte-identical
files (gzip with mtime 0). Every record keeps the ``license`` of the text it came from; generated
pages are CC0. Personal data in generated pages is fake (example.com / example.cn, random numbers).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import re
import unicodedata
from pathlib import Path
from typing import Any

from data.build_sample import sections  # the sample builder's cut at blank lines

ROOT = Path(__file__).resolve().parents[1]
SEED = 20260514
VERSION = 1
MAX_CHARS = 4000  # real pages are cut at a paragraph boundary below this (as data/sample)
MAX_EVAL_CHARS = 3000
DEFAULT_CORPORA = ROOT.parent / "shared" / "corpora"
SAMPLE = ROOT / "data" / "sample"

# Real pages of the raw corpus at --scale 1: (corpus file, how to cut it, documents).
POOLS: dict[str, list[tuple[str, str, int]]] = {
    "en": [("en_wikipedia_vital_summaries", "whole", 420), ("en_debian_handbook", "sections", 140),
           ("en_gnome_help", "whole", 100), ("en_python_doc_html", "sections", 60), ("en_dict_jargon", "whole", 80),
           ("en_libreoffice_help", "whole", 60), ("legal_debian_copyright", "whole", 30)],
    "zh": [("zh_peoples_daily_199801", "articles", 330), ("zh_debian_handbook", "sections", 120),
           ("zh_gnome_help", "whole", 100), ("zh_libreoffice_help", "whole", 90), ("zh_reviews_pos", "whole", 50),
           ("zh_reviews_neg", "whole", 50), ("zh_fortunes_chinese", "whole", 40)],
    "code": [("code_python_stdlib", "whole", 80), ("code_linux_c", "whole", 50)],
}
# Held-out evaluation documents: (corpus file, cut, slice, kind, documents at --scale 1).
EVAL: list[tuple[str, str, str, str, int]] = [
    ("en_wikipedia_vital_summaries", "whole", "en", "encyclopedic", 200),
    ("zh_peoples_daily_199801", "articles", "zh", "news", 100),
    ("code_python_stdlib", "whole", "code", "code", 20),
    ("code_linux_c", "whole", "code", "code", 20),
]

# The noise, as shares. "pages" rates modify that share of the real pages; "corpus" rates are new
# documents as a share of the final raw corpus; "lines" are malformed records per corpus line.
RATES: list[dict[str, Any]] = [
    {"kind": "exact_copy", "rate": 0.10, "unit": "corpus",
     "what": "verbatim copies of real pages (mirrors, re-crawls); cluster sizes heavy-tailed (1 + Zipf(2), at most 20)",
     "source": "assumed; informed by RefinedWeb (Penedo et al. 2023, Fig. 2: after filtering, exact + fuzzy "
               "deduplication of Common Crawl still removes about half of what is left) and FineWeb (Penedo et al. "
               "2024: MinHash dedup within one crawl; deduplicating across crawls removes up to ~90% of the "
               "oldest crawls); we model one crawl and stay well below those shares"},
    {"kind": "near_copy", "rate": 0.15, "unit": "corpus",
     "what": "reposts: a real page wrapped in a site's header/footer, a few words changed or the last paragraph "
             "dropped (syndication, scrapers)",
     "source": "assumed; same sources as exact_copy (near duplicates are the larger part of what MinHash dedup "
               "removes in RefinedWeb and FineWeb; Lee et al. 2022 find near-duplicate clusters in C4)"},
    {"kind": "boilerplate", "rate": 0.40, "unit": "pages",
     "what": "navigation, share/cookie/copyright and 'related posts' lines added at the top and bottom of a page",
     "source": "assumed; C4 (Raffel et al. 2020) and RefinedWeb drop such lines with line-level rules because "
               "they are common in extracted web text; no per-page rate published that we use"},
    {"kind": "pii", "rate": 0.03, "unit": "pages", "what": "a contact line with a (fake) e-mail and phone number",
     "source": "assumed"},
    {"kind": "mojibake", "rate": 0.02, "unit": "pages", "what": "UTF-8 text decoded as Latin-1",
     "source": "assumed"},
    {"kind": "truncated", "rate": 0.03, "unit": "pages", "what": "a page cut mid-sentence at 10-35% of its length",
     "source": "assumed"},
    {"kind": "keyword_spam", "rate": 0.04, "unit": "corpus",
     "what": "SEO/keyword-stuffed pages (casino, pills, 代开发票, 六合彩) with repeated keywords and links",
     "source": "assumed"},
    {"kind": "generated_list", "rate": 0.04, "unit": "corpus",
     "what": "machine-generated lists: product listings, archive/calendar counts, tag clouds, sitemap links",
     "source": "assumed"},
    {"kind": "junk_code", "rate": 0.02, "unit": "corpus", "what": "minified JavaScript, CSS, base64 blobs, HTML tag soup",
     "source": "assumed; C4 drops pages containing '{' for this reason (Raffel et al. 2020)"},
    {"kind": "tiny_page", "rate": 0.01, "unit": "corpus", "what": "error, loading and login pages of a few words",
     "source": "assumed"},
    {"kind": "bad_record", "rate": 0.005, "unit": "lines", "what": "malformed JSON, missing or empty text, bad UTF-8",
     "source": "assumed"},
]
RATE = {r["kind"]: r["rate"] for r in RATES}


# -- real text -----------------------------------------------------------------------------------
def _load(corpora: Path, name: str) -> list[dict[str, Any]]:
    with gzip.open(corpora / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _cut(text: str, limit: int) -> str:
    """The text up to ``limit`` characters, cut at the last paragraph (else line) boundary."""
    if len(text) <= limit:
        return text.strip()
    head = text[:limit]
    for sep in ("\n\n", "\n"):
        k = head.rfind(sep)
        if k > limit // 3:
            return head[:k].strip()
    return head.strip()


def candidates(corpora: Path | None, name: str, how: str) -> list[dict[str, Any]]:
    """Every document of one corpus file, cut as asked (from ../shared/corpora), or the bundled
    sample's documents of that source (already cut)."""
    if corpora is None:
        recs = []
        for f in sorted(SAMPLE.glob("*.jsonl.gz")):
            with gzip.open(f, "rt", encoding="utf-8") as fh:
                recs += [r for r in map(json.loads, fh) if r.get("source") == name]
        return [{"id": r["id"], "text": r["text"], "license": r.get("license", "")} for r in recs if r["text"].strip()]
    recs = _load(corpora, name)
    lic = recs[0].get("license", "") if recs else ""
    if how == "articles":  # People's Daily: one sentence per record -> 12-sentence articles
        out = [{"id": f"{name}/a{i // 12}", "text": "\n".join(r["text"] for r in recs[i: i + 12]), "license": lic}
               for i in range(0, len(recs), 12)]
    elif how == "sections":
        out = [{"id": f"{r['id']}#s{j}", "text": s, "license": r.get("license", lic)}
               for r in recs for j, s in enumerate(sections(r["text"]))]
    else:
        out = [{"id": r["id"], "text": r["text"], "license": r.get("license", lic)} for r in recs]
    return [d for d in out if d["text"].strip()]


def _key(doc_id: str, salt: str) -> str:
    return hashlib.blake2b(f"{salt}|{doc_id}".encode(), digest_size=8).hexdigest()


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", unicodedata.normalize("NFKC", text).lower()))


# -- noise ---------------------------------------------------------------------------------------
EN_HEAD = ["Home | News | Sports | Business | Contact", "Skip to main content", "Share this: Facebook Twitter Email",
           "Menu  Search  Sign in", "Advertisement", "You are here: Home > Articles > Reference"]
EN_FOOT = ["We use cookies to improve your experience. By continuing you accept our privacy policy.",
           "Related posts\nLeave a comment", "Subscribe to our newsletter", "© 2024 Example Media. All rights reserved.",
           "Back to top | Privacy Policy | Terms of Use | Sitemap", "Tags: news, reference, article, info, 2024"]
ZH_HEAD = ["首页 | 新闻 | 体育 | 财经 | 娱乐 | 联系我们", "当前位置：首页 > 资讯 > 正文", "转载自网络 如有侵权请联系删除",
           "来源：综合整理 编辑：小编", "登录 | 注册 | 手机版"]
ZH_FOOT = ["相关推荐\n猜你喜欢", "版权所有 © 2024 示例网 保留所有权利", "分享到：微信 微博 QQ空间", "上一篇：无 下一篇：无",
           "扫一扫关注我们的微信公众号", "本站部分内容来自网络，如有侵权请联系删除"]
EN_SPAM = ["casino online casino free spins bonus jackpot slots win big casino bonus code {n} click here",
           "BUY CHEAP PILLS ONLINE best price no prescription best price discount {n} order now order now",
           "cheap flights cheap hotels cheap cars best deals best deals {n} book now book now limited offer",
           "SEO backlinks 10000 backlinks cheap SEO service rank #1 google fast {n} buy backlinks now"]
ZH_SPAM = ["澳门娱乐场 注册即送彩金 点击进入 官方网站 真人百家乐 加微信{n} 立即下注 娱乐场 彩金",
           "代开发票 低价代开 加QQ{n} 刷单兼职 日赚500元 点击链接 速来 代开发票",
           "六合彩 特码 开奖结果 娱乐城 彩票 注册送彩金 {n} 在线客服 老虎机 六合彩",
           "减肥药 一周瘦十斤 不反弹 正品 包邮 加微信{n} 减肥 瘦身 减肥药"]
TINY = ["404 Not Found", "Page not found", "Loading...", "Please enable JavaScript to view this page.", "加载中...",
        "页面不存在", "Sign in to continue", "Access denied", "请登录后查看", "Click here"]


def _zipf_size(rng: random.Random, cap: int = 20) -> int:
    """Copies of one duplicated page: P(k) proportional to 1/k^2 for k in 1..cap (most pages are
    copied once or twice, a few many times)."""
    return rng.choices(range(1, cap + 1), weights=[1 / k ** 2 for k in range(1, cap + 1)])[0]


def _is_zh(doc: dict[str, Any]) -> bool:
    return doc["group"] == "zh"


def add_boilerplate(doc: dict[str, Any], rng: random.Random) -> str:
    head, foot = (ZH_HEAD, ZH_FOOT) if _is_zh(doc) else (EN_HEAD, EN_FOOT)
    top = rng.sample(head, rng.randint(1, 3))
    bottom = rng.sample(foot, rng.randint(1, 3))
    return "\n".join(top) + "\n" + doc["text"] + "\n" + "\n".join(bottom)


def add_pii(doc: dict[str, Any], rng: random.Random, k: int) -> str:
    if _is_zh(doc):
        phone = f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"
        return doc["text"] + f"\n联系人：王先生，手机：{phone}，邮箱：contact{k}@example.cn"
    return doc["text"] + (f"\nContact: Jane Doe, jane.doe{k}@example.com, "
                           f"({rng.randrange(201, 989)}) {rng.randrange(200, 999)}-{rng.randrange(10000):04d}")


def mojibake(text: str) -> str:
    return text.encode("utf-8").decode("latin-1")


def truncate(text: str, rng: random.Random) -> str:
    return text[: max(20, int(len(text) * rng.uniform(0.10, 0.35)))]


def near_copy(doc: dict[str, Any], rng: random.Random) -> str:
    text = doc["text"]
    paras = text.split("\n\n")
    if len(paras) > 2 and rng.random() < 0.5:
        text = "\n\n".join(paras[:-1])
    if _is_zh(doc):
        chars = list(text)
        for _ in range(rng.randint(1, 3)):
            if chars:
                chars[rng.randrange(len(chars))] = rng.choice("的了是在和有")
        text = "".join(chars)
        return f"{rng.choice(ZH_HEAD)}\n{text}\n{rng.choice(ZH_FOOT)}"
    words = text.split(" ")
    for _ in range(rng.randint(1, 3)):
        if words:
            words[rng.randrange(len(words))] = rng.choice(["the", "a", "this", "new", "updated"])
    return f"{rng.choice(EN_HEAD)}\n{' '.join(words)}\nUpdated {rng.randint(2015, 2024)}-{rng.randint(1, 12):02d}\n" \
           f"{rng.choice(EN_FOOT)}"


def keyword_spam(rng: random.Random, k: int) -> tuple[str, str]:
    zh = rng.random() < 0.5
    lines = [rng.choice(ZH_SPAM if zh else EN_SPAM).format(n=rng.randrange(10**6, 10**8))
             for _ in range(rng.randint(4, 12))]
    lines.append(f"http://{'bet' if zh else 'deals'}{k}.example.{'cn' if zh else 'com'}")
    return "\n".join(lines), "zh" if zh else "en"


def generated_list(rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(4)
    n = rng.randint(15, 60)
    if kind == 0:
        items = ["widget", "cable", "charger", "case", "lamp", "mug", "shirt", "bag"]
        colours = ["Blue", "Red", "Black", "White", "Green"]
        return "\n".join(f"Item #{rng.randrange(10**5):05d} - {rng.choice(colours)} {rng.choice(items)} - "
                         f"${rng.randrange(1, 200)}.{rng.randrange(100):02d} - "
                         f"{rng.choice(['In stock', 'Sold out', 'Ships in 2 days'])}" for _ in range(n)), "en"
    if kind == 1:
        return "\n".join(f"{y}年{m}月 ({rng.randrange(1, 40)})" for y in range(2024, 2010, -1)
                         for m in range(12, 0, -1))[: rng.randint(300, 1500)], "zh"
    if kind == 2:
        tags = ["news", "sports", "tech", "health", "travel", "food", "music", "games", "cars", "money", "style"]
        return " ".join(f"{rng.choice(tags)}{rng.randrange(100)}" for _ in range(n * 3)), "en"
    return "\n".join(f"https://www.example.com/{rng.choice(['p', 'tag', 'cat', 'page'])}/{rng.randrange(10**6)}.html"
                     for _ in range(n)), "en"


def junk_code(rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(4)
    if kind == 0:
        parts = [f"var _0x{rng.randrange(16**4):04x}=function(a,b){{return a[b]||{rng.randrange(999)}}};"
                 for _ in range(rng.randint(20, 80))]
        return "".join(parts), "en"
    if kind == 1:
        return "".join(f".c{rng.randrange(999)}{{margin:{rng.randrange(20)}px;color:#{rng.randrange(16**6):06x}}}"
                       for _ in range(rng.randint(20, 80))), "en"
    if kind == 2:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        return "data:image/png;base64," + "".join(rng.choice(alphabet) for _ in range(rng.randint(800, 3000))), "en"
    return "".join(f"<div class=\"w{rng.randrange(99)}\"><span>{rng.choice(['', '&nbsp;', '|', '»'])}</span></div>"
                   for _ in range(rng.randint(20, 80))), "en"


BROKEN = [b'{"id": "broken-%d", "text": "an unterminated string', b'{"id": "broken-%d", "body": "no text field"}',
          b'{"id": "broken-%d", "text": 12345}', b'{"id": "broken-%d", "text": "caf\xe9 latin-1, not UTF-8"}',
          b"not json at all %d", b'{"id": "broken-%d", "text": ""}']


# -- the build -----------------------------------------------------------------------------------
def build(out: str | Path, corpora: str | Path | None = None, scale: float = 1.0, seed: int = SEED) -> dict[str, Any]:
    """Write the corpus to ``out``; returns the content of ``corpus.json``."""
    out = Path(out)
    corpora = Path(corpora) if corpora is not None else DEFAULT_CORPORA
    use_shared = corpora.is_dir() and (corpora / "en_wikipedia_vital_summaries.jsonl.gz").exists()
    src = corpora if use_shared else None
    rng = random.Random(seed)

    # 1. held-out evaluation documents first (never used again)
    cache: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def cands(name: str, how: str) -> list[dict[str, Any]]:
        if (name, how) not in cache:
            cache[(name, how)] = candidates(src, name, how)
        return cache[(name, how)]

    eval_docs, held = [], set()
    for name, how, slice_, kind, n in EVAL:
        pool = sorted(cands(name, how), key=lambda d: _key(d["id"], f"eval{seed}"))
        n = max(1, round(n * scale)) if use_shared else max(1, min(round(n * scale), len(pool) // 4))
        for d in pool[:n]:
            text = _cut(d["text"], MAX_EVAL_CHARS)
            eval_docs.append({"id": f"eval/{d['id']}", "text": text, "slice": slice_, "kind": kind, "source": name,
                              "license": d["license"]})
            held.add((name, d["id"]))
    eval_norm = {_norm(d["text"]) for d in eval_docs}

    # 2. real pages of the raw corpus (never an evaluation document)
    real: list[dict[str, Any]] = []
    for group, specs in POOLS.items():
        for name, how, n in specs:
            pool = [d for d in cands(name, how) if (name, d["id"]) not in held]
            pool.sort(key=lambda d: _key(d["id"], f"raw{seed}"))
            for d in pool[: max(1, round(n * scale))]:
                text = _cut(d["text"], MAX_CHARS)
                if _norm(text) in eval_norm:
                    continue
                real.append({"id": f"web/{d['id']}", "text": text, "source": name, "license": d["license"],
                             "group": group, "noise": []})

    # 3. page-level noise on the real pages
    counts: dict[str, int] = {"real_pages": len(real)}
    order = list(range(len(real)))
    for kind, fn in (("boilerplate", lambda d, k: add_boilerplate(d, rng)), ("pii", lambda d, k: add_pii(d, rng, k)),
                     ("mojibake", lambda d, k: mojibake(d["text"])), ("truncated", lambda d, k: truncate(d["text"], rng))):
        rng.shuffle(order)
        picks = order[: round(RATE[kind] * len(real))]
        for k, i in enumerate(sorted(picks)):
            real[i]["text"] = fn(real[i], k)
            real[i]["noise"].append(kind)
        counts[kind] = len(picks)

    # 4. new documents: shares of the final corpus
    new_share = sum(r["rate"] for r in RATES if r["unit"] == "corpus")
    total = round(len(real) / (1 - new_share))
    docs = list(real)
    lic0 = "CC0-1.0 (generated by bench/build_ablation_corpus.py)"

    def add(kind: str, text: str, group: str, base: dict[str, Any] | None = None) -> None:
        docs.append({"id": f"web/{kind}/{counts.get(kind, 0)}", "text": text,
                     "source": base["source"] if base else f"web_{kind}",
                     "license": base["license"] if base else lic0, "group": group, "noise": [kind]})
        counts[kind] = counts.get(kind, 0) + 1

    want = {r["kind"]: round(r["rate"] * total) for r in RATES if r["unit"] == "corpus"}
    while counts.get("exact_copy", 0) < want["exact_copy"]:
        base = real[rng.randrange(len(real))]
        for _ in range(min(_zipf_size(rng), want["exact_copy"] - counts.get("exact_copy", 0))):
            add("exact_copy", base["text"], base["group"], base)
    while counts.get("near_copy", 0) < want["near_copy"]:
        base = real[rng.randrange(len(real))]
        for _ in range(min(_zipf_size(rng), want["near_copy"] - counts.get("near_copy", 0))):
            add("near_copy", near_copy(base, rng), base["group"], base)
    for k in range(want["keyword_spam"]):
        add("keyword_spam", *keyword_spam(rng, k))
    for _ in range(want["generated_list"]):
        add("generated_list", *generated_list(rng))
    for _ in range(want["junk_code"]):
        add("junk_code", *junk_code(rng))
    for _ in range(want["tiny_page"]):
        add("tiny_page", rng.choice(TINY), "en")
    rng.shuffle(docs)

    # 5. write
    (out / "raw").mkdir(parents=True, exist_ok=True)
    (out / "eval").mkdir(parents=True, exist_ok=True)
    raw_file, broken_file, eval_file = out / "raw" / "web.jsonl.gz", out / "raw" / "broken.jsonl", out / "eval" / "eval.jsonl.gz"
    _write_jsonl(raw_file, [{"id": d["id"], "text": d["text"], "source": d["source"], "license": d["license"],
                             "noise": d["noise"] or ["clean"]} for d in docs])
    n_broken = max(1, round(RATE["bad_record"] * len(docs)))
    broken_file.write_bytes(b"\n".join((BROKEN[i % len(BROKEN)] % i) if b"%d" in BROKEN[i % len(BROKEN)]
                                       else BROKEN[i % len(BROKEN)] for i in range(n_broken)) + b"\n")
    counts["bad_record"] = n_broken
    _write_jsonl(eval_file, eval_docs)
    info = {
        "format": "winnow-ablation-corpus/1", "version": VERSION, "seed": seed, "scale": scale,
        "real_text_from": str(corpora) if use_shared else f"{SAMPLE} (../shared/corpora absent)",
        "raw_dir": str(out / "raw"), "eval_file": str(eval_file),
        "raw_docs": len(docs), "raw_chars": sum(len(d["text"]) for d in docs), "counts": counts,
        "share_of_corpus": {k: round(v / len(docs), 4) for k, v in counts.items() if k not in ("bad_record",)},
        "eval_docs": len(eval_docs), "eval_by_slice": {s: sum(1 for d in eval_docs if d["slice"] == s)
                                                        for s in ("en", "zh", "code")},
        "eval_by_kind": {k: sum(1 for d in eval_docs if d["kind"] == k) for k in ("encyclopedic", "news", "code")},
        "rates": RATES,
        "sha256": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (raw_file, broken_file, eval_file)},
    }
    (out / "corpus.json").write_text(json.dumps(info, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return info


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with gzip.GzipFile(tmp, "wb", mtime=0) as f:
        for r in rows:
            f.write((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8"))
    tmp.replace(path)


def ensure_corpus(out: str | Path, corpora: str | Path | None = None, scale: float = 1.0) -> dict[str, Any]:
    """The corpus in ``out``, built unless a complete one of this version, seed and scale is there."""
    meta = Path(out) / "corpus.json"
    if meta.exists():
        info = json.loads(meta.read_text(encoding="utf-8"))
        files = [Path(info["raw_dir"]) / "web.jsonl.gz", Path(info["eval_file"])]
        if (info.get("version"), info.get("seed"), info.get("scale")) == (VERSION, SEED, scale) and all(
                f.exists() for f in files):
            return info
    return build(out, corpora, scale)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpora", default=str(DEFAULT_CORPORA), help="real text (default ../shared/corpora)")
    ap.add_argument("--out", default="work/ablation-corpus")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every document count")
    ap.add_argument("--seed", type=int, default=SEED)
    a = ap.parse_args(argv)
    info = build(a.out, a.corpora, a.scale, a.seed)
    print(json.dumps({k: info[k] for k in ("real_text_from", "raw_docs", "raw_chars", "counts", "eval_docs",
                                            "eval_by_slice")}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
