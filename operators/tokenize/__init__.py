"""Tokenizer training and the tokenize stage (Megatron-compatible shards + ``manifest.json``)."""

from __future__ import annotations


def build_tokenize(**params):
    """Registry factory for the ``tokenize`` stage (see ``operators/tokenize/stage.py``)."""
    from operators.tokenize.stage import TokenizeStage

    return TokenizeStage(**params)


__all__ = ["build_tokenize"]
