"""The PII stage's code path: documents with ``kind == "code"`` are scrubbed by
:class:`redaction.code.CodeScrubber` (placeholders stay inside string literals and comments, so the code
still parses) with the code detectors (``redaction.code.CODE_DETECTORS``: the prose ones plus
:class:`~redaction.code.KeywordSecret`). Prose documents are not touched here."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contract import schema as S
from redaction.code import CODE_DETECTORS, CodeScrubber
from redaction.detectors import Detector
from redaction.replacer import PIIReplacer

LEFT_IN_CODE = "pii/code_left_in_code"


def code_rows(batch: pa.RecordBatch) -> np.ndarray | None:
    """Which rows are code (``kind`` column); None when the batch has no ``kind`` column or no code."""
    idx = batch.schema.get_field_index(S.KIND)
    if idx < 0:
        return None
    rows = pc.fill_null(pc.equal(batch.column(idx), S.KIND_CODE), False).to_numpy(zero_copy_only=False)
    return rows if rows.any() else None


class CodePII:
    """Detectors and scrubber for code documents, built like the stage's prose replacer."""

    def __init__(self, types: list[str], mode: str, salt: str, ip_public_only: bool, extra: list[Detector]):
        dets: list[Detector] = []
        for cls in CODE_DETECTORS:
            if cls.type in types:
                dets.append(cls(public_only=ip_public_only) if cls.type == "ip" else cls())
        self.scrubber = CodeScrubber(PIIReplacer(dets + list(extra), mode, salt))

    def scrub_rows(self, batch: pa.RecordBatch, rows: np.ndarray) -> tuple[dict[int, tuple], int]:
        """``({row: (text, counts, pii_chars)} for every code row with text, findings left in code)``."""
        dets = self.scrubber.replacer.detectors
        idx = np.nonzero(rows)[0]
        texts = batch.column(S.TEXT).take(pa.array(idx))
        langs = batch.column("lang").take(pa.array(idx)).to_pylist() if "lang" in batch.schema.names \
            else [None] * len(idx)
        masks = [pc.fill_null(pc.match_substring_regex(texts, d.trigger), False).to_numpy(zero_copy_only=False)
                 for d in dets]
        out, left = {}, 0
        for j, (i, text) in enumerate(zip(idx.tolist(), texts.to_pylist())):
            if text is None:
                continue
            active = [d for d, m in zip(dets, masks) if m[j]]
            if not active:
                out[i] = (text, {}, 0)
                continue
            res = self.scrubber.scrub(text, langs[j], active)
            out[i] = (res.text, res.counts, res.pii_chars)
            left += res.kept_in_code
        return out, left
