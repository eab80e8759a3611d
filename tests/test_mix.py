"""The mix stage: token-weighted shares, quality-aware downsampling, upsampling, determinism."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pytest

from contract.errors import ConfigError
from operators.mix import BUDGET, NO_GROUP, MixStage, normalize_groups, parse_count
from tests.mix_fixtures import GROUPS, SCHEMA, Ctx, make_df, make_docs, train_small_tokenizer

DOCS = make_docs(1200, 1200, 600, seed=3)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return train_small_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer", DOCS)


def run_mix(spark, tmp_path, docs=DOCS, partitions=4, schema=SCHEMA, **params):
    params = {"groups": GROUPS, **params}
    out = tmp_path / f"mix-{partitions}-{len(tmp_path.name)}"
    out.mkdir(parents=True, exist_ok=True)
    ctx = Ctx(spark, out)
    res = MixStage(**params).run(make_df(spark, docs, partitions, schema), ctx)
    kept = {r["id"]: r.asDict() for r in res.kept.select("id", "mix_group", "repeat", "n_tokens",
                                                         "quality_score").collect()}
    rejected = {r["id"]: r.asDict() for r in res.rejected.select(
        "id", "mix_group", "repeat", "n_tokens", "quality_score", "reject_reason", "reject_detail").collect()}
    report = json.loads((out / "mix.json").read_text())
    return kept, rejected, report, res.metrics, ctx


# -- pure planning ---------------------------------------------------------------------------------
def test_parse_count_and_groups():
    assert parse_count("2M") == 2_000_000 and parse_count("1.5k") == 1500 and parse_count(3e6) == 3_000_000
    assert parse_count(None) is None
    g = normalize_groups({"zh": 4, "en": {"weight": 4}, "code": {"where": "domain=code", "weight": 2}})
    assert [x["where"] for x in g] == ["lang=zh", "lang=en", "domain=code"]
    for bad in ([], [{"name": "a", "weight": 0}], [{"name": "a", "weight": 1}, {"name": "a", "weight": 1}],
                [{"name": "a", "weight": 1, "wieght": 2}]):
        with pytest.raises(ValueError):
            normalize_groups(bad)
    with pytest.raises(ValueError):
        MixStage(groups=GROUPS, select="best")
    with pytest.raises(ValueError):
        MixStage(groups=GROUPS, max_repeats=0)


def test_where_outside_the_mini_language_needs_the_sql_prefix():
    """No silent fallback to Spark SQL: the stage refuses the group when it is built (before any job)."""
    for where in ("source like 'code_%'", "lang = 'en' AND length(text) > 200", "source=common crawl", "sql:"):
        with pytest.raises(ConfigError, match=r"group 'code'.*where") as err:
            MixStage(groups=[{"name": "code", "where": where, "weight": 1}])
        assert repr(where) in str(err.value)
    st = MixStage(groups=[{"name": "code", "where": "sql: source like 'code_%'", "weight": 1},
                          {"name": "zh", "where": "lang in (zh, zh-Hant) and domain != code", "weight": 1}])
    assert [g["where"] for g in st.groups] == ["sql: source like 'code_%'", "lang in (zh, zh-Hant) and domain != code"]


def test_plan_targets_short_groups_and_repeats():
    st = MixStage(groups=[{"name": "a", "weight": 1}, {"name": "b", "weight": 1}], budget_tokens=1000,
                  max_repeats=2)
    p = st.plan({"a": 2000, "b": 200})  # b wants 500 but has 200 (x2 = 400): short
    assert p["short"] == {"b": pytest.approx(100)}
    assert p["targets"] == {"a": pytest.approx(400), "b": pytest.approx(400)}  # shrink keeps shares
    assert p["effective_budget_tokens"] == 800
    keep = MixStage(groups=st.groups, budget_tokens=1000, max_repeats=2, on_short="keep").plan({"a": 2000, "b": 200})
    assert keep["targets"] == {"a": pytest.approx(500), "b": pytest.approx(400)}
    with pytest.raises(ValueError, match="cannot reach"):
        MixStage(groups=st.groups, budget_tokens=1000, max_repeats=2, on_short="error").plan({"a": 2000, "b": 200})
    # no budget: the largest mixture without repeats
    assert MixStage(groups=st.groups).plan({"a": 2000, "b": 200})["targets"] == {"a": 200, "b": 200}
    assert MixStage.repeats_for(2500, 1000, 4) == (2, 500)
    assert MixStage.repeats_for(9000, 1000, 4) == (4, 0.0)
    assert MixStage.repeats_for(300, 1000, 4) == (0, 300)


# -- Spark ---------------------------------------------------------------------------------------
def test_token_shares_within_one_percent_and_budget_rejects(spark, tmp_path, tokenizer):
    budget = 300_000
    kept, rejected, report, metrics, _ = run_mix(spark, tmp_path, budget_tokens=budget, tokenizer=str(tokenizer))
    assert len(kept) + len(rejected) == len(DOCS)
    assert report["recipe"]["token_counts"] == "tokenizer"
    total = sum(d["n_tokens"] * d["repeat"] for d in kept.values())
    assert abs(total - budget) / budget < 0.01
    by_group: dict[str, int] = {}
    for d in kept.values():
        by_group[d["mix_group"]] = by_group.get(d["mix_group"], 0) + d["n_tokens"] * d["repeat"]
    for g in GROUPS:
        share = by_group[g["name"]] / total
        target = g["weight"] / 10
        assert abs(share - target) < 0.01, (g["name"], share, target)
        assert report["groups"][g["name"]]["share_achieved"] == pytest.approx(share)
        assert metrics[f"share_target/{g['name']}"] == pytest.approx(target)
    # exact counts: n_tokens is the tokenizer's count + EOS
    from operators.tokenize.tokenizer import load_tokenizer

    tok = load_tokenizer(tokenizer).backend
    some = sorted(kept)[:20]
    text = {d["id"]: d["text"] for d in DOCS}
    for i in some:
        assert kept[i]["n_tokens"] == len(tok.encode(text[i], add_special_tokens=False).ids) + 1
    # downsampling only here: budget rejects, with a detail, and top-k by quality inside each group
    assert {r["reject_reason"] for r in rejected.values()} == {BUDGET}
    assert all(r["reject_detail"].startswith(f"group={r['mix_group']} rank=") for r in rejected.values())
    assert set(report["repeat_hist"]) == {"1"}
    for g in ("zh", "en"):
        q_kept = sorted(d["quality_score"] for d in kept.values() if d["mix_group"] == g)
        q_rej = sorted(d["quality_score"] for d in rejected.values() if d["mix_group"] == g)
        assert q_rej and q_kept[0] >= q_rej[-1] - 1e-9  # every kept doc scores at least every rejected


def test_determinism_across_runs_and_partitions(spark, tmp_path):
    a = run_mix(spark, tmp_path / "a", partitions=2, budget_tokens=250_000, select="weighted")
    b = run_mix(spark, tmp_path / "b", partitions=7, budget_tokens=250_000, select="weighted")
    assert {i: d["repeat"] for i, d in a[0].items()} == {i: d["repeat"] for i, d in b[0].items()}
    assert set(a[1]) == set(b[1])
    assert a[2]["groups"] == b[2]["groups"]
    # chars-per-token estimates when no tokenizer is given
    assert a[2]["recipe"]["token_counts"] == "chars_per_token"
    # weighted sampling is not top-k: some lower-quality documents make it in
    q_kept = min(d["quality_score"] for d in a[0].values() if d["mix_group"] == "zh")
    q_rej = max(d["quality_score"] for d in a[1].values() if d["mix_group"] == "zh")
    assert q_kept < q_rej


def test_upsampling_max_repeats_and_short_group_report(spark, tmp_path, tokenizer):
    # code has ~1/8 of zh's tokens: a 1:1:1 mix of 3x zh's tokens needs code repeated ~8x
    groups = [dict(g, weight=1) for g in GROUPS]
    from operators.tokenize.tokenizer import load_tokenizer

    enc = load_tokenizer(tokenizer).backend.encode_batch([d["text"] for d in DOCS if d["lang"] == "zh"],
                                                         add_special_tokens=False)
    budget = 3 * sum(len(e.ids) + 1 for e in enc)
    kept, rejected, report, metrics, ctx = run_mix(spark, tmp_path / "up", groups=groups, budget_tokens=budget,
                                                   max_repeats=3, tokenizer=str(tokenizer))
    assert report["short_groups"] == ["code"]  # code x3 < budget/3; en too? en has ~2x code
    assert metrics["short/code"] == 1.0 and metrics["shortfall_tokens/code"] > 0
    assert any("group 'code' is short" in m for m in ctx.logs)
    assert max(d["repeat"] for d in kept.values()) == 3
    assert all(d["repeat"] == 3 for d in kept.values() if d["mix_group"] == "code")
    hist = report["repeat_hist"]
    assert hist["3"] >= 600 and sum(hist.values()) == len(kept)
    # shrink (default): the budget shrinks so that every share still holds
    total = sum(d["n_tokens"] * d["repeat"] for d in kept.values())
    assert report["effective_budget_tokens"] < budget
    for g in ("code", "zh", "en"):
        got = sum(d["n_tokens"] * d["repeat"] for d in kept.values() if d["mix_group"] == g) / total
        assert abs(got - 1 / 3) < 0.01, (g, got)
    # keep: the other groups keep their targets, code stays short (reported, never silent)
    kept2, _, report2, _, _ = run_mix(spark, tmp_path / "keep", groups=groups, budget_tokens=budget,
                                      max_repeats=3, tokenizer=str(tokenizer), on_short="keep")
    assert report2["short_groups"] == ["code"] and report2["groups"]["code"]["share_achieved"] < 0.3
    assert report2["groups"]["zh"]["tokens_achieved"] == pytest.approx(budget / 3, rel=0.01)
    with pytest.raises(ValueError, match="cannot reach"):
        run_mix(spark, tmp_path / "err", groups=groups, budget_tokens=budget, max_repeats=3,
                tokenizer=str(tokenizer), on_short="error")


def test_no_group_rejects_and_sql_where(spark, tmp_path):
    groups = [{"name": "zh", "where": "sql: lang = 'zh' AND length(text) > 100", "weight": 1},
              {"name": "code", "where": "domain in (code)", "weight": 1}]
    docs = DOCS[:600]
    kept, rejected, report, _, _ = run_mix(spark, tmp_path, docs=docs, groups=groups)
    reasons = {}
    for r in rejected.values():
        reasons[r["reject_reason"]] = reasons.get(r["reject_reason"], 0) + 1
    n_en = sum(1 for d in docs if d["domain"] != "code" and d["lang"] == "en")
    n_short_zh = sum(1 for d in docs if d["lang"] == "zh" and len(d["text"]) <= 100)
    assert reasons[NO_GROUP] == n_en + n_short_zh
    assert len(kept) + len(rejected) == len(docs)
    assert {d["mix_group"] for d in kept.values()} == {"zh", "code"}
    with pytest.raises(ValueError, match="no column"):
        run_mix(spark, tmp_path / "bad", docs=docs, groups=[{"name": "x", "where": "flavour=sweet", "weight": 1}])


def test_where_patterns_select_code_by_lang_and_kind(spark, tmp_path):
    """``lang=code:*`` takes every code language, ``kind=code`` every code document; a code language
    without its own chars_per_token entry is counted with the ``code`` one."""
    from operators.mix import like_pattern

    assert like_pattern("code:*") == "code:%" and like_pattern("a_b?") == "a\\_b_" and like_pattern("en") is None
    docs = []
    for d in DOCS[:400]:
        d = dict(d)
        if d["domain"] == "code":
            d["lang"] = "code:c" if int(d["id"][-1]) % 2 else "code:python"
        d["kind"] = "code" if d["domain"] == "code" else "prose"
        docs.append(d)
    groups = [{"name": "c", "where": "lang in (code:c, code:go*)", "weight": 1},
              {"name": "code", "where": "lang=code:*", "weight": 1},
              {"name": "prose", "where": "kind!=code", "weight": 2}]
    kept, rejected, report, _, _ = run_mix(spark, tmp_path, docs=docs, groups=groups,
                                           schema=SCHEMA.append(pa.field("kind", pa.string())))
    group_of = {**{i: r["mix_group"] for i, r in kept.items()}, **{i: r["mix_group"] for i, r in rejected.items()}}
    for d in docs:
        want = {"code:c": "c", "code:python": "code"}.get(d["lang"], "prose")
        assert group_of[d["id"]] == want, d["id"]
    py = next(d for d in docs if d["lang"] == "code:python")
    r = kept.get(py["id"]) or rejected[py["id"]]
    assert r["n_tokens"] == math.ceil(len(py["text"]) / 3.6) + 1
    assert {g: report["groups"][g]["docs_in"] for g in ("c", "code")} == {
        "c": sum(d["lang"] == "code:c" for d in docs), "code": sum(d["lang"] == "code:python" for d in docs)}
