"""Evaluation documents never appear in training: exact and near-duplicate matches are removed.

* **exact**: BLAKE2 of the normalized text (NFKC, lower case, punctuation and whitespace dropped),
  so a copy that differs in case, spacing or punctuation is still exact;
* **near**: MinHash (``datasketch``, 128 permutations) over word 5-grams, or character 5-grams
  for Chinese-heavy text, in an LSH index of the evaluation documents; a candidate counts when the
  estimated Jaccard similarity is at least ``threshold`` (0.7 by default);
* **contained**: at least ``containment`` (0.8) of an evaluation document's shingles occur in one
  training document (a copy wrapped in a longer page, whose Jaccard similarity is low), counted
  exactly through an index from shingle to evaluation documents.

Signatures are cached by normalized-text hash, so a document kept unchanged by several variants
is hashed once.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

NUM_PERM = 128
_WORD_RE = re.compile(r"\w+", re.UNICODE)
_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def normalize(text: str) -> str:
    """NFKC, lower case, words joined by single spaces (punctuation and whitespace dropped)."""
    t = unicodedata.normalize("NFKC", text).lower()
    return " ".join(_WORD_RE.findall(t))


def exact_key(text: str) -> str:
    return hashlib.blake2b(normalize(text).encode("utf-8"), digest_size=16).hexdigest()


def shingles(text: str, n_words: int = 5, n_chars: int = 5) -> set[bytes]:
    norm = normalize(text)
    if not norm:
        return set()
    han = len(_HAN_RE.findall(norm))
    if han >= 0.3 * max(1, sum(1 for c in norm if c.isalpha())):
        s = norm.replace(" ", "")
        n = n_chars
        grams = {s[i: i + n] for i in range(max(1, len(s) - n + 1))}
    else:
        w = norm.split()
        n = n_words
        grams = {" ".join(w[i: i + n]) for i in range(max(1, len(w) - n + 1))}
    return {g.encode("utf-8") for g in grams}


@dataclass
class Match:
    kind: str  # exact | near | contained
    eval_id: str
    similarity: float


@dataclass
class Decontaminator:
    """An index of the evaluation documents; ``check(texts)`` says which training texts match."""

    eval_docs: list[dict[str, Any]]
    threshold: float = 0.7
    containment: float = 0.8
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        from datasketch import MinHashLSH

        self.exact: dict[str, str] = {}
        self.sigs: dict[str, Any] = {}
        self.grams: dict[str, set[bytes]] = {}
        self.lsh = MinHashLSH(threshold=self.threshold, num_perm=NUM_PERM)
        self.gram_owner: dict[bytes, list[str]] = {}  # shingle -> evaluation documents holding it
        for d in self.eval_docs:
            if normalize(d["text"]):  # a text of punctuation only would match every such page
                self.exact.setdefault(exact_key(d["text"]), d["id"])
            g = shingles(d["text"])
            if not g or d["id"] in self.grams:
                continue
            self.grams[d["id"]] = g
            m = self._minhash(g)
            self.sigs[d["id"]] = m
            self.lsh.insert(d["id"], m)
            for x in g:
                self.gram_owner.setdefault(x, []).append(d["id"])

    @staticmethod
    def _minhash(grams: Iterable[bytes]):
        from datasketch import MinHash

        m = MinHash(num_perm=NUM_PERM, seed=1)
        m.update_batch(sorted(grams))
        return m

    def match(self, text: str) -> Match | None:
        key = exact_key(text)
        if key in self.exact and normalize(text):
            return Match("exact", self.exact[key], 1.0)
        if key in self._cache:
            return self._cache[key]
        hit = self._near(text)
        self._cache[key] = hit
        return hit

    def _near(self, text: str) -> Match | None:
        g = shingles(text)
        if not g:
            return None
        m = self._minhash(g)
        near = [(round(float(m.jaccard(self.sigs[e])), 4), e) for e in self.lsh.query(m)]
        near = [x for x in near if x[0] >= self.threshold]
        if near:
            jac, eid = max(near, key=lambda x: (x[0], x[1]))
            return Match("near", eid, jac)
        hits: dict[str, int] = {}
        for x in g:
            for owner in self.gram_owner.get(x, ()):
                hits[owner] = hits.get(owner, 0) + 1
        contained = [(round(n / len(self.grams[e]), 4), e) for e, n in hits.items()
                     if n >= self.containment * len(self.grams[e])]
        if contained:
            share, eid = max(contained, key=lambda x: (x[0], x[1]))
            return Match("contained", eid, share)
        return None

    def check(self, docs: list[dict[str, Any]]) -> tuple[list[bool], dict[str, Any]]:
        """Which of ``docs`` (``id``, ``text``) match an evaluation document, and a report:
        counts per kind, the evaluation ids hit, and up to 20 example pairs."""
        keep: list[bool] = []
        counts = {"exact": 0, "near": 0, "contained": 0}
        hit_ids: set[str] = set()
        examples = []
        for d in docs:
            m = self.match(d["text"])
            keep.append(m is None)
            if m is not None:
                counts[m.kind] += 1
                hit_ids.add(m.eval_id)
                if len(examples) < 20:
                    examples.append({"train_id": d["id"], "eval_id": m.eval_id, "kind": m.kind,
                                     "similarity": m.similarity})
        return keep, {"removed_docs": sum(counts.values()), **counts, "eval_docs_hit": len(hit_ids),
                      "examples": examples}
