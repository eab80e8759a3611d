"""The dedup stage on Spark (session fixture, local[2]): one scenario run checked from many angles,
a second run with other partition counts, and an incremental run against the first run's signatures.

Statistical slack: signatures are deterministic for a seed, so these tests are deterministic; the
probabilities below say how likely the asserted outcome would be under another permutation seed.
Defaults: 128 permutations, verification "exact", bands optimised for 0.8 - 0.1 = 0.7 -> 14 bands x
9 rows. A pair with Jaccard J becomes a candidate with probability 1 - (1 - J^9)^14: 0.995 at
J = 0.88, 0.984 at J = 0.86; once a candidate, the exact Jaccard decides (no slack). A pair well below
the threshold (J ~ 0.5) is never linked: it fails exact verification whatever the bands.

The scenario runs with ``max_bucket_size: 3`` and a group of four documents with identical shingles
(distinct exact hashes), so every band has one bucket of 4: capped (the member with the largest node
id is never linked) and reported, deterministically. The largest-cluster samples must be
PII-scrubbed, and the stage must never collect edges or per-node rows to the driver.
"""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import pytest

from operators.dedup import EXACT, NEAR, build_dedup
from operators.dedup.signer import node_ids

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

VOCAB = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "pe", "ra", "si", "tu", "vo", "ze")
         for b in ("bar", "cen", "dul", "fim", "gor", "hal", "jin", "kos", "lum", "mop",
                   "nex", "pli", "qua", "rit", "sol", "tam", "ups", "vex", "wim", "yal")]

ZH_BODY = (
    "春天的早晨，小镇的河边总是很安静。老人们沿着石板路慢慢散步，孩子们背着书包从桥上跑过，"
    "卖豆浆的小贩在路口支起了摊子，热气在清冷的空气里升起。河水不急不缓地流着，岸边的柳树刚刚抽出新芽，"
    "远处的山还笼罩在一层薄雾之中。镇上的图书馆八点开门，管理员会先把昨天归还的书一一放回书架，"
    "再给窗台上的花浇水。到了中午，阳光照进阅览室，常来看报的几位老先生已经坐在了靠窗的位置。"
    "下午三点左右，中学放学的铃声响起，街上一下子热闹起来，文具店和小吃店门口挤满了学生。"
    "傍晚时分，渔船陆续回到码头，人们在岸边挑选新鲜的鱼虾，讨价还价的声音此起彼伏。"
    "夜里，镇子重新安静下来，只有几家小店还亮着灯，偶尔传来几声狗叫和远处火车经过的声音。"
)
ZH_HEADER = "转载自本地生活网 作者：佚名 发布时间：2023年5月1日\n\n"
ZH_FOOTER = "\n\n本文版权归原作者所有，如有侵权请联系删除。欢迎关注我们的公众号。"


PARAMS = {"max_bucket_size": 3}
EMAIL = "john.doe@example.com"
TEMPLATE_IDS = [f"tpl-{k}" for k in range(4)]
# columns of per-edge / per-node frames: none of these may ever be collected to the driver
LARGE_COLUMNS = {"src", "dst", "a", "b", "node", "root", "m", "sig", "text", "bhash"}
FIRST_RUN_COLLECTS: list = []  # (columns, rows) of every collect the first run's stage made


def words(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(VOCAB) for _ in range(n)]


def scenario_docs() -> list[dict]:
    rng = random.Random(1234)
    docs = []

    def add(id_, text, source="web", quality=0.5, lang=None):
        docs.append({"id": id_, "text": text, "source": source, "quality_score": quality, "lang": lang})

    base = words(rng, 300)
    # identical documents (and one differing only in case/whitespace/punctuation)
    ident = f"Contact {EMAIL} for details. " + " ".join(base)  # PII: the cluster sample is scrubbed
    add("ident-a", ident, quality=0.4)
    add("ident-b", ident, quality=0.9)  # the keeper: highest quality
    add("ident-c", "  " + ident.upper() + " !", quality=0.1)
    # a pair just above the threshold: 4 substitutions in 300 words -> J ~ 0.87
    above = words(rng, 300)
    above2 = list(above)
    for pos in (40, 110, 180, 250):
        above2[pos] = "zzz" + above2[pos]
    add("above-a", " ".join(above), quality=0.3)
    add("above-b", " ".join(above2), quality=0.6)
    # a pair well below: every 10th word changed -> J ~ 0.4
    below = words(rng, 300)
    below2 = [("yy" + w) if i % 10 == 5 else w for i, w in enumerate(below)]
    add("below-a", " ".join(below))
    add("below-b", " ".join(below2))
    # a transitive chain: A~B (J 0.86), B~C (J 0.86), A vs C J 0.74 (< 0.8)
    chain = words(rng, 400)
    add("chain-a", " ".join(chain[0:300]), quality=0.2)
    add("chain-b", " ".join(chain[22:322]), quality=0.2)
    add("chain-c", " ".join(chain[44:344]), quality=0.8)
    # a Chinese repost with a different header and footer
    add("zh-orig", ZH_BODY, source="news", lang="zh", quality=0.7)
    add("zh-repost", ZH_HEADER + ZH_BODY + ZH_FOOTER, source="forum", lang="zh", quality=0.2)
    # too short to shingle: kept and flagged (exact duplicates of it are still removed)
    add("short-a", "just four words here")
    add("short-b", "Just four words here.")
    add("short-u", "unique short")
    # an oversized bucket: identical shingles ("x-y" shingles as "x y"), distinct exact hashes
    tpl = words(rng, 60)
    for k, id_ in enumerate(TEMPLATE_IDS):
        t = list(tpl)
        t[10 + 5 * k: 12 + 5 * k] = [t[10 + 5 * k] + "-" + t[11 + 5 * k]]
        add(id_, " ".join(t), source="tpl")
    for i in range(12):  # unrelated documents
        add(f"solo-{i:02d}", " ".join(words(rng, 120)), source=f"src{i % 3}")
    return docs


def make_df(spark, docs, partitions):
    from pyspark.sql import functions as F

    schema = "id string, text string, source string, quality_score float, lang string"
    rows = [(d["id"], d["text"], d["source"], d["quality_score"], d["lang"]) for d in docs]
    return spark.createDataFrame(rows, schema).withColumn("meta", F.lit("{}")).repartition(partitions)


def run_stage(spark, df, out_dir, collects=None, **params):
    """Runs the stage (``PARAMS`` + ``params``); ``collects`` receives (columns, rows) of every
    DataFrame the stage itself collects to the driver."""
    ctx = SimpleNamespace(spark=spark, out_dir=out_dir, seed=42, log=lambda m: None)
    cls = type(df)
    real_collect = cls.collect

    def recording_collect(self):
        rows = real_collect(self)
        if collects is not None:
            collects.append((tuple(self.columns), len(rows)))
        return rows

    def refuse(self, *a, **k):
        raise AssertionError("the dedup stage must not pull a DataFrame to the driver this way")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cls, "collect", recording_collect)
        mp.setattr(cls, "toPandas", refuse)
        mp.setattr(cls, "toLocalIterator", refuse)
        res = build_dedup(**{**PARAMS, **params}).run(df, ctx)
    kept = {r["id"]: r.asDict() for r in res.kept.collect()}
    rej = {r["id"]: r.asDict() for r in res.rejected.collect()}
    return kept, rej, res.metrics


@pytest.fixture(scope="module")
def first_run(spark, tmp_path_factory):
    out = tmp_path_factory.mktemp("dedup1")
    docs = scenario_docs()
    FIRST_RUN_COLLECTS.clear()
    kept, rej, metrics = run_stage(spark, make_df(spark, docs, 1), out, collects=FIRST_RUN_COLLECTS)
    return docs, kept, rej, metrics, out


def dup_of(row):
    return json.loads(row["reject_detail"])["dup_of"]


def test_conservation_and_columns(first_run):
    docs, kept, rej, metrics, _ = first_run
    assert set(kept) | set(rej) == {d["id"] for d in docs} and not set(kept) & set(rej)
    some = next(iter(kept.values()))
    assert {"dup_cluster", "dup_cluster_size", "minhash_flag", "meta", "quality_score"} <= set(some)
    assert metrics["dedup/docs_in"] == len(docs)
    assert metrics["dedup/exact_duplicates"] + metrics["dedup/near_duplicates"] == len(rej)


def test_identical_documents_cluster_and_best_quality_kept(first_run):
    _, kept, rej, _, _ = first_run
    assert "ident-b" in kept and kept["ident-b"]["dup_cluster_size"] == 3
    for i in ("ident-a", "ident-c"):
        assert rej[i]["reject_reason"] == EXACT and dup_of(rej[i]) == "ident-b"
        assert json.loads(rej[i]["reject_detail"])["cluster_size"] == 3


def test_pair_above_threshold_caught_and_below_not(first_run):
    _, kept, rej, _, _ = first_run
    assert rej["above-a"]["reject_reason"] == NEAR and dup_of(rej["above-a"]) == "above-b"
    assert "below-a" in kept and "below-b" in kept
    assert kept["below-a"]["dup_cluster_size"] == 1


def test_transitive_chain_is_one_cluster(first_run):
    _, kept, rej, _, _ = first_run
    assert "chain-c" in kept and kept["chain-c"]["dup_cluster_size"] == 3  # highest quality
    assert dup_of(rej["chain-a"]) == dup_of(rej["chain-b"]) == "chain-c"


def test_chinese_repost_with_header_and_footer_caught(first_run):
    _, kept, rej, metrics, _ = first_run
    assert "zh-orig" in kept
    assert rej["zh-repost"]["reject_reason"] == NEAR and dup_of(rej["zh-repost"]) == "zh-orig"
    assert metrics["dedup/removed/near/forum"] >= 1


def test_too_short_kept_flagged_and_exact_dups_removed(first_run):
    _, kept, rej, metrics, _ = first_run
    assert kept["short-u"]["minhash_flag"] == "too_short"
    assert len({"short-a", "short-b"} & set(kept)) == 1 and len({"short-a", "short-b"} & set(rej)) == 1
    assert metrics["dedup/too_short"] == 3


def test_stats_histogram_and_largest_clusters(first_run):
    _, _, _, metrics, _ = first_run
    assert metrics["dedup/cluster_size_hist/3-4"] == 3  # ident, chain, template (capped at 3)
    assert metrics["dedup/cluster_size_hist/2"] == 3  # above, zh, short exact pair
    assert metrics["dedup/clusters"] == 6
    largest = {metrics[f"dedup/largest/{i:02d}/kept_id"]: i for i in range(1, 4)}
    assert set(largest) == {"ident-b", "chain-c", TEMPLATE_SURVIVOR()}
    assert all(metrics[f"dedup/largest/{i:02d}/size"] == 3 for i in largest.values())
    assert metrics["dedup/largest/04/size"] == 2
    sample = metrics[f"dedup/largest/{largest['ident-b']:02d}/sample"]
    assert sample.startswith("Contact ") and EMAIL not in sample and "<EMAIL>" in sample  # PII-scrubbed
    # a small graph is labelled in one task (union-find), without large-star / small-star rounds
    assert metrics["dedup/components_local"] == 1 and metrics["dedup/cc_rounds"] == 0
    assert metrics["dedup/graph_edges"] >= 7


def TEMPLATE_SURVIVOR():
    """The template group's members by node id: the last one is cut off by the bucket cap; the others
    are tied on quality and length, so the content hash decides among them."""
    import hashlib

    by_node = [i for _, i in sorted(zip(node_ids(TEMPLATE_IDS).tolist(), TEMPLATE_IDS))]
    docs = {d["id"]: d["text"] for d in scenario_docs()}
    return min(by_node[:3], key=lambda i: (hashlib.sha1(docs[i].encode()).hexdigest()[:16], i))


def test_oversized_bucket_capped_and_reported(first_run):
    _, kept, rej, metrics, _ = first_run
    bands = metrics["dedup/bands"]
    by_node = [i for _, i in sorted(zip(node_ids(TEMPLATE_IDS).tolist(), TEMPLATE_IDS))]
    cut = by_node[-1]  # the 4th member of every bucket, by node id: never linked
    assert cut in kept and kept[cut]["dup_cluster_size"] == 1
    survivor = TEMPLATE_SURVIVOR()
    assert survivor in kept and kept[survivor]["dup_cluster_size"] == 3
    for i in by_node[:3]:
        if i != survivor:
            assert rej[i]["reject_reason"] == NEAR and dup_of(rej[i]) == survivor
    assert metrics["dedup/oversized_buckets"] == bands  # one 4-member bucket per band
    assert metrics["dedup/oversized_bucket_members_unlinked"] == bands
    assert metrics["dedup/largest_bucket"] == 4


def test_nothing_large_collected_to_the_driver(first_run):
    """Only aggregates reach the driver: no edge, node, bucket, signature or text frame is collected."""
    assert FIRST_RUN_COLLECTS, "the recording collect saw nothing"
    for columns, _ in FIRST_RUN_COLLECTS:
        assert not set(columns) & LARGE_COLUMNS, columns


def test_keeper_deterministic_across_partition_counts(spark, first_run, tmp_path):
    """Other partition counts, and the distributed connected components (large-star / small-star rounds,
    forced by ``local_components_max_edges: 0``) instead of the one-task union-find: same survivors."""
    docs, kept1, rej1, _, _ = first_run
    old = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "7")
    try:
        kept2, rej2, metrics2 = run_stage(spark, make_df(spark, list(reversed(docs)), 5), tmp_path,
                                          local_components_max_edges=0, broadcast_max_rows=0)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", old)
    assert metrics2["dedup/components_local"] == 0 and metrics2["dedup/cc_rounds"] >= 1
    assert set(kept2) == set(kept1)
    assert {k: (v["reject_reason"], v["reject_detail"]) for k, v in rej2.items()} == \
        {k: (v["reject_reason"], v["reject_detail"]) for k, v in rej1.items()}
    assert {k: v["dup_cluster"] for k, v in kept2.items()} == {k: v["dup_cluster"] for k, v in kept1.items()}


def test_incremental_against_saved_signatures(spark, first_run, tmp_path):
    docs, kept1, _, _, out1 = first_run
    sig_dir = out1 / "signatures"
    assert (sig_dir / "_dedup_signatures.json").exists()
    old = {d["id"]: d for d in docs}
    new = [
        {**old["above-b"], "id": "new-copy", "quality_score": 1.0},  # exact copy of a kept doc
        {**old["zh-orig"], "id": "new-zh", "text": "【原创】" + ZH_BODY + "责任编辑：小王"},  # near copy
        {**old["solo-00"], "id": "new-solo", "text": " ".join(words(random.Random(99), 150))},
    ]
    kept, rej, metrics = run_stage(spark, make_df(spark, new, 2), tmp_path, reference_signatures=str(sig_dir))
    assert set(kept) == {"new-solo"}
    assert rej["new-copy"]["reject_reason"] == EXACT and dup_of(rej["new-copy"]) == "above-b"
    assert rej["new-zh"]["reject_reason"] == NEAR and dup_of(rej["new-zh"]) == "zh-orig"
    assert metrics["dedup/reference_docs"] == len(kept1)
    with pytest.raises(ValueError, match="other settings"):
        run_stage(spark, make_df(spark, new, 1), tmp_path / "x", reference_signatures=str(sig_dir), ngram=4)
