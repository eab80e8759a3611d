"""The PII stage (see docs/pii.md). Detection and replacement live in the ``redaction`` package."""

from __future__ import annotations

from operators.pii.scrubber import PIIScrubber

__all__ = ["PIIScrubber"]
