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


# --- Hard shapes: the cases of "no PII leaves the PII stage" ---------------------------------------
# Every value below is written from its format's definition (NANP numbering plan, GB 11643 resident ID
# via Faker, GB 32100 credit code, Luhn card numbers via Faker, IPv4 dotted quads), never from the
# detectors' patterns, so a narrow pattern shows up as lost recall.


@dataclass
class Decoy:
    kind: str
    start: int
    end: int


@dataclass
class Case:
    text: str
    shape: str  # what the case exercises, e.g. "bank_card/digits_after"
    positives: list[Inserted]
    decoys: list[Decoy]


def _digits(rng: random.Random, n: int, first: str = "0123456789") -> str:
    return rng.choice(first) + "".join(rng.choice(string.digits) for _ in range(n - 1))


def _nanp_invalid(rng: random.Random) -> str:
    """NPA-NXX-XXXX where the area code or the exchange starts with 0 or 1 (not assignable, but typed)."""
    if rng.random() < 0.6:
        npa, nxx = _digits(rng, 3, "01"), _digits(rng, 3, "23456789")
    else:
        npa, nxx = _digits(rng, 3, "23456789"), _digits(rng, 3, "01")
    line = _digits(rng, 4)
    fmt = rng.choice(["({a}) {b}-{c}", "({a}){b}-{c}", "{a}-{b}-{c}", "{a}.{b}.{c}", "{a} {b} {c}"])
    return fmt.format(a=npa, b=nxx, c=line)


def _cn_local(rng: random.Random) -> str:
    """A mainland landline subscriber number without its area code: 8 digits, first 2-8."""
    n = _digits(rng, 8, "2345678")
    return rng.choice([n, f"{n[:4]} {n[4:]}", f"{n[:4]}-{n[4:]}"])


def _version(rng: random.Random) -> str:
    """A four-part software version that also parses as an IPv4 address."""
    return f"{rng.randint(1, 30)}.{rng.randint(0, 20)}.{rng.randint(0, 40)}.{rng.randint(1, 250)}"


def _date(rng: random.Random) -> str:
    y, m, d = rng.randint(1950, 2030), rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice([f"{y}-{m:02d}-{d:02d}", f"{y}.{m:02d}.{d:02d}", f"{y}/{m}/{d}", f"{y}年{m}月{d}日"])


PHONE_WORDS_EN = ["Phone: {v}", "Tel {v}", "Tel.: {v}", "My cell is {v}.", "Call me at {v} tonight.", "Fax: {v}",
                  "Mobile: {v}", "Phone number: {v}", "You can reach her by phone at {v}.", "Telephone {v} (office)"]
PHONE_WORDS_ZH = ["电话：{v}", "手机：{v}", "联系电话：{v}。", "手机号码：{v}", "传真：{v}", "请拨打 {v} 咨询",
                  "热线电话 {v}", "座机 {v}，工作日接听"]
ZH_VERSION = ["请升级到 {v} 版本", "请升级到{v}。", "版本号：{v}", "当前版本为 {v}，请及时更新", "已更新至 {v}", "固件版本 {v}",
              "升级至V{v}后重启", "{v} 版本已发布", "{v}版修复了若干问题", "内核 {v} 已合入补丁"]
EN_VERSION = ["Upgrade to version {v} today.", "Tested on v{v}.", "release {v} is out", "firmware {v} fixes it",
              "build {v} passed"]
ZH_IP = ["服务器地址 {v} 已上线", "登录 {v} 查看版本信息", "IP：{v}，版权所有", "请将网关设为{v}。", "访问 {v} 下载新版本"]
SERIAL_WORDS = ["编号 {v}", "编号：{v}", "流水号：{v}", "Serial: {v}", "serial number {v}", "S/N {v}", "订单号：{v}",
                "运单号 {v}", "Order #{v}", "invoice no. {v}", "发票号码：{v}", "合同号 {v}"]
PHONE_WORD_DECOYS = ["Phone interview on {d} at 10:30.", "The telephone was invented in {y}.", "手机 {y} 年销量 {n} 亿部",
                     "Call {s} now.", "电话会议定于 {d} 举行", "mobile phones sold {n} million units in {y}",
                     "Tel Aviv, {y}", "电话 {d} 回访"]


def _uscc_serial(rng: random.Random) -> str:
    """18 digits whose last one is the GB 32100 MOD 31 check character of the first 17 (and a digit): the
    digits' values in the code's alphabet (0123456789ABCDEFGHJKLMNPQRTUWXY) are the digits themselves."""
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    while True:
        body = _digits(rng, 17)
        check = (31 - sum(int(c) * w for c, w in zip(body, weights)) % 31) % 31
        if check < 10:
            return body + str(check)


def build_hard(n_per_shape: int = 200, seed: int = SEED) -> list[Case]:
    """Short labelled cases, one shape at a time: positives (type, span) and decoys (kind, span)."""
    from faker import Faker

    rng = random.Random(seed)
    en, zh = Faker("en_US"), Faker("zh_CN")
    en.seed_instance(seed)
    zh.seed_instance(seed)
    cases: list[Case] = []

    def card():
        while len(number := en.credit_card_number()) < 13:
            pass
        return number

    def add(shape, template, pos=None, decoys=()):
        """``template`` holds {v} (a positive of type ``pos``) and/or {d0}, {d1}... (decoys as (kind, value))."""
        text, positives, decs, rest = "", [], [], template
        values = {"v": None, **{f"d{i}": d for i, d in enumerate(decoys)}}
        while "{" in rest:
            head, _, tail = rest.partition("{")
            key, _, rest = tail.partition("}")
            text += head
            if key == "v":
                positives.append(Inserted(pos[0], len(text), len(text) + len(pos[1])))
                text += pos[1]
            else:
                kind, value = values[key]
                decs.append(Decoy(kind, len(text), len(text) + len(value)))
                text += value
        cases.append(Case(text + rest, shape, positives, decs))

    for _ in range(n_per_shape):
        # 3. card numbers with digits beside them
        c = card()
        c4 = " ".join(c[i:i + 4] for i in range(0, len(c), 4)) if len(c) == 16 else c
        tail, head = _digits(rng, rng.randint(1, 4)), _digits(rng, rng.randint(1, 4))
        add("bank_card/digits_after", rng.choice(["Card {v} {d0} on file.", "卡号 {v} {d0}", "pay {v} {d0} now"]),
            ("bank_card", rng.choice([c, c4])), [("digits_beside_card", tail)])
        add("bank_card/digits_before", rng.choice(["room {d0} {v} ok", "第 {d0} 张卡 {v}"]), ("bank_card", c),
            [("digits_beside_card", head)])
        # already fixed: spaced resident IDs
        s = zh.ssn()
        add("id_number/spaced", rng.choice(["身份证 {v} 已登记", "ID {v} on file", "证件号码：{v}"]),
            ("id_number", f"{s[:6]} {s[6:14]} {s[14:]}"))
        # 5. phone numbers after a phone word: NANP-invalid, Chinese local, and valid ones
        v = rng.choice([_nanp_invalid(rng), _nanp_invalid(rng), en.phone_number()])
        add("phone/context_en", rng.choice(PHONE_WORDS_EN), ("phone", v))
        v = rng.choice([_cn_local(rng), _nanp_invalid(rng), zh.phone_number()])
        add("phone/context_zh", rng.choice(PHONE_WORDS_ZH), ("phone", v))
        # already fixed: China landlines written grouped
        area = rng.choice(["010", "021", "0755", "0571", "028"])
        sub = _digits(rng, 8, "2345678")
        add("phone/landline_grouped", rng.choice(["电话 {v}", "办公室：{v}", "Tel {v}"]),
            ("phone", f"{area}-{sub[:4]} {sub[4:]}"))
        # 2. IPs near Chinese words must stay found; version strings must stay
        add("ip/zh_context", rng.choice(ZH_IP), ("ip", en.ipv4_public() if rng.random() < 0.5 else en.ipv4_private()))
        add("decoy/zh_version", rng.choice(ZH_VERSION).replace("{v}", "{d0}"), decoys=[("zh_version", _version(rng))])
        add("decoy/en_version", rng.choice(EN_VERSION).replace("{v}", "{d0}"), decoys=[("en_version", _version(rng))])
        # 4. serials after serial/number words
        add("decoy/serial_uscc", rng.choice(SERIAL_WORDS).replace("{v}", "{d0}"),
            decoys=[("serial_uscc", _uscc_serial(rng))])
        add("decoy/serial", rng.choice(SERIAL_WORDS).replace("{v}", "{d0}"),
            decoys=[("serial", _digits(rng, rng.randint(10, 20), "123456789"))])
        # phone words beside dates, years and short numbers
        t = rng.choice(PHONE_WORD_DECOYS)
        fill = {"d": _date(rng), "y": str(rng.randint(1870, 2030)), "n": f"{rng.randint(1, 99)}.{rng.randint(1, 9)}",
                "s": str(rng.choice([911, 112, 110, 120, 119, 999]))}
        keys = [k for k in "dyns" if "{" + k + "}" in t]
        for i, k in enumerate(keys):
            t = t.replace("{" + k + "}", f"{{d{i}}}")
        add("decoy/phone_word_numbers", t, decoys=[("phone_word_numbers", fill[k]) for k in keys])
    return cases


# --- PII in the other columns: id, source (the input file's name), meta ---------------------------

@dataclass
class FieldDoc:
    id: str
    source: str
    meta: str
    text: str
    pii: list[tuple[str, str, str]]  # (column, type, raw value) that must not leave the stage
    clean: list[str]  # columns holding no PII, which must come out byte for byte


def build_fields(n_docs: int = 400, seed: int = SEED) -> list[FieldDoc]:
    from faker import Faker

    rng = random.Random(seed)
    en, zh = Faker("en_US"), Faker("zh_CN")
    en.seed_instance(seed + 1)
    zh.seed_instance(seed + 1)

    def card():
        while len(number := en.credit_card_number()) < 13:  # 12-digit Maestro is outside the 13-19 spec
            pass
        return number

    def value():
        typ = rng.choice(["email", "phone", "id_number", "bank_card", "ip"])
        v = {"email": lambda: rng.choice([en.email(), zh.email()]),
             "phone": lambda: rng.choice([zh.phone_number(),
                                          f"{rng.randint(201, 989)}-{rng.randint(200, 989)}-{rng.randint(0, 9999):04d}"]),
             "id_number": zh.ssn, "bank_card": card, "ip": en.ipv4_public}[typ]()
        return typ, v

    def cc_path():
        ts = f"2023{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 23):02d}{rng.randint(0, 59):02d}" \
             f"{rng.randint(0, 59):02d}"
        return (f"s3://commoncrawl/crawl-data/CC-MAIN-2023-50/segments/{rng.randint(10**12, 10**13)}.{rng.randint(1, 99)}"
                f"/warc/CC-MAIN-{ts}-{ts}-{rng.randint(0, 99999):05d}.warc.gz")

    docs = []
    for i in range(n_docs):
        pii, clean = [], []
        kind = i % 4
        if kind == 0:  # PII in the id
            typ, v = value()
            id_ = rng.choice(["{v}", "user-{v}", "{v}-001"]).format(v=v)
            pii.append(("id", typ, v))
        else:
            id_ = rng.choice([en.uuid4(), f"{rng.getrandbits(80):020x}", f"doc-{i}", f"wiki-{en.word()}-{i}"])
            clean.append("id")
        if kind == 1:  # PII in the file name, hence the source and meta.file
            typ, v = value()
            stem = rng.choice(["contact_{v}", "{v}", "export-{v}-2024"]).format(v=v)
            source, meta = stem, {"file": f"/data/in/{stem}.jsonl", "line": rng.randint(1, 5000)}
            pii += [("source", typ, v), ("meta", typ, v)]
        else:
            source = rng.choice(["en_wikipedia", "cc-main-2023-50", "crawl_2024-01-15", f"part-{rng.randint(0, 99999):05d}"])
            meta = {"file": rng.choice([cc_path(), f"/data/in/{source}.jsonl.gz"]), "line": rng.randint(1, 10**6),
                    "url": en.url() + en.uri_path(), "timestamp": en.iso8601(), "lang": rng.choice(["en", "zh"])}
            clean.append("source")
        if kind in (2, 3):  # PII inside meta, nested, as strings and numbers
            typ, v = value()
            typ2, v2 = value()
            meta["author"] = {"contact": v, "history": [{"value": v2}]}
            pii += [("meta", typ, v), ("meta", typ2, v2)]
            if typ2 in ("phone", "bank_card") and v2.isdigit():
                meta["author"]["as_number"] = int(v2)
        if kind == 0:
            clean.append("meta")
        docs.append(FieldDoc(id_, source, json.dumps(meta, ensure_ascii=False),
                             f"Document {i} says nothing personal.", pii, clean))
    return docs
