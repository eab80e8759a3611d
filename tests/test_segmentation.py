"""Chinese word segmentation: rjieba (jieba's dictionary in Rust, the default without HMM) cuts the
sample's Chinese text into exactly the words jieba does."""

import gzip
import json
import logging
from pathlib import Path

from operators.filters.chinese import _TOKEN_PY, han_cutter, segment_one

ROOT = Path(__file__).resolve().parents[1]


def _han_runs(limit_docs: int = 400) -> list[str]:
    runs = []
    with gzip.open(ROOT / "data" / "sample" / "zh.jsonl.gz", "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= limit_docs:
                break
            runs += [m.group(1) for m in _TOKEN_PY.finditer(json.loads(line)["text"][:5000]) if m.group(1)]
    return runs


def test_rjieba_cuts_like_jieba_without_hmm():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    runs = _han_runs()
    assert sum(map(len, runs)) > 50_000  # enough text to mean something
    fast = han_cutter(hmm=False)
    reference = [list(jieba.dt.cut(r, HMM=False)) for r in runs]
    assert [fast(r) for r in runs] == reference


def test_hmm_segmentation_uses_jieba_and_differs_from_dictionary_only():
    # an out-of-dictionary name: the HMM joins characters the dictionary alone leaves single
    text = "杭研大厦的韦小宝来到了网易"
    assert segment_one(text, hmm=True) != segment_one(text, hmm=False)
    assert segment_one("今天天气很好, ok!", hmm=False) == ["今天天气", "很", "好", ",", "ok", "!"]
