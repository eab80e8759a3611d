"""PII scrubbing for English and Chinese text (see docs/pii.md).

``PIIScrubber`` is the pipeline stage; ``scrub_text`` replaces PII in any string with the default
detectors and placeholders, for everything Winnow writes for people to read (samples, reports).
"""

from __future__ import annotations

from functools import lru_cache

from operators.pii.detectors import DEFAULT_DETECTORS, Detector, PersonName
from operators.pii.scrubber import PIIReplacer, PIIScrubber


@lru_cache(maxsize=1)
def _default_replacer() -> PIIReplacer:
    return PIIReplacer([cls() for cls in DEFAULT_DETECTORS])


def scrub_text(text: str) -> str:
    """``text`` with every PII finding replaced by its typed placeholder."""
    if not text:
        return text
    return _default_replacer().scrub(text)[0]


__all__ = ["DEFAULT_DETECTORS", "Detector", "PIIReplacer", "PIIScrubber", "PersonName", "scrub_text"]
