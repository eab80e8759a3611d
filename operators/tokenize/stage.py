"""The tokenize stage: the mixed documents as Megatron-LM indexed-dataset shards plus ``manifest.json``.

Plan: one Spark pass, no shuffle of text or tokens::

    docs --mapInArrow(encode + shard writers, per partition)--> doc rows + shard rows     [doc_index/]
    driver: shard rows -> manifest.json (checksums, tokenizer, recipe, achieved shares, totals)
    docs JOIN doc rows --> kept (+ n_tokens) / rejected (empty_document)

The jobs, one function each: the tokenizer is given (copied next to the shards, a SentencePiece
model converted once) or trained on a seeded sample of the input (``_prepare_tokenizer``); every
partition is encoded and written by ``shard_writer.write_partition`` (splits, lanes, shard names,
retries: see that module); the driver lists shards from the committed task output only, deletes
anything else it finds and writes the manifest (``manifest.py``).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract import schema as S
from contract.operator import GlobalStage, StageOutput
from operators.tokenize.manifest import build_manifest, manifest_metrics, remove_strays
from operators.tokenize.shard_writer import OUT_SCHEMA, partition_writer
from operators.tokenize.tokenizer import LoadedTokenizer
from shards.indexed_dataset import dtype_for_vocab
from shards.manifest import SPLITS, write_manifest

SHARDS_DIR = "shards"
DOC_INDEX = "doc_index"


@dataclass
class _Tokenizer:
    """The stage's tokenizer: loaded, where the executors load it from, its copy next to the shards
    and where it came from (for the manifest)."""

    loaded: LoadedTokenizer
    load_path: Path
    copy: Path
    source: str


def copy_tokenizer(src: Path, shards_dir: Path) -> Path:
    """Copy the tokenizer next to the shards (so the shard dir is self-contained); returns the copy."""
    if src.is_file():
        dst = shards_dir / ("tokenizer.json" if src.suffix == ".json" else src.name)
        shutil.copyfile(src, dst)
        return dst
    dst = shards_dir / "tokenizer"
    if dst.resolve() != src.resolve():
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
    return dst


class TokenizeStage(GlobalStage):
    """Tokenize the mixture into Megatron shards. See the module docstring and docs/mixing.md."""

    name = "tokenize"
    metrics = {
        "seconds/tokenize_write": "wall seconds of the whole write (tokenizer, shards, manifest)",
        "seconds/encode_and_write_shards": "wall seconds encoding and writing shards",
        "seconds/tokenizer_setup": "wall seconds training or loading the tokenizer",
        "seconds/manifest": "wall seconds building the manifest",
        "tokens/{split}": "tokens written per split",
        "docs/{split}": "documents written per split",
        "shards/{split}": "shards written per split",
        "share/{group}": "each group's share of written tokens",
        "share_train/{group}": "each group's share of written train tokens",
    }

    def __init__(
        self,
        tokenizer: str | None = None,
        validation_fraction: float = 0.01,
        shard_tokens: int = 100_000_000,
        add_bos: bool = False,
        eos_token: str | None = None,
        bos_token: str | None = None,
        pad_token: str | None = None,
        partitions: int | None = None,
        stable_layout: bool = True,
        train: dict[str, Any] | None = None,
        recipe: dict[str, Any] | None = None,
        seed: int | None = None,
    ):
        if not 0.0 <= float(validation_fraction) < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1) (got {validation_fraction})")
        if int(shard_tokens) < 1:
            raise ValueError("shard_tokens must be >= 1")
        self.tokenizer = str(tokenizer) if tokenizer else None
        self.validation_fraction = float(validation_fraction)
        self.shard_tokens = int(shard_tokens)
        self.add_bos = bool(add_bos)
        self.eos_token, self.bos_token, self.pad_token = eos_token, bos_token, pad_token
        self.partitions = int(partitions) if partitions else None
        self.stable_layout = bool(stable_layout)
        self.train = dict(train or {})
        self.recipe = recipe
        self.seed = seed

    def input_files(self) -> list[str]:
        """The given tokenizer (file or directory); a tokenizer trained here comes from the input."""
        return [self.tokenizer] if self.tokenizer else []

    # -- Spark ------------------------------------------------------------------------------------
    def run(self, df, ctx) -> StageOutput:
        started = time.time()
        seed = int(self.seed if self.seed is not None else getattr(ctx, "seed", 0))
        out_dir = Path(ctx.out_dir)
        shards = out_dir / SHARDS_DIR
        shards.mkdir(parents=True, exist_ok=True)
        tokenizer = self._prepare_tokenizer(df, shards, ctx)
        write_started = time.time()
        index = self._write_shards(df, tokenizer, shards, out_dir / DOC_INDEX, seed)
        write_seconds = time.time() - write_started
        shard_rows, by_group = _committed_shards(index)
        remove_strays(shards, {s["prefix"] for s in shard_rows})
        manifest = self._manifest(tokenizer, shard_rows, by_group, seed, ctx)
        write_manifest(shards, manifest)
        metrics = manifest_metrics(manifest)
        setup_seconds = write_started - started
        metrics["seconds/tokenize_write"] = time.time() - started
        metrics["seconds/encode_and_write_shards"] = write_seconds
        metrics["seconds/tokenizer_setup"] = setup_seconds
        metrics["seconds/manifest"] = metrics["seconds/tokenize_write"] - write_seconds - setup_seconds
        _log(ctx, f"{metrics['shards/train']:.0f} train + {metrics['shards/validation']:.0f} validation shards, "
                  f"{metrics['tokens/train']:,.0f} + {metrics['tokens/validation']:,.0f} tokens -> {shards}")
        return _split(df, index, metrics)

    def _prepare_tokenizer(self, df, shards: Path, ctx) -> _Tokenizer:
        """The given tokenizer (a SentencePiece model converted once here: executors load the saved
        directory) copied next to the shards, or one trained on the input."""
        from operators.tokenize.tokenizer import is_sentencepiece, load_tokenizer, sentencepiece_to_hf

        if not self.tokenizer:
            trained = self._train_tokenizer(df, shards / "tokenizer", ctx)
            tok = load_tokenizer(trained, self.eos_token, self.bos_token, self.pad_token)
            return _Tokenizer(tok, trained, trained, "trained by the tokenize stage on its input")
        src = Path(self.tokenizer).resolve()
        source = str(src)
        if is_sentencepiece(src):
            converted = shards / "tokenizer"
            shutil.rmtree(converted, ignore_errors=True)
            sentencepiece_to_hf(src).save_pretrained(str(converted))
            src = converted
        tok = load_tokenizer(src, self.eos_token, self.bos_token, self.pad_token)
        return _Tokenizer(tok, src, copy_tokenizer(tok.path, shards), source)

    def _train_tokenizer(self, df, out: Path, ctx) -> Path:
        """No tokenizer given: train one on (a seeded sample of) this stage's input, the mixture."""
        from pyspark.sql import functions as F

        from operators.tokenize.train_tokenizer import train_tokenizer

        opts = {"vocab_size": 32000, "max_chars": 50_000_000, **self.train}
        max_chars = int(opts.pop("max_chars"))
        total = df.select(F.sum(F.length(S.TEXT))).first()[0] or 0
        frac = min(1.0, max_chars / max(total, 1))
        h = F.pmod(F.xxhash64(F.col(S.ID), F.lit(7)), F.lit(1 << 30)) / float(1 << 30)
        texts = (r[0] for r in df.filter((h < frac) & F.col(S.TEXT).isNotNull()).select(S.TEXT).toLocalIterator())
        report = train_tokenizer(texts, out, **opts)
        _log(ctx, f"trained tokenizer: {report['vocab_size']} tokens ({report['learned']} learned) -> {out}")
        return out

    def _write_shards(self, df, tokenizer: _Tokenizer, shards: Path, index_dir: Path, seed: int):
        """The Spark job that encodes and writes every partition; returns the doc and shard rows it wrote."""
        from pyspark.sql import functions as F

        cfg = {"tokenizer": str(tokenizer.load_path), "eos_token": self.eos_token, "bos_token": self.bos_token,
               "pad_token": self.pad_token, "dtype": dtype_for_vocab(tokenizer.loaded.vocab_size).name,
               "root": str(shards), "seed": seed, "validation_fraction": self.validation_fraction,
               "shard_tokens": self.shard_tokens, "add_bos": self.add_bos}
        cols = [c for c in (S.ID, S.TEXT, "repeat", "mix_group") if c in df.columns]
        # Shards depend on the data only, never on how the input happens to be partitioned:
        # documents go to one of `partitions` hash buckets, in (hash, id) order within each.
        # (stable_layout=False skips that shuffle: faster, but the layout follows the input's partitions.)
        src_df = df.select(*cols)
        if self.stable_layout:
            n_parts = self.partitions or int(df.sparkSession.conf.get("spark.sql.shuffle.partitions", "4"))
            key = F.xxhash64(F.col(S.ID), F.lit(seed))
            src_df = (src_df.withColumn("_k", key).repartition(n_parts, F.col("_k"))
                      .sortWithinPartitions("_k", S.ID).drop("_k"))
        elif self.partitions:
            src_df = src_df.repartition(self.partitions)
        src_df.mapInArrow(partition_writer(cfg), OUT_SCHEMA).write.mode("overwrite").parquet(str(index_dir))
        return df.sparkSession.read.schema(OUT_SCHEMA).parquet(str(index_dir))

    def _manifest(self, tokenizer: _Tokenizer, shard_rows, by_group, seed: int, ctx) -> dict[str, Any]:
        from operators.mix import read_mix_report

        mix_dir = ctx.stage_dir("mix") if callable(getattr(ctx, "stage_dir", None)) else None
        mix = read_mix_report(mix_dir)
        options = {"add_bos": self.add_bos, "append_eos": True, "stable_layout": self.stable_layout,
                   "validation_fraction": self.validation_fraction, "shard_tokens": self.shard_tokens,
                   "seed": seed}
        return build_manifest(tokenizer.loaded, tokenizer.source, tokenizer.copy, shard_rows, by_group,
                              self.recipe or (mix or {}).get("recipe"), mix, options)


def _committed_shards(index) -> tuple[list[dict[str, Any]], list]:
    """One small job over the doc index: the shard rows (in split, prefix order) and the per
    (split, group) sums of the documents written."""
    from pyspark.sql import functions as F

    rows = (index.filter((F.col("kind") == "shard") | F.col("reason").isNull())
            .groupBy("kind", "split", "mix_group")
            .agg(F.sum(F.col("n_tokens") * F.col("copies")).alias("tokens"), F.sum("copies").alias("copies"),
                 F.sum(F.col("n_tokens") * F.col("repeat")).alias("mixture_tokens"),
                 F.count("*").alias("docs"), F.collect_list("meta").alias("metas")).collect())
    shard_rows = sorted((json.loads(m) for r in rows if r["kind"] == "shard" for m in r["metas"]),
                        key=lambda s: (SPLITS.index(s["split"]), s["prefix"]))
    return shard_rows, [r for r in rows if r["kind"] == "doc"]


def _split(df, index, metrics: dict[str, Any]) -> StageOutput:
    """Kept documents gain ``n_tokens`` (per copy, EOS included); empty ones are rejected."""
    from pyspark.sql import functions as F

    docs = index.filter(F.col("kind") == "doc")
    base = df.drop("n_tokens") if "n_tokens" in df.columns else df
    kept = base.join(docs.filter(F.col("reason").isNull()).select(F.col("id").alias(S.ID), "n_tokens"), on=S.ID)
    rejected = base.join(docs.filter(F.col("reason").isNotNull()).select(
        F.col("id").alias(S.ID), F.col("n_tokens"), F.col("reason").alias(S.REJECT_REASON),
        F.col("detail").alias(S.REJECT_DETAIL)), on=S.ID)
    return StageOutput(kept, rejected, metrics)


def _log(ctx, msg: str) -> None:
    log = getattr(ctx, "log", None)
    if callable(log):
        log(msg)
    else:
        print(f"[winnow] tokenize: {msg}", flush=True)
