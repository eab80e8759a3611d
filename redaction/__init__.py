"""Redaction: the one PII scrubber of Winnow (see docs/pii.md).

``detectors`` finds typed PII spans, ``validators`` holds their checksums, ``replacer`` rewrites text.
``scrub_text`` applies the default detectors; the PII stage, every sample writer and the run report
call it. There is no fallback: if this package cannot be imported, the job stops.
"""

from __future__ import annotations

from functools import lru_cache

from redaction.detectors import DEFAULT_DETECTORS, Detector, PersonName
from redaction.replacer import PIIReplacer


@lru_cache(maxsize=1)
def _default_replacer() -> PIIReplacer:
    return PIIReplacer([cls() for cls in DEFAULT_DETECTORS])


def scrub_text(text: str) -> str:
    """``text`` with every PII finding replaced by its typed placeholder."""
    if not text:
        return text
    return _default_replacer().scrub(text)[0]


__all__ = ["DEFAULT_DETECTORS", "Detector", "PIIReplacer", "PersonName", "scrub_text"]
