"""Synthetic mixed corpora and a minimal stage context for the mix/tokenize tests."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

HAN = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理世车"
EN = ("the of and to in is was for on that with as by it from at his an were are which this be or "
      "has had have not first one their its new after but who they two her been other when there all "
      "during into school time may years more most only over city some world would where later up such "
      "used many can state about national out known university united then made").split()
CODE = ["def f(x):\n    return x + 1\n", "for i in range(10):\n    print(i)\n", "int main(void) { return 0; }\n",
        "class A:\n    pass\n", "if (x > 0) { y = x * 2; }\n", "import os\nprint(os.getcwd())\n"]


def make_docs(n_zh: int = 1200, n_en: int = 1200, n_code: int = 600, seed: int = 0) -> list[dict[str, Any]]:
    """Documents with id, text, source, meta, lang, domain, quality_score; lengths vary 20-2000 chars."""
    rng = random.Random(seed)
    docs = []

    def add(i: int, kind: str, text: str, lang: str, domain: str) -> None:
        docs.append({"id": f"{kind}-{i:05d}", "text": text, "source": f"synthetic_{kind}", "meta": "{}",
                     "lang": lang, "domain": domain, "quality_score": round(rng.random(), 4)})

    for i in range(n_zh):
        n = rng.randint(20, 800)
        sents = []
        while sum(map(len, sents)) < n:
            sents.append("".join(rng.choice(HAN) for _ in range(rng.randint(5, 30))) + rng.choice("，。！？"))
        add(i, "zh", "".join(sents), "zh", "web")
    for i in range(n_en):
        words = [rng.choice(EN) for _ in range(rng.randint(5, 350))]
        add(i, "en", " ".join(words).capitalize() + ".", "en", "web")
    for i in range(n_code):
        add(i, "code", "".join(rng.choice(CODE) for _ in range(rng.randint(1, 40))), "en", "code")
    rng.shuffle(docs)
    return docs


SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("source", pa.string()), ("meta", pa.string()),
                    ("lang", pa.string()), ("domain", pa.string()), ("quality_score", pa.float32())])


def make_df(spark, docs: list[dict[str, Any]], partitions: int = 4, schema: pa.Schema = SCHEMA):
    from pyspark.sql.pandas.types import from_arrow_schema

    cols = [f.name for f in schema]
    rows = [tuple(d.get(c) for c in cols) for d in docs]
    return spark.createDataFrame(rows, from_arrow_schema(schema)).repartition(partitions)


@dataclass
class Ctx:
    """The StageContext fields global stages use (out_dir, spark, seed, stage_dir, log)."""

    spark: Any
    out_dir: Path
    seed: int = 42
    stage_dirs: dict[str, Path] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)

    def stage_dir(self, name: str) -> Path | None:
        return self.stage_dirs.get(name)

    def log(self, msg: str) -> None:
        self.logs.append(msg)


GROUPS = [{"name": "code", "where": "domain=code", "weight": 2},
          {"name": "zh", "where": "lang=zh", "weight": 4},
          {"name": "en", "where": "lang=en", "weight": 4}]


def train_small_tokenizer(out: Path, docs: list[dict[str, Any]], vocab_size: int = 1024) -> Path:
    """A small Winnow BPE tokenizer trained on the fixture texts (a few seconds)."""
    from operators.tokenize.train_tokenizer import train_tokenizer

    if not (out / "tokenizer.json").exists():
        train_tokenizer((d["text"] for d in docs), out, vocab_size=vocab_size)
    return out
