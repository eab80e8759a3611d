"""Find PII with detectors, resolve overlaps, and rewrite text with typed placeholders or salted
pseudonyms. Pure Python: the PII stage, every sample writer and the report use this one code path."""

from __future__ import annotations

import hashlib
from collections import Counter

from redaction.detectors import Detector


class PIIReplacer:
    """Finds PII with the detectors and rewrites text. Pure Python; used by the operator and by
    ``scrub_text`` (samples, reports, error messages)."""

    def __init__(self, detectors: list[Detector], mode: str = "placeholder", salt: str = ""):
        if mode not in ("placeholder", "pseudonym"):
            raise ValueError(f"mode must be 'placeholder' or 'pseudonym', got {mode!r}")
        self.detectors = detectors
        self.mode = mode
        self.salt = salt

    def find(self, text: str, active: list[Detector] | None = None) -> list[tuple[int, int, Detector]]:
        """Non-overlapping findings; on overlap the detector earlier in the list (then the longer span) wins."""
        taken: list[tuple[int, int, Detector]] = []
        for det in active if active is not None else self.detectors:
            for start, end in sorted(det.find(text), key=lambda s: (s[0], -(s[1] - s[0]))):
                if end > start and all(end <= a or start >= b for a, b, _ in taken):
                    taken.append((start, end, det))
        taken.sort(key=lambda t: t[0])
        return taken

    def replacement(self, value: str, det: Detector) -> str:
        if self.mode == "placeholder":
            return det.placeholder
        digest = hashlib.sha256(f"{self.salt}\0{det.type}\0{value}".encode()).hexdigest()[:10]
        return f"{det.placeholder[:-1]}_{digest}>"

    def scrub(self, text: str, active: list[Detector] | None = None) -> tuple[str, Counter, int]:
        """(scrubbed text, count per type, characters of PII)."""
        found = self.find(text, active)
        if not found:
            return text, Counter(), 0
        parts, pos, counts, pii_chars = [], 0, Counter(), 0
        for start, end, det in found:
            parts.append(text[pos:start])
            parts.append(self.replacement(text[start:end], det))
            counts[det.type] += 1
            pii_chars += end - start
            pos = end
        parts.append(text[pos:])
        return "".join(parts), counts, pii_chars
