"""Build the bundled sample corpus (data/sample/) from ../shared/corpora, deterministically.

    python data/build_sample.py [--corpora ../shared/corpora] [--out data/sample]

Real English, Chinese and code text, plus the junk a web crawl carries (boilerplate, spam and ad
pages, near-duplicate reposts, PII, mojibake, malformed records), generated here from a fixed
seed. Every output record keeps the `license` and `source` of the text it came from; see
data/sample/README.md. The demo and the tests read only the committed output, never ../shared.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
from pathlib import Path

SEED = 20261122
MAX_CHARS = 4000

# (file, how many documents, how to cut them)
REAL = {
    "en": [
        ("en_wikipedia_vital_summaries", 700, "whole"),
        ("en_debian_handbook", 160, "sections"),
        ("en_gnome_help", 120, "whole"),
        ("en_python_doc_html", 40, "sections"),
        ("en_dict_jargon", 60, "whole"),
        ("legal_common_licenses", 6, "sections"),
        ("legal_debian_copyright", 40, "whole"),
    ],
    "zh": [
        ("zh_peoples_daily_199801", 350, "articles"),
        ("zh_debian_handbook", 160, "sections"),
        ("zh_gnome_help", 120, "whole"),
        ("zh_libreoffice_help", 80, "whole"),
        ("zh_fortunes_tang300", 60, "whole"),
        ("zh_fortunes_chinese", 60, "whole"),
        ("zh_reviews_pos", 60, "whole"),
        ("zh_reviews_neg", 60, "whole"),
    ],
    "code": [("code_python_stdlib", 40, "whole"), ("code_linux_c", 20, "whole")],
}
# More real code, drawn with its own seed after the documents above so that every other file stays
# byte for byte what it was: (file, how many, minimum characters). C only: Python modules not in the
# sample are data/benchmarks' held-out code set.
EXTRA_CODE = [("code_linux_c", 60, 1500)]


def load(corpora: Path, name: str) -> list[dict]:
    with gzip.open(corpora / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def sections(text: str, target: int = 2500) -> list[str]:
    """Cut a long document at blank lines into pieces of about ``target`` characters."""
    out, cur = [], ""
    for para in re.split(r"\n\s*\n", text):
        if len(cur) + len(para) > target and cur:
            out.append(cur.strip())
            cur = ""
        cur += para + "\n\n"
    if cur.strip():
        out.append(cur.strip())
    return out


def pick_real(corpora: Path, rng: random.Random) -> list[dict]:
    docs = []
    for _group, specs in REAL.items():
        for name, n, how in specs:
            recs = load(corpora, name)
            if how == "articles":  # People's Daily: one sentence per record -> ~12-sentence articles
                pieces = ["\n".join(r["text"] for r in recs[i : i + 12]) for i in range(0, len(recs), 12)]
                base = recs[0]
                chosen = [dict(base, id=f"{name}/a{i}", text=t) for i, t in enumerate(pieces)]
            elif how == "sections":
                chosen = [dict(r, id=f"{r['id']}#s{j}", text=s) for r in recs for j, s in enumerate(sections(r["text"]))]
            else:
                chosen = recs
            chosen = [c for c in chosen if len(c["text"].strip()) > 0]
            rng.shuffle(chosen)
            for r in chosen[:n]:
                docs.append(record(r, name))
    return docs


def record(r: dict, name: str) -> dict:
    """A sample record from a corpus record; code keeps its file ``path`` (a kind/language hint)."""
    doc = {"id": r["id"].replace("/", ":"), "text": r["text"][:MAX_CHARS], "source": name,
           "license": r.get("license", ""), "origin": r.get("source", ""), "domain_hint": r.get("domain", "")}
    if name.startswith("code_") and r.get("path"):
        doc["path"] = r["path"]
    return doc


def extra_code(corpora: Path, taken: set[str]) -> list[dict]:
    """``EXTRA_CODE``: more whole source files (truncated like the others), seeded on their own."""
    rng = random.Random(SEED + 16)
    docs = []
    for name, n, min_chars in EXTRA_CODE:
        recs = [r for r in load(corpora, name)
                if r["id"].replace("/", ":") not in taken and len(r["text"]) >= min_chars]
        rng.shuffle(recs)
        docs += [record(r, name) for r in recs[:n]]
    rng.shuffle(docs)
    return docs


# ---- synthetic web junk -------------------------------------------------------------------------
ZH_HEADERS = ["转载自人民网", "本文经授权转载，原标题：", "来源：新华社 转载请注明出处", "原标题：新年讲话全文"]
ZH_FOOTERS = ["相关推荐\n点击关注，获取更多资讯", "打赏\n分享到微信 朋友圈 微博", "责任编辑：王某\n点击关注 不迷路",
              "欢迎打赏支持作者\n相关推荐：更多精彩内容"]
EN_HEADERS = ["Share this: Facebook Twitter Email", "Advertisement", "Skip to main content"]
EN_FOOTERS = ["We use cookies to improve your experience. By continuing you accept our privacy policy.",
              "Related posts\nLeave a comment\nSubscribe to our newsletter", "© 2024 All rights reserved."]
ZH_SPAM = [
    "澳门威尼斯人娱乐场 注册即送38元彩金 点击进入 官方网站 网上赌场 真人百家乐 加微信 {n} 立即下注",
    "免费领取 低价代开发票 加QQ {n} 刷单兼职 日赚500元 点击链接 http://spam{k}.example.cn 速来",
    "六合彩 特码 开奖结果 娱乐城 彩票 注册送彩金 {n} 在线客服 http://bet{k}.example.com 老虎机",
]
EN_SPAM = [
    "BUY CHEAP PILLS ONLINE best price viagra cialis no prescription click here http://pills{k}.example.com "
    "best price best price discount {n} order now order now",
    "casino online casino free spins bonus jackpot slots win big casino casino bonus code {n} "
    "http://slots{k}.example.net click here to win",
]
LOREM = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore "
         "et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris.")


def luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def cn_id(rng: random.Random) -> str:
    body = f"{rng.choice(['110101', '310104', '440305', '510107'])}{rng.randrange(1960, 2004)}" \
           f"{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}{rng.randrange(1000):03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]
    return body + check


def cn_mobile(rng: random.Random) -> str:
    n = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
    return rng.choice([n, f"{n[:3]} {n[3:7]} {n[7:]}", f"+86 {n[:3]}-{n[3:7]}-{n[7:]}"])


def us_phone(rng: random.Random) -> str:
    a, b, c = rng.randrange(201, 989), rng.randrange(200, 999), rng.randrange(10000)
    return rng.choice([f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"+1 {a} {b} {c:04d}"])


def junk(real: list[dict], rng: random.Random) -> list[dict]:
    out: list[dict] = []
    zh_news = [d for d in real if d["source"] == "zh_peoples_daily_199801"]
    en_wiki = [d for d in real if d["source"] == "en_wikipedia_vital_summaries"]

    def add(kind: str, text: str, base: dict | None = None):
        out.append({"id": f"synthetic:{kind}:{len(out)}", "text": text, "source": f"synthetic_{kind}",
                    "license": base["license"] if base else "CC0-1.0 (generated by data/build_sample.py)",
                    "origin": base["origin"] if base else "generated", "domain_hint": base["domain_hint"] if base else ""})

    for _i, d in enumerate(rng.sample(zh_news, 50)):  # reposts with boilerplate header/footer
        add("zh_repost", f"{rng.choice(ZH_HEADERS)}\n{d['text']}\n{rng.choice(ZH_FOOTERS)}", d)
    for d in rng.sample(en_wiki, 50):
        add("en_repost", f"{rng.choice(EN_HEADERS)}\n{d['text']}\n{rng.choice(EN_FOOTERS)}", d)
    for d in rng.sample(real, 30):  # exact duplicates
        add("exact_copy", d["text"], d)
    for d in rng.sample(en_wiki, 25):  # near duplicates: a sentence changed
        words = d["text"].split()
        if len(words) > 40:
            j = rng.randrange(len(words))
            words[j] = words[j].upper()
            add("en_near_copy", " ".join(words) + " (updated)", d)
    for k in range(60):
        add("zh_spam", "\n".join(rng.choice(ZH_SPAM).format(n=rng.randrange(10**8), k=k) for _ in range(rng.randrange(3, 8))))
        add("en_spam", "\n".join(rng.choice(EN_SPAM).format(n=rng.randrange(10**6), k=k) for _ in range(rng.randrange(3, 8))))
    for _ in range(15):
        add("lorem", " ".join([LOREM] * rng.randrange(2, 6)))
    for d in rng.sample([x for x in real if any(ord(c) > 127 for c in x["text"])], 30):  # mojibake
        add("mojibake", d["text"].encode("utf-8").decode("latin-1"), d)
    for k in range(40):  # contact pages with PII inside real-looking text
        name_zh = rng.choice(["张伟", "王芳", "李娜", "刘洋", "陈静"])
        add("zh_contact", f"{name_zh}是本公司的客户经理，负责华东地区的业务联系。如需合作，请联系{name_zh}，手机：{cn_mobile(rng)}，"
            f"邮箱：{name_zh and 'contact'}{k}@example.cn，办公电话：021-{rng.randrange(10**7, 10**8)}。"
            f"客户身份证号码{cn_id(rng)}已登记。我们将在三个工作日内回复您的咨询，感谢您对本公司的支持与信任。")
        add("en_contact", f"For questions about your order, please contact our support team. You can reach Jane at "
            f"jane.doe{k}@example.com or call {us_phone(rng)} between 9am and 5pm. Payments were made with card "
            f"{luhn_complete('4', 16, rng)} and the server logs show the request came from 203.0.{k}.{rng.randrange(1, 255)}. "
            "Our staff will get back to you within two business days. Thank you for your patience and your trust.")
    for k in range(8):  # contact dumps: mostly PII
        add("contact_dump", "\n".join(f"{cn_mobile(rng)}  user{k}_{j}@example.org" for j in range(40)))
    for _ in range(20):  # navigation/list pages
        add("nav_page", "\n".join(rng.choice(["首页", "新闻", "体育", "财经", "娱乐", "Home", "About", "Contact",
                                               "Login", "Sign up", "下一页", "上一页"]) for _ in range(40)))
    for _ in range(20):
        add("short", rng.choice(["Click here", "你好", "OK", "Page not found", "404", "加载中..."]))
    return out


def broken_lines(rng: random.Random) -> bytes:
    good = json.dumps({"id": "broken:ok", "text": "A valid record among broken ones: this line parses and "
                       "has enough words to be an ordinary short paragraph of English prose for testing.",
                       "license": "CC0-1.0"}).encode()
    return b"\n".join([
        good,
        b'{"id": "broken:1", "text": "an unterminated string',
        b'{"id": "broken:2", "body": "the text field is missing"}',
        b'{"id": "broken:3", "text": 12345}',
        b'{"id": "broken:4", "text": "caf\xe9 latin-1 bytes, not UTF-8"}',
        b"not json at all",
        b"",
        json.dumps({"id": "broken:5", "text": ""}).encode(),
    ]) + b"\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpora", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpora"))
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "sample"))
    args = ap.parse_args(argv)
    rng = random.Random(SEED)
    corpora, out = Path(args.corpora), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    real = pick_real(corpora, rng)
    files = {
        "en.jsonl.gz": [d for d in real if d["source"].startswith(("en_", "legal_"))],
        "zh.jsonl.gz": [d for d in real if d["source"].startswith("zh_")],
        "code.jsonl.gz": [d for d in real if d["source"].startswith("code_")],
        "web_junk.jsonl.gz": junk(real, rng),
    }
    for name, docs in files.items():
        rng.shuffle(docs)
        if name == "code.jsonl.gz":
            docs += extra_code(corpora, {d["id"] for d in docs})
        with gzip.GzipFile(out / name, "wb", mtime=0) as f:
            for d in docs:
                f.write((json.dumps(d, ensure_ascii=False) + "\n").encode())
        print(f"{name}: {len(docs)} documents")
    (out / "broken.jsonl").write_bytes(broken_lines(rng))
    (out / "empty.jsonl").write_bytes(b"")


if __name__ == "__main__":
    main()
