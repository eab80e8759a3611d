"""The evaluation text: reading it, slicing it (en / zh / code), and scoring a model on it.

Metrics, per slice and in total (summed over documents, then divided):

* **bits per byte** = sum of token NLL (nats) / ln 2 / UTF-8 bytes of the text. It does not depend
  on the tokenizer (a tokenizer that spends more tokens per byte pays for it in the sum);
* **nats per token** = sum of token NLL / tokens (the trainer's loss unit; tokenizer-dependent).

A document is scored as the model sees text in training: after an EOS (the previous document's
end), every token of the document predicted from the tokens before it, in non-overlapping windows
of ``seq_len`` predictions (the trainer's packing); the EOS after the document is not scored.

Slices: a record's ``slice`` field when present (any name), else its ``lang`` (``en*``, ``zh*``,
``code*``, or the ``domain`` ``code``), else detected from the text (Han share, then code shape).
"""

from __future__ import annotations

import gzip
import io
import json
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

LN2 = math.log(2.0)
SLICES = ("en", "zh", "code")  # always reported (with "total"), even when empty
HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
CODE_LINE_RE = re.compile(
    r"^\s*(?:#include|#define|#if|#endif|import |from \S+ import|def |class |return\b|if\s*\(|for\s*\(|while\s*\(|"
    r"static |struct |\}|\{|//|/\*|\*|@|elif |else:|try:|except\b|raise |print\()"
    r"|[;{}]\s*$|\):\s*$")


# -- reading -------------------------------------------------------------------------------------
def _open_text(path: Path) -> io.TextIOBase:
    low = path.name.lower()
    if low.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    if low.endswith((".zst", ".zstd")):
        import zstandard

        raw = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), read_across_frames=True)
        return io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _files(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith((".", "_")))
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"evaluation text not found: {p}")
    return out


def read_eval_docs(paths: Iterable[str | Path], text_field: str = "text") -> list[dict[str, Any]]:
    """Documents of jsonl(.gz/.zst), Parquet, or plain-text files (one document per ``.txt`` file).

    Each document: ``id``, ``text``, ``slice`` and the record's ``lang``/``domain``/``source`` when
    present. Records without a non-empty string text are skipped (counted in ``skipped``)."""
    docs: list[dict[str, Any]] = []
    for f in _files(paths):
        low = f.name.lower()
        if low.endswith(".parquet"):
            import pyarrow.parquet as pq

            for i, rec in enumerate(pq.read_table(f).to_pylist()):
                _add(docs, rec, text_field, f"{f.name}:{i}")
        elif low.endswith((".txt", ".md")):
            _add(docs, {"text": f.read_text(encoding="utf-8", errors="replace")}, "text", f.name)
        elif any(low.endswith(s) for s in (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".jsonl.zst",
                                          ".jsonl.zstd", ".json.zst")):
            with _open_text(f) as fh:
                for i, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(rec, dict):
                        _add(docs, rec, text_field, f"{f.name}:{i}")
    if not docs:
        raise ValueError(f"no evaluation documents with a '{text_field}' field in {list(map(str, paths))}")
    seen: dict[str, int] = {}
    for d in docs:  # ids must be unique for the contamination report
        k = seen.get(d["id"], 0)
        seen[d["id"]] = k + 1
        if k:
            d["id"] = f"{d['id']}#{k}"
    return docs


def _add(docs: list[dict[str, Any]], rec: dict[str, Any], text_field: str, where: str) -> None:
    text = rec.get(text_field)
    if not isinstance(text, str) or not text.strip():
        return
    doc = {"id": str(rec.get("id") or where), "text": text}
    for k in ("lang", "domain", "source", "slice"):
        if rec.get(k) is not None:
            doc[k] = str(rec[k])
    doc["slice"] = slice_of(doc)
    docs.append(doc)


# -- slices --------------------------------------------------------------------------------------
def looks_like_code(text: str) -> bool:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) < 3:
        return False
    code_lines = sum(1 for ln in lines if CODE_LINE_RE.search(ln))
    symbols = sum(text.count(c) for c in "{}();=[]<>#*/_")
    return code_lines / len(lines) >= 0.35 and symbols / max(len(text), 1) >= 0.03


def han_share(text: str) -> float:
    letters = sum(1 for c in text if c.isalpha())
    return len(HAN_RE.findall(text)) / max(letters, 1)


def slice_of(doc: dict[str, Any]) -> str:
    """``slice`` field, else ``lang``/``domain``, else detected by script and shape."""
    if doc.get("slice"):
        return str(doc["slice"])
    lang = str(doc.get("lang") or "").lower()
    if lang.startswith("code") or str(doc.get("domain") or "").lower() == "code":
        return "code"
    if lang.startswith("zh"):
        return "zh"
    if lang.startswith("en"):
        return "en"
    if lang:
        return lang
    text = doc["text"]
    if looks_like_code(text):
        return "code"
    return "zh" if han_share(text) >= 0.3 else "en"


# -- scoring -------------------------------------------------------------------------------------
def bits_per_byte(nll_nats: float, n_bytes: int) -> float | None:
    """Sum of token NLL in nats -> bits per UTF-8 byte of the text it predicted."""
    return None if n_bytes <= 0 else nll_nats / LN2 / n_bytes


def document_nll(model: Callable, docs_ids: list[list[int]], eos_id: int, seq_len: int, device: Any = "cpu",
                 batch_size: int = 16) -> list[float]:
    """Sum of next-token NLL (nats, float64) over each document's tokens, given a leading EOS.

    ``model(input_ids=..., use_cache=False).logits`` as for ``transformers`` causal LMs. Windows of
    ``seq_len`` predictions, no overlap; shorter windows are right-padded (causal attention, so the
    padding never influences a scored position) and the padded targets are masked."""
    import torch
    import torch.nn.functional as F

    chunks: list[tuple[int, list[int]]] = []  # (document, inputs + final target)
    for d, ids in enumerate(docs_ids):
        seq = [eos_id, *ids]
        for i in range(0, len(seq) - 1, seq_len):
            chunks.append((d, seq[i: i + seq_len + 1]))
    order = sorted(range(len(chunks)), key=lambda k: -len(chunks[k][1]))
    totals = [0.0] * len(docs_ids)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.no_grad():
            for b in range(0, len(order), batch_size):
                part = [chunks[k] for k in order[b: b + batch_size]]
                width = max(len(c) for _, c in part) - 1
                x = torch.full((len(part), width), eos_id, dtype=torch.long)
                y = torch.full((len(part), width), -100, dtype=torch.long)
                for r, (_, c) in enumerate(part):
                    x[r, : len(c) - 1] = torch.tensor(c[:-1])
                    y[r, : len(c) - 1] = torch.tensor(c[1:])
                logits = model(input_ids=x.to(device), use_cache=False).logits.float()
                nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.to(device).reshape(-1),
                                      ignore_index=-100, reduction="none").view(len(part), width)
                per_row = nll.double().sum(dim=1).cpu().tolist()
                for (d, _), v in zip(part, per_row):
                    totals[d] += v
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    return totals


def slice_metrics(docs: list[dict[str, Any]], nll: list[float], n_tokens: list[int],
                  slices: Iterable[str] = SLICES) -> dict[str, dict[str, Any]]:
    """Per slice and ``total``: docs, tokens, bytes, nll (nats), bits_per_byte, nats_per_token."""
    names = list(dict.fromkeys([*slices, *sorted({d["slice"] for d in docs})]))
    acc = {s: [0, 0, 0, 0.0] for s in [*names, "total"]}
    for d, v, t in zip(docs, nll, n_tokens):
        b = len(d["text"].encode("utf-8"))
        for s in (d["slice"], "total"):
            a = acc[s]
            a[0] += 1
            a[1] += t
            a[2] += b
            a[3] += v
    out = {}
    for s, (n, t, b, v) in acc.items():
        out[s] = {"docs": n, "tokens": t, "bytes": b, "nll_nats": round(v, 6),
                  "bits_per_byte": None if not b else round(bits_per_byte(v, b), 6),
                  "nats_per_token": None if not t else round(v / t, 6)}
    return out
