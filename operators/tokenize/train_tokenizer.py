"""Train a LLaMA-style BPE tokenizer (byte fallback) on the mixed corpus, saved as a Hugging Face dir.

The tokenizer follows LLaMA's SentencePiece BPE, rebuilt with the ``tokenizers`` library:

* **Metaspace**: spaces become ``▁`` and one ``▁`` is prepended to the text (removed on decode), so
  ``decode(encode(text)) == text`` exactly (no normalizer touches the text).
* **byte fallback**: the 256 byte tokens ``<0x00>``..``<0xFF>`` are in the vocabulary, so any
  character the merges do not cover is spelled in UTF-8 bytes: there is never an ``<unk>``.
* **digits split**: every digit is its own token (LLaMA's ``split_digits``).
* **Chinese**: Han runs are pre-split from other scripts (SentencePiece's ``split_by_unicode_script``)
  and at CJK punctuation, so merges learn Chinese words and phrases; runs are capped at
  ``max_piece_chars`` characters (SentencePiece's ``max_sentencepiece_length`` = 16). The report
  gives characters per token for Chinese and English (LLaMA-2's own 32k vocabulary manages about
  0.7 Chinese characters per token; a vocabulary trained on Chinese reaches 1.3-1.6).
* special tokens ``<unk>`` (0), ``<s>`` (1), ``</s>`` (2) as in LLaMA, and ``<pad>`` (3).
* the vocabulary is rounded **up** to a multiple of ``round_to`` (128) with reserved tokens
  ``<reserved_N>``, so a model's embedding matrix has spare rows and tensor-core-friendly shape.

CLI (``make tokenizer``)::

    python -m operators.tokenize.train_tokenizer --input work/demo/09-mix/kept --out models/tokenizer \
        --vocab-size 32000
    python -m operators.tokenize.train_tokenizer --workdir work/demo ...   # newest *-mix/kept there

Input: a Parquet directory (a stage's ``kept/``), Parquet files, or ``.jsonl``/``.jsonl.gz`` files
with a ``text`` field. Documents are read once each (a mixed corpus's ``repeat`` is not expanded) up
to ``--max-chars`` characters, taken in a seeded hash order so the sample is spread over the corpus.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]
BYTE_TOKENS = [f"<0x{i:02X}>" for i in range(256)]
# CJK punctuation and full-width forms: split off as their own pre-tokens.
CJK_PUNCT = r"[\u3000-\u303F\uFF00-\uFF0F\uFF1A-\uFF20\uFF3B-\uFF40\uFF5B-\uFF65\u2014\u2026\u2018\u2019\u201C\u201D]"
HAN = r"[\p{Han}]"


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def build_tokenizer(max_piece_chars: int = 16):
    """An untrained LLaMA-style BPE tokenizer (model, pre-tokenizer, decoder)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    han_run = Regex(f"▁?{HAN}{{1,{max_piece_chars}}}")  # a space before Chinese stays with it
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True),
        pre_tokenizers.Split(Regex(CJK_PUNCT), behavior="isolated"),
        pre_tokenizers.Split(han_run, behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=True),
    ])
    tok.decoder = decoders.Sequence([
        decoders.Metaspace(replacement="▁", prepend_scheme="first", split=True),
        decoders.ByteFallback(),
        decoders.Fuse(),
    ])
    return tok


def _bytes_as_vocab(tok):
    """The trainer registers ``<0xNN>`` as special (added) tokens so they get ids 4..259; make them
    plain vocabulary entries as in LLaMA, so decoding (which skips special tokens) keeps them."""
    from tokenizers import Tokenizer

    data = json.loads(tok.to_str())
    byte_set = set(BYTE_TOKENS)
    data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] not in byte_set]
    assert all(b in data["model"]["vocab"] for b in BYTE_TOKENS)
    return Tokenizer.from_str(json.dumps(data))


def train_tokenizer(
    texts: Iterable[str],
    out_dir: str | Path,
    vocab_size: int = 32000,
    round_to: int = 128,
    min_frequency: int = 2,
    max_piece_chars: int = 16,
    limit_alphabet: int = 4000,
    model_max_length: int = 4096,
) -> dict[str, Any]:
    """Train on ``texts`` and save a Hugging Face tokenizer directory at ``out_dir``.

    ``vocab_size`` is rounded up to a multiple of ``round_to``; when the corpus is too small for
    that many merges the learned vocabulary is padded with ``<reserved_N>`` tokens to the next
    multiple. ``limit_alphabet`` caps the initial characters kept as whole tokens (the rest fall
    back to bytes); Chinese needs a few thousand. Returns a small report dict."""
    from tokenizers import AddedToken, trainers
    from transformers import PreTrainedTokenizerFast

    target = round_up(int(vocab_size), round_to)
    tok = build_tokenizer(max_piece_chars)
    trainer = trainers.BpeTrainer(
        vocab_size=target - 0,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS + BYTE_TOKENS,
        limit_alphabet=limit_alphabet,
        max_token_length=max_piece_chars,
        show_progress=False,
    )
    t0 = time.time()
    tok.train_from_iterator(texts, trainer=trainer)
    tok = _bytes_as_vocab(tok)
    learned = tok.get_vocab_size(with_added_tokens=True)
    final = round_up(learned, round_to)
    reserved = [AddedToken(f"<reserved_{i}>", special=True, normalized=False) for i in range(final - learned)]
    if reserved:
        tok.add_special_tokens(reserved)
    assert tok.get_vocab_size(with_added_tokens=True) == final
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        model_max_length=model_max_length, add_bos_token=False, add_eos_token=False,
        clean_up_tokenization_spaces=False,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out))
    return {"out": str(out), "vocab_size": final, "learned": learned, "reserved": final - learned,
            "requested": int(vocab_size), "seconds": round(time.time() - t0, 2)}


def chars_per_token(tokenizer, texts: list[str]) -> float:
    """Characters per token of ``texts`` (no special tokens); ``tokenizer`` a ``tokenizers.Tokenizer``."""
    if not texts:
        return float("nan")
    enc = tokenizer.encode_batch(texts, add_special_tokens=False)
    n_tok = sum(len(e.ids) for e in enc)
    return sum(len(t) for t in texts) / max(n_tok, 1)


def load_backend(path: str | Path):
    """The raw ``tokenizers.Tokenizer`` of a tokenizer dir or ``tokenizer.json``."""
    from operators.tokenize.tokenizer import load_tokenizer

    return load_tokenizer(path).backend


# -- input ---------------------------------------------------------------------------------------
def _doc_key(text: str, seed: int) -> int:
    import xxhash

    return xxhash.xxh64_intdigest(text[:256].encode("utf-8", "replace"), seed=seed)


def iter_records(path: str | Path, columns: tuple[str, ...] = ("text", "lang", "source")) -> Iterator[dict[str, Any]]:
    """Records (``text`` and ``lang`` when present) from Parquet dirs/files or jsonl(.gz) files."""
    p = Path(path)
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    for f in files:
        name = f.name
        if name.startswith((".", "_")):
            continue
        if name.endswith(".parquet"):
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(f)
            cols = [c for c in columns if c in pf.schema_arrow.names]
            for batch in pf.iter_batches(columns=cols, batch_size=2048):
                yield from batch.to_pylist()
        elif name.endswith((".jsonl", ".jsonl.gz", ".json.gz")):
            opener = gzip.open if name.endswith(".gz") else open
            with opener(f, "rt", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(rec, dict) and isinstance(rec.get("text"), str):
                        yield {c: rec.get(c) for c in columns}


def sample_texts(paths: list[str | Path], max_chars: int = 200_000_000, seed: int = 0) -> list[str]:
    """Every document once, in a seeded hash order, until ``max_chars`` characters."""
    texts = [r["text"] for p in paths for r in iter_records(p) if r.get("text")]
    texts.sort(key=lambda t: _doc_key(t, seed))
    out, total = [], 0
    for t in texts:
        if total >= max_chars:
            break
        out.append(t)
        total += len(t)
    return out


def newest_stage_kept(workdir: str | Path, prefer: str = "mix") -> Path | None:
    """``<workdir>/<NN>-<prefer>/kept`` of the newest finished such stage, else the last finished stage."""
    wd = Path(workdir)
    if not wd.is_dir():
        return None
    done = sorted(d for d in wd.iterdir() if d.is_dir() and (d / "_SUCCESS").exists() and (d / "kept").is_dir())
    named = [d for d in done if d.name.split("-", 1)[-1] == prefer]
    pick = (named or done or [None])[-1]
    return pick / "kept" if pick else None


def guess_lang(text: str) -> str:
    """``zh`` when Han characters are at least half of the letters, else ``en`` (for the report only)."""
    han = sum(1 for c in text if "\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf")
    latin = sum(1 for c in text if c.isascii() and c.isalpha())
    return "zh" if han >= latin and han else "en"


def language_report(backend, paths: list[str | Path], per_lang_docs: int = 2000) -> dict[str, float]:
    """chars/token for each language present (``lang`` column/field), first documents of each.

    Code (``source`` starting with ``code``) is reported as its own ``code`` language."""
    by_lang: dict[str, list[str]] = {}
    for p in paths:
        for r in iter_records(p):
            lang = "code" if str(r.get("source") or "").startswith("code") else (
                r.get("lang") or guess_lang(r.get("text") or ""))
            bucket = by_lang.setdefault(lang, [])
            if len(bucket) < per_lang_docs and r.get("text"):
                bucket.append(r["text"])
    return {f"chars_per_token/{k}": round(chars_per_token(backend, v), 3) for k, v in sorted(by_lang.items())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m operators.tokenize.train_tokenizer",
                                 description="train a LLaMA-style byte-fallback BPE tokenizer")
    ap.add_argument("--input", nargs="*", default=[], help="parquet dir(s)/files or jsonl(.gz) files")
    ap.add_argument("--workdir", default=None, help="use the newest <NN>-mix/kept (else last stage) here")
    ap.add_argument("--fallback", default="data/sample", help="input when neither is given or found")
    ap.add_argument("--out", default="models/tokenizer")
    ap.add_argument("--vocab-size", type=int, default=32000)
    ap.add_argument("--round-to", type=int, default=128)
    ap.add_argument("--min-frequency", type=int, default=2)
    ap.add_argument("--limit-alphabet", type=int, default=4000)
    ap.add_argument("--max-chars", type=int, default=200_000_000, help="training sample size in characters")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval", nargs="*", default=None,
                    help="held-out text for the chars/token report (default with --workdir: the mix "
                         "stage's rejected/ documents, i.e. text the tokenizer was not trained on)")
    args = ap.parse_args(argv)

    inputs: list[str | Path] = list(args.input)
    held_out: list[str | Path] = list(args.eval or [])
    if not inputs and args.workdir:
        kept = newest_stage_kept(args.workdir)
        if kept is not None:
            inputs = [kept]
            if args.eval is None and (kept.parent / "rejected").is_dir():
                held_out = [kept.parent / "rejected"]
    if not inputs:
        inputs = [args.fallback]
    print(f"[tokenizer] training on {', '.join(map(str, inputs))}", flush=True)
    texts = sample_texts(inputs, args.max_chars, args.seed)
    if not texts:
        print("[tokenizer] no text found in the input", file=sys.stderr)
        return 2
    report = train_tokenizer(texts, args.out, vocab_size=args.vocab_size, round_to=args.round_to,
                             min_frequency=args.min_frequency, limit_alphabet=args.limit_alphabet)
    report["docs"] = len(texts)
    report["chars"] = sum(map(len, texts))
    backend = load_backend(args.out)
    report.update(language_report(backend, inputs))  # in-sample: the training text itself
    if held_out:
        report.update({k.replace("chars_per_token", "heldout_chars_per_token"): v
                       for k, v in language_report(backend, held_out).items()})
    (Path(args.out) / "winnow_tokenizer.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
