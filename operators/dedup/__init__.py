"""Exact and MinHash near-duplicate removal on Spark (issue 6).

Modules: :mod:`.shingle` (normalisation, exact hash, shingles), :mod:`.minhash` (datasketch-compatible
signatures, banding), :mod:`.signer` (per-Arrow-batch work), :mod:`.components` (Spark connected
components), :mod:`.stage` (the ``GlobalStage``). The registry's ``dedup`` entry is :func:`build_dedup`.
"""

from __future__ import annotations

from operators.dedup.stage import EXACT, NEAR, DedupStage

__all__ = ["DedupStage", "EXACT", "NEAR", "build_dedup"]


def build_dedup(**params) -> DedupStage:
    """Factory used by the pipeline YAML (``stage: dedup``); ``params`` are :class:`DedupStage`'s."""
    return DedupStage(**params)


build_dedup.__wrapped__ = DedupStage  # its parameters are DedupStage's (inspect.signature, `winnow params`)
