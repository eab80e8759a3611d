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
