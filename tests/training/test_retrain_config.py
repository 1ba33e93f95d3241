"""The retrain config: every key parsed and documented, anything unknown or malformed refused by name."""

import re
from pathlib import Path

import pytest

from vecclf.training.errors import ConfigError
from vecclf.training.retrain_config import KEYS, load_config

RETRAIN_MD = Path(__file__).resolve().parents[2] / "docs" / "retrain.md"

FULL = """
[model]
name = "sentiment"
[data]
paths = ["data/*.csv", "/abs/extra.jsonl"]
format = "auto"
sql_url = "sqlite:///labels.db"
sql_query = "SELECT body AS text, sentiment AS label FROM labelled"
sql_chunk_rows = 500
text_column = "text"
label_column = "label"
include_feedback = true
[training]
vectors = "glove-6b-50d"
features = "hybrid"
classifier = "svm"
class_weight = "balanced"
budget = 30
holdout = 0.25
seed = 13
[gate]
metric = "macro_f1"
min_score = 0.7
max_regression = 0.02
checks = false
suite = "suite.jsonl"
min_pass_rate = 0.8
[retention]
keep = 4
"""


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "job.toml"
    path.write_text(text, "utf-8")
    return path


def test_every_key_is_read_and_relative_paths_follow_the_config(tmp_path):
    """A config using every key gives those values; relative paths and SQLite files are taken from its folder."""
    cfg = load_config(write(tmp_path, FULL))
    assert cfg.model == "sentiment" and cfg.keep == 4
    assert cfg.data.paths == (str(tmp_path / "data/*.csv"), "/abs/extra.jsonl")
    assert cfg.data.sql_url == f"sqlite:///{tmp_path}/labels.db" and cfg.data.sql_chunk_rows == 500
    assert cfg.data.include_feedback is True
    assert (cfg.training.features, cfg.training.classifier, cfg.training.class_weight) == ("hybrid", "svm", "balanced")
    assert (cfg.training.budget, cfg.training.holdout, cfg.training.seed) == (30.0, 0.25, 13)
    assert (cfg.gate.metric, cfg.gate.min_score, cfg.gate.max_regression) == ("macro_f1", 0.7, 0.02)
    assert cfg.gate.checks is False and cfg.gate.suite == str(tmp_path / "suite.jsonl") and cfg.gate.min_pass_rate == 0.8


def test_defaults(tmp_path):
    """Only a model name and data are needed; the rest has documented defaults."""
    cfg = load_config(write(tmp_path, '[model]\nname = "m"\n[data]\npaths = "a.csv"\n'))
    assert cfg.data.paths == (str(tmp_path / "a.csv"),) and cfg.data.include_feedback is False
    assert (cfg.training.vectors, cfg.training.features, cfg.training.holdout) == ("glove-6b-50d", "auto", 0.2)
    assert (cfg.gate.metric, cfg.gate.min_score, cfg.gate.max_regression, cfg.gate.checks) == ("accuracy", 0.0, 0.01, True)
    assert cfg.keep == 10


BASE = '[model]\nname = "m"\n[data]\npaths = ["a.csv"]\n'


@pytest.mark.parametrize("text,message", [
    (BASE + "[gates]\nmetric = 'accuracy'\n", "unknown section [gates]"),
    ('[model]\nname = "m"\n[data]\npahts = ["a.csv"]\n', "unknown key data.pahts (known in [data]: paths,"),
    (BASE + "[training]\nholdout = 1.5\n", "training.holdout must be a number strictly between 0 and 1, got 1.5"),
    (BASE + "[training]\nholdout = 0\n", "training.holdout must be"),
    (BASE + "[training]\nseed = 1.5\n", "training.seed must be an integer"),
    (BASE + "[training]\nfeatures = 'best'\n", "training.features must be one of auto, mean"),
    (BASE + "[gate]\nmetric = 'f1'\n", "gate.metric must be one of accuracy, macro_f1, got 'f1'"),
    (BASE + "[gate]\nmin_score = 'high'\n", "gate.min_score must be a number between 0 and 1, got 'high'"),
    (BASE + "[gate]\nchecks = 'yes'\n", "gate.checks must be true or false, got 'yes'"),
    (BASE + "[retention]\nkeep = -1\n", "retention.keep must be an integer at least 0, got -1"),
    (BASE + "[retention]\nkeep = true\n", "retention.keep must be an integer"),
    ('[model]\nname = "m"\n[data]\npaths = [1]\n', "data.paths must be a list of file paths or glob patterns"),
    ('[model]\nname = "m"\n[data]\nsql_url = "sqlite:///x.db"\n', "data.sql_url and data.sql_query go together"),
    ('[model]\nname = "m"\n[data]\ntext_column = "t"\n', "[data] names no labelled data"),
    ('[data]\npaths = ["a.csv"]\n', "model.name is required"),
    ('[model]\nname = ""\n[data]\npaths = ["a.csv"]\n', "model.name must be a non-empty string"),
    ("model = 3\n", "[model] must be a table"),
    ("[model\nname = 'm'\n", "not valid TOML"),
])
def test_bad_configs_are_refused_by_name(tmp_path, text, message):
    """Each mistake is one ConfigError naming the file and the key."""
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert message in str(err.value) and str(tmp_path / "job.toml") in str(err.value)


def test_a_missing_config_file_is_a_config_error(tmp_path):
    """A config path that does not exist is refused naming it."""
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")


def test_every_key_is_documented_in_retrain_md():
    """docs/retrain.md has a section per config section and a table row per key."""
    text = RETRAIN_MD.read_text("utf-8")
    for section, keys in KEYS.items():
        assert f"### `[{section}]`" in text, section
        block = text.split(f"### `[{section}]`", 1)[1].split("\n### ", 1)[0]
        documented = set(re.findall(r"^\| `([a-z_]+)` \|", block, re.M))
        assert documented == set(keys), (section, documented ^ set(keys))
