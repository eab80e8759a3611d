"""A labelled PII evaluation set: Faker-generated PII (en_US and zh_CN, fixed seed, offline) embedded
in real English and Chinese text, with the exact span and type of every inserted value."""

from __future__ import annotations

import gzip
import json
import random
import string
from dataclasses import dataclass
from pathlib import Path

SEED = 1234
EN_CARRIERS = ["Contact: {v}.", "You can reach the author at {v} for questions.", "Details: {v}, see above.",
               "Records list {v} as the value.", "Write down {v} before you leave."]
ZH_CARRIERS = ["联系方式：{v}。", "如有疑问请联系{v}，谢谢。", "登记信息为{v}，请核对。", "备注：{v}。"]


@dataclass
class Inserted:
    type: str
    start: int
    end: int


def uscc(rng: random.Random) -> str:
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    body = rng.choice("9159") + rng.choice("123") + "".join(rng.choice(string.digits) for _ in range(6)) + \
        "".join(rng.choice(chars) for _ in range(9))
    check = (31 - sum(chars.index(c) * w for c, w in zip(body, weights)) % 31) % 31
    return body + chars[check]


def secret(rng: random.Random) -> str:
    alnum = string.ascii_letters + string.digits
    kind = rng.randrange(5)
    if kind == 0:
        return "AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))
    if kind == 1:
        return "ghp_" + "".join(rng.choice(alnum) for _ in range(36))
    if kind == 2:
        return "xoxb-" + "-".join("".join(rng.choice(string.digits) for _ in range(12)) for _ in range(2))
    if kind == 3:
        return "sk_live_" + "".join(rng.choice(alnum) for _ in range(24))
    return "AIza" + "".join(rng.choice(alnum + "-_") for _ in range(35))


def generators(rng: random.Random):
    from faker import Faker

    en, zh = Faker("en_US"), Faker("zh_CN")
    en.seed_instance(SEED)
    zh.seed_instance(SEED)

    def obfuscated_email():
        user, domain = en.email().split("@")
        host, tld = domain.rsplit(".", 1)
        return rng.choice([f"{user} at {host} dot {tld}", f"{user} [at] {host} [dot] {tld}"])

    def card(fake):
        while len(number := fake.credit_card_number()) < 13:  # 12-digit Maestro is outside the 13-19 spec
            pass
        return number

    def grouped(number):
        return " ".join(number[i:i + 4] for i in range(0, len(number), 4))

    def zh_landline():
        return f"0{rng.choice(['10', '21', '755', '571'])}-{rng.randrange(2 * 10**7, 10**8)}"

    return {
        "email": [en.email, zh.email, obfuscated_email, lambda: zh.email().replace("@", "＠")],
        "phone": [en.phone_number, zh.phone_number, zh_landline,
                  lambda: "+86 " + zh.phone_number(), lambda: "+44 20 7946 " + f"{rng.randrange(10**4):04d}"],
        "id_number": [zh.ssn],
        "credit_code": [lambda: uscc(rng)],
        "bank_card": [lambda: card(en), lambda: card(zh), lambda: grouped(en.credit_card_number(card_type="visa16"))],
        "ip": [en.ipv4, en.ipv6, en.ipv4_private],
        "secret": [lambda: secret(rng)],
    }


def load_texts(corpora: Path, name: str, n: int, rng: random.Random, min_chars: int = 200) -> list[str]:
    with gzip.open(corpora / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    if name == "zh_peoples_daily_199801":  # one sentence a record: group into paragraphs
        texts = ["".join(texts[i:i + 8]) for i in range(0, len(texts), 8)]
    texts = [t[:3000] for t in texts if len(t) >= min_chars]
    rng.shuffle(texts)
    return texts[:n]


def build(corpora: Path, n_docs: int = 600, per_doc: int = 3) -> list[tuple[str, list[Inserted], str]]:
    """(text, inserted spans, lang) triples."""
    rng = random.Random(SEED)
    gens = generators(rng)
    bases = [(t, "en") for t in load_texts(corpora, "en_wikipedia_vital_summaries", n_docs // 2, rng)]
    bases += [(t, "zh") for t in load_texts(corpora, "zh_peoples_daily_199801", n_docs // 2, rng)]
    types = list(gens)
    out = []
    for i, (base, lang) in enumerate(bases):
        sentences = base.split(". ") if lang == "en" else base.split("。")
        sep = ". " if lang == "en" else "。"
        inserts = [(rng.randrange(len(sentences) + 1), types[(i * per_doc + k) % len(types)]) for k in range(per_doc)]
        inserts.sort()
        text, spans, cursor = "", [], 0
        for pos, typ in inserts:
            text += sep.join(sentences[cursor:pos]) + (sep if pos > cursor else "")
            cursor = pos
            value = rng.choice(gens[typ])()
            carrier = rng.choice(EN_CARRIERS if lang == "en" else ZH_CARRIERS)
            pre, post = carrier.split("{v}")
            text += (" " if lang == "en" and text and not text.endswith(" ") else "") + pre
            spans.append(Inserted(typ, len(text), len(text) + len(value)))
            text += value + post + (" " if lang == "en" else "")
        text += sep.join(sentences[cursor:])
        out.append((text, spans, lang))
    return out
