"""Blacklist dictionary filter: sensitive, gambling, porn and advertising phrases.

The default list is ``operators/resources/zh_blacklist.txt`` (categories in ``[brackets]``, one
phrase per line); point ``blacklist_file`` at another file to replace it. Matching is a substring
count with one RE2 alternation over the whole batch (case-insensitive), so it needs no word
boundaries and works in Chinese text.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa

from contract.textstats import count_re, lengths, safe_div
from operators.filters.base import Check, Decision, RuleFilter

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
DEFAULT_BLACKLIST_FILE = RESOURCES / "zh_blacklist.txt"


def load_blacklist(path: str | Path) -> dict[str, str]:
    """phrase -> category from a blacklist file."""
    out: dict[str, str] = {}
    category = "default"
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            category = line[1:-1].strip() or "default"
            continue
        out[line.lower()] = category
    return out


class Blacklist(RuleFilter):
    """Drops documents with at least ``min_hits`` (3) blacklist hits and at least
    ``min_hits_per_kchar`` (1.0) hits per 1,000 characters (so a long news report that mentions a
    gambling crackdown twice survives, and an ad page does not). Reason ``blacklist_hits``, detail
    ``<hits> (<category>:<n>, ...)``."""

    name = "blacklist"
    metrics = {"blacklist/hits": "blacklist hits counted in routed documents"}
    default_languages = ("zh",)

    def __init__(
        self,
        blacklist_file: str | None = None,
        min_hits: int = 3,
        min_hits_per_kchar: float = 1.0,
        languages: list[str] | None = None,
    ):
        super().__init__(languages)
        self.blacklist_file = str(blacklist_file or DEFAULT_BLACKLIST_FILE)
        self.min_hits = min_hits
        self.min_hits_per_kchar = min_hits_per_kchar
        self._terms = load_blacklist(self.blacklist_file)
        # Longest first so that overlapping phrases count once, as the longest match.
        ordered = sorted(self._terms, key=len, reverse=True)
        self._re2 = "(?i)" + "|".join(re.escape(t) for t in ordered) if ordered else None
        self._py = re.compile("|".join(re.escape(t) for t in ordered), re.IGNORECASE) if ordered else None

    def input_files(self) -> list[str]:
        return [self.blacklist_file]

    def detail(self, text: str, hits: int) -> str:
        cats: dict[str, int] = {}
        for m in self._py.finditer(text):
            c = self._terms.get(m.group().lower(), "default")
            cats[c] = cats.get(c, 0) + 1
        return f"{hits} (" + ", ".join(f"{k}:{v}" for k, v in sorted(cats.items(), key=lambda kv: -kv[1])) + ")"

    def decide(self, batch: pa.RecordBatch, texts: pa.Array) -> Decision:
        if self._re2 is None:
            return Decision([])
        hits = count_re(texts, self._re2)
        density = safe_div(hits * 1000.0, lengths(texts))
        fail = (hits >= self.min_hits) & (density >= self.min_hits_per_kchar)
        stat = np.array([None] * len(hits), dtype=object)
        if fail.any():
            for i in np.nonzero(fail)[0]:
                stat[i] = self.detail(texts[int(i)].as_py(), int(hits[i]))
        return Decision([Check("blacklist_hits", fail, stat)], metrics={"blacklist/hits": float(hits.sum())})
