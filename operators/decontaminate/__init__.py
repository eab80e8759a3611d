"""The decontaminate stage (docs/decontaminate.md): benchmark items found in training text by
normalised n-gram overlap, then the documents dropped or the items cut out.

``text``: normalisation, tokens, n-gram hashes; ``index``: benchmark files -> a compact n-gram
index and its lookup; ``stage``: the operator (scores, decisions, cuts, metrics)."""

from __future__ import annotations

from operators.decontaminate.stage import Decontaminate

__all__ = ["Decontaminate"]
