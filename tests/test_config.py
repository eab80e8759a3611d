"""The pipeline YAML schema: strict types, every stage's params checked before anything runs, one-line
errors naming file, stage and key, and `winnow params` generated from the same schema."""

import dataclasses
import re
from pathlib import Path

import pytest

from contract.errors import ConfigError
from contract.operator import Operator
from pipeline import registry
from pipeline.config import (
    InputConfig,
    PipelineConfig,
    SparkConfig,
    StageConfig,
    load_config,
    parse_config,
    parse_size,
)
from pipeline.registry import STAGES, build_stage, stage_schema, validate_params

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, text):
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return p


class Boom(Operator):
    """A stage that must never be built by config validation."""

    name = "boom"
    built = 0

    def __init__(self, level: int = 1, ratio: float = 0.5):
        type(self).built += 1
        raise AssertionError("built during validation")


# -- the pipeline level ----------------------------------------------------------------------------
def test_valid_config_loads_into_typed_objects(tmp_path):
    p = write(tmp_path, "workdir: w\ninput: {paths: a.jsonl}\nstages:\n  - filter\n  - stage: pii\n"
                        "    params: {max_pii_char_fraction: 0.5}\n")
    cfg = load_config(p)
    assert isinstance(cfg, PipelineConfig) and isinstance(cfg.input, InputConfig)
    assert isinstance(cfg.spark, SparkConfig) and all(isinstance(s, StageConfig) for s in cfg.stages)
    assert cfg.input.paths == ["a.jsonl"]
    assert [s.stage for s in cfg.stages] == ["filter", "pii"]
    assert cfg.stages[1].params == {"max_pii_char_fraction": 0.5}
    assert cfg.seed == 42 and cfg.source_file == str(p)
    assert "source_file" not in cfg.to_dict() and cfg.to_dict()["input"]["paths"] == ["a.jsonl"]
    # the io module fingerprints the input config with dataclasses.asdict; the runner builds StageConfig("read")
    assert dataclasses.asdict(cfg.input)["max_doc_bytes"] == 1_000_000
    assert StageConfig("read").name == "read"


def test_unknown_key_names_file_and_key(tmp_path):
    p = write(tmp_path, "workdir: w\ninput: {paths: [a], txt_field: body}\n")
    with pytest.raises(ConfigError, match=r"p\.yaml: unknown key 'input\.txt_field' \(allowed: paths, .*text_field"):
        load_config(p)


def test_unknown_stage_key_names_index(tmp_path):
    p = write(tmp_path, "workdir: w\ninput: {paths: [a]}\nstages:\n  - stage: filter\n    parms: {}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'stages\[0\]\.parms'"):
        load_config(p)


def test_missing_required_key(tmp_path):
    with pytest.raises(ConfigError, match="missing required key 'workdir'"):
        load_config(write(tmp_path, "input: {paths: [a]}\n"))
    with pytest.raises(ConfigError, match="input.paths"):
        load_config(write(tmp_path, "workdir: w\ninput: {paths: []}\n"))


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"p\.yaml: line \d+ invalid YAML"):
        load_config(write(tmp_path, "workdir: w\ninput: [a\n"))


def test_a_key_given_twice_is_refused(tmp_path):
    """YAML keeps the last of two equal keys silently: the first stage's params would be lost."""
    p = write(tmp_path, "workdir: w\ninput: {paths: [a]}\nstages:\n  - stage: dedup\n"
                        "    params: {threshold: 0.7}\n    params: {}\n")
    with pytest.raises(ConfigError, match=r"p\.yaml: line 6 invalid YAML: key 'params' given twice"):
        load_config(p)


def test_duplicate_stage_names_rejected():
    with pytest.raises(ConfigError, match=r"'filter' used twice \(stages\[0\] and stages\[1\]\)"):
        parse_config({"workdir": "w", "input": {"paths": ["a"]}, "stages": ["filter", "filter"]})


@pytest.mark.parametrize("value, expected", [
    (1000, 1000), ("1MB", 1_000_000), ("1mb", 1_000_000), ("1MiB", 1 << 20), ("1.5KB", 1500), ("2 GiB", 2 << 30),
    ("64KiB", 65536), ("512B", 512),
])
def test_human_sizes_are_parsed_explicitly(value, expected):
    cfg = parse_config({"workdir": "w", "input": {"paths": ["a"], "max_doc_bytes": value, "split_bytes": value}})
    assert cfg.input.max_doc_bytes == expected and isinstance(cfg.input.max_doc_bytes, int)
    assert parse_size(value) == expected


@pytest.mark.parametrize("value, why", [
    ("1M", "not an integer number of bytes or a number with a unit"),  # M of what?
    ("1000000", "not an integer number of bytes or a number with a unit"),  # a quoted number is not a size
    ("lots", "not an integer number of bytes"),
    ("1.5B", "not a whole number of bytes"),
    (1.0e6, "expected size in bytes"),
    (True, "expected size in bytes"),
    (0, "greater than 0"),
])
def test_bad_sizes_name_file_and_key(tmp_path, value, why):
    with pytest.raises(ConfigError, match=rf"^p\.yaml: input\.max_doc_bytes: .*{why}") as err:
        parse_config({"workdir": "w", "input": {"paths": ["a"], "max_doc_bytes": value}}, "p.yaml")
    assert "\n" not in str(err.value)


def test_pipeline_scalars_are_strict():
    base = {"workdir": "w", "input": {"paths": ["a"]}}
    with pytest.raises(ConfigError, match=r"^<dict>: seed: expected integer, got string '7' \(write numbers without"):
        parse_config({**base, "seed": "7"})
    with pytest.raises(ConfigError, match=r"samples_per_reason: expected integer, got boolean true"):
        parse_config({**base, "samples_per_reason": True})
    with pytest.raises(ConfigError, match=r"spark\.shuffle_partitions: input should be greater than or equal to 1"):
        parse_config({**base, "spark": {"shuffle_partitions": 0}})
    with pytest.raises(ConfigError, match=r"spark\.driver_memory: '6 GB' is not a JVM memory size"):
        parse_config({**base, "spark": {"driver_memory": "6 GB"}})
    with pytest.raises(ConfigError, match=r"input\.format: expected one of auto, jsonl, parquet, got string 'json'"):
        parse_config({**base, "input": {"paths": ["a"], "format": "json"}})
    with pytest.raises(ConfigError, match=r"unknown key 'source_file'"):
        parse_config({**base, "source_file": "x"})
    cfg = parse_config({**base, "spark": {"conf": {"spark.sql.adaptive.enabled": False, "spark.task.cpus": 2}},
                        "stages": None})
    assert cfg.spark.conf == {"spark.sql.adaptive.enabled": "false", "spark.task.cpus": "2"}
    assert cfg.stages == []


# -- the four cases that broke it: one line, file + stage + key, before any stage runs --------------
PIPELINE = """\
workdir: {work}
input: {{paths: [{inp}]}}
stages:
  - stage: normalize
  - stage: langid
    params: {{keep_langs: {keep_langs}}}
  - stage: filter
    params:
      preset: en
      gopher_quality: {{min_doc_words: {min_doc_words}}}
  - stage: pii
    params: {{max_pii_char_fraction: {fraction}}}
  - stage: dedup
    params: {{threshold: {threshold}}}
"""
GOOD = {"keep_langs": "[en]", "min_doc_words": "30", "fraction": "0.3", "threshold": "0.8"}


@pytest.mark.parametrize("bad, where", [
    ({"keep_langs": "en"},
     r"stages\[1\] \(langid\): keep_langs: expected list of strings or null, got string 'en' "
     r"\(a list of one is written \[en\]\)"),
    ({"fraction": '"0.3"'},
     r"stages\[3\] \(pii\): max_pii_char_fraction: expected number, got string '0\.3'"),
    ({"min_doc_words": "thirty"},
     r"stages\[2\] \(filter\): gopher_quality\.min_doc_words: expected integer or null, got string 'thirty'"),
    ({"threshold": "high"},
     r"stages\[4\] \(dedup\): threshold: expected number, got string 'high'"),
])
def test_bad_stage_params_stop_the_job_before_any_stage(tmp_path, capsys, bad, where):
    from jobs.run_pipeline import main

    inp = tmp_path / "in.jsonl"
    inp.write_text('{"text": "hello"}\n')
    work = tmp_path / "work"
    cfg = write(tmp_path, PIPELINE.format(work=work, inp=inp, **{**GOOD, **bad}))
    assert main(["--config", str(cfg)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"winnow: error: {cfg}: ")
    assert re.search(where, err), err
    assert not work.exists() or not any(work.glob("[0-9][0-9]-*")), "a stage ran"


def test_an_ambiguous_size_stops_the_job_before_reading(tmp_path, capsys):
    """``max_doc_bytes: "1M"`` used to turn every file into one bad_compression reject (exit 0)."""
    from jobs.run_pipeline import main

    work = tmp_path / "work"
    cfg = write(tmp_path, f"workdir: {work}\ninput: {{paths: [x.jsonl], max_doc_bytes: 1M}}\nstages: [normalize]\n")
    assert main(["--config", str(cfg)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"winnow: error: {cfg}: input.max_doc_bytes: size '1M'")
    assert not work.exists()


def test_the_good_version_of_that_pipeline_validates(tmp_path):
    cfg = load_config(write(tmp_path, PIPELINE.format(work=tmp_path / "w", inp="x.jsonl", **GOOD)))
    assert [s.name for s in cfg.stages] == ["normalize", "langid", "filter", "pii", "dedup"]
    assert cfg.stages[2].params == {"preset": "en", "gopher_quality": {"min_doc_words": 30}}  # as written


def test_runner_checks_a_config_built_in_code_before_any_stage(tmp_path):
    """A PipelineConfig made without parse_config is checked when the runner builds its stages, all
    of them before the first one runs."""
    from pipeline.runner import run_pipeline

    (tmp_path / "in.jsonl").write_text('{"text": "hello"}\n')
    cfg = PipelineConfig(input=InputConfig(paths=[str(tmp_path / "in.jsonl")]), workdir=str(tmp_path / "work"),
                         stages=[StageConfig("normalize"), StageConfig("dedup", params={"threshold": "high"})])
    with pytest.raises(ConfigError, match=r"stages\[1\] \(dedup\): threshold: expected number, got string 'high'"):
        run_pipeline(cfg, spark=object())  # never touched: no stage starts
    assert not any((tmp_path / "work").glob("[0-9][0-9]-*"))


# -- stage params: strict, nested, validated without building --------------------------------------------
def check(stage, params):
    validate_params(stage, params, where="p.yaml: stages[0] (x): ")


@pytest.mark.parametrize("stage, params, message", [
    ("langid", {"keep_langs": ["en", False]},
     r"keep_langs\[1\]: expected string, got boolean false \(YAML reads yes/no"),
    ("langid", {"min_score": "0.65"}, r"min_score: expected number or mapping of string to number, got string"),
    ("langid", {"min_score": {"en": "high"}}, r"min_score\.en: expected number, got string 'high'"),
    ("normalize", {"max_blank_lines": 1.5}, r"max_blank_lines: expected integer, got number 1\.5"),
    ("normalize", {"nfkc": True}, r"nfkc: expected string, got boolean true"),
    ("filter", {"gopher_quality": {"min_doc_wrds": 3}},
     r"unknown parameter 'gopher_quality\.min_doc_wrds' \(allowed: min_doc_words, "),
    ("filter", {"no_such_filter": {}}, r"unknown parameter 'no_such_filter' for stage 'filter' \(allowed: preset, "),
    ("filter", {"c4_quality": 5}, r"c4_quality: expected mapping of C4Quality parameters or null, got integer 5"),
    ("filter", {"gopher_repetition": {"top_n_grams": [[2, 0.2], [3, "x"]]}},
     r"gopher_repetition\.top_n_grams\[1\]\[1\]: expected number, got string 'x'"),
    ("filter", {"disable": "c4_badwords"}, r"disable: expected list of strings or null, got string"),
    ("mix", {"groups": [{"name": "zh", "weight": "4.5"}]}, r"groups\[0\]\.weight: expected number, got string"),
    ("mix", {"groups": {"zh": {"where": "lang=zh", "weight": 1, "wieght": 2}}},
     r"unknown parameter 'groups\.zh\.wieght' \(allowed: name, where, weight\)"),
    ("mix", {"groups": [{"name": "zh"}]}, r"missing required parameter 'groups\[0\]\.weight'"),
    ("pii", {"mode": 3, "salt": 4}, r"mode: expected string, got integer 3 \(also wrong: salt\)"),
    ("pii", ["mode"], r"params must be a mapping"),
    ("score", {"batch_size": "32"}, r"batch_size: expected integer, got string '32'"),
    ("tokenize", {"shard_tokens": 1e5}, r"shard_tokens: expected integer, got number"),
    ("nope", {}, r"unknown stage type 'nope' \(known: .*dedup"),
])
def test_stage_params_are_strict(stage, params, message):
    with pytest.raises(ConfigError, match=r"^p\.yaml: stages\[0\] \(x\): " + message) as err:
        check(stage, params)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("stage, params", [
    ("langid", {"keep_langs": ["en"], "min_score": 1}),  # an int stands for a number
    ("langid", {"keep_langs": None, "min_score": {"en": 0.5, "*": 0.7}}),
    ("filter", {"preset": "zh", "zh_repetition": {"char_dup_n_grams": {10: 0.3}}, "blacklist": None}),
    ("filter", {"gopher_repetition": {"top_n_grams": [[2, 0.2]]}, "disable": ["c4_badwords"]}),
    ("dedup", {"prefer": ("quality_score",), "thresholds": {"news": 0.7}}),  # Python callers may pass tuples
    ("mix", {"groups": {"zh": 4.5, "en": {"weight": 1}}, "budget_tokens": "2M"}),
    ("tokenize", {"train": {"vocab_size": 8000}}),
])
def test_valid_stage_params_pass(stage, params):
    check(stage, params)


def test_params_are_validated_without_building_and_kept_as_written(monkeypatch):
    monkeypatch.setitem(STAGES, "boom", "tests.test_config:Boom")
    cfg = parse_config({"workdir": "w", "input": {"paths": ["a"]},
                        "stages": [{"stage": "boom", "params": {"level": 2, "ratio": 1}}]})
    assert Boom.built == 0 and cfg.stages[0].params == {"level": 2, "ratio": 1}
    with pytest.raises(ConfigError, match=r"stages\[0\] \(boom\): ratio: expected number, got string '1'"):
        parse_config({"workdir": "w", "input": {"paths": ["a"]},
                      "stages": [{"stage": "boom", "params": {"ratio": "1"}}]})
    assert Boom.built == 0


def test_factories_expose_their_class_signature():
    """Registry entries that are factory functions validate against the class they build."""
    assert stage_schema("dedup").obj.__name__ == "DedupStage"
    assert stage_schema("dedup").param("threshold").default == 0.8
    assert {"preset", "disable", "gopher_quality", "zh_quality"} <= {p.name for p in stage_schema("filter").params}
    assert stage_schema("filter").param("gopher_quality").nested.param("min_doc_words").default == 50
    for name in STAGES:
        assert not stage_schema(name).open, f"{name}: parameters not checked"


def test_open_plugin_factories_accept_unknown_keys(monkeypatch):
    monkeypatch.setitem(STAGES, "open_plugin", "tests.test_config:open_factory")
    check("open_plugin", {"anything": 1})


def open_factory(**params):
    return params


def test_unknown_stage_type_and_parameter(monkeypatch):
    with pytest.raises(ConfigError, match="unknown stage type 'nope'"):
        build_stage("nope", {})
    monkeypatch.setitem(registry.STAGES, "min_chars", "tests.stage_fixtures:MinChars")
    with pytest.raises(ConfigError, match="unknown parameter 'min_char' for stage 'min_chars'"):
        build_stage("min_chars", {"min_char": 3})
    assert build_stage("min_chars", {"min_chars": 3}).min_chars == 3


# -- shipped configs and `winnow params` ----------------------------------------------------------------
@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    cfg = load_config(path)
    assert cfg.stages


def test_winnow_params_lists_every_registered_stage(capsys):
    from jobs.cli import COMMANDS, main

    assert COMMANDS["params"][0] == "jobs.params_help"
    assert main(["params"]) == 0
    out = capsys.readouterr().out
    heads = [line.split()[0] for line in out.splitlines() if line and not line[0].isspace()]
    assert heads == list(STAGES)
    for name in STAGES:
        for p in stage_schema(name).params:
            assert f"  {p.name}: " in out, (name, p.name)
    assert "  max_pii_char_fraction: number; default 0.3\n" in out
    assert "reject a document when PII covers at least this share of its characters." in out  # the Args line
    assert "  keep_langs: list of strings or null; default [en, zh]\n" in out
    assert "      min_doc_words: integer or null; default 50\n" in out  # a filter's own parameters


def test_winnow_params_one_stage_the_pipeline_keys_and_errors(capsys):
    from jobs.params_help import main

    assert main(["dedup"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dedup  (operators.dedup:build_dedup)\n") and "  threshold: number; default 0.8\n" in out
    assert main(["--pipeline"]) == 0
    out = capsys.readouterr().out
    assert "  max_doc_bytes: size in bytes (an integer, or a string with a unit: 1MB, 64MiB); default 1000000" in out
    assert main(["nope"]) == 2
    assert "unknown stage type 'nope'" in capsys.readouterr().err
