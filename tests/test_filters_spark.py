"""The normalize -> langid -> filter chain through Spark mapInArrow gives the local executor's rows."""

import pyarrow as pa

from contract import schema as S
from contract.operator import Chain
from operators.filters import build_filters
from operators.langid import LangID
from operators.normalize import Normalizer
from pipeline.execute import apply_batches, output_schema
from pipeline.local import make_table, run_operator
from tests.filter_docs import EN_CLEAN, EN_SENTENCES, FR_CLEAN, MIXED_TECH, ZH_CLEAN, ZH_SENTENCES, ZH_SPAM


def docs():
    texts = [EN_CLEAN, ZH_CLEAN, ZH_SPAM, MIXED_TECH, FR_CLEAN, "相关推荐", " ".join(EN_SENTENCES[:4]),
             "\n".join(f"{i}. {s}" for i, s in enumerate(ZH_SENTENCES)), EN_CLEAN + " #tag" * 30,
             "转载自：新华网\n" + ZH_CLEAN + "\n点击关注", "The cafÃ© is open." + EN_CLEAN]
    return make_table(texts * 3).set_column(0, S.ID, pa.array([f"d{i:03d}" for i in range(len(texts) * 3)]))


def test_spark_map_in_arrow_equals_local(spark):
    from pyspark.sql.pandas.types import from_arrow_schema

    table = docs()
    op = Chain([Normalizer(), LangID(), build_filters("mixed")])
    local = run_operator(op, table, stage="filter", batch_size=7)

    out_schema = output_schema(op, table.schema)
    df = spark.createDataFrame(table.to_pandas(), schema=from_arrow_schema(table.schema)).repartition(3)
    out = df.mapInArrow(lambda it: apply_batches(op, it, out_schema, "filter"), from_arrow_schema(out_schema))
    got = out.toArrow()

    cols = [S.ID, S.TEXT, "lang", S.REJECT_REASON, S.REJECT_DETAIL]
    spark_rows = sorted(got.select(cols).to_pylist(), key=lambda r: r[S.ID])
    local_all = pa.concat_tables([
        local.kept.append_column(S.REJECT_REASON, pa.nulls(local.kept.num_rows, pa.string()))
        .append_column(S.REJECT_DETAIL, pa.nulls(local.kept.num_rows, pa.string())).select(cols),
        local.rejected.select(cols),
    ])
    local_rows = sorted(local_all.to_pylist(), key=lambda r: r[S.ID])
    assert spark_rows == local_rows
    reasons = {r[S.REJECT_REASON] for r in local_rows}
    # (the mixed preset no longer applies C4's >= 5 sentences rule: FineWeb's choice, docs/filters.md)
    assert {"blacklist_hits", "lang_not_kept", "normalize_empty", "gopher_too_many_hashes"} <= reasons
    # metrics ride along in the _metrics column and sum to the local figures
    spark_metrics: dict[str, float] = {}
    for entry in got.column(S.METRICS).to_pylist():
        for k, v in entry or []:
            spark_metrics[k] = spark_metrics.get(k, 0.0) + v
    for key in ("removed_lines/zh_repost", "removed_lines/zh_widget", "docs_checked/zh_quality"):
        assert spark_metrics[key] == local.metrics[key]
