"""Per-Arrow-batch work of the dedup stage (run inside ``mapInArrow``; pure Arrow/numpy, so it is
unit-tested without Spark).

:class:`Signer` turns documents into *signature rows*: node id, exact hash, keeper-rule keys, the
per-document threshold, a flag and the MinHash signature (little-endian uint32 bytes).
:func:`band_rows` turns signature rows into (band, band hash, node) rows for LSH bucketing;
:func:`jaccard_rows` scores candidate pairs from their signatures.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contract import schema as S
from operators.dedup import minhash as mh
from operators.dedup import shingle as sh

TOO_SHORT = "too_short"

SIG_SCHEMA = pa.schema([
    pa.field("id", pa.string()),
    pa.field("node", pa.int64()),
    pa.field("xhash", pa.string()),
    pa.field("chash", pa.string()),
    pa.field("length", pa.int64()),
    pa.field("quality", pa.float64()),
    pa.field("prio", pa.int32()),
    pa.field("thr", pa.float64()),
    pa.field("source", pa.string()),
    pa.field("flag", pa.string()),
    pa.field("sig", pa.binary()),
])
BAND_SCHEMA = pa.schema([pa.field("band", pa.int32()), pa.field("bhash", pa.int64()),
                         pa.field("node", pa.int64())])
PAIR_SCHEMA = pa.schema([pa.field("src", pa.int64()), pa.field("dst", pa.int64()),
                         pa.field("jaccard", pa.float64()), pa.field("thr", pa.float64())])


@dataclass
class SignerConfig:
    num_perm: int = 128
    seed: int = 1
    scheme: str = "affine32"
    hash: str = "fast"  # fast | datasketch
    ngram: int = 5
    cjk_shingle: str = "char"  # char | jieba
    cjk_ngram: int = 3
    cjk_ratio: float = 0.3
    exact_normalize: tuple[str, ...] = ("case", "whitespace", "punctuation")
    threshold: float = 0.8
    thresholds: dict[str, float] = field(default_factory=dict)
    threshold_by: str = "source"
    source_priority: tuple[str, ...] = ()
    quality_column: str = "quality_score"
    code_ngram: int = 5
    code_strip_comments: bool = True

    def validate(self) -> None:
        if self.hash not in ("fast", "datasketch"):
            raise ValueError(f"hash must be 'fast' or 'datasketch', got {self.hash!r}")
        if self.cjk_shingle not in ("char", "jieba"):
            raise ValueError(f"cjk_shingle must be 'char' or 'jieba', got {self.cjk_shingle!r}")
        if self.scheme not in mh.SCHEMES:
            raise ValueError(f"scheme must be one of {mh.SCHEMES}, got {self.scheme!r}")
        if self.ngram < 1 or self.cjk_ngram < 1 or self.code_ngram < 1:
            raise ValueError("ngram, cjk_ngram and code_ngram must be >= 1")
        for k, t in {"threshold": self.threshold, **self.thresholds}.items():
            if not 0.0 < float(t) <= 1.0:
                raise ValueError(f"threshold for {k!r} must be in (0, 1], got {t}")
        sh.normalize_for_exact(pa.array([""]), tuple(self.exact_normalize))

    def signature_params(self) -> dict:
        """What must match for two signature sets to be comparable (incremental mode)."""
        return {"num_perm": self.num_perm, "seed": self.seed, "scheme": self.scheme, "hash": self.hash,
                "ngram": self.ngram, "cjk_shingle": self.cjk_shingle, "cjk_ngram": self.cjk_ngram,
                "cjk_ratio": self.cjk_ratio, "exact_normalize": list(self.exact_normalize),
                "code_ngram": self.code_ngram, "code_strip_comments": self.code_strip_comments}


def code_mask(kinds: pa.Array | None) -> np.ndarray | None:
    """True where the ``kind`` column says code; None when there is no such column (all prose)."""
    if kinds is None:
        return None
    return pc.fill_null(pc.equal(pc.cast(kinds, pa.string()), S.KIND_CODE), False).to_numpy(zero_copy_only=False)


def node_ids(ids: list[str], salt: str = "") -> np.ndarray:
    """Stable signed 64-bit node id of each document id (BLAKE2b)."""
    return np.array([int.from_bytes(hashlib.blake2b((salt + i).encode("utf-8"), digest_size=8).digest(),
                                    "little", signed=True) for i in ids], dtype=np.int64)


def _split(flat: list, counts: np.ndarray) -> list[list]:
    out, i = [], 0
    for c in counts:
        out.append(flat[i: i + c])
        i += c
    return out


class Signer:
    def __init__(self, cfg: SignerConfig):
        cfg.validate()
        self.cfg = cfg

    # -- shingles ------------------------------------------------------------------------------
    def shingle_hashes(self, texts: pa.Array, cjk: np.ndarray, code: np.ndarray | None = None,
                       langs: pa.Array | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(32-bit hashes of all shingles in document order, shingles per document). ``code`` marks
        documents shingled as code (their ``langs`` pick the comment syntax)."""
        n = len(texts)
        family = np.where(cjk, 1, 0)
        if code is not None:
            family[np.asarray(code, dtype=bool)] = 2
        if n and (family == family[0]).all():  # one family: no per-document reassembly
            return self._family_hashes(texts, int(family[0]), langs)
        per_doc: list[np.ndarray | None] = [None] * n
        counts = np.zeros(n, dtype=np.int64)
        for fam in (0, 1, 2):
            idx = np.flatnonzero(family == fam)
            if len(idx) == 0:
                continue
            take = pa.array(idx)
            hv, nsh = self._family_hashes(texts.take(take), fam, None if langs is None else langs.take(take))
            ends = np.cumsum(nsh)
            for j, d in enumerate(idx):
                per_doc[d] = hv[ends[j] - nsh[j]: ends[j]]
            counts[idx] = nsh
        hv_all = np.concatenate([p for p in per_doc if p is not None]) if n else np.zeros(0, np.uint32)
        return hv_all.astype(np.uint32), counts

    def _family_hashes(self, sub: pa.Array, fam: int, langs: pa.Array | None) -> tuple[np.ndarray, np.ndarray]:
        """Shingle hashes and counts of documents of one family (0 words, 1 CJK, 2 code)."""
        cfg = self.cfg
        if fam == 2:
            tok, ng, sep = sh.code_tokens(sub, langs, cfg.code_strip_comments), cfg.code_ngram, " "
        elif fam == 0:
            tok, ng, sep = sh.word_tokens(sh.simplify_words(sub)), cfg.ngram, " "
        elif cfg.cjk_shingle == "jieba":
            tok, ng, sep = sh.jieba_tokens(sh.simplify_cjk(sub)), cfg.cjk_ngram, " "
        else:
            simp = sh.simplify_cjk(sub)
            ng, sep = cfg.cjk_ngram, ""
            if cfg.hash == "fast":
                tok = sh.char_tokens(simp)
            else:
                chars = [list(t) for t in simp.to_pylist()]
                tok = sh.Tokens(flat=None, counts=np.array([len(c) for c in chars], np.int64), py=chars)
        nsh = sh.shingle_counts(tok.counts, ng)
        if cfg.hash == "fast":
            hv = sh.fast_ngram_hashes(tok, ng)
        else:
            py = tok.py if tok.py is not None else _split(tok.flat.to_pylist(), tok.counts)
            hv = mh.sha1_hash32_many([s for d in sh.shingle_bytes(py, ng, sep) for s in d])
        return hv.astype(np.uint32), nsh

    def signatures(self, texts: pa.Array, langs: pa.Array | None,
                   kinds: pa.Array | None = None) -> tuple[np.ndarray, np.ndarray]:
        cjk = sh.cjk_mask(texts, langs, self.cfg.cjk_ratio)
        hv, counts = self.shingle_hashes(texts, cjk, code_mask(kinds), langs)
        perms = mh.permutations(self.cfg.num_perm, self.cfg.seed, self.cfg.scheme)
        return mh.signatures(hv, counts, perms), counts

    # -- rows ----------------------------------------------------------------------------------
    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        cfg = self.cfg
        names = batch.schema.names
        texts = pc.fill_null(batch.column("text"), "")
        ids = batch.column("id").to_pylist()
        langs = batch.column("lang") if "lang" in names else None
        kinds = batch.column(S.KIND) if S.KIND in names else None
        sig, counts = self.signatures(texts, langs, kinds)
        too_short = counts == 0
        sig_col = mh.sig_array(sig, ~too_short)
        n = batch.num_rows
        if cfg.quality_column in names:
            quality = pc.cast(batch.column(cfg.quality_column), pa.float64())
        else:
            quality = pa.nulls(n, pa.float64())
        source = pc.cast(batch.column("source"), pa.string()) if "source" in names else pa.nulls(n, pa.string())
        prio_map = {s: i for i, s in enumerate(cfg.source_priority)}
        prio = pa.array([prio_map.get(s, len(prio_map)) for s in source.to_pylist()], pa.int32())
        if cfg.thresholds and cfg.threshold_by in names:
            keys = pc.cast(batch.column(cfg.threshold_by), pa.string()).to_pylist()
            thr = pa.array([float(cfg.thresholds.get(k, cfg.threshold)) for k in keys], pa.float64())
        else:
            thr = pa.array(np.full(n, float(cfg.threshold)), pa.float64())
        return pa.RecordBatch.from_arrays([
            pa.array(ids, pa.string()),
            pa.array(node_ids(ids)),
            pa.array(self.exact_hashes(texts, code_mask(kinds)), pa.string()),
            pa.array(sh.content_hashes(texts), pa.string()),
            pc.cast(pc.utf8_length(texts), pa.int64()),
            quality,
            prio,
            thr,
            source,
            pa.array([TOO_SHORT if s else None for s in too_short], pa.string()),
            sig_col,
        ], schema=SIG_SCHEMA)

    def exact_hashes(self, texts: pa.Array, code: np.ndarray | None) -> list[str]:
        """Exact-duplicate hash of each text: prose after ``exact_normalize``, code with all whitespace removed."""
        steps = tuple(self.cfg.exact_normalize)
        if code is None or not code.any():
            return sh.exact_hashes(sh.normalize_for_exact(texts, steps))
        out: list[str] = [""] * len(texts)
        for is_code in (False, True):
            idx = np.flatnonzero(code == is_code)
            if len(idx) == 0:
                continue
            sub = texts.take(pa.array(idx))
            norm = sh.normalize_code_for_exact(sub) if is_code else sh.normalize_for_exact(sub, steps)
            for i, h in zip(idx, sh.exact_hashes(norm)):
                out[i] = h
        return out

    def map_batches(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            if b.num_rows:
                yield self.process(b)


def band_rows(batches: Iterator[pa.RecordBatch], num_perm: int, bands: int, rows: int) -> Iterator[pa.RecordBatch]:
    """(band, bhash, node) for every band of every signature row (rows without signature skipped)."""
    for b in batches:
        b = b.filter(pc.is_valid(b.column("sig")))
        if b.num_rows == 0:
            continue
        sig = mh.sig_matrix(b.column("sig"), num_perm)
        bh = mh.band_hashes(sig, bands, rows)
        nodes = b.column("node").to_numpy(zero_copy_only=False)
        yield pa.RecordBatch.from_arrays([
            pa.array(np.tile(np.arange(bands, dtype=np.int32), len(nodes))),
            pa.array(bh.reshape(-1)),
            pa.array(np.repeat(nodes, bands)),
        ], schema=BAND_SCHEMA)


def jaccard_rows(batches: Iterator[pa.RecordBatch], num_perm: int) -> Iterator[pa.RecordBatch]:
    """Estimated Jaccard of candidate pairs (columns src, dst, sig_a, sig_b, thr)."""
    for b in batches:
        if b.num_rows == 0:
            continue
        sa = mh.sig_matrix(b.column("sig_a"), num_perm)
        sb = mh.sig_matrix(b.column("sig_b"), num_perm)
        yield pa.RecordBatch.from_arrays([
            b.column("src"), b.column("dst"), pa.array(mh.estimate_jaccard(sa, sb)), b.column("thr"),
        ], schema=PAIR_SCHEMA)


EXACT_PAIR_SCHEMA = pa.schema([pa.field("src", pa.int64()), pa.field("dst", pa.int64()),
                               pa.field("jaccard", pa.float64()), pa.field("thr", pa.float64())])


def exact_jaccard_rows(batches: Iterator[pa.RecordBatch], cfg: SignerConfig) -> Iterator[pa.RecordBatch]:
    """Exact Jaccard of candidate pairs from their texts (columns src, dst, text_a, text_b, lang_a,
    lang_b, kind_a, kind_b, thr), over the same shingles (as 32-bit shingle hashes) the signatures were built from."""
    signer = Signer(cfg)
    for b in batches:
        n = b.num_rows
        if n == 0:
            continue
        texts = pa.concat_arrays([pc.fill_null(b.column("text_a"), ""), pc.fill_null(b.column("text_b"), "")])
        langs = pa.concat_arrays([pc.cast(b.column("lang_a"), pa.string()), pc.cast(b.column("lang_b"), pa.string())])
        langs = langs if langs.null_count < len(langs) else None
        cjk = sh.cjk_mask(texts, langs, cfg.cjk_ratio)
        kinds = None  # no kind columns: all prose
        if "kind_a" in b.schema.names:
            kinds = pa.concat_arrays([pc.cast(b.column("kind_a"), pa.string()),
                                      pc.cast(b.column("kind_b"), pa.string())])
        hv, counts = signer.shingle_hashes(texts, cjk, code_mask(kinds), langs)
        ends = np.cumsum(counts)
        starts = ends - counts
        jac = np.zeros(n, dtype=np.float64)
        for i in range(n):
            a = np.unique(hv[starts[i]: ends[i]])
            c = np.unique(hv[starts[n + i]: ends[n + i]])
            union = len(np.union1d(a, c))
            jac[i] = len(np.intersect1d(a, c, assume_unique=True)) / union if union else 0.0
        yield pa.RecordBatch.from_arrays([b.column("src"), b.column("dst"), pa.array(jac), b.column("thr")],
                                         schema=EXACT_PAIR_SCHEMA)
