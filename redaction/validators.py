"""Checksums and sanity checks that turn a pattern match into a confident PII finding."""

from __future__ import annotations

import calendar
import ipaddress
import unicodedata

# GB 11643-1999: resident ID, ISO 7064 MOD 11-2.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# First two digits of a resident ID: province-level region codes.
_PROVINCES = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
              50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91}
# GB 32100-2015: unified social credit code, MOD 31.
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def ascii_digits(s: str) -> str:
    """``s`` with every Unicode decimal digit (full-width ０-９, Arabic-Indic...) as its ASCII digit: the
    patterns' ``\\d`` matches them all, so the checksums must read them all."""
    if s.isascii():
        return s
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in s)


def birth_date_valid(yyyymmdd: str) -> bool:
    """A real calendar date between 1900 and 2099 (the birth date inside a resident ID)."""
    if len(yyyymmdd) != 8 or not yyyymmdd.isdigit():
        return False
    y, m, d = int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:])
    return 1900 <= y <= 2099 and 1 <= m <= 12 and 1 <= d <= calendar.monthrange(y, m)[1]


def cn_id18_valid(s: str) -> bool:
    """18 characters: province code, a real birth date (digits 7-14) and the MOD 11-2 check character."""
    s = ascii_digits(s)
    if len(s) != 18 or not s[:17].isdigit() or int(s[:2]) not in _PROVINCES or not birth_date_valid(s[6:14]):
        return False
    total = sum(int(c) * w for c, w in zip(s[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == s[17].upper()


def cn_id15_valid(s: str) -> bool:
    """Legacy 15-digit ID: no checksum, so region code and birth date must be plausible."""
    s = ascii_digits(s)
    if len(s) != 15 or not s.isdigit() or int(s[:2]) not in _PROVINCES:
        return False
    month, day = int(s[8:10]), int(s[10:12])
    return 1 <= month <= 12 and 1 <= day <= 31


def uscc_valid(s: str) -> bool:
    s = s.upper()
    if len(s) != 18 or any(c not in _USCC_CHARS for c in s) or not s[2:8].isdigit():
        return False
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(s[:17], _USCC_WEIGHTS))
    check = (31 - total % 31) % 31
    return _USCC_CHARS[check] == s[17]


def luhn_valid(digits: str) -> bool:
    digits = ascii_digits(digits)
    if not digits.isdigit() or not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def ip_valid(s: str, public_only: bool) -> bool:
    try:
        ip = ipaddress.ip_address(s.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 4 and s.count(".") != 3:
        return False
    if ip.is_unspecified or ip.is_loopback:  # 0.0.0.0, 127.0.0.1, ::1 identify nobody
        return False
    return ip.is_global if public_only else True
