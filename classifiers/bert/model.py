"""A BERT-family encoder + mean pooling + a small head, saved and loaded with ``save_pretrained``.

Pooling concatenates the token means of several layers (``pool_layers``; default: layers 2, 4 and 6
of a 6-layer encoder). Lower layers keep more word-order and syntax signal than the last layer of a
sentence-embedding model, which is close to a bag of words: measured on 160 English Wikipedia windows
against the same windows with their words shuffled, a logistic regression on frozen features reached
AUC 0.80 with the last layer's mean and 0.89 with the concatenated means of layers 2, 4, 6.

The config is the encoder's ``BertConfig`` plus Winnow's fields (``winnow_task``, ``winnow_objective``,
``head_hidden``, ``max_tokens``, ``truncation``, ``id2label``), so a saved classifier directory is
self-describing: ``BertClassifier.from_pretrained(path)`` needs nothing else.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
from torch import nn
from transformers import BertConfig, BertModel, BertPreTrainedModel

OBJECTIVES = ("binary", "regression", "multiclass")
TRUNCATION = ("head", "head_tail")


def pool_layers_of(config: BertConfig) -> list[int]:
    """Hidden states (0 = embeddings, n = last layer) whose token means are concatenated."""
    layers = getattr(config, "pool_layers", None)
    return list(layers) if layers else [config.num_hidden_layers]


def make_head(config: BertConfig, n_out: int | None = None) -> nn.Sequential:
    """The classifier head a config describes (dropout, optional GELU hidden layer, linear)."""
    if n_out is None:
        objective = getattr(config, "winnow_objective", "multiclass")
        n_out = 1 if objective in ("binary", "regression") else config.num_labels
    hidden = int(getattr(config, "head_hidden", 0) or 0)
    drop = float(getattr(config, "head_dropout", 0.1))
    width = config.hidden_size * len(pool_layers_of(config))
    if hidden:
        return nn.Sequential(nn.Dropout(drop), nn.Linear(width, hidden), nn.GELU(),
                             nn.Dropout(drop), nn.Linear(hidden, n_out))
    return nn.Sequential(nn.Dropout(drop), nn.Linear(width, n_out))


def head_scores(objective: str, logits: torch.Tensor) -> torch.Tensor:
    """Binary: P(good); regression: the raw prediction; multiclass: softmax probabilities."""
    if objective == "binary":
        return torch.sigmoid(logits)
    if objective == "regression":
        return logits
    return torch.softmax(logits, dim=-1)


class BertClassifier(BertPreTrainedModel):
    config_class = BertConfig

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        objective = getattr(config, "winnow_objective", "multiclass")
        n_out = 1 if objective in ("binary", "regression") else config.num_labels
        self.head = make_head(config, n_out)
        self.post_init()

    @staticmethod
    def pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean over real tokens (what all-MiniLM-L6-v2 was trained with)."""
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)

    @property
    def pool_layers(self) -> list[int]:
        """Hidden states (0 = embeddings, n = last layer) whose token means are concatenated."""
        return pool_layers_of(self.config)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        layers = self.pool_layers
        if layers == [self.config.num_hidden_layers]:
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask)
            return self.pool(out.last_hidden_state, attention_mask)
        out = self.bert(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        return torch.cat([self.pool(out.hidden_states[i], attention_mask) for i in layers], dim=-1)

    def forward(self, input_ids=None, attention_mask=None, **_) -> torch.Tensor:
        """Logits: shape (n,) for binary/regression, (n, num_labels) for multiclass."""
        logits = self.head(self.embed(input_ids, attention_mask))
        return logits.squeeze(-1) if logits.shape[-1] == 1 and self.objective != "multiclass" else logits

    @property
    def objective(self) -> str:
        return getattr(self.config, "winnow_objective", "multiclass")

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """Binary: P(good); regression: the raw prediction; multiclass: softmax probabilities."""
        return head_scores(self.objective, logits)


def encode(tokenizer, texts: list[str], max_tokens: int = 128, truncation: str = "head") -> dict:
    """Token ids + attention mask for ``texts``, at most ``max_tokens`` including [CLS]/[SEP],
    padded to the longest row (``token_rows`` then ``pad_rows``)."""
    return pad_rows(token_rows(tokenizer, texts, max_tokens, truncation), tokenizer.pad_token_id)


def token_rows(tokenizer, texts: list[str], max_tokens: int = 128, truncation: str = "head") -> list[list[int]]:
    """Token ids of each text, [CLS] and [SEP] included, at most ``max_tokens``, unpadded.

    ``head`` keeps the first tokens; ``head_tail`` keeps the first and the last halves, so a page's
    ending (often where boilerplate or spam sits) is seen too. Texts are first cut to a character
    budget so tokenizing a huge document costs no more than tokenizing its kept part."""
    if truncation not in TRUNCATION:
        raise ValueError(f"truncation must be one of {TRUNCATION}, got {truncation!r}")
    char_budget = max_tokens * 8
    texts = [t or "" for t in texts]
    if truncation == "head":
        texts = [t[:char_budget] for t in texts]
        return tokenizer(texts, truncation=True, max_length=max_tokens)["input_ids"]
    half = char_budget // 2
    texts = [t if len(t) <= char_budget else t[:half] + "\n" + t[-half:] for t in texts]
    body = max_tokens - 2
    head_n = body - body // 2
    ids = tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
    rows = []
    for x in ids:
        if len(x) > body:
            x = x[:head_n] + x[len(x) - (body - head_n):]
        rows.append([tokenizer.cls_token_id, *x, tokenizer.sep_token_id])
    return rows


def pad_rows(rows: list[list[int]], pad_id: int) -> dict:
    """``input_ids`` and ``attention_mask`` tensors, right-padded to the longest row."""
    width = max((len(r) for r in rows), default=0)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        input_ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}
