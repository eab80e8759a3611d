"""Tiny classifiers trained in seconds on a slice of the shipped labelled set (shared by the
classifier and score tests; trained once per test session)."""

from __future__ import annotations

import random
from pathlib import Path

from classifiers.data import load_labelled

GOOD_EN = ("The Danube is the second-longest river in Europe. It rises in the Black Forest of Germany and "
           "flows southeast for about 2,850 kilometres, passing through ten countries before emptying into "
           "the Black Sea. Since ancient times it has been an important route for trade.")
BAD_EN = ("BUY NOW!!! Cheap Viagra only $9.99! LIMITED OFFER\ncheap best online discount sale cheap free shipping "
          "deal coupon\nVisit http://cheap-viagra-77.biz/?ref=1234 Click here\nCall now 555-123-4567 for best deal")
GOOD_ZH = "长江是亚洲第一长河，发源于青藏高原，流经十一个省级行政区，最后在上海注入东海。长江流域是中国经济最发达的地区之一。"
BAD_ZH = "【限时特惠】减肥茶仅需9元！！！加微信vx123456领取优惠券，点击领取\n特价正品折扣热卖爆款抢购全网最低厂家直销包邮秒杀"
CODE = "def parse(line):\n    key, _, value = line.partition('=')\n    return key.strip(), value.strip()\n"

_TRAINED: dict[str, Path] = {}


def tiny_rows(task: str, per_class: int = 16, seed: int = 0, classes: tuple[str, ...] | None = None) -> list[dict]:
    """A small balanced slice of the labelled set's train split, re-split 80/20 into train/val."""
    rng = random.Random(seed)
    rows = [r for r in load_labelled() if r["split"] == "train" and r.get(task) is not None]
    by: dict = {}
    for r in rows:
        key = (r["lang"], r[task])
        if classes is None or r[task] in classes:
            by.setdefault(key, []).append(r)
    out = []
    for key in sorted(by, key=str):
        picked = rng.sample(by[key], min(per_class, len(by[key])))
        for i, r in enumerate(picked):
            out.append({**r, "split": "val" if i % 5 == 0 else "train"})
    return out


def tiny_bert(task: str, root: Path, **kw) -> Path:
    """A frozen-MiniLM + head classifier trained on ``tiny_rows`` (seconds on CPU)."""
    key = f"bert-{task}-{sorted(kw.items())}"
    if key not in _TRAINED:
        from classifiers.bert.train import TrainConfig, train_classifier

        classes = ("code", "literature", "ads_spam") if task == "domain" else None
        out = root / key.replace(" ", "").replace("'", "")[:60]
        cfg = TrainConfig(task=task, encoder="minilm", max_tokens=48, head_hidden=32, epochs=150, **kw)
        train_classifier(tiny_rows(task, classes=classes), out, cfg, log=lambda *_: None)
        _TRAINED[key] = out
    return _TRAINED[key]


def tiny_fasttext(task: str, root: Path) -> Path:
    key = f"ft-{task}"
    if key not in _TRAINED:
        from classifiers.fasttext_clf import train_fasttext

        out = root / f"{key}.bin"
        train_fasttext(tiny_rows(task, per_class=40), out, task, epochs_grid=(20,), bucket=20_000, dim=16,
                       log=lambda *_: None)
        _TRAINED[key] = out
    return _TRAINED[key]
