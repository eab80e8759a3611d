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

# Words right before a number that make it an order/ISBN/reference number, not a phone or card.
_REFERENCE_CONTEXT = re.compile(
    r"(?:订单|单号|编号|流水号|运单|快递单|发票号|合同号|工号|学号|(?<![A-Za-z])(?:ISBN|ISSN|DOI|order|invoice|tracking|"
    r"ref(?:erence)?|serial|patent|no\.)|#)\s*[:：]?\s*(?:号|number|no\.?)?\s*[:：#]?\s*$",
    re.IGNORECASE,
)
_VERSION_CONTEXT = re.compile(r"(?:(?<![A-Za-z])(?:version|release|ver\.?|v|build|python|firmware|kernel)|版本|版)\s*[:：]?\s*$",
                              re.IGNORECASE)


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
    trigger = r"[@＠]|(?i)[\[\(\{<\s]at[\]\)\}>\s]"
    _plain = re.compile(
        r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}\s?[@＠]\s?"
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

    def find(self, text: str) -> list[Span]:
        spans = [m.span() for m in self._plain.finditer(text)]
        if " at " in text or " AT " in text or "at]" in text or "at)" in text or "AT]" in text or "AT)" in text:
            spans += [m.span() for m in self._spelled.finditer(text)]
        return spans


class Phone(Detector):
    """E.164, North-American formats, mainland China mobile and landline numbers."""

    type = "phone"
    placeholder = "<PHONE>"
    trigger = r"\d{3}"
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
            r"(?<![0-9A-Za-z_.])(?:(?:\+1|001|1)[\s.\-]?)?(?:\([2-9]\d{2}\)\s?|[2-9]\d{2}[\s.\-])[2-9]\d{2}[\s.\-]\d{4}"
            r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\d.]\d)"
        ),
        # North American, ten bare digits: only with valid NANP area code and exchange (2-9xx)
        re.compile(r"(?<![0-9A-Za-z_.+\-])[2-9]\d{2}[2-9]\d{6}(?![\d\-]|\.\d)"),
        # E.164 with a leading +: 8 to 15 digits, optionally grouped
        re.compile(r"(?<![0-9A-Za-z_])\+[1-9](?:[\s\-]?\d){7,14}(?!\d)"),
    ]

    def find(self, text: str) -> list[Span]:
        spans = []
        for p in self._patterns:
            for m in p.finditer(text):
                if not preceded_by(text, m.start(), _REFERENCE_CONTEXT):
                    spans.append(m.span())
        return spans


class ChineseID(Detector):
    """Resident ID: 18 characters with the ISO 7064 MOD 11-2 checksum, or the legacy 15 digits."""

    type = "id_number"
    placeholder = "<ID_NUMBER>"
    trigger = r"\d{6}\s?\d{8}\s?\d"  # the spaced form too: the pre-check must never be stricter than find()
    _id18 = re.compile(r"(?<![0-9A-Za-z])\d{6}\s?\d{8}\s?\d{3}[0-9Xx](?![0-9A-Za-z])")
    _id15 = re.compile(r"(?<![0-9A-Za-z])\d{15}(?![0-9A-Za-z])")

    def find(self, text: str) -> list[Span]:
        spans = [m.span() for m in self._id18.finditer(text) if V.cn_id18_valid(m.group().replace(" ", ""))]
        spans += [m.span() for m in self._id15.finditer(text) if V.cn_id15_valid(m.group())
                  and not V.luhn_valid(m.group()) and not preceded_by(text, m.start(), _REFERENCE_CONTEXT)]
        return spans


class CreditCode(Detector):
    """Unified social credit code (统一社会信用代码), 18 characters with its MOD 31 checksum."""

    type = "credit_code"
    placeholder = "<CREDIT_CODE>"
    trigger = r"[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}"
    _pattern = re.compile(r"(?<![0-9A-Za-z])[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}(?![0-9A-Za-z])")

    def find(self, text: str) -> list[Span]:
        return [m.span() for m in self._pattern.finditer(text) if V.uscc_valid(m.group())
                and not V.cn_id18_valid(m.group())]


class BankCard(Detector):
    """13-19 digit card numbers, plain or grouped by spaces/dashes, with a valid Luhn checksum."""

    type = "bank_card"
    placeholder = "<BANK_CARD>"
    trigger = r"\d{4}"
    _pattern = re.compile(r"(?<![\d\-.])\d{4}(?:[ \-]?\d{2,6}){2,4}(?:[ \-]?\d{1,4})?(?![\d\-]|\.\d)")

    def find(self, text: str) -> list[Span]:
        spans = []
        for m in self._pattern.finditer(text):
            raw = m.group()
            digits = raw.replace(" ", "").replace("-", "")
            seps = {c for c in raw if c in " -"}
            if len(seps) > 1 or not V.luhn_valid(digits):
                continue
            if preceded_by(text, m.start(), _REFERENCE_CONTEXT):
                continue
            spans.append(m.span())
        return spans


class IPAddress(Detector):
    """IPv4 and IPv6 addresses; version strings in a software context are left alone."""

    type = "ip"
    placeholder = "<IP>"
    trigger = r"\d\.\d+\.\d+\.\d|[0-9A-Fa-f]:[0-9A-Fa-f]*:"
    _v4 = re.compile(r"(?<![0-9A-Za-z_.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
                     r"(?![0-9A-Za-z_]|\.\d)")
    _v6 = re.compile(r"(?<![0-9A-Za-z_:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?"
                     r"(?:%[\w]+)?(?![0-9A-Za-z_:])")

    def __init__(self, public_only: bool = False):
        self.public_only = public_only

    def find(self, text: str) -> list[Span]:
        spans = []
        for m in self._v4.finditer(text):
            if preceded_by(text, m.start(), _VERSION_CONTEXT, 12) or not V.ip_valid(m.group(), self.public_only):
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
