"""PII detectors: one small class per type, each a pattern plus a validator.

Every detector has a ``trigger``: a cheap RE2 pattern that pyarrow evaluates over a whole batch,
so the Python patterns run only on documents that could contain that type. ``find`` returns
character spans. Python's ``\\b`` and ``\\w`` treat Chinese characters as word characters, so the patterns use
explicit ASCII digit/letter lookarounds ("联系13812345678" must still match).
"""

from __future__ import annotations

import re
from typing import ClassVar

from redaction import validators as V

Span = tuple[int, int]

# Words right before a number that make it an order/ISBN/reference/serial number, not a phone or card.
_REFERENCE_CONTEXT = re.compile(
    r"(?:订单|单号|编号|流水号|序列号|运单|快递单|发票号|合同号|工号|学号|(?<![A-Za-z])(?:ISBN|ISSN|DOI|order|invoice|tracking|"
    r"ref(?:erence)?|serial|patent|s/n|no\.)|#)码?\s*(?:为|是|is)?\s*[:：]?\s*(?:号码|号|number|no\.?)?\s*(?:为|是|is)?\s*[:：#]?\s*$",
    re.IGNORECASE,
)
# Words that name a credit code outright: a number after them is one, whatever else stands near.
_CREDIT_CODE_CONTEXT = re.compile(r"信用代码|(?<![A-Za-z])(?:credit\s+code|USCC)(?![A-Za-z])", re.IGNORECASE)
# Software-version context right before a dotted number ("version 1.2.3.4", "升级到 10.8.2.13", "版本号：...").
_VERSION_CONTEXT = re.compile(
    r"(?:(?<![A-Za-z])(?:version|release|ver\.?|v|build|python|firmware|kernel)|版本号?|版|"
    r"(?:升级|更新|降级|回退|回滚)(?:到|至)(?:版本)?|固件|内核|补丁)\s*(?:为|是)?\s*[:：]?\s*[vV]?\s*$",
    re.IGNORECASE)
# ... and right after it ("10.8.2.13 版本", "10.8.2.13版"), but not 版权 (copyright), 版主 (moderator), 版面.
_VERSION_AFTER = re.compile(r"\s*版(?![权主面])")

# Python's \d and \s are Unicode-aware (full-width digits, U+3000 and no-break spaces); RE2's are ASCII.
# Triggers use these classes so that the batch pre-check never misses what a pattern would match.
_TD = r"\p{Nd}"
_TS = r"[\s\x{0b}\x{1c}-\x{1f}\x{85}\p{Z}]"


def preceded_by(text: str, start: int, pattern: re.Pattern, window: int = 16) -> bool:
    return pattern.search(text[max(0, start - window) : start]) is not None


class Detector:
    type: ClassVar[str]
    placeholder: ClassVar[str]
    trigger: ClassVar[str]  # RE2 pattern for the batch-level pre-check

    def find(self, text: str) -> list[Span]:  # pragma: no cover - abstract
        raise NotImplementedError


class Email(Detector):
    """Plain, full-width (＠) and spelled-out forms ("name at domain dot com", "name[at]domain[dot]cn")."""

    type = "email"
    placeholder = "<EMAIL>"
    trigger = rf"[@＠]|(?:at|AT){_TS}*[\]\)\}}>]|{_TS}(?:at|AT){_TS}"
    _plain = re.compile(
        r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9_%+\-][A-Za-z0-9._%+\-]{0,63}\s?[@＠]\s?"
        r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?(?:[.．][A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?)*"
        r"[.．][A-Za-z]{2,24}(?![A-Za-z0-9])"
    )
    _TLD = r"(?:com|org|net|edu|gov|cn|io|co|uk|de|jp|info|biz|me|us|ca|au|fr|ru|hk|tw)"
    _AT = r"(?:\s*[\[\(\{<]\s*(?:at|AT)\s*[\]\)\}>]\s*|\s+(?:at|AT)\s+)"
    _DOT = r"(?:\s*[\[\(\{<]\s*(?:dot|DOT)\s*[\]\)\}>]\s*|\s+(?:dot|DOT)\s+)"
    _spelled = re.compile(
        rf"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{{0,63}}{_AT}[A-Za-z0-9\-]{{1,63}}"
        rf"(?:{_DOT}[A-Za-z0-9\-]{{1,63}})*{_DOT}{_TLD}(?![A-Za-z0-9])"
    )

    _spelled_guard = re.compile(r"(?:at|AT)\s*[\]\)\}>]|\s(?:at|AT)\s")  # cheap: any spelled-out "at"

    def find(self, text: str) -> list[Span]:
        spans = [m.span() for m in self._plain.finditer(text)]
        if " at " in text or " AT " in text or self._spelled_guard.search(text):
            spans += [m.span() for m in self._spelled.finditer(text)]
        return spans


class Phone(Detector):
    """E.164, North-American formats, mainland China mobile and landline numbers; after an explicit
    phone word (Phone:, Tel, cell is, Fax, 电话, 手机, 传真...) any phone-shaped number of 7-15 digits."""

    type = "phone"
    placeholder = "<PHONE>"
    # Every pattern needs 7+ digits: three in a row, or 4+ groups of one or two split by 1-3 separators.
    trigger = rf"{_TD}{{3}}|{_TD}(?:(?:{_TS}|[.\-()（）]){{1,3}}{_TD}{{1,2}}){{3}}"
    _patterns = [
        # mainland China mobile: optional +86 / 86, then 1[3-9]x xxxx xxxx with optional separators
        re.compile(r"(?<![\d+])(?:(?:\+|00)?86[\s\-]?)?1[3-9]\d[\s\-]?\d{4}[\s\-]?\d{4}(?!\d)"),
        # China landline: (0xx)/(0xxx) or 0xx-/0xxx- then 7-8 digits, optional extension. Written
        # grouped (010-6552 1234) only with a real area code (0 then 1-9) and a subscriber number
        # that starts 2-9, so runs of binary or octal columns (0001 0010 0011) stay.
        re.compile(r"(?<![\d])(?:\(0\d{2,3}\)\s?|（0\d{2,3}）|0\d{2,3}[\s\-])\d{7,8}(?:\s?(?:转|ext\.?|x)\s?\d{1,5})?(?!\d)"),
        re.compile(r"(?<![\d])(?:\(0[1-9]\d{1,2}\)\s?|（0[1-9]\d{1,2}）|0[1-9]\d{1,2}[\s\-])[2-9]\d{2,3}[\s\-]\d{4}(?:\s?(?:转|ext\.?|x)\s?\d{1,5})?(?!\d)"),
        # North American: +1 / 1 / 001, area code 2-9xx, exchange 2-9xx, optional extension
        re.compile(
            r"(?<![0-9A-Za-z.])(?:(?:\+1|001|1)[\s.\-]?)?(?:\([2-9]\d{2}\)\s?|[2-9]\d{2}[\s.\-])[2-9]\d{2}[\s.\-]\d{4}"
            r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\d.]\d)"
        ),
        # North American, ten bare digits: only with valid NANP area code and exchange (2-9xx)
        re.compile(r"(?<![0-9A-Za-z.+\-])[2-9]\d{2}[2-9]\d{6}(?![\d\-]|\.\d)"),
        # E.164 with a leading +: 8 to 15 digits, optionally grouped
        re.compile(r"(?<![0-9A-Za-z_])\+[1-9](?:[\s\-]?\d){7,14}(?!\d)"),
    ]
    # An explicit phone word, then a little filler ("number", "No.", ":", "is", "at", 号码, 是...).
    _WORDS = (r"(?:(?<![A-Za-z])(?:tele?phone|phone|t[ée]l[ée]?phone|t[ée]l|cell(?:phone)?|mobile|mob|fax|hotline|"
              r"whatsapp|call(?:\s+(?:me|us))?(?:\s+at)?|text\s+(?:me|us)(?:\s+at)?|contact\s+(?:number|no))"
              r"(?![A-Za-z])|电话|電話|手机|手機|座机|传真|傳真|热线|熱線|致电|拨打|联系方式|联系号码)")
    _FILLER = (r"(?:\s*(?:numbers?|num|no|nr|号码|號碼|号)(?![A-Za-z]))?[\s.:：=#]*"
               r"(?:(?:is|was|at|是|为|為)(?![A-Za-z])[\s:：]*)?")
    _context_before = re.compile(_WORDS + _FILLER + r"$", re.IGNORECASE)
    # Any phone shape: +cc, an area code (in brackets or not), 2-6 groups, an extension.
    _context_number = re.compile(
        _WORDS + _FILLER +
        r"(?P<num>(?:\+[ \u00a0]?\d{1,3}[ \u00a0.\-]?)?(?:\([ \u00a0]?\d{1,5}[ \u00a0]?\)[ \u00a0.\-]?|（\d{1,5}）|"
        r"\d{1,5}[ \u00a0.\-]?)?\d{2,5}(?:[ \u00a0.\-]?\d{2,5}){0,5}"
        r"(?P<ext>[ \u00a0]?(?:x|ext\.?|转|分机)[ \u00a0]?\d{1,5})?)(?!\d|[.\-]\d)",
        re.IGNORECASE)
    _date = re.compile(r"(?:1[89]|20)\d\d[.\-/年]\d{1,2}[.\-/月]\d{1,2}(?!\d)")
    _dotted_quad = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")  # 联系方式：10.1.2.3 is an address, for the IP detector

    # Cheap first pass: a stretch with 7+ characters of digits and separators (scanning the whole text
    # for the phone words is slower); the context pattern then runs only around it.
    _digits_stretch = re.compile(r"\d[\d \u00a0.\-()（）]{5,}\d")

    def _context_numbers(self, text: str):
        seen = set()
        for d in self._digits_stretch.finditer(text):
            for m in self._context_number.finditer(text, max(0, d.start() - 40), d.end() + 24):
                if m.span("num") not in seen and m.end("num") > d.start():
                    seen.add(m.span("num"))
                    yield m

    def find(self, text: str) -> list[Span]:
        spans = []
        for p in self._patterns:
            for m in p.finditer(text):
                if not preceded_by(text, m.start(), _REFERENCE_CONTEXT) or \
                        preceded_by(text, m.start(), self._context_before, 24):
                    spans.append(m.span())
        for m in self._context_numbers(text):
            num = m.group("num")
            ext = m.group("ext") or ""
            n_digits = sum(c.isdigit() for c in num) - sum(c.isdigit() for c in ext)
            if 7 <= n_digits <= 15 and not self._date.match(num) and not self._dotted_quad.fullmatch(num):
                spans.append(m.span("num"))
        return spans


class ChineseID(Detector):
    """Resident ID: 18 characters with a real birth date and the ISO 7064 MOD 11-2 checksum (also written
    grouped 6-8-4), or the legacy 15 digits."""

    type = "id_number"
    placeholder = "<ID_NUMBER>"
    trigger = rf"{_TD}{{6}}{_TS}?{_TD}{{8}}{_TS}?{_TD}"  # the spaced form too: never stricter than find()
    _id18 = re.compile(r"(?<![0-9A-Za-z])\d{6}\s?\d{8}\s?\d{3}[0-9Xx](?![0-9A-Za-z])")
    _id15 = re.compile(r"(?<![0-9A-Za-z])\d{15}(?![0-9A-Za-z])")
    _space = re.compile(r"\s")

    def find(self, text: str) -> list[Span]:
        spans = [m.span() for m in self._id18.finditer(text) if V.cn_id18_valid(self._space.sub("", m.group()))]
        spans += [m.span() for m in self._id15.finditer(text) if V.cn_id15_valid(m.group())
                  and not V.luhn_valid(m.group()) and not preceded_by(text, m.start(), _REFERENCE_CONTEXT)]
        return spans


class CreditCode(Detector):
    """Unified social credit code (统一社会信用代码), 18 characters with its MOD 31 checksum. An all-digit
    candidate after a serial/number word (编号, 流水号, serial...) is a serial, unless a credit-code word
    (信用代码, credit code) stands right before it."""

    type = "credit_code"
    placeholder = "<CREDIT_CODE>"
    trigger = r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}"
    _pattern = re.compile(r"(?<![0-9A-Za-z])[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}(?![0-9A-Za-z])")

    def find(self, text: str) -> list[Span]:
        spans = []
        for m in self._pattern.finditer(text):
            code = m.group()
            if not V.uscc_valid(code) or V.cn_id18_valid(code):
                continue
            if code.isdigit() and preceded_by(text, m.start(), _REFERENCE_CONTEXT) \
                    and not preceded_by(text, m.start(), _CREDIT_CODE_CONTEXT, 24):
                continue
            spans.append(m.span())
        return spans


class BankCard(Detector):
    """13-19 digit card numbers, plain or grouped by spaces/dashes, with a valid Luhn checksum.

    A run of digit groups may hold more than the card (``4881550658046412 003``, ``room 003 4111 1111
    1111 1111``, ``export-4881550658046412-2024``): every stretch of 1-6 whole groups is a candidate,
    and of those that pass Luhn the best written win: one group, 4-4-4-4, 4-6-4 or 4-6-5 first, then
    groups of four with a short last one, then (the whole run only) any grouping of a first group of 4+
    digits and groups of 2+. A candidate carved out of a longer run must start with a card issuer digit
    (1-6: airlines/JCB 1800, Mastercard, Amex/JCB/Diners, Visa, Maestro, Discover/UnionPay), hold more
    than 0s and 1s and not touch a letter, so hex dumps and bit tables stay. Only a single group may touch a dash outside it. A 14-digit
    YYYYMMDDhhmmss timestamp is not a card (14-digit Diners numbers start with 30, 36, 38 or 39)."""

    type = "bank_card"
    placeholder = "<BANK_CARD>"
    trigger = rf"{_TD}{{4}}"
    _run = re.compile(r"(?=\d[\d \-]{12})(?<![\d.])(?<!\d-)\d+(?:[ \-]\d+)*")  # 13+ characters, in C
    _group = re.compile(r"\d+")
    _MAX_GROUPS = 6

    @staticmethod
    def _score(lengths: list[int], whole: bool) -> int:
        """3: written like a card; 2: groups of four and a short last one; 1: the whole run's loose
        grammar (first group 4+, others 2+, last 1+); 0: not a card."""
        if len(lengths) == 1 or all(n == 4 for n in lengths) or lengths in ([4, 6, 4], [4, 6, 5]):
            return 3
        if all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 3:
            return 2
        if whole and lengths[0] >= 4 and all(n >= 2 for n in lengths[1:-1]) and len(lengths) <= BankCard._MAX_GROUPS:
            return 1
        return 0

    @staticmethod
    def _timestamp(digits: str) -> bool:
        if len(digits) != 14 or not V.birth_date_valid(digits[:8]):
            return False
        return int(digits[8:10]) < 24 and int(digits[10:12]) < 60 and int(digits[12:]) < 61

    def find(self, text: str) -> list[Span]:
        spans: list[Span] = []
        for m in self._run.finditer(text):
            raw = m.group()
            if len(raw) < 13:
                continue
            groups = [(m.start() + g.start(), m.start() + g.end()) for g in self._group.finditer(raw)]
            n = len(groups)
            before = text[m.start() - 1:m.start()]
            after = text[m.end():m.end() + 2]
            run_dash_before = before == "-"
            glued_before, glued_after = before.isascii() and before.isalpha(), after[:1].isascii() and after[:1].isalpha()
            run_dash_after = after[:1] == "-"
            if after[:1] == "." and after[1:2].isdigit() or preceded_by(text, m.start(), _REFERENCE_CONTEXT):
                continue  # a decimal number; an order/serial number (every part of it)
            cands = []
            for i in range(n):
                for j in range(i + 1, min(n, i + self._MAX_GROUPS) + 1):
                    start, end = groups[i][0], groups[j - 1][1]
                    lengths = [e - s for s, e in groups[i:j]]
                    if sum(lengths) > 19:
                        break
                    if sum(lengths) < 13:
                        continue
                    score = self._score(lengths, i == 0 and j == n)
                    if not score:
                        continue
                    dash_before = text[start - 1] == "-" if i > 0 else run_dash_before
                    dash_after = text[end] == "-" if j < n else run_dash_after
                    if (dash_before or dash_after) and len(lengths) > 1:
                        continue
                    value = text[start:end]
                    if len({c for c in value if c in " -"}) > 1:
                        continue
                    digits = value.replace(" ", "").replace("-", "")
                    if not V.luhn_valid(digits) or self._timestamp(digits):
                        continue
                    if not (i == 0 and j == n) and (digits[0] not in "123456" or not digits.strip("01")
                                                    or i == 0 and glued_before or j == n and glued_after):
                        continue  # carved out of a longer run: an issuer digit, not bits, not part of a hex word
                    cands.append((score, end - start, -start, start, end))
            for *_, start, end in sorted(cands, reverse=True):
                if all(end <= a or start >= b for a, b in spans) and not preceded_by(text, start, _REFERENCE_CONTEXT):
                    spans.append((start, end))
        return spans


class IPAddress(Detector):
    """IPv4 and IPv6 addresses; version strings in a software context are left alone (``version 1.2.3.4``,
    ``请升级到 10.8.2.13 版本``, ``版本号：…``, ``V10.8.2.13``)."""

    type = "ip"
    placeholder = "<IP>"
    trigger = r"[0-9]\.[0-9]+\.[0-9]+\.[0-9]|[0-9A-Fa-f]:[0-9A-Fa-f]*:"
    # "_" may stand beside an address (file names: contact_10.1.2.3.jsonl)
    _v4 = re.compile(r"(?<![0-9A-Za-z.])(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
                     r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?![0-9A-Za-z]|\.[0-9])")
    _v6 = re.compile(r"(?<![0-9A-Za-z_:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:[0-9]{1,3}\.){3}[0-9]{1,3})?"
                     r"(?:%[\w]+)?(?![0-9A-Za-z_:])")

    def __init__(self, public_only: bool = False):
        self.public_only = public_only

    def find(self, text: str) -> list[Span]:
        spans = []
        for m in self._v4.finditer(text):
            if preceded_by(text, m.start(), _VERSION_CONTEXT, 12) or _VERSION_AFTER.match(text, m.end()) \
                    or not V.ip_valid(m.group(), self.public_only):
                continue
            spans.append(m.span())
        if ":" in text:
            for m in self._v6.finditer(text):
                s = m.group()
                groups = [g for g in re.split(r"::?", s.split("%")[0]) if g]
                if len(groups) >= 3 and V.ip_valid(s, self.public_only):
                    spans.append(m.span())
        return spans


class Secret(Detector):
    """API keys and tokens in well-known formats, passwords in URLs, private key blocks."""

    type = "secret"
    placeholder = "<SECRET>"
    trigger = (r"AKIA|ASIA|gh[pousr]_|github_pat_|xox[abprs]-|sk_live_|rk_live_|AIza|sk-|eyJ|PRIVATE KEY|"
               r"://[^/\s:@]+:[^/\s@]+@|(?i)(?:password|passwd|pwd|secret|token|api_?key)")
    _patterns = [
        re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----"),
        re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])"),
        re.compile(r"(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{36,255}"),
        re.compile(r"(?<![A-Za-z0-9])github_pat_[A-Za-z0-9_]{22,255}"),
        re.compile(r"(?<![A-Za-z0-9])xox[abprs]-[A-Za-z0-9\-]{10,}"),
        re.compile(r"(?<![A-Za-z0-9])[sr]k_live_[0-9A-Za-z]{20,}"),
        re.compile(r"(?<![A-Za-z0-9])AIza[0-9A-Za-z\-_]{35}"),
        re.compile(r"(?<![A-Za-z0-9])sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{32,}"),
        re.compile(r"(?<![A-Za-z0-9])eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
    ]
    # scheme://user:password@host -> the user:password part
    _url_userinfo = re.compile(r"(?<=://)[^/\s:@]{1,64}:[^/\s@]{1,128}(?=@[A-Za-z0-9.\-\[])")
    # password = "literal" (quoted, 8+ characters, not a placeholder or an expression)
    _assignment = re.compile(
        r"(?i)(?:password|passwd|pwd|secret|api_?key|access_?token|auth_?token)[\"']?\s*[:=]\s*[\"']"
        r"(?P<value>[^\s\"'<>{}()$%]{8,128})[\"']"
    )

    def find(self, text: str) -> list[Span]:
        spans = [m.span() for p in self._patterns for m in p.finditer(text)]
        spans += [m.span() for m in self._url_userinfo.finditer(text)]
        spans += [m.span("value") for m in self._assignment.finditer(text)]
        return spans


class PersonName(Detector):
    """Extension point: person names need an NER model, and none exists offline here. Subclass
    and implement ``find`` (e.g. with a local spaCy/transformers model), then pass it to
    ``PIIScrubber(extra_detectors=["my.module:MyNames"])``."""

    type = "person"
    placeholder = "<PERSON>"
    trigger = r"."

    def find(self, text: str) -> list[Span]:
        return []


# Priority when spans overlap: earlier in this list wins.
DEFAULT_DETECTORS: list[type[Detector]] = [Secret, Email, ChineseID, CreditCode, BankCard, Phone, IPAddress]
