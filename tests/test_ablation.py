"""``winnow ablation``: variants, decontamination, bits per byte, verdicts, the default corpus, and a
tiny end-to-end run (a few hundred documents, raw + two variants, two seeds, a few training steps)."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from contract.errors import ConfigError
from jobs.ablation import AblationOptions, parse_args, subsample
from jobs.ablation.decontam import Decontaminator
from jobs.ablation.evaluate import bits_per_byte, document_nll, read_eval_docs, slice_metrics, slice_of
from jobs.ablation.report import summarize, verdict
from jobs.ablation.variants import build_variants, final_stage_dir, reuse_prefix
from pipeline.config import load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]


# -- variants ------------------------------------------------------------------------------------
def test_variants_from_the_demo_config(tmp_path):
    cfg = load_config(ROOT / "configs" / "demo.yaml")
    vs = build_variants(cfg, tmp_path / "abl", raw_paths=["corpus/raw"])
    names = [v.name for v in vs]
    kept = [s for s in cfg.stages if s.stage not in ("mix", "tokenize")]
    # every deciding stage once, in order; the model-scoring stage (no thresholds) never decides
    annotate_only = [s.name for s in kept if s.stage == "score" and s.params.get("min_quality") is None
                     and not s.params.get("exclude_domains")]
    assert annotate_only == ["score"]
    assert names == ["raw", "full"] + [f"no-{s.name}" for s in kept if s.name not in annotate_only]
    assert {"no-normalize", "no-langid", "no-filter", "no-pii", "no-dedup", "no-quality_gate"} <= set(names)
    by = {v.name: v for v in vs}
    assert by["raw"].config.stages == []
    assert by["full"].stages == [s.name for s in kept]
    for v in vs:
        assert not {"mix", "tokenize"} & {s.stage for s in v.config.stages}
        assert v.config.input.paths == ["corpus/raw"]
        assert v.workdir == tmp_path / "abl" / "variants" / v.name
        assert v.config.seed == cfg.seed and v.config.input.text_field == cfg.input.text_field
    # langid keeps annotating (later stages route by lang) but rejects nothing
    langid = [s for s in by["no-langid"].config.stages if s.stage == "langid"]
    assert langid and langid[0].params["reject"] is False and by["no-langid"].how.startswith("annotates")
    assert "quality_gate" not in by["no-quality_gate"].stages and "score" in by["no-quality_gate"].stages
    assert by["no-dedup"].stages == [n for n in by["full"].stages if n != "dedup"]
    assert by["no-dedup"].off == "dedup" and by["no-dedup"].how == "removed"
    # the user's config object is untouched
    assert cfg.input.paths == ["data/sample"] and [s.name for s in cfg.stages][-2:] == ["mix", "tokenize"]


def test_score_thresholds_dropped_and_variant_selection(tmp_path):
    qm = tmp_path / "qmodel"
    qm.mkdir()
    cfg = parse_config({"input": {"paths": ["x"]}, "workdir": str(tmp_path / "w"), "stages": [
        {"stage": "normalize"},
        {"stage": "score", "params": {"quality_fasttext": str(qm), "min_quality": 0.4}},
    ]})
    vs = {v.name: v for v in build_variants(cfg, tmp_path / "o")}
    assert set(vs) == {"raw", "full", "no-normalize", "no-score"}
    params = vs["no-score"].config.stages[-1].params
    assert params == {"quality_fasttext": str(qm)}  # scores kept, threshold dropped
    only = build_variants(cfg, tmp_path / "o", only=["no-score"])
    assert [v.name for v in only] == ["raw", "no-score"]  # raw always runs: verdicts are against it
    with pytest.raises(ConfigError, match="unknown variant.*no-dedup"):
        build_variants(cfg, tmp_path / "o", only=["no-dedup"])


def test_identical_stage_prefixes_are_shared(tmp_path):
    cfg = parse_config({"input": {"paths": ["x"]}, "workdir": "w",
                        "stages": [{"stage": "normalize"}, {"stage": "dedup"}]})
    vs = {v.name: v for v in build_variants(cfg, tmp_path)}
    full, no_dedup, no_norm = vs["full"], vs["no-dedup"], vs["no-normalize"]
    for i, name in enumerate(["01-read", "02-normalize", "03-dedup"]):  # full ran: finished stage dirs
        d = full.workdir / name
        (d / "kept").mkdir(parents=True)
        (d / "kept" / "part-0.parquet").write_text(f"data {i}")
        (d / "_SUCCESS").write_text(json.dumps({"hash": f"h{i}"}))
    assert reuse_prefix(no_dedup, [full]) == ["01-read", "02-normalize"]
    assert (no_dedup.workdir / "02-normalize" / "kept" / "part-0.parquet").read_text() == "data 1"
    assert not (no_dedup.workdir / "03-dedup").exists()
    assert reuse_prefix(no_norm, [full]) == ["01-read"]  # dedup follows a different stage there
    assert final_stage_dir(no_dedup) == no_dedup.workdir / "02-normalize"
    assert final_stage_dir(vs["raw"]) == vs["raw"].workdir / "01-read"


# -- evaluation ----------------------------------------------------------------------------------
class _Uniform(torch.nn.Module):
    """Equal logits for every id: each prediction costs exactly ln(vocab) nats."""

    def __init__(self, vocab: int):
        super().__init__()
        self.vocab = vocab

    def forward(self, input_ids, use_cache=False):
        return SimpleNamespace(logits=torch.zeros(*input_ids.shape, self.vocab))


class _Successor(torch.nn.Module):
    """Predicts id + 1 with logit 50: near-zero loss when the next id is the successor, ~50 nats when not."""

    def __init__(self, vocab: int):
        super().__init__()
        self.vocab = vocab

    def forward(self, input_ids, use_cache=False):
        return SimpleNamespace(logits=50.0 * torch.nn.functional.one_hot((input_ids + 1) % self.vocab,
                                                                          self.vocab).float())


def test_bits_per_byte_on_a_hand_checkable_case():
    # a uniform model over 32 ids: 5 bits per token. 2 tokens for "hi" (2 bytes), 3 for "中文" (6 bytes),
    # 11 for "xxxxxxxxxxx" (11 bytes; its predictions cross windows of 4)
    docs = [{"text": "hi", "slice": "en"}, {"text": "中文", "slice": "zh"}, {"text": "x" * 11, "slice": "code"}]
    ids = [[5, 6], [7, 8, 9], list(range(10, 21))]
    nll = document_nll(_Uniform(32), ids, eos_id=2, seq_len=4, batch_size=2)
    assert nll == pytest.approx([2 * math.log(32), 3 * math.log(32), 11 * math.log(32)])
    m = slice_metrics(docs, nll, [len(x) for x in ids])
    assert m["en"]["bits_per_byte"] == pytest.approx(2 * 5 / 2)  # 2 tokens x log2(32) bits / 2 bytes
    assert m["zh"]["bits_per_byte"] == pytest.approx(3 * 5 / 6)
    assert m["code"]["bits_per_byte"] == pytest.approx(11 * 5 / 11)
    assert m["total"]["bits_per_byte"] == pytest.approx(16 * 5 / 19)
    assert m["zh"]["nats_per_token"] == pytest.approx(math.log(32))
    assert m["total"]["docs"] == 3 and m["total"]["bytes"] == 19 and m["total"]["tokens"] == 16
    assert bits_per_byte(math.log(2) * 8, 8) == pytest.approx(1.0)
    # targets are the next ids after a leading EOS: 2 -> 3 -> 4 -> 5 all right (~0), 3 -> 9 wrong (~50 nats)
    right, wrong = document_nll(_Successor(32), [[3, 4, 5], [3, 9]], eos_id=2, seq_len=2)
    assert right == pytest.approx(0.0, abs=1e-6) and wrong == pytest.approx(50.0, abs=1e-3)


def test_slices_from_fields_or_script(tmp_path):
    assert slice_of({"text": "anything", "slice": "news"}) == "news"
    assert slice_of({"text": "x", "lang": "code:python"}) == "code"
    assert slice_of({"text": "x", "lang": "en", "domain": "code"}) == "code"
    assert slice_of({"text": "x", "lang": "zh-cn"}) == "zh"
    assert slice_of({"text": "今天的天气很好，我们去公园散步。"}) == "zh"
    assert slice_of({"text": "The cat sat on the mat. It was warm."}) == "en"
    code = "def f(x):\n    return x + 1\n\nclass A:\n    pass\n\nif (x) {\n  y = f(x);\n}\n"
    assert slice_of({"text": code}) == "code"
    # a user's own evaluation set as it is: jsonl with lang, plain text files, Parquet
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "Hello world, a sentence.", "lang": "en"}) + "\n"
                                      + json.dumps({"body": "no text field"}) + "\n")
    (tmp_path / "b.txt").write_text("今天的天气很好。", encoding="utf-8")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": [code], "id": ["c1"]}), tmp_path / "c.parquet")
    docs = read_eval_docs([tmp_path])
    assert [(d["id"], d["slice"]) for d in docs] == [("a.jsonl:1", "en"), ("b.txt", "zh"), ("c1", "code")]


def test_decontamination_exact_near_and_contained():
    wiki = ("Neon is a chemical element with the symbol Ne and atomic number 10. It is the second noble gas "
            "in the periodic table, colourless and odourless, with about two thirds the density of air. It was "
            "discovered in 1898 by William Ramsay and Morris Travers in London, together with krypton and xenon, "
            "as one of the three residual rare inert elements remaining in dry air.")
    news = "新华社北京一月一日电 国家主席在新年讲话中表示，我们将继续坚持改革开放，推动经济社会发展，" * 3
    dc = Decontaminator([{"id": "e1", "text": wiki}, {"id": "e2", "text": news}], threshold=0.7)
    near = wiki.replace("London", "England")
    page = "Home | News | Contact\n" + " ".join(f"gardening{i} tomato{i % 7}" for i in range(300)) + "\n" + wiki
    docs = [{"id": "t0", "text": wiki.upper().replace(".", " .")},  # case and punctuation: still exact
            {"id": "t1", "text": "Skip to content\n" + near},
            {"id": "t2", "text": page},
            {"id": "t3", "text": "Argon is a chemical element with the symbol Ar and atomic number 18."},
            {"id": "t4", "text": "转载自新华网\n" + news}]
    keep, rep = dc.check(docs)
    assert keep == [False, False, False, True, False]
    assert (rep["exact"], rep["near"], rep["contained"], rep["removed_docs"], rep["eval_docs_hit"]) == (1, 2, 1, 4, 2)
    assert {e["train_id"]: e["kind"] for e in rep["examples"]} == {"t0": "exact", "t1": "near", "t2": "contained",
                                                                  "t4": "near"}


def test_subsample_is_seeded_and_within_budget():
    toks = [50, 120, 30, 400, 80, 60, 200, 90]
    a = subsample(toks, 500, [1, 7])
    assert a == subsample(toks, 500, [1, 7]) and a == sorted(a)
    assert sum(toks[i] for i in a) <= 500 and sum(toks[i] for i in a) > 400
    assert subsample(toks, 10_000, [1, 7]) == list(range(len(toks)))


def test_verdict_lines():
    seeds = {str(s): {"slices": {"total": {"bits_per_byte": b, "nats_per_token": b * 2}}} for s, b in
             zip((1, 2, 3), (1.00, 1.02, 0.98))}
    raw = summarize(seeds, ["total"])
    assert raw["total"]["bits_per_byte_mean"] == pytest.approx(1.0) and raw["total"]["bits_per_byte_std"] == pytest.approx(0.02)
    better = {"total": {"bits_per_byte_mean": 0.9, "bits_per_byte_std": 0.02}}
    v = verdict("full", better, raw)
    assert v["delta_bpb"] == pytest.approx(-0.1) and v["delta_in_sd"] == pytest.approx(-5.0)
    assert v["call"] == "better"
    assert v["line"] == "full vs raw: -0.1000 bits/byte on total (0.9000 vs 1.0000; -5.0 sd of the seeds (sd 0.0200)) -> better"
    assert verdict("no-x", {"total": {"bits_per_byte_mean": 1.01, "bits_per_byte_std": 0.02}}, raw)["call"] == "within noise"
    one = verdict("full", {"total": {"bits_per_byte_mean": 1.1, "bits_per_byte_std": None}},
                  {"total": {"bits_per_byte_mean": 1.0, "bits_per_byte_std": None}})
    assert one["call"].startswith("worse (one seed") and one["delta_in_sd"] is None


def _fake_result() -> dict:
    slices = ["en", "zh", "code", "total"]
    variants = {}
    for name, base in (("raw", 2.0), ("full", 1.8)):
        seeds = {str(s): {"train": {"steps": 4, "tokens": 512}, "slices": {
            sl: {"bits_per_byte": base + 0.01 * s + i * 0.1, "nats_per_token": 3.0} for i, sl in enumerate(slices)}}
            for s in (1, 2)}
        variants[name] = {"off": None, "train_docs": 10, "unique_tokens": 600, "train_unique_tokens": 512,
                          "decontamination": {"removed_docs": 1}, "seeds": seeds, "summary": summarize(seeds, slices)}
    return {"config": {"name": "fake"}, "inputs": {"raw": ["raw/"], "eval_text": ["eval.jsonl"]},
            "eval": {"docs": 4}, "training": {"model": "llama-tiny"}, "seeds": [1, 2], "slices": slices,
            "budget": {"train_tokens": 512, "steps": 4, "tokens_per_step": 128, "unique_tokens_per_variant": 512,
                       "repeats": 1},
            "variants": variants, "verdicts": [verdict("full", variants["full"]["summary"], variants["raw"]["summary"])]}


def test_report_files_and_run_report_section(tmp_path):
    from jobs.ablation.report import write_report
    from pipeline.report.collect import ablation_summary
    from pipeline.report.html import ablation_section

    result = _fake_result()
    files = write_report(result, tmp_path / "work" / "ablation" / "report")
    md = files["markdown"].read_text()
    assert "| full | - | 10 | 600 | 1 | 1.8150 ± 0.0071 |" in md and result["verdicts"][0]["line"] in md
    assert files["png"].read_bytes()[:4] == b"\x89PNG" and "data:image/png;base64," in files["html"].read_text()
    assert json.loads(files["json"].read_text())["verdicts"][0]["call"] == "better"
    section = ablation_section({"ablation": ablation_summary(tmp_path / "work")})
    assert section.startswith('<section id="ablation">') and "full vs raw: -0.2000 bits/byte" in section
    assert ablation_section({"ablation": ablation_summary(tmp_path / "elsewhere")}) == ""


def test_cli_is_registered_and_parses():
    from jobs.cli import COMMANDS

    assert COMMANDS["ablation"][0] == "jobs.ablation"
    o = parse_args(["--variants", "full, no-dedup", "--seeds", "2", "--raw", "a", "b", "--eval-text", "e.jsonl"])
    assert (o.variants, o.seeds, o.raw, o.eval_text) == (["full", "no-dedup"], 2, ["a", "b"], ["e.jsonl"])
    assert AblationOptions().seeds == 3 and AblationOptions().model == "llama-tiny"


# -- the default corpus --------------------------------------------------------------------------
def test_default_corpus_is_deterministic_and_holds_out_the_eval_set(tmp_path):
    from bench.build_ablation_corpus import RATES, build

    a = build(tmp_path / "a", corpora=tmp_path / "absent", scale=0.05)  # the bundled data/sample
    b = build(tmp_path / "b", corpora=tmp_path / "absent", scale=0.05)
    assert a["sha256"] == b["sha256"] and "data/sample" in a["real_text_from"]
    with gzip.open(a["eval_file"], "rt") as f:
        ev = [json.loads(line) for line in f]
    with gzip.open(Path(a["raw_dir"]) / "web.jsonl.gz", "rt") as f:
        raw = [json.loads(line) for line in f]
    assert {d["slice"] for d in ev} == {"en", "zh", "code"}
    assert {d["kind"] for d in ev} == {"encyclopedic", "news", "code"}
    eval_texts = {d["text"] for d in ev}
    assert not any(t in r["text"] for r in raw for t in eval_texts)  # never used in the raw corpus
    kinds = {k for r in raw for k in r["noise"]}
    assert {"clean", "boilerplate", "exact_copy", "near_copy", "keyword_spam", "generated_list", "junk_code"} <= kinds
    assert all(r["source"] and r["rate"] > 0 for r in RATES)
    assert a["counts"]["exact_copy"] == round(0.10 * a["raw_docs"]) or abs(
        a["share_of_corpus"]["exact_copy"] - 0.10) < 0.01


# -- end to end ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ablation(spark, tmp_path_factory):
    from bench.build_ablation_corpus import build
    from tests.trainer_fixtures import one_torch_thread

    tmp = tmp_path_factory.mktemp("ablation")
    info = build(tmp / "corpus", corpora=tmp / "absent", scale=0.1)  # ~270 documents from data/sample
    with gzip.open(info["eval_file"], "rt") as f:
        ev = [json.loads(line) for line in f]
    planted = ev[0]  # an evaluation document that leaked into the crawl, verbatim and as a repost
    (Path(info["raw_dir"]) / "leak.jsonl").write_text(
        json.dumps({"id": "planted-exact", "text": planted["text"]}) + "\n"
        + json.dumps({"id": "planted-repost", "text": "Home | News\n" + planted["text"] + "\nShare this"}) + "\n")
    (tmp / "pipeline.yaml").write_text(
        f"name: tiny\nworkdir: {tmp / 'work'}\nseed: 3\ninput: {{paths: [unused]}}\n"
        "stages:\n  - stage: normalize\n  - stage: dedup\n  - stage: tokenize\n")
    opts = AblationOptions(config=str(tmp / "pipeline.yaml"), raw=[info["raw_dir"]], eval_text=[info["eval_file"]],
                           variants=["full", "no-dedup"], seeds=2, vocab_size=512, seq_len=32,
                           micro_batch=4, tokens=1024, lr=3e-3, threads=1)
    from jobs.ablation import run_ablation

    with one_torch_thread():
        result = run_ablation(opts, spark=spark)
    # no --out: the report lands in <config workdir>/ablation, where the run report finds it
    return SimpleNamespace(result=result, opts=opts, out=tmp / "work" / "ablation", workdir=tmp / "work",
                           planted=planted)


@pytest.mark.slow
def test_ablation_json_structure(ablation):
    r = ablation.result
    on_disk = json.loads((ablation.out / "report" / "ablation.json").read_text())
    assert on_disk["variants"].keys() == r["variants"].keys()
    assert list(r["variants"]) == ["raw", "full", "no-dedup"] and r["seeds"] == [1, 2]
    assert r["slices"] == ["en", "zh", "code", "total"]
    for v in r["variants"].values():
        assert set(v["seeds"]) == {"1", "2"}
        for seed in v["seeds"].values():
            for s in r["slices"]:
                m = seed["slices"][s]
                assert m["bits_per_byte"] > 0 and m["nats_per_token"] > 0 and m["docs"] > 0
                assert m["bits_per_byte"] == pytest.approx(m["nll_nats"] / math.log(2) / m["bytes"], rel=1e-5)
        assert v["summary"]["total"]["seeds"] == 2 and v["summary"]["total"]["bits_per_byte_std"] is not None
    assert r["variants"]["no-dedup"]["stages"] == ["read", "normalize"]  # tokenize is never a variant stage
    for f in ("ablation.json", "ablation.md", "index.html", "ablation.png"):
        assert (ablation.out / "report" / f).stat().st_size > 0
    assert r["tokenizer"]["vocab_size"] % 128 == 0 and r["eval"]["docs"] == sum(r["eval"]["slices"].values())
    from pipeline.report.collect import ablation_summary

    assert [v["name"] for v in ablation_summary(ablation.workdir)["variants"]] == ["raw", "full", "no-dedup"]


@pytest.mark.slow
def test_equal_token_budgets(ablation):
    r = ablation.result
    b = r["budget"]
    assert b["train_tokens"] == b["steps"] * ablation.opts.micro_batch * ablation.opts.seq_len
    assert b["train_tokens"] <= ablation.opts.tokens
    for v in r["variants"].values():
        assert v["train_tokens"] == b["train_tokens"]
        assert v["train_unique_tokens"] <= b["unique_tokens_per_variant"]
        assert v["unique_tokens"] >= b["unique_tokens_smallest_variant"]
        for seed in v["seeds"].values():
            assert seed["train"]["tokens"] == b["train_tokens"] and seed["train"]["steps"] == b["steps"]
    assert r["variants"]["raw"]["unique_tokens"] > r["variants"]["full"]["unique_tokens"]  # dedup removed copies


@pytest.mark.slow
def test_planted_evaluation_document_is_removed_from_training(ablation):
    for name, v in ablation.result["variants"].items():
        d = v["decontamination"]
        assert d["removed_docs"] >= 1 and d["eval_docs_hit"] >= 1, name
        pairs = {(e["train_id"], e["eval_id"]) for e in d["examples"]}
        assert ("planted-exact", ablation.planted["id"]) in pairs or name == "full"  # dedup may keep the repost
        assert any(e["eval_id"] == ablation.planted["id"] for e in d["examples"])
        assert v["docs_after_decontamination"] == v["docs_kept"] - d["removed_docs"]
    raw = ablation.result["variants"]["raw"]["decontamination"]
    assert raw["exact"] >= 1 and raw["removed_docs"] >= 2  # the verbatim copy and the repost


@pytest.mark.slow
def test_verdict_lines_against_raw(ablation):
    r = ablation.result
    lines = [v["line"] for v in r["verdicts"]]
    assert [v["variant"] for v in r["verdicts"]] == ["full", "no-dedup"]
    for v, line in zip(r["verdicts"], lines):
        assert line.startswith(f"{v['variant']} vs raw: ") and "bits/byte on total" in line and "sd of the seeds" in line
        mean = r["variants"][v["variant"]]["summary"]["total"]["bits_per_byte_mean"]
        assert v["delta_bpb"] == pytest.approx(mean - r["variants"]["raw"]["summary"]["total"]["bits_per_byte_mean"],
                                               abs=1e-5)
    md = (ablation.out / "report" / "ablation.md").read_text()
    assert all(line in md for line in lines) and "| raw |" in md


@pytest.mark.slow
def test_same_seed_same_numbers(ablation):
    """Determinism: retraining one (variant, seed) gives the JSON's numbers exactly."""
    from jobs.ablation import encode, train_and_eval
    from jobs.ablation.evaluate import SLICES
    from operators.tokenize.tokenizer import load_tokenizer
    from tests.trainer_fixtures import one_torch_thread

    r = ablation.result
    tok = load_tokenizer(ablation.out / "tokenizer")
    ev = read_eval_docs(r["inputs"]["eval_text"])
    ids = encode(tok.backend, [d["text"] for d in ev])
    with one_torch_thread():
        nll, info = train_and_eval(ablation.out / "shards" / "full" / "manifest.json", ablation.out / "rerun", 2,
                                   r["budget"]["steps"], ablation.opts, ids, tok.eos_id)
    again = slice_metrics(ev, nll, [len(x) for x in ids], SLICES)
    assert again == r["variants"]["full"]["seeds"]["2"]["slices"]
