"""Train a BERT quality or domain classifier on the labelled set; evaluate; save.

Two modes:

- ``frozen`` (default): the encoder is not trained; every text is embedded once (mean-pooled last
  layer, cached under ``models/.cache`` so the quality and domain models share one pass), then a small
  head (linear or one hidden layer) is trained on the embeddings with early stopping. On this 2-core
  CPU one pass over the ~4.6k-document set takes a few minutes; fine-tuning would take that per epoch.
- ``finetune``: the top ``train_layers`` transformer layers (0 = all) and the head are trained end to
  end, early stopping on the validation loss. Better for a GPU or a longer CPU budget.

Both write beside the model: ``metrics.json`` (test split, overall and per language), ``report.txt``
(per-class report), ``confusion_<group>.png``, ``label_map.json`` and a model card ``README.md``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from classifiers.bert.model import OBJECTIVES, TRUNCATION, BertClassifier, encode
from classifiers.build_labelled import DOMAINS
from classifiers.data import split_rows, task_rows
from classifiers.encoder import resolve_encoder
from classifiers.metrics import evaluate, summary_line, write_eval


@dataclass
class TrainConfig:
    task: str = "quality"  # quality | domain
    encoder: str = "minilm"  # minilm | adapted | a local encoder directory
    objective: str | None = None  # quality: binary (default) | regression; domain: multiclass
    mode: str = "frozen"  # frozen | finetune
    train_layers: int = 2  # finetune: top layers trained (0 = all)
    max_tokens: int = 128
    truncation: str = "head"  # head | head_tail
    head_hidden: int = 256  # 0: a linear head
    pool_layers: list[int] | None = None  # hidden states whose means are concatenated (None: L/3, 2L/3, L)
    head_dropout: float = 0.1
    epochs: int | None = None  # frozen: 300 head epochs; finetune: 4
    lr: float | None = None  # frozen: 1e-3; finetune: 5e-5 (head 1e-3)
    batch_size: int | None = None  # frozen: 128; finetune: 16
    patience: int | None = None  # epochs without val improvement before stopping (frozen 20, finetune 1)
    weight_decay: float = 0.01
    seed: int = 0
    embed_batch_size: int = 32
    labels: list[str] | None = None
    cache_dir: str | None = None  # frozen mode: embedding cache (None: no cache)
    extra: dict = field(default_factory=dict)

    def resolved(self) -> TrainConfig:
        c = copy.deepcopy(self)
        if c.task not in ("quality", "domain"):
            raise ValueError(f"task must be quality or domain, got {c.task!r}")
        c.objective = c.objective or ("binary" if c.task == "quality" else "multiclass")
        if c.objective not in OBJECTIVES or (c.task == "domain") != (c.objective == "multiclass"):
            raise ValueError(f"objective {c.objective!r} does not fit task {c.task!r}")
        if c.truncation not in TRUNCATION:
            raise ValueError(f"truncation must be one of {TRUNCATION}")
        frozen = c.mode == "frozen"
        if c.mode not in ("frozen", "finetune"):
            raise ValueError(f"mode must be frozen or finetune, got {c.mode!r}")
        c.epochs = c.epochs or (300 if frozen else 4)
        c.lr = c.lr or (1e-3 if frozen else 5e-5)
        c.batch_size = c.batch_size or (128 if frozen else 16)
        c.patience = c.patience or (20 if frozen else 1)
        return c


def _label_list(rows: list[dict], cfg: TrainConfig) -> list:
    if cfg.task == "quality":
        return [0, 1]
    if cfg.labels:
        return list(cfg.labels)
    present = {r["domain"] for r in rows}
    return [d for d in DOMAINS if d in present] + sorted(present - set(DOMAINS))


def _targets(rows: list[dict], cfg: TrainConfig, labels: list) -> torch.Tensor:
    if cfg.task == "quality":
        return torch.tensor([float(r["quality"]) for r in rows])
    index = {lab: i for i, lab in enumerate(labels)}
    return torch.tensor([index[r["domain"]] for r in rows])


def _loss_fn(objective: str):
    if objective == "binary":
        return nn.BCEWithLogitsLoss()
    if objective == "regression":
        return nn.MSELoss()
    return nn.CrossEntropyLoss()


def _encoder_key(path: Path) -> str:
    h = hashlib.sha1()
    for f in sorted(path.glob("*")):
        if f.is_file() and f.suffix in (".json", ".txt", ".safetensors", ".bin"):
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


@torch.inference_mode()
def embed_texts(model: BertClassifier, tokenizer, texts: list[str], max_tokens: int, truncation: str,
                batch_size: int = 32, log=None) -> torch.Tensor:
    model.eval()
    out = torch.zeros(len(texts), model.config.hidden_size * len(model.pool_layers))
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    t0 = time.time()
    for s in range(0, len(texts), batch_size):
        idx = order[s: s + batch_size]
        enc = encode(tokenizer, [texts[i] for i in idx], max_tokens, truncation)
        out[idx] = model.embed(enc["input_ids"], enc["attention_mask"]).float()
        if log and (s // batch_size) % 20 == 0:
            log(f"  embedded {s + len(idx)}/{len(texts)} ({time.time() - t0:.0f}s)")
    return out


def cached_embeddings(model, tokenizer, texts, cfg: TrainConfig, enc_path: Path, log=None) -> torch.Tensor:
    if not cfg.cache_dir:
        return embed_texts(model, tokenizer, texts, cfg.max_tokens, cfg.truncation, cfg.embed_batch_size, log)
    pool = "_".join(map(str, model.pool_layers))
    cache = Path(cfg.cache_dir) / f"emb-{_encoder_key(enc_path)}-{cfg.max_tokens}-{cfg.truncation}-p{pool}.pt"
    store: dict[str, torch.Tensor] = torch.load(cache) if cache.exists() else {}
    keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    missing = sorted({k: i for k, i in zip(keys, range(len(texts))) if k not in store}.values())
    if missing:
        vecs = embed_texts(model, tokenizer, [texts[i] for i in missing], cfg.max_tokens, cfg.truncation,
                           cfg.embed_batch_size, log)
        for i, v in zip(missing, vecs):
            store[keys[i]] = v
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save(store, cache)
    return torch.stack([store[k] for k in keys])


def _train_head(model: BertClassifier, x: dict[str, torch.Tensor], y: dict[str, torch.Tensor],
                cfg: TrainConfig, log) -> dict:
    head = model.head
    loss_fn = _loss_fn(cfg.objective)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(cfg.seed)
    best, best_state, bad, epochs_run = math.inf, copy.deepcopy(head.state_dict()), 0, 0
    has_val = len(y["val"]) > 0
    for epoch in range(cfg.epochs):
        epochs_run = epoch + 1
        head.train()
        perm = torch.randperm(len(y["train"]), generator=g)
        for s in range(0, len(perm), cfg.batch_size):
            b = perm[s: s + cfg.batch_size]
            out = head(x["train"][b])
            out = out.squeeze(-1) if cfg.objective != "multiclass" else out
            loss = loss_fn(out, y["train"][b].float() if cfg.objective != "multiclass" else y["train"][b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        head.eval()
        with torch.no_grad():
            xs, ys = (x["val"], y["val"]) if has_val else (x["train"], y["train"])
            out = head(xs)
            out = out.squeeze(-1) if cfg.objective != "multiclass" else out
            val = float(loss_fn(out, ys.float() if cfg.objective != "multiclass" else ys))
        if val < best - 1e-5:
            best, best_state, bad = val, copy.deepcopy(head.state_dict()), 0
        else:
            bad += 1
            if bad >= cfg.patience:
                break
    head.load_state_dict(best_state)
    head.eval()
    log(f"  head: stopped after {epochs_run} epochs, best val loss {best:.4f}")
    return {"epochs_run": epochs_run, "best_val_loss": best}


def _finetune(model: BertClassifier, tokenizer, rows: dict[str, list[dict]], y: dict[str, torch.Tensor],
              cfg: TrainConfig, log) -> dict:
    layers = model.bert.encoder.layer
    n_train = len(layers) if cfg.train_layers <= 0 else min(cfg.train_layers, len(layers))
    for p in model.bert.parameters():
        p.requires_grad = False
    for layer in layers[len(layers) - n_train:]:
        for p in layer.parameters():
            p.requires_grad = True
    if cfg.train_layers <= 0:
        for p in model.bert.parameters():
            p.requires_grad = True
    body = [p for p in model.bert.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": body, "lr": cfg.lr},
                             {"params": list(model.head.parameters()), "lr": max(cfg.lr, 1e-3)}],
                            weight_decay=cfg.weight_decay)
    loss_fn = _loss_fn(cfg.objective)
    g = torch.Generator().manual_seed(cfg.seed)
    texts = {k: [r["text"] for r in v] for k, v in rows.items()}
    val_key = "val" if rows["val"] else "train"

    def val_loss() -> float:
        model.eval()
        tot, n = 0.0, 0
        with torch.no_grad():
            for s in range(0, len(texts[val_key]), 64):
                enc = encode(tokenizer, texts[val_key][s: s + 64], cfg.max_tokens, cfg.truncation)
                out = model(**enc)
                yy = y[val_key][s: s + 64]
                tot += float(loss_fn(out, yy.float() if cfg.objective != "multiclass" else yy)) * len(yy)
                n += len(yy)
        return tot / max(n, 1)

    best, best_state, bad, epoch = math.inf, copy.deepcopy(model.state_dict()), 0, 0
    for epoch in range(cfg.epochs):
        model.train()
        perm = torch.randperm(len(texts["train"]), generator=g).tolist()
        for s in range(0, len(perm), cfg.batch_size):
            b = perm[s: s + cfg.batch_size]
            enc = encode(tokenizer, [texts["train"][i] for i in b], cfg.max_tokens, cfg.truncation)
            out = model(**enc)
            yy = y["train"][b]
            loss = loss_fn(out, yy.float() if cfg.objective != "multiclass" else yy)
            opt.zero_grad()
            loss.backward()
            opt.step()
        v = val_loss()
        log(f"  finetune epoch {epoch + 1}: val loss {v:.4f}")
        if v < best - 1e-5:
            best, best_state, bad = v, copy.deepcopy(model.state_dict()), 0
        else:
            bad += 1
            if bad >= cfg.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    for p in model.parameters():
        p.requires_grad = True
    return {"epochs_run": epoch + 1, "best_val_loss": best, "layers_trained": n_train}


def train_classifier(rows: list[dict], out_dir: str | Path, cfg: TrainConfig, log=print) -> dict:
    """Train on ``rows`` (dicts with text, lang, split and the task's label), save to ``out_dir``."""
    from transformers import AutoTokenizer, BertConfig

    cfg = cfg.resolved()
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    out_dir = Path(out_dir)
    t0 = time.time()
    rows = task_rows(rows, cfg.task)
    parts = split_rows(rows)
    if not parts["train"]:
        raise ValueError("no training rows")
    eval_key = "test" if parts["test"] else "val"
    labels = _label_list(parts["train"], cfg)
    enc_path = resolve_encoder(cfg.encoder)
    tokenizer = AutoTokenizer.from_pretrained(enc_path)
    bcfg = BertConfig.from_pretrained(enc_path)
    bcfg.winnow_task = cfg.task
    bcfg.winnow_objective = cfg.objective
    bcfg.head_hidden = cfg.head_hidden
    n_layers = bcfg.num_hidden_layers
    bcfg.pool_layers = list(cfg.pool_layers or sorted({max(1, n_layers // 3), max(1, 2 * n_layers // 3), n_layers}))
    bcfg.head_dropout = cfg.head_dropout
    bcfg.max_tokens = cfg.max_tokens
    bcfg.truncation = cfg.truncation
    bcfg.encoder_source = str(enc_path)
    if cfg.objective == "multiclass":
        bcfg.num_labels = len(labels)
        bcfg.id2label = {i: str(lab) for i, lab in enumerate(labels)}
        bcfg.label2id = {str(lab): i for i, lab in enumerate(labels)}
    else:
        bcfg.num_labels = 1
        bcfg.id2label = {0: "quality"}
        bcfg.label2id = {"quality": 0}
    model = BertClassifier.from_pretrained(enc_path, config=bcfg)
    y = {k: _targets(v, cfg, labels) for k, v in parts.items()}
    log(f"bert {cfg.task}: encoder {enc_path}, mode {cfg.mode}, {', '.join(f'{k} {len(v)}' for k, v in parts.items())}")
    if cfg.mode == "frozen":
        texts = [r["text"] for r in rows]
        emb = cached_embeddings(model, tokenizer, texts, cfg, enc_path, log)
        pos = {id(r): i for i, r in enumerate(rows)}
        x = {k: emb[[pos[id(r)] for r in v]] if v else emb[:0] for k, v in parts.items()}
        fit = _train_head(model, x, y, cfg, log)
        with torch.no_grad():
            scores = model.scores(model.head(x[eval_key]).squeeze(-1) if cfg.objective != "multiclass"
                                  else model.head(x[eval_key])).numpy()
    else:
        fit = _finetune(model, tokenizer, parts, y, cfg, log)
        with torch.inference_mode():
            chunks = []
            for s in range(0, len(parts[eval_key]), 64):
                enc = encode(tokenizer, [r["text"] for r in parts[eval_key][s: s + 64]], cfg.max_tokens,
                             cfg.truncation)
                chunks.append(model.scores(model(**enc)).numpy())
            scores = np.concatenate(chunks)
    eval_rows = parts[eval_key]
    preds = scores.tolist() if cfg.objective != "multiclass" else [labels[i] for i in scores.argmax(1)]
    metrics = evaluate(cfg.task, eval_rows, preds)
    seconds = round(time.time() - t0, 1)
    log(f"bert {cfg.task} ({eval_key} split): {summary_line(cfg.task, metrics)} [{seconds}s]")
    save(model, tokenizer, out_dir, cfg, labels, metrics, fit, parts, eval_key, seconds)
    return metrics


def save(model, tokenizer, out_dir: Path, cfg: TrainConfig, labels, metrics, fit, parts, eval_key, seconds) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "label_map.json").write_text(json.dumps(
        {"task": cfg.task, "objective": cfg.objective, "labels": [str(x) for x in labels]}, indent=1), encoding="utf-8")
    extra = {"model": "bert", "config": asdict(cfg), "fit": fit, "eval_split": eval_key, "train_seconds": seconds,
             "sizes": {k: len(v) for k, v in parts.items()}}
    write_eval(out_dir, cfg.task, metrics, extra)
    lines = [f"# Winnow BERT {cfg.task} classifier", "",
             f"- trained: {time.strftime('%Y-%m-%d %H:%M')} by `classifiers.bert.train` ({seconds}s on CPU)",
             f"- encoder: `{cfg.encoder}` ({model.config.encoder_source}); mode `{cfg.mode}`"
             + (f", top {fit.get('layers_trained')} layers trained" if cfg.mode == "finetune" else ", encoder frozen"),
             f"- objective: `{cfg.objective}`; head: token means of layers {model.pool_layers} -> "
             + (f"{cfg.head_hidden}-unit GELU layer -> " if cfg.head_hidden else "") + "linear",
             f"- input: first {cfg.max_tokens} tokens ({cfg.truncation})",
             f"- data: Winnow's labelled set (`data/labelled`, see its README for provenance); "
             f"{', '.join(f'{k} {len(v)}' for k, v in parts.items())} documents",
             f"- labels: {', '.join(str(x) for x in labels)}",
             f"- early stopping: {fit}", "",
             f"## Metrics ({eval_key} split)", "", "| group | n | " + ("AUC | accuracy |" if cfg.task == "quality"
                                                                      else "macro-F1 | accuracy |"),
             "|---|---|---|---|"]
    for g, m in metrics.items():
        main = m["auc"] if cfg.task == "quality" else m["macro_f1"]
        lines.append(f"| {g} | {m['n']} | {main if main is None else round(main, 4)} | {m['accuracy']:.4f} |")
    lines += ["", "Per-class report: `report.txt`; confusion matrices: `confusion_*.png`.", "",
              "Limits: labels come from the source corpus or from synthetic junk (see data/labelled/README.md), "
              "so these figures measure separating those sources, not open-web accuracy."]
    (out_dir / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
