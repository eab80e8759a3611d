"""Benchmark decontamination (operators/decontaminate, docs/decontaminate.md).

Items of the held-out sets of data/benchmarks (real text that is not in data/sample) are planted into
real sample documents verbatim and in disguise (re-wrapped, full-width, Traditional characters, inside
long pages, choices reordered); the sample itself must not match; short items, cut mode, the file
formats, the parameters and one run through the real pipeline with its report section."""

from __future__ import annotations

import gzip
import json
import pickle
import random
import re
from pathlib import Path

import numpy as np
import pytest

from contract import schema as S
from contract.errors import ConfigError
from operators.decontaminate import Decontaminate
from operators.decontaminate.index import read_records
from operators.decontaminate.text import normalize_text, token_count, tokenize
from pipeline.local import make_table, run_operator
from pipeline.registry import build_stage

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "data" / "benchmarks"
MCQ = {"id": "id", "question": "question", "choices": "choices", "answer": "answer"}
CODE = {"id": "task_id", "question": "prompt", "answer": "canonical_solution"}
HELDOUT = [
    {"name": "heldout_en", "path": str(BENCH / "heldout_en.jsonl.gz"), "kind": "en", **MCQ},
    {"name": "heldout_zh", "path": str(BENCH / "heldout_zh.jsonl.gz"), "kind": "zh", **MCQ},
    {"name": "heldout_code", "path": str(BENCH / "heldout_code.jsonl.gz"), "kind": "code", **CODE},
]
DEMO = [
    {"name": "demo_mcq_en", "path": str(BENCH / "demo_mcq_en.jsonl"), "kind": "en", **MCQ},
    {"name": "demo_qa_zh", "path": str(BENCH / "demo_qa_zh.csv"), "kind": "zh", "id": "id", "question": "question",
     "answer": "answer"},
    {"name": "demo_code", "path": str(BENCH / "demo_code.parquet"), "kind": "code", **CODE},
]


def _read_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def op():
    o = Decontaminate(benchmarks=HELDOUT + DEMO)
    o.setup()
    return o


@pytest.fixture(scope="module")
def items():
    """(benchmark, id, kind, record) of every held-out item."""
    out = []
    for b in HELDOUT:
        for r in _read_gz(Path(b["path"])):
            out.append((b["name"], r.get("id") or r.get("task_id"), b["kind"], r))
    return out


@pytest.fixture(scope="module")
def sample():
    docs = []
    for f in ("en", "zh", "code", "web_junk"):
        docs += _read_gz(ROOT / "data" / "sample" / f"{f}.jsonl.gz")
    return docs


# the sample documents the demo sets' planted items were made from (data/benchmarks/build.py)
PLANTED_FROM = {"en_wikipedia_vital_summaries:7520", "en_wikipedia_vital_summaries:1717",
                "zh_peoples_daily_199801:a262", "zh_peoples_daily_199801:a567", "code_python_stdlib:88"}


@pytest.fixture(scope="module")
def hosts(sample):
    """Clean prose hosts: sample documents of real sources with a few paragraphs."""
    return [d["text"] for d in sample if d["source"].startswith(("en_wikipedia", "en_debian", "zh_peoples", "zh_debian",
                                                                 "en_gnome", "zh_gnome"))
            and len(d["text"]) > 300 and d["id"] not in PLANTED_FROM]


def render(kind: str, r: dict, choices: list[str] | None = None, labels: str = "ABCD", answer: bool = True) -> str:
    if kind == "code":
        return r["prompt"] + r["canonical_solution"]
    choices = r["choices"] if choices is None else choices
    lines = [r["question"]] + [f"{lab}. {c}" for lab, c in zip(labels, choices)]
    return "\n".join(lines + ([f"Answer: {r['answer']}"] if answer else []))


def embed(host: str, text: str) -> str:
    cut = host.find("\n", len(host) // 2)
    cut = len(host) if cut < 0 else cut
    return host[:cut] + "\n\n" + text + "\n\n" + host[cut:].lstrip("\n")


def _run(op, texts: list[str]):
    return run_operator(op, make_table(texts), batch_size=256)


def caught(op, docs: list[str], expect: list[tuple[str, str]]) -> tuple[float, list[int]]:
    """Share of documents rejected as contaminated in which the planted (benchmark, item) is at or over
    the threshold (a document may hold a duplicate item too: the detail names one of them)."""
    res = _run(op, docs)
    rejected = set(res.rejected.column(S.ID).to_pylist())
    sc = op.score(tokenize(docs))
    idx = op.index
    found = {(int(d), idx.bench_names[idx.item_bench[i]], idx.item_ids[i])
             for d, i, o in zip(sc["doc"], sc["item"], sc["overlap"]) if o >= op.threshold}
    missed = [n for n, (b, it) in enumerate(expect) if f"doc-{n}" not in rejected or (n, b, it) not in found]
    return 1 - len(missed) / len(expect), missed


# -- normalisation ---------------------------------------------------------------------------------------

def test_normalisation_folds_width_case_and_script():
    assert normalize_text("ＡＢＣ　１２３，Ｈｅｌｌｏ") == "abc 123,hello"
    assert normalize_text("頭髮發財，乾隆") == normalize_text("头发发财，干隆")
    assert normalize_text("ﬁne") == "fine"
    # tokens: words, single CJK characters; whitespace, line breaks and punctuation only separate
    assert list(token_count(["Hello,  wide\nworld!", "中文ABC測試", "", "foo_bar(x=1)"])) == [3, 5, 0, 3]
    a, b = tokenize(["one two\n three", "ONE  two   three"]).hashes.reshape(2, 3)
    assert (a == b).all()


# -- the planted items ------------------------------------------------------------------------------------

def test_verbatim_items_are_all_caught(op, items, hosts):
    rng = random.Random(1)
    docs = [embed(rng.choice(hosts), render(k, r)) for _, _, k, r in items]
    share, missed = caught(op, docs, [(b, i) for b, i, _, _ in items])
    assert share == 1.0, [items[i][1] for i in missed[:10]]


def _rewrap(text: str, kind: str, rng: random.Random) -> str:
    if kind == "code":  # indentation lost, runs of spaces collapsed, some lines joined
        lines = [re.sub(r"\s+", " ", ln.strip()) for ln in text.splitlines() if ln.strip()]
        out = []
        for i, ln in enumerate(lines):
            if i % 3 == 1 and out:
                out[-1] += " " + ln
            else:
                out.append(ln)
        return "\n".join(out)
    if kind == "zh":  # a line break every 7-15 characters (numbers and Latin words too), some spaced out
        out, i = [], 0
        while i < len(text):
            n = rng.randint(7, 15)
            out.append(" ".join(text[i:i + n]) if rng.random() < 0.3 else text[i:i + n])
            i += n
        return "\n".join(out)
    words = text.split()
    out, i = [], 0
    while i < len(words):
        n = rng.randint(4, 11)
        out.append("  ".join(words[i:i + n]))
        i += n
    return "\n".join(out)


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text)


@pytest.mark.parametrize("disguise", ["rewrapped", "full_width", "embedded_in_long_page", "choices_reordered"])
def test_disguised_items_are_caught(op, items, hosts, disguise):
    rng = random.Random(2)
    docs, expect = [], []
    for b, it, kind, r in items:
        if disguise == "choices_reordered":
            if kind == "code":
                continue
            ch = list(r["choices"])
            rng.shuffle(ch)
            text = embed(rng.choice(hosts), render(kind, r, ch, labels="1234"))
        elif disguise == "rewrapped":
            text = embed(rng.choice(hosts), _rewrap(render(kind, r), kind, rng))
        elif disguise == "full_width":
            text = embed(rng.choice(hosts), _full_width(render(kind, r)))
        else:  # a long page: 12 sample documents around the item
            page = rng.sample(hosts, 16)
            text = "\n\n".join(page[:8] + [render(kind, r)] + page[8:])
            assert len(text) > 6000
        docs.append(text)
        expect.append((b, it))
    share, missed = caught(op, docs, expect)
    assert share >= 0.95, (share, [expect[i] for i in missed[:10]])


def test_traditional_and_simplified_meet(op, items, hosts, tmp_path):
    import opencc

    s2t = opencc.OpenCC("s2t")
    zh = [(b, i, k, r) for b, i, k, r in items if k == "zh"]
    rng = random.Random(3)
    # the benchmark in Simplified, the documents in Traditional characters
    docs = [embed(rng.choice(hosts), s2t.convert(render(k, r))) for _, _, k, r in zh]
    share, _ = caught(op, docs, [(b, i) for b, i, _, _ in zh])
    assert share >= 0.95
    # the benchmark in Traditional characters, the documents in Simplified
    trad = tmp_path / "trad.jsonl"
    trad.write_text("".join(json.dumps({**r, "question": s2t.convert(r["question"]),
                                        "choices": [s2t.convert(c) for c in r["choices"]]}, ensure_ascii=False) + "\n"
                            for _, _, _, r in zh), encoding="utf-8")
    op_t = Decontaminate(benchmarks=[{"name": "trad", "path": str(trad), "kind": "zh", **MCQ}])
    docs = [embed(rng.choice(hosts), render(k, r)) for _, _, k, r in zh]
    share, _ = caught(op_t, docs, [("trad", i) for _, i, _, _ in zh])
    assert share >= 0.95


def test_clean_sample_documents_are_not_flagged(op, sample):
    res = _run(op, [d["text"] for d in sample])
    details = res.rejected.column(S.REJECT_DETAIL).to_pylist()
    # the demo sets' planted items were made from sample documents: finding those is right
    wrong = [d for d in details if " item=planted" not in d]
    assert len(wrong) <= 0.001 * len(sample), wrong
    planted = [d for d in details if " item=planted" in d]
    assert {re.search(r"item=(\S+)", d).group(1) for d in planted} == {
        "planted-en-technetium", "planted-en-radish", "planted-zh-crane", "planted-zh-rice-traditional",
        "planted/copyreg_pickle"}
    score = res.kept.column("contamination_score").to_numpy()
    assert score.dtype == np.float32 and score.max() < 0.5


# -- short items ------------------------------------------------------------------------------------------

def test_items_shorter_than_n(tmp_path):
    recs = [
        {"id": "short-en", "question": "Which famous river flows through the old city of Vienna?"},  # 10 words
        {"id": "tiny-en", "question": "What is the capital of Peru?"},  # 6 words: below min_tokens
        {"id": "whole-en", "question": "Name the largest ocean on Earth?", "choices": ["Pacific", "Atlantic", "Indian"]},
    ]
    zh = [{"id": "short-zh", "question": "哪一种乐器被称为乐器之王？"},  # 12 characters
          {"id": "tiny-zh", "question": "谁发明了电话？"}]  # 6 characters: below min_tokens
    (tmp_path / "en.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (tmp_path / "zh.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in zh))
    op = Decontaminate(benchmarks=[
        {"name": "en", "path": str(tmp_path / "en.jsonl"), "id": "id", "question": "question", "choices": "choices"},
        {"name": "zh", "path": str(tmp_path / "zh.jsonl"), "kind": "zh", "id": "id", "question": "question"}])
    assert {b["name"]: b["items_indexed"] for b in op.params()["index"]["benchmarks"]} == {"en": 2, "zh": 1}
    docs = ["A travel guide. Which famous river flows\nthrough the old city of Vienna? The Danube, of course.",
            "Which famous river flows through the old city?",  # 8 of its 10 words: not the item
            "Quiz night. What is the capital of Peru? Lima.",  # under min_tokens: never matched alone
            "Quiz. Name the largest ocean on Earth?\nPacific\nAtlantic\nIndian\nThe answer: Pacific.",  # whole item
            "音乐小常识：哪一种乐器被称为乐器之王？答案是钢琴。",
            "历史问答：谁发明了电话？"]
    res = _run(op, docs)
    flagged = dict(zip(res.rejected.column(S.ID).to_pylist(), res.rejected.column(S.REJECT_DETAIL).to_pylist()))
    assert sorted(flagged) == ["doc-0", "doc-3", "doc-4"]
    assert "item=short-en overlap=1.000" in flagged["doc-0"] and "item=whole-en" in flagged["doc-3"]
    assert "benchmark=zh item=short-zh" in flagged["doc-4"]


# -- cut mode ---------------------------------------------------------------------------------------------

def test_cut_removes_the_item_and_keeps_the_rest(items, hosts):
    op = Decontaminate(benchmarks=HELDOUT, mode="cut", min_chars_after_cut=50)
    rng = random.Random(4)
    long_choices = [(b, i, k, r) for b, i, k, r in items if k != "code" and min(len(c) for c in r["choices"]) >= 40]
    picked = long_choices[:40]
    prefix = ["Financial ﬁgures … were released today.\n" + rng.choice(hosts)[:400].rstrip() for _ in picked]
    suffix = [rng.choice(hosts)[:400].strip() for _ in picked]
    docs = [p + "\n\n" + render(k, r, answer=False) + "\n\n" + s for p, s, (_, _, k, r) in zip(prefix, suffix, picked)]
    res = _run(op, docs)
    assert res.rejected.num_rows == 0
    assert res.kept.column(S.TEXT).to_pylist() == [p + "\n\n" + s for p, s in zip(prefix, suffix)]
    assert res.metrics["decontaminate/cut_chars"] == sum(len(d) for d in docs) - sum(
        len(p) + 2 + len(s) for p, s in zip(prefix, suffix))
    assert sum(v for k, v in res.metrics.items() if k.endswith("/docs_cut")) == len(picked)
    assert min(res.kept.column("contamination_score").to_pylist()) >= 0.5


def test_cut_mid_line_and_code_and_too_little_left(items):
    op = Decontaminate(benchmarks=HELDOUT, mode="cut", min_chars_after_cut=30)
    zh = next(r for _, _, k, r in items if k == "zh" and len(r["question"]) > 40)
    code = next(r for _, _, k, r in items if k == "code")
    keep_zh = "第一段文字保持不变，这里有一些无关的内容。"
    docs = [keep_zh + zh["question"] + "以上就是全部内容，第二段文字同样保持原样不变。",
            "# module header\nimport os\n\n" + code["prompt"] + code["canonical_solution"] + "\n\nprint(os.sep)\n",
            "题目：" + zh["question"]]
    res = _run(op, docs)
    kept = dict(zip(res.kept.column(S.ID).to_pylist(), res.kept.column(S.TEXT).to_pylist()))
    assert kept["doc-0"] == keep_zh + " 以上就是全部内容，第二段文字同样保持原样不变。"
    assert kept["doc-1"] == "# module header\nimport os\n\nprint(os.sep)\n"
    # a document that was nothing but the item: too little left, rejected
    assert res.rejected.column(S.ID).to_pylist() == ["doc-2"]
    assert "cut_left=" in res.rejected.column(S.REJECT_DETAIL)[0].as_py()


# -- decisions, metrics, files, parameters -------------------------------------------------------------------

def test_threshold_metrics_and_detail(items, hosts):
    b, it, kind, r = next(x for x in items if x[2] == "en" and len(x[3]["question"].split()) > 30)
    words = r["question"].split()
    half = " ".join(words[: len(words) // 2])  # half the question: some n-grams, under the threshold
    docs = [embed(hosts[0], render(kind, r)), embed(hosts[1], half), hosts[2]]
    op = Decontaminate(benchmarks=HELDOUT[:1], threshold=0.5)
    res = _run(op, docs)
    assert res.reasons() == ["contaminated"]
    assert re.fullmatch(rf"benchmark=heldout_en item={it} overlap=1\.000", res.rejected.column(S.REJECT_DETAIL)[0].as_py())
    m = res.metrics
    assert m["decontaminate/heldout_en/docs_flagged"] == m["decontaminate/heldout_en/docs_removed"] == 1
    assert m[f"decontaminate/heldout_en/item/{it}"] == 1 and m["decontaminate/heldout_en/docs_partial"] == 1
    scores = dict(zip(res.kept.column(S.ID).to_pylist(), res.kept.column("contamination_score").to_pylist()))
    assert 0 < scores["doc-1"] < 0.5 and scores["doc-2"] == 0.0
    assert Decontaminate(benchmarks=HELDOUT[:1], threshold=0.2).process(
        make_table(docs[1:2]).to_batches()[0]).rejected.num_rows == 1


def test_every_file_format_and_field_mapping(tmp_path):
    assert len(read_records(str(BENCH / "demo_qa_zh.csv"))) == 18
    assert len(read_records(str(BENCH / "demo_code.parquet"))) == 9
    rec = {"uid": 7, "q": {"text": "Which metal is liquid at room temperature and was once used in thermometers?"},
           "options": {"label": ["A", "B"], "text": ["Mercury", "Gallium"]}, "gold": 0}
    (tmp_path / "nested.json").write_text(json.dumps({"data": [rec]}))
    (tmp_path / "cols.csv").write_text("n,question,A,B,C,answer\n1,Which metal is liquid at room temperature "
                                       "and was once used in thermometers?,Mercury,Gallium,Lead,A\n")
    op = Decontaminate(benchmarks=[
        {"name": "nested", "path": str(tmp_path / "nested.json"), "id": "uid", "question": "q.text",
         "choices": "options.text", "answer": "gold"},
        {"name": "cols", "path": str(tmp_path / "cols.csv"), "id": "n", "question": "question",
         "choices": ["A", "B", "C"], "answer": "answer"}])
    res = _run(op, ["Trivia: which metal is liquid at room temperature and was once used in thermometers? Mercury."])
    assert res.metrics["decontaminate/nested/item/7"] == 1 and res.metrics["decontaminate/cols/item/1"] == 1


@pytest.mark.parametrize("params, message", [
    ({"mode": "zap"}, "mode"),
    ({"threshold": 1.5}, "threshold"),
    ({"ngram": {"fr": 5}}, "unknown kind"),
    ({"benchmarks": [{"name": "a/b", "path": "x.jsonl", "question": "q"}]}, "benchmark name"),
    ({"benchmarks": [{"name": "x", "path": "missing.jsonl", "question": "q"}]}, "not found"),
    ({"benchmarks": [{**DEMO[0], "question": "nope"}]}, "nope"),
    ({"benchmarks": [{**DEMO[0], "colour": "red"}]}, "colour"),
    ({"benchmarks": []}, "at least one"),
])
def test_bad_parameters_stop_at_build(params, message):
    with pytest.raises(ConfigError, match=message):
        build_stage("decontaminate", {"benchmarks": DEMO, **params}, "demo.yaml: ")


def test_index_ships_to_workers_once():
    op = Decontaminate(benchmarks=DEMO)
    assert op.input_files() == [b["path"] for b in DEMO]
    a, b = pickle.loads(pickle.dumps(op)), pickle.loads(pickle.dumps(op))
    assert a.index is b.index  # one index per worker process, however many tasks ship it
    assert a.index.digest == op.index.digest and a.index.nbytes == op.index.nbytes
    r1 = _run(a, ["nothing to see"])
    assert r1.kept.num_rows == 1


# -- the real pipeline, and the report --------------------------------------------------------------------------

def test_through_the_pipeline_with_report_section(spark, tmp_path, items, hosts):
    from pipeline.config import parse_config
    from pipeline.report import build_report
    from pipeline.report.collect import collect
    from pipeline.runner import run_pipeline

    en = [(i, r) for _, i, k, r in items if k == "en"][:3]
    docs = [{"id": f"clean-{i}", "text": h, "source": "s"} for i, h in enumerate(hosts[:40])]
    docs += [{"id": f"dirty-{i}", "text": embed(hosts[50 + n], render("en", r)), "source": "s"} for n, (i, r) in enumerate(en)]
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "a.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    cfg = parse_config({"input": {"paths": [str(inp)]}, "workdir": str(tmp_path / "work"), "samples_per_reason": 5,
                        "stages": [{"stage": "decontaminate", "params": {"benchmarks": HELDOUT[:1] + DEMO}}]})
    results = run_pipeline(cfg, spark=spark)
    st = results[-1].stats
    assert results[-1].dir.name == "02-decontaminate"
    assert st["rejected_by_reason"]["contaminated"]["docs"] == 3 and st["docs_kept"] == 40
    assert st["metrics"]["decontaminate/heldout_en/docs_flagged"] == 3
    assert {"name": "contamination_score", "type": "float", "category": False} in st["declared"]["fields"]
    rep = collect(tmp_path / "work")
    (sec,) = rep["decontamination"]
    by = {b["benchmark"]: b for b in sec["benchmarks"]}
    assert by["heldout_en"]["items"] == 300 and by["heldout_en"]["items_found"] == 3
    assert by["heldout_en"]["docs_removed"] == 3 and len(by["heldout_en"]["samples"]) == 3
    assert by["demo_qa_zh"]["items_found"] == 0 and by["demo_qa_zh"]["items"] == 18
    page = build_report(tmp_path / "work").read_text(encoding="utf-8")
    assert 'id="decontamination"' in page and 'data-benchmark="heldout_en"' in page
    assert all(f"<code>{i}</code>" in page for i, _ in en)
