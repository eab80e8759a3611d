"""Small synthetic shards for tests and for ``make train`` when no pipeline shards exist yet.

A byte-level BPE (``tokenizers``) is trained on generated English-like text drawn from a tiny
grammar (learnable, so a tiny model's loss falls quickly), saved as a Hugging Face tokenizer
directory, and the text is written as Megatron shards with a ``manifest.json``: exactly the
layout the pipeline's tokenize stage produces.

    python -m trainer.synthetic OUT_DIR [--docs 2000]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np

from shards.indexed_dataset import IndexedDatasetWriter, dtype_for_vocab
from shards.manifest import file_sha256, tokenizer_fingerprint, write_manifest

SUBJECTS = ["the cat", "a dog", "the old farmer", "my sister", "the small robot", "a young bird",
            "the teacher", "our neighbour", "the river", "a quiet child"]
VERBS = ["sees", "likes", "follows", "paints", "finds", "carries", "watches", "builds", "hears", "loves"]
OBJECTS = ["the red ball", "a green apple", "the tall tree", "an open door", "the blue boat",
           "a warm bread", "the long road", "a bright star", "the wooden box", "a new song"]
PLACES = ["in the garden", "near the house", "at the market", "by the sea", "on the hill",
          "under the bridge", "in the morning", "after the rain"]


def generate_documents(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        sents = []
        for _ in range(rng.randint(2, 8)):
            s = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
            if rng.random() < 0.5:
                s += " " + rng.choice(PLACES)
            sents.append(s[0].upper() + s[1:] + ".")
        docs.append(" ".join(sents))
    return docs


def train_tokenizer(texts: list[str], out_dir: Path, vocab_size: int = 320) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out_dir))
    return out_dir


def write_shards(out: Path, docs: list[str], tokenizer_dir: Path, shard_docs: int = 500,
                 val_every: int = 10, complete: bool = True, append_eos: bool = True) -> Path:
    """Tokenize ``docs`` into train/validation shards under ``out`` (every ``val_every``-th doc is
    validation) and write the manifest. Returns the manifest path."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    eos = tok.eos_token_id
    dtype = dtype_for_vocab(len(tok))
    splits = {"train": [d for i, d in enumerate(docs) if i % val_every], "validation": docs[::val_every]}
    shards = []
    for split, texts in splits.items():
        (out / split).mkdir(parents=True, exist_ok=True)
        for k in range(0, len(texts), shard_docs):
            prefix = f"{split}/shard-{k // shard_docs:05d}"
            w = IndexedDatasetWriter(out / prefix, dtype)
            for ids in tok(texts[k: k + shard_docs], add_special_tokens=False)["input_ids"]:
                w.add_document(np.asarray(ids + ([eos] if append_eos else [])))
            w.finalize()
            shards.append({"split": split, "prefix": prefix, "docs": w.num_documents, "tokens": w.num_tokens,
                           "dtype": dtype.name, "sha256": {"bin": file_sha256(w.bin_path),
                                                          "idx": file_sha256(w.idx_path)}})
    totals = {s: {"docs": sum(x["docs"] for x in shards if x["split"] == s),
                  "tokens": sum(x["tokens"] for x in shards if x["split"] == s)} for s in splits}
    manifest = {
        "complete": complete,
        "tokenizer": {"path": str(Path(tokenizer_dir).resolve()), "sha256": tokenizer_fingerprint(tokenizer_dir),
                      "vocab_size": len(tok), "bos_id": tok.bos_token_id, "eos_id": eos,
                      "pad_id": tok.pad_token_id},
        "shards": shards, "recipe": {"synthetic": True}, "achieved": {}, "totals": totals,
    }
    return write_manifest(out, manifest)


def build_synthetic_shards(out: str | Path, docs: int = 2000, seed: int = 0, shard_docs: int = 500,
                           vocab_size: int = 320) -> Path:
    """Tokenizer under ``out/tokenizer``, shards + manifest under ``out/shards``; returns the manifest."""
    out = Path(out)
    texts = generate_documents(docs, seed)
    tok_dir = train_tokenizer(texts, out / "tokenizer", vocab_size)
    return write_shards(out / "shards", texts, tok_dir, shard_docs=shard_docs)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    print(build_synthetic_shards(a.out, a.docs, a.seed))


if __name__ == "__main__":
    main()
