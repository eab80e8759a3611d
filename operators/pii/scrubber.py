"""The PII stage: replaces PII in ``text`` through the redaction module; counts and decisions."""

from __future__ import annotations

import importlib
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from contract import metrics as M
from contract import schema as S
from contract.operator import BatchResult, Operator, append_columns, split_batch
from redaction.detectors import DEFAULT_DETECTORS, Detector
from redaction.replacer import PIIReplacer

PII_COUNTS = pa.field("pii_counts", pa.map_(pa.string(), pa.int32()))


def _load_detector(spec: str) -> Detector:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)()


class PIIScrubber(Operator):
    """Replaces PII in ``text``; adds ``pii_counts``; rejects PII-dense documents as ``pii_dense``.

    Args:
        mode: ``placeholder`` (``<EMAIL>``...) or ``pseudonym`` (``<EMAIL_3fa1...>``, a salted hash of
            the value, consistent across documents and runs with the same salt).
        salt: the pseudonym salt; keep it secret, or pseudonyms can be brute-forced.
        types: which types to detect (default: email, phone, id_number, credit_code, bank_card, ip, secret).
        ip_public_only: leave private, reserved and link-local addresses alone.
        max_pii_char_fraction: reject a document when PII covers at least this share of its characters.
        min_pii_for_dense: ... and it has at least this many findings (one e-mail in a short note is not a dump).
        extra_detectors: ``"module:Class"`` detectors to add (e.g. a person-name NER detector).
    """

    name = "pii"
    metrics = {
        M.PII_FOUND: "PII findings replaced, per type (email, phone, ...)",
        "pii/docs_with_pii": "documents with at least one finding",
    }

    def __init__(self, mode: str = "placeholder", salt: str = "", types: list[str] | None = None,
                 ip_public_only: bool = False, max_pii_char_fraction: float = 0.3, min_pii_for_dense: int = 3,
                 extra_detectors: list[str] | None = None):
        self.mode = mode
        self.salt = salt
        self.types = list(types) if types is not None else [d.type for d in DEFAULT_DETECTORS]
        self.ip_public_only = ip_public_only
        self.max_pii_char_fraction = max_pii_char_fraction
        self.min_pii_for_dense = min_pii_for_dense
        self.extra_detectors = list(extra_detectors or [])
        known = {d.type for d in DEFAULT_DETECTORS}
        bad = [t for t in self.types if t not in known]
        if bad:
            raise ValueError(f"unknown PII types {bad} (known: {sorted(known)})")
        self._replacer: PIIReplacer | None = None

    def params(self):
        p = super().params()
        p["salt"] = "<set>" if self.salt else ""  # never write the salt into stats
        return p

    def output_fields(self) -> list[pa.Field]:
        return [PII_COUNTS]

    def setup(self) -> None:
        if self._replacer is None:
            dets: list[Detector] = []
            for cls in DEFAULT_DETECTORS:
                if cls.type in self.types:
                    dets.append(cls(public_only=self.ip_public_only) if cls.type == "ip" else cls())
            dets += [_load_detector(spec) for spec in self.extra_detectors]
            self._replacer = PIIReplacer(dets, self.mode, self.salt)

    def process(self, batch: pa.RecordBatch) -> BatchResult:
        self.setup()
        rep = self._replacer
        texts_arr = batch.column(S.TEXT)
        # Batch-level pre-check: which detectors could fire in which documents.
        masks = [pc.fill_null(pc.match_substring_regex(texts_arr, d.trigger), False).to_numpy(zero_copy_only=False)
                 for d in rep.detectors]
        texts = texts_arr.to_pylist()
        out_texts, counts_col, reasons, details = [], [], [], []
        totals: Counter = Counter()
        docs_with = 0
        for i, text in enumerate(texts):
            active = [d for d, m in zip(rep.detectors, masks) if m[i]]
            if text is None or not active:
                out_texts.append(text)
                counts_col.append([])
                reasons.append(None)
                details.append(None)
                continue
            new, counts, pii_chars = rep.scrub(text, active)
            out_texts.append(new)
            counts_col.append(sorted(counts.items()))
            totals.update(counts)
            docs_with += bool(counts)
            frac = pii_chars / max(len(text), 1)
            n = sum(counts.values())
            if n >= self.min_pii_for_dense and frac >= self.max_pii_char_fraction:
                reasons.append("pii_dense")
                details.append(f"pii_char_fraction={frac:.2f} findings={n}")
            else:
                reasons.append(None)
                details.append(None)
        batch = append_columns(batch, {S.TEXT: pa.array(out_texts, pa.string()),
                                       PII_COUNTS.name: pa.array(counts_col, PII_COUNTS.type)})
        kept, rejected = split_batch(batch, reasons, details)
        metrics = {f"pii/{t}": float(c) for t, c in totals.items()}
        metrics["pii/docs_with_pii"] = float(docs_with)
        return BatchResult(kept, rejected, metrics)
