"""The PII stage: replaces PII in every string that leaves it (``text``, ``source``, every value in
``meta``, ``id``) through the redaction module; counts and decisions."""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import re
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from contract import metrics as M
from contract import schema as S
from contract.operator import BatchResult, Operator, append_columns, split_batch
from operators.pii.code import LEFT_IN_CODE, CodePII, code_rows
from redaction.detectors import DEFAULT_DETECTORS, Detector
from redaction.replacer import PIIReplacer

PII_COUNTS = pa.field("pii_counts", pa.map_(pa.string(), pa.int32()))
# Ids that are hashes, not words: the reader's own id (20 hex), a UUID, an id this stage already gave.
# Detectors see digit runs inside them (~0.3% of random hex ids look like a phone or a card), so they are kept.
_HASH_ID = re.compile(r"(?=[0-9]*[a-f])[0-9a-f]{20}|(?=[0-9-]*[a-fA-F])[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
                      r"|pii-[0-9a-f]{20}")
_CACHE_MAX = 4096  # scrubbed source / meta strings remembered per process (a file's path repeats on every row)


# The salt's fingerprint in params() (stats.json, the stage hash): PBKDF2-HMAC-SHA256 of the salt over a
# fixed string, truncated to 32 bits. See docs/pii.md ("The salt and the stage hash").
SALT_FINGERPRINT_CONTEXT = b"winnow/pii/salt-fingerprint/v1"
SALT_FINGERPRINT_ITERATIONS = 200_000
SALT_FINGERPRINT_HEX = 8


@functools.lru_cache(maxsize=8)
def salt_fingerprint(salt: str) -> str:
    """``""`` without a salt, else ``"set:"`` + 8 hex characters of PBKDF2-HMAC-SHA256(salt, a fixed
    string, 200,000 iterations): a changed salt changes the stage hash (1 chance in 2**32 that it does
    not), while the 32 bits say nothing useful about a strong salt (about 2**32 others of every 64-bit
    salt space share it) and each guess at a weak one costs 200,000 HMACs."""
    if not salt:
        return ""
    key = hashlib.pbkdf2_hmac("sha256", salt.encode("utf-8", "surrogatepass"), SALT_FINGERPRINT_CONTEXT,
                              SALT_FINGERPRINT_ITERATIONS)
    return "set:" + key.hex()[:SALT_FINGERPRINT_HEX]


def _load_detector(spec: str) -> Detector:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)()


class PIIScrubber(Operator):
    """Replaces PII in ``text``; adds ``pii_counts``; rejects PII-dense documents as ``pii_dense``.

    Nothing else that leaves the stage keeps PII either (kept and rejected rows alike): ``source`` (often
    the input file's name) is scrubbed like text; in ``meta`` (a JSON object) every string value, every
    integer value that holds a finding (turned into the scrubbed string) and every key, nested or not, is
    scrubbed and the result is still valid JSON; an ``id`` with a finding becomes ``pii-`` plus 20 hex
    characters of a salted SHA-256 of the original id: unique (80 bits), stable across runs and
    partitionings for the same salt, and the same in every mode. Hash-shaped ids (20 hex characters, a
    UUID, an id this stage gave) are not words and are kept as they are.

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
    # 2: id, source and meta scrubbed too; new phone/card/version/serial rules (finished runs re-run the stage)
    # 3: an e-mail's local part may start with _ % + - (`_hidden_ivan.petrov@example.com`)
    version = "3"
    metrics = {
        M.PII_FOUND: "PII findings replaced, per type (email, phone, ...)",
        "pii/docs_with_pii": "documents with at least one finding",
        M.PII_FOUND_IN: "PII findings in a column other than text (id, source, meta), per type",
        "pii/ids_pseudonymized": "documents whose id held PII and now carries its pseudonym pii-<hash>",
        "pii/sources_scrubbed": "documents whose source (the input file's name, or its source field) held PII",
        "pii/metas_scrubbed": "documents whose meta held PII in a value or a key (replaced, still valid JSON)",
        LEFT_IN_CODE: "findings in code documents left as they were: outside string literals and comments (operators/pii/code.py)",
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
        self._code: CodePII | None = None  # kind == code documents (operators/pii/code.py)
        self._cache: dict[str, tuple[str, Counter]] = {}  # value -> (scrubbed, findings per type)

    def params(self):
        p = super().params()
        p["salt"] = salt_fingerprint(self.salt)  # never the salt itself (stats.json, _SUCCESS)
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
            self._code = CodePII(self.types, self.mode, self.salt, self.ip_public_only,
                                 [_load_detector(spec) for spec in self.extra_detectors])

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
        is_code = code_rows(batch)
        code, left_in_code = self._code.scrub_rows(batch, is_code) if is_code is not None else ({}, 0)
        for i, text in enumerate(texts):
            active = [d for d, m in zip(rep.detectors, masks) if m[i]]
            if i in code:  # kind == code: placeholders stay inside literals and comments
                new, counts, pii_chars = code[i]
            elif text is None or not active:
                out_texts.append(text)
                counts_col.append([])
                reasons.append(None)
                details.append(None)
                continue
            else:
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
        columns = {S.TEXT: pa.array(out_texts, pa.string())}
        field_counts: dict[str, float] = {}
        names = batch.schema.names
        for col, fn, metric in ((S.ID, self._scrub_ids, "pii/ids_pseudonymized"),
                                (S.SOURCE, self._scrub_strings, "pii/sources_scrubbed"),
                                (S.META, self._scrub_metas, "pii/metas_scrubbed")):
            if col in names:
                new_col, n_changed, found = fn(batch.column(col))
                field_counts[metric] = n_changed
                field_counts.update({M.PII_FOUND_IN.format(column=col, type=t): c for t, c in found.items()})
                if new_col is not None:
                    columns[col] = new_col.cast(batch.schema.field(col).type)
        columns[PII_COUNTS.name] = pa.array(counts_col, PII_COUNTS.type)
        batch = append_columns(batch, columns)
        kept, rejected = split_batch(batch, reasons, details)
        metrics = {f"pii/{t}": float(c) for t, c in totals.items()}
        metrics["pii/docs_with_pii"] = float(docs_with)
        if left_in_code:
            metrics[LEFT_IN_CODE] = float(left_in_code)
        metrics.update({k: float(v) for k, v in field_counts.items() if v})
        return BatchResult(kept, rejected, metrics)

    # --- the other columns: id, source, meta ---------------------------------------------------------

    def _masks(self, arr: pa.Array) -> list:
        """Per detector, per row: could it fire (its trigger, the same batch pre-check as for text)?"""
        return [pc.fill_null(pc.match_substring_regex(arr, d.trigger), False) for d in self._replacer.detectors]

    def _flagged(self, arr: pa.Array, extra: str | None = None):
        """Per row: could any detector fire? (``extra``: a substring that sends a row on too.)"""
        mask = None
        for m in self._masks(arr):
            mask = m if mask is None else pc.or_(mask, m)
        if extra is not None:
            mask = pc.or_(mask, pc.fill_null(pc.match_substring(arr, extra), False))
        return mask.to_numpy(zero_copy_only=False)

    def _scrub_str(self, value: str, found: Counter) -> str:
        """``value`` scrubbed; its findings are added to ``found`` (per type)."""
        hit = self._cache.get(value)
        if hit is None:
            new, counts, _ = self._replacer.scrub(value)
            hit = (new, counts)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[value] = hit
        found.update(hit[1])
        return hit[0]

    def id_pseudonym(self, id_: str) -> str:
        """The id a document with PII in its id gets: ``pii-`` + 20 hex of SHA-256(salt, original id)."""
        return "pii-" + hashlib.sha256(f"{self.salt}\0id\0{id_}".encode("utf-8", "surrogatepass")).hexdigest()[:20]

    def _scrub_ids(self, arr: pa.Array) -> tuple[pa.Array | None, int, Counter]:
        """(new column or None, ids replaced, findings per type)."""
        arr = arr.cast(pa.string())
        dets = self._replacer.detectors
        masks = [m.to_numpy(zero_copy_only=False) for m in self._masks(arr)]
        values = arr.to_pylist()
        n = 0
        found: Counter = Counter()
        for i, v in enumerate(values):
            active = [d for d, m in zip(dets, masks) if m[i]]
            if not active or v is None or _HASH_ID.fullmatch(v):
                continue
            hits = self._replacer.find(v, active)
            if not hits:
                continue
            found.update(det.type for _, _, det in hits)
            values[i] = self.id_pseudonym(v)
            n += 1
        return (pa.array(values, pa.string()), n, found) if n else (None, 0, found)

    def _scrub_strings(self, arr: pa.Array) -> tuple[pa.Array | None, int, Counter]:
        return self._rewrite_flagged(arr, self._scrub_str)

    def _scrub_metas(self, arr: pa.Array) -> tuple[pa.Array | None, int, Counter]:
        # A backslash may hide a character from the trigger (JSON's \u0040 is "@"): decode those rows too.
        return self._rewrite_flagged(arr, self._scrub_meta, extra="\\")

    def _scrub_meta(self, value: str, found: Counter) -> str:
        try:
            obj = json.loads(value)
        except ValueError:  # not JSON: scrub it as text
            return self._scrub_str(value, found)
        new_obj, changed = self._scrub_json(obj, found)
        return json.dumps(new_obj, ensure_ascii=False) if changed else value

    def _rewrite_flagged(self, arr: pa.Array, rewrite, extra: str | None = None
                         ) -> tuple[pa.Array | None, int, Counter]:
        """(the column with ``rewrite`` applied to the non-empty rows a trigger flagged, or None when
        nothing changed; rows changed; findings per type)."""
        arr = arr.cast(pa.string())
        flagged = self._flagged(arr, extra=extra)
        found: Counter = Counter()
        if not flagged.any():
            return None, 0, found
        values = arr.to_pylist()
        n = 0
        for i in flagged.nonzero()[0]:
            v = values[i]
            if v:
                new = rewrite(v, found)
                if new != v:
                    values[i] = new
                    n += 1
        return (pa.array(values, pa.string()), n, found) if n else (None, 0, found)

    def _scrub_json(self, obj: Any, found: Counter) -> tuple[Any, bool]:
        """(scrubbed copy, whether anything changed): strings, keys and integers, at any depth."""
        if isinstance(obj, str):
            new = self._scrub_str(obj, found)
            return new, new != obj
        if isinstance(obj, bool) or obj is None or isinstance(obj, float):
            return obj, False
        if isinstance(obj, int):
            text = str(obj)
            new = self._scrub_str(text, found)
            return (new, True) if new != text else (obj, False)
        if isinstance(obj, list):
            items = [self._scrub_json(x, found) for x in obj]
            return [x for x, _ in items], any(c for _, c in items)
        if isinstance(obj, dict):
            out: dict[str, Any] = {}
            changed = False
            for k, val in obj.items():
                new_k = self._scrub_str(k, found)
                new_v, c = self._scrub_json(val, found)
                changed = changed or c or new_k != k
                key, j = new_k, 2
                while key in out:  # two keys scrubbed to the same placeholder: keep both values
                    key, j = f"{new_k}#{j}", j + 1
                out[key] = new_v
            return out, changed
        return obj, False
