"""The score stage: columns, thresholds kept apart from scoring, Spark == local."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from pipeline.local import make_table, run_operator
from tests.classifier_fixtures import BAD_EN, BAD_ZH, CODE, GOOD_EN, GOOD_ZH, tiny_bert, tiny_fasttext

TEXTS = [GOOD_EN, BAD_EN, GOOD_ZH, BAD_ZH, CODE, "", GOOD_EN + "\n" + GOOD_EN * 40]


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("score-models")
    return {"quality_model": str(tiny_bert("quality", root)), "domain_model": str(tiny_bert("domain", root)),
            "quality_fasttext": str(tiny_fasttext("quality", root)),
            "domain_fasttext": str(tiny_fasttext("domain", root))}


def test_scorer_adds_typed_columns(models):
    from operators.score import build_scorer

    op = build_scorer(**models, batch_size=3)
    res = run_operator(op, make_table(TEXTS), batch_size=4)
    t = res.kept
    assert t.num_rows == len(TEXTS) and res.rejected.num_rows == 0
    for name, typ in [("quality_score", pa.float32()), ("domain", pa.string()), ("domain_score", pa.float32()),
                      ("quality_score_fasttext", pa.float32()), ("domain_fasttext", pa.string()),
                      ("domain_score_fasttext", pa.float32())]:
        assert t.schema.field(name).type == typ
        assert t.column(name).null_count == 0
    q = t.column("quality_score").to_pylist()
    assert q[0] > q[1] and q[2] > q[3]
    assert t.column("domain").to_pylist()[4] == "code"
    assert t.column("domain").to_pylist()[1] == "ads_spam"
    assert res.metrics["score/docs_scored"] == len(TEXTS)


def test_thresholds_reject_with_reasons(models):
    from operators.score import DOMAIN_EXCLUDED, LOW_QUALITY, Scorer

    # The tiny fixture model ranks good above bad but its absolute scores drift with the training slice,
    # so the threshold is taken from the scores it gives: midway between the good and the bad document.
    docs = [GOOD_EN, BAD_EN, GOOD_ZH, BAD_ZH]
    scores = run_operator(Scorer(quality_model=models["quality_model"]), make_table(docs)).kept
    q = scores.column("quality_score").to_pylist()
    for good, bad in ((0, 1), (2, 3)):
        assert q[good] > q[bad], q
        threshold = (q[good] + q[bad]) / 2
        res = run_operator(Scorer(quality_model=models["quality_model"], min_quality=threshold),
                           make_table([docs[good], docs[bad]]))
        assert res.kept.column("id").to_pylist() == ["doc-0"]
        assert res.reasons() == [LOW_QUALITY]
        detail = res.rejected.column("reject_detail").to_pylist()[0]
        assert detail.startswith("quality_score=")
        assert float(detail.split("=")[1].split("<")[0]) == pytest.approx(q[bad], abs=1e-3)
    # one threshold over all four documents (between the 2nd and 3rd score): rows below it are rejected
    threshold = float(np.median(q))
    res = run_operator(Scorer(quality_model=models["quality_model"], min_quality=threshold), make_table(docs))
    assert res.kept.column("id").to_pylist() == [f"doc-{i}" for i in range(4) if q[i] >= threshold]
    assert res.rejected.column("id").to_pylist() == [f"doc-{i}" for i in range(4) if q[i] < threshold]
    assert set(res.reasons()) == {LOW_QUALITY}
    res = run_operator(Scorer(domain_model=models["domain_model"], exclude_domains=["code"]),
                       make_table([CODE, BAD_EN]))
    assert res.kept.column("id").to_pylist() == ["doc-1"]
    assert res.reasons() == [DOMAIN_EXCLUDED]
    assert res.rejected.column("reject_detail").to_pylist()[0].startswith("domain=code p=")
    # a probability floor: nothing is that sure
    res = run_operator(Scorer(domain_model=models["domain_model"], exclude_domains=["code"], min_domain_score=1.01),
                       make_table([CODE]))
    assert res.rejected.num_rows == 0


def test_gate_reads_existing_scores_and_never_rescores(models):
    """Thresholds in a model-less score stage read the columns; a scored row is not scored again."""
    from operators.score import Scorer

    table = make_table(["a", "b", "c"], quality_score=[0.9, 0.2, None], domain=["news", "ads_spam", None],
                       domain_score=[0.99, 0.95, None])
    gate = Scorer(min_quality=0.5, exclude_domains=["ads_spam"])
    assert gate.output_fields() == []
    res = run_operator(gate, table)
    assert res.kept.column("id").to_pylist() == ["doc-0", "doc-2"]  # no score -> no decision
    assert res.reasons() == ["low_quality"]
    # with a model: existing scores are kept, only the missing one is computed
    op = Scorer(quality_model=models["quality_model"])
    out = run_operator(op, table).kept.column("quality_score").to_pylist()
    assert out[:2] == pytest.approx([0.9, 0.2]) and out[2] is not None
    out = run_operator(Scorer(quality_model=models["quality_model"], rescore=True), table).kept
    assert out.column("quality_score").to_pylist()[0] != pytest.approx(0.9)


def test_registry_builds_the_score_stage_and_rejects_bad_params(models):
    from contract.errors import ConfigError
    from pipeline.registry import build_stage

    op = build_stage("score", {"quality_model": models["quality_model"], "truncation": "head_tail",
                               "max_tokens": 32})
    assert op.name == "score" and [f.name for f in op.output_fields()] == ["quality_score"]
    assert op.params()["model_fingerprints"][models["quality_model"]]
    with pytest.raises(ConfigError):
        build_stage("score", {"quality_model": "/nonexistent/model"})
    with pytest.raises(ConfigError):
        build_stage("score", {"truncation": "middle"})


def test_spark_scoring_equals_local(spark, models):
    from pyspark.sql.pandas.types import from_arrow_schema

    from operators.score import Scorer
    from pipeline.execute import apply_batches, output_schema

    op = Scorer(**models, truncation="head_tail", max_tokens=40)
    texts = TEXTS * 6
    table = make_table(texts)
    local = run_operator(op, table).kept.sort_by("id")
    out_schema = output_schema(op, table.schema)
    df = spark.createDataFrame(table.to_pandas(), schema=from_arrow_schema(table.schema)).repartition(3)
    fresh = Scorer(**models, truncation="head_tail", max_tokens=40)
    rows = df.mapInArrow(lambda it: apply_batches(fresh, it, out_schema, "score"),
                         from_arrow_schema(out_schema)).toArrow()
    rows = rows.sort_by("id")
    assert rows.column("id").to_pylist() == local.column("id").to_pylist()
    for col in ("quality_score", "domain_score", "quality_score_fasttext", "domain_score_fasttext"):
        np.testing.assert_allclose(rows.column(col).to_numpy(), local.column(col).to_numpy(), atol=1e-5)
    for col in ("domain", "domain_fasttext"):
        assert rows.column(col).to_pylist() == local.column(col).to_pylist()
    # each Python worker loads a model once, however many tasks (partitions) and batches it runs
    import json
    import os
    from collections import Counter
    from pathlib import Path

    wanted = {str(Path(models[k]).resolve()) for k in ("quality_model", "domain_model")}

    def report(it):
        from classifiers.bert import predict

        n = sum(b.num_rows for b in apply_batches(fresh, it, out_schema, "score"))
        loads = {k: v for k, v in predict.LOADS.items() if k in wanted}
        yield pa.RecordBatch.from_pydict({"pid": [os.getpid()], "rows": [n], "loads": [json.dumps(loads)]})

    rep = df.repartition(6).mapInArrow(report, "pid long, rows long, loads string").toArrow().to_pylist()
    assert len(rep) == 6 and sum(r["rows"] for r in rep) == len(texts)
    assert max(Counter(r["pid"] for r in rep).values()) >= 2  # a worker ran several tasks...
    assert all(json.loads(r["loads"]) == dict.fromkeys(wanted, 1) for r in rep), rep  # ...and loaded once


# ------------------------------------------------------------------ speed paths (issue 18)
MIXED = [GOOD_EN, BAD_ZH, "short", GOOD_EN * 6, GOOD_ZH, BAD_EN, "", GOOD_ZH * 5, CODE, "ok " * 30]


def _scores(op, texts):
    t = run_operator(op, make_table(texts), batch_size=64).kept
    return {c: t.column(c).to_pylist() for c in ("quality_score", "domain", "domain_score")}


def test_quality_and_domain_share_one_encoder_pass(models):
    """Both tiny models are heads on the same frozen encoder: one encoder pass per batch serves both,
    with the same scores as one pass per model."""
    from classifiers.bert.predict import encoder_fingerprint
    from operators.score import Scorer

    assert encoder_fingerprint(models["quality_model"]) == encoder_fingerprint(models["domain_model"])
    kw = {"quality_model": models["quality_model"], "domain_model": models["domain_model"], "precision": "fp32",
          "batch_size": 4}
    shared, apart = Scorer(**kw), Scorer(**kw, share_encoder="never")
    shared.setup()
    apart.setup()
    assert shared._models["quality"][0] is shared._models["domain"][0]
    assert apart._models["quality"][0] is not apart._models["domain"][0]
    calls = []
    for op in (shared, apart):
        for pred in {id(p): p for p, _ in op._models.values()}.values():
            embed = pred.model.embed
            pred.model.embed = lambda *a, _e=embed, **k: calls.append(1) or _e(*a, **k)
    try:
        calls.clear()
        a = _scores(shared, MIXED)
        shared_passes = len(calls)
        calls.clear()
        b = _scores(apart, MIXED)
        apart_passes = len(calls)
    finally:
        for op in (shared, apart):
            for pred, _ in op._models.values():
                pred.model.__dict__.pop("embed", None)
    assert shared_passes == 3 and apart_passes == 6  # 10 documents, batches of 4
    np.testing.assert_allclose(a["quality_score"], b["quality_score"], atol=1e-5)
    np.testing.assert_allclose(a["domain_score"], b["domain_score"], atol=1e-5)
    assert a["domain"] == b["domain"]


def test_different_encoders_never_share_a_pass(models, tmp_path_factory):
    from classifiers.bert.predict import encoder_fingerprint
    from operators.score import Scorer

    other = str(tiny_bert("domain", tmp_path_factory.mktemp("other-enc"), truncation="head_tail"))
    assert encoder_fingerprint(other) != encoder_fingerprint(models["quality_model"])
    op = Scorer(quality_model=models["quality_model"], domain_model=other)
    op.setup()
    assert op._models["quality"][0] is not op._models["domain"][0]
    with pytest.raises(ValueError, match="do not share an encoder"):
        Scorer(quality_model=models["quality_model"], domain_model=other, share_encoder="always").setup()


def test_models_load_once_per_worker_across_tasks_and_batches(models):
    """Spark ships a pickled operator to every task; the worker's module cache makes the second and
    later tasks (and every batch) reuse the loaded model."""
    import pickle

    from classifiers.bert import predict
    from operators.score import Scorer

    predict._CACHE.clear()
    before = dict(predict.LOADS)
    op = Scorer(quality_model=models["quality_model"], domain_model=models["domain_model"], batch_size=2)
    blob = pickle.dumps(op)
    assert b"model.safetensors" not in blob and len(blob) < 20_000  # no weights travel with the task
    for _task in range(3):  # three tasks, each a fresh copy of the operator, each with several batches
        res = run_operator(pickle.loads(blob), make_table(TEXTS), batch_size=2)
        assert res.kept.column("quality_score").null_count == 0
    loads = {k: predict.LOADS[k] - before.get(k, 0) for k in predict.LOADS}
    from pathlib import Path

    for p in (models["quality_model"], models["domain_model"]):
        assert loads[str(Path(p).resolve())] == 1, loads


def test_length_buckets_cut_padding_and_keep_input_order(models, monkeypatch):
    from classifiers.bert import predict

    pred = predict.load_predictor(models["quality_model"], "cpu", "fp32", extra_heads=[models["domain_model"]])
    cells = []
    real_pad = predict.pad_rows
    monkeypatch.setattr(predict, "pad_rows", lambda rows, pad: cells.append(len(rows) * max(map(len, rows)))
                        or real_pad(rows, pad))
    bucketed = pred.predict_heads(MIXED, batch_size=3, bucket_by_length=True)
    padded_bucketed = sum(cells)
    cells.clear()
    plain = pred.predict_heads(MIXED, batch_size=3, bucket_by_length=False)
    assert padded_bucketed < sum(cells)
    for key in bucketed:
        np.testing.assert_allclose(bucketed[key], plain[key], atol=1e-5)
    # order restored: a permuted input gives the permuted scores
    perm = [3, 0, 9, 1, 7, 2, 8, 4, 6, 5]
    shuffled = pred.predict_heads([MIXED[i] for i in perm], batch_size=3)
    for key in bucketed:
        np.testing.assert_allclose(shuffled[key], bucketed[key][perm], atol=1e-5)


def _test_slice(n: int = 80):
    import random

    from classifiers.data import load_labelled, task_rows

    rows = [r for r in task_rows(load_labelled(), "quality") if r["split"] == "test"]
    return random.Random(0).sample(rows, n)


@pytest.mark.parametrize("precision,tolerance", [("int8", 0.01), ("bf16", 0.01)])
def test_cheaper_precisions_keep_the_auc(models, precision, tolerance):
    """int8 (the CPU path) and bf16 (the GPU path, here run on CPU: the same weight-cast code) rank
    a slice of the labelled test split like fp32: AUC within 0.01 (bench/bench_score.py: the full split)."""
    import torch

    from classifiers.bert.predict import BertPredictor
    from classifiers.metrics import evaluate

    rows = _test_slice()
    texts = [r["text"] for r in rows]
    ref = BertPredictor(models["quality_model"], "cpu", "fp32").predict(texts)
    cheap = BertPredictor(models["quality_model"], "cpu", precision, extra_heads=[models["domain_model"]])
    if precision == "int8":
        assert "quantized" in type(cheap.model.bert.encoder.layer[0].intermediate.dense).__module__
    else:
        assert next(cheap.model.bert.parameters()).dtype == torch.bfloat16
    got = cheap.predict(texts)
    auc_ref = evaluate("quality", rows, ref.tolist())["all"]["auc"]
    auc = evaluate("quality", rows, got.tolist())["all"]["auc"]
    assert auc_ref > 0.7  # the tiny model separates the slice at all
    assert abs(auc - auc_ref) <= tolerance, (auc, auc_ref)
    assert np.corrcoef(ref, got)[0, 1] > 0.95


def test_precision_and_share_params_are_checked():
    from operators.score import Scorer

    with pytest.raises(ValueError, match="precision"):
        Scorer(precision="int4")
    with pytest.raises(ValueError, match="CPU only"):
        Scorer(precision="int8", device="cuda")
    with pytest.raises(ValueError, match="share_encoder"):
        Scorer(share_encoder="sometimes")
    from classifiers.bert.predict import pick_precision

    assert pick_precision("auto", "cpu") == "fp32" and pick_precision("auto", "cuda") == "fp32"
    assert pick_precision("bf16", "cuda") == "bf16"


# ------------------------------------------------------------------ code skips the prose models
def test_code_rows_skip_the_prose_models_and_pass_the_quality_gate(models):
    from contract import schema as S
    from operators.score import CODE_DOMAIN, DOMAIN_EXCLUDED, LOW_QUALITY, Scorer

    texts = [GOOD_EN, CODE, BAD_EN, CODE, GOOD_ZH]
    kinds = [S.KIND_PROSE, S.KIND_CODE, S.KIND_PROSE, S.KIND_CODE, None]  # null kind: prose
    batch = make_table(texts, **{S.KIND: kinds}).to_batches()[0]
    op = Scorer(**models, precision="fp32")
    op.setup()
    seen: list[str] = []
    pred = op._models["quality"][0]
    real = pred.predict_heads
    pred.predict_heads = lambda t, **kw: seen.extend(t) or real(t, **kw)
    try:
        out, metrics = op.score(batch)
    finally:
        del pred.predict_heads
    assert CODE not in seen and len(seen) == 3
    col = {c: out.column(c).to_pylist() for c in FIELDS_ALL}
    for i in (1, 3):
        assert col["quality_score"][i] is None and col["quality_score_fasttext"][i] is None
        assert col["domain"][i] == CODE_DOMAIN == "code" and col["domain_fasttext"][i] == "code"
        assert col["domain_score"][i] is None and col["domain_score_fasttext"][i] is None
    for i in (0, 2, 4):
        assert all(col[c][i] is not None for c in FIELDS_ALL)
    assert metrics == {"score/docs_scored": 3.0, "score/code_skipped": 2.0}
    # the gate: a null quality score is never below min_quality, so code is kept...
    gate = Scorer(min_quality=1.01)
    res = gate.process(out)
    assert res.kept.column("id").to_pylist() == ["doc-1", "doc-3"]
    assert set(res.rejected.column("reject_reason").to_pylist()) == {LOW_QUALITY}
    # ...and exclude_domains: [code] drops it
    res = Scorer(exclude_domains=["code"]).process(out)
    assert res.rejected.column("id").to_pylist() == ["doc-1", "doc-3"]
    assert set(res.rejected.column("reject_reason").to_pylist()) == {DOMAIN_EXCLUDED}
    # score_code=True runs the models on code too
    out2, m2 = Scorer(**models, precision="fp32", score_code=True).score(batch)
    assert out2.column("quality_score").null_count == 0 and m2["score/code_skipped"] == 0


FIELDS_ALL = ("quality_score", "domain", "domain_score", "quality_score_fasttext", "domain_fasttext",
              "domain_score_fasttext")
