"""Evaluation shared by the BERT and fastText classifiers: the same numbers and files for both."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def binary_metrics(y_true, scores, threshold: float = 0.5) -> dict:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    y = np.asarray(y_true).astype(int)
    s = np.asarray(scores, dtype=float)
    pred = (s >= threshold).astype(int)
    out = {"n": int(len(y)), "accuracy": float(accuracy_score(y, pred)),
           "f1": float(f1_score(y, pred, zero_division=0)),
           "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0))}
    out["auc"] = float(roc_auc_score(y, s)) if len(set(y.tolist())) == 2 else None
    out["confusion"] = confusion(y.tolist(), pred.tolist(), [0, 1])
    return out


def confusion(y_true: list, y_pred: list, labels: list) -> list[list[int]]:
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y_true, y_pred, labels=labels).tolist()


def multiclass_metrics(y_true: list[str], y_pred: list[str], labels: list[str] | None = None) -> dict:
    """Accuracy, macro-F1 over the classes present in ``y_true``, per-class report, confusion matrix."""
    from sklearn.metrics import accuracy_score, classification_report, f1_score

    present = sorted(set(y_true))
    labels = labels or sorted(set(y_true) | set(y_pred))
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "classes": present,
        "per_class": classification_report(y_true, y_pred, labels=present, output_dict=True, zero_division=0),
        "labels": labels,
        "confusion": confusion(y_true, y_pred, labels),
    }


def evaluate(task: str, rows: list[dict], preds: list, scores: list[float] | None = None) -> dict:
    """Metrics overall and per language (``lang`` of each row). ``preds``: labels (domain) or
    probabilities/scores of the positive class (quality)."""
    out: dict = {}
    groups = {"all": list(range(len(rows)))}
    for i, r in enumerate(rows):
        groups.setdefault(r.get("lang", "all"), []).append(i)
    for name, idx in groups.items():
        if not idx:
            continue
        if task == "quality":
            out[name] = binary_metrics([rows[i]["quality"] for i in idx], [preds[i] for i in idx])
        else:
            out[name] = multiclass_metrics([rows[i]["domain"] for i in idx], [preds[i] for i in idx])
    return out


def plot_confusion(matrix: list[list[int]], labels: list, path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(1.0 + 0.65 * len(labels), 0.8 + 0.6 * len(labels)))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(labels)), [str(x) for x in labels], rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), [str(x) for x in labels])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    thr = m.max() / 2 if m.size else 0
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", color="white" if m[i, j] > thr else "black",
                    fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def summary_line(task: str, metrics: dict) -> str:
    parts = []
    for g, m in metrics.items():
        if task == "quality":
            parts.append(f"{g}: auc={m['auc'] if m['auc'] is None else round(m['auc'], 4)} acc={m['accuracy']:.4f}")
        else:
            parts.append(f"{g}: macro_f1={m['macro_f1']:.4f} acc={m['accuracy']:.4f}")
    return "; ".join(parts)


def write_eval(out_dir: Path, task: str, metrics: dict, extra: dict | None = None) -> None:
    """metrics.json, report.txt and confusion PNGs (overall and per language) beside a model."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps({**(extra or {}), "test": metrics}, indent=1), encoding="utf-8")
    lines = [f"task: {task}", summary_line(task, metrics), ""]
    for g, m in metrics.items():
        labels = [0, 1] if task == "quality" else m["labels"]
        plot_confusion(m["confusion"], labels, out_dir / f"confusion_{g}.png", f"{task} ({g}, test split)")
        lines.append(f"== {g} (n={m['n']})")
        if task == "domain":
            lines.append(f"{'class':<14}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}")
            for c in m["classes"]:
                pc = m["per_class"][c]
                lines.append(f"{c:<14}{pc['precision']:>10.3f}{pc['recall']:>8.3f}{pc['f1-score']:>8.3f}"
                             f"{int(pc['support']):>9}")
        lines.append(f"confusion (rows true, cols predicted, labels {labels}): {m['confusion']}")
        lines.append("")
    (out_dir / "report.txt").write_text("\n".join(lines), encoding="utf-8")
