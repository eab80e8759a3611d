import pytest

from contract.errors import ConfigError
from pipeline.config import load_config, parse_config
from pipeline.registry import build_stage


def write(tmp_path, text):
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return p


def test_valid_config_loads_into_typed_objects(tmp_path):
    p = write(tmp_path, "workdir: w\ninput: {paths: a.jsonl}\nstages:\n  - filter\n  - stage: pii\n    params: {x: 1}\n")
    cfg = load_config(p)
    assert cfg.input.paths == ["a.jsonl"]
    assert [s.stage for s in cfg.stages] == ["filter", "pii"]
    assert cfg.stages[1].params == {"x": 1}
    assert cfg.seed == 42


def test_unknown_key_names_file_and_key(tmp_path):
    p = write(tmp_path, "workdir: w\ninput: {paths: [a], txt_field: body}\n")
    with pytest.raises(ConfigError, match=r"p\.yaml: unknown key 'input\.txt_field'"):
        load_config(p)


def test_unknown_stage_key_names_index(tmp_path):
    p = write(tmp_path, "workdir: w\ninput: {paths: [a]}\nstages:\n  - stage: filter\n    parms: {}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'stages\[0\]\.parms'"):
        load_config(p)


def test_missing_required_key(tmp_path):
    with pytest.raises(ConfigError, match="missing required key 'workdir'"):
        load_config(write(tmp_path, "input: {paths: [a]}\n"))


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"p\.yaml: line \d+ invalid YAML"):
        load_config(write(tmp_path, "workdir: w\ninput: [a\n"))


def test_duplicate_stage_names_rejected():
    with pytest.raises(ConfigError, match="used twice"):
        parse_config({"workdir": "w", "input": {"paths": ["a"]}, "stages": ["filter", "filter"]})


def test_unknown_stage_type_and_parameter():
    with pytest.raises(ConfigError, match="unknown stage type 'nope'"):
        build_stage("nope", {})
    from pipeline.registry import STAGES

    STAGES["min_chars"] = "tests.stage_fixtures:MinChars"
    with pytest.raises(ConfigError, match="unknown parameter 'min_char' for stage 'min_chars'"):
        build_stage("min_chars", {"min_char": 3})
    assert build_stage("min_chars", {"min_chars": 3}).min_chars == 3
