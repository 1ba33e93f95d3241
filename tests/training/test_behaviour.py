"""Behavioural checks: invariances and minimum functionality, on tiny and real models."""

import json

import numpy as np
import pytest

from tests.conftest import sentences_csv
from vecclf.training.behaviour import check_model, read_suite, sentiment_label_map
from vecclf.training.errors import DataError
from vecclf.training.registry import ModelRegistry
from vecclf.training.train import train

TINY_SUITE = [
    ("a great and wonderful film", "pos"),
    ("i love it, brilliant", "pos"),
    ("awful, boring, the worst", "neg"),
    ("i hate this terrible plot", "neg"),
]


@pytest.fixture
def tiny_model(tiny_vectors, sentiment_csv):
    store, _, _ = tiny_vectors
    train(store=str(store), name="demo", data=str(sentiment_csv), vectors="tiny", features="hybrid", C=3.0)
    return ModelRegistry(store).load("demo")[0]


class CaseSensitive:
    """A stand-in model whose answer flips with the first letter's case (what invariance must catch)."""

    classes_ = np.array(["neg", "pos"], dtype=object)

    def predict_proba(self, texts):
        return np.array([[0.9, 0.1] if t.strip()[:1].isupper() else [0.1, 0.9] for t in texts])


def test_trained_model_passes_invariance_and_its_suite(tiny_model):
    """A model on a lowercasing store is invariant to case and whitespace and gets obvious cases right."""
    report = check_model(tiny_model, lowercase=True, suite=TINY_SUITE)
    assert report["passed"], report
    names = [c["name"] for c in report["checks"]]
    assert names == ["invariance", "suite"]
    assert report["checks"][0]["cases"] > 20


def test_case_sensitive_model_fails_invariance():
    """A model whose label depends on casing fails the invariance check, naming the perturbation."""
    report = check_model(CaseSensitive(), lowercase=True)
    assert not report["passed"]
    kinds = {f["perturbation"] for f in report["checks"][0]["failures"]}
    assert "lower case" in kinds and "extra whitespace" not in kinds


def test_wrong_suite_expectations_fail_the_gate(tiny_model):
    """Suite cases the model gets wrong lower the pass rate below the threshold."""
    flipped = [(t, "neg" if e == "pos" else "pos") for t, e in TINY_SUITE]
    report = check_model(tiny_model, suite=flipped)
    assert not report["passed"]
    assert report["checks"][1]["pass_rate"] == 0.0


@pytest.mark.parametrize(
    "classes, expected",
    [
        (["negative", "neutral", "positive"], {"positive": "positive", "negative": "negative"}),
        (["0", "1"], {"positive": "1", "negative": "0"}),
        (["NEG", "POS"], {"positive": "POS", "negative": "NEG"}),
        (["sport", "politics"], None),
    ],
)
def test_sentiment_label_map(classes, expected):
    """The built-in sentiment suite applies only to models with recognisable polarity labels."""
    assert sentiment_label_map(classes) == expected


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "line 1: not valid JSON"),
        ('[{"text": "x", "expect": 1}]', "case 1"),
        ('{"text": 1, "expect": "a"}\n', "case 1"),
        ('{"text": "x"}\n', "'label'"),
    ],
)
def test_bad_suite_files(tmp_path, content, message):
    """A malformed suite file (cases, or labelled data without its label column) is refused naming the problem."""
    path = tmp_path / "suite.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_suite(path)


def test_suite_with_unknown_label_is_refused(tiny_model):
    """Expecting a label the model does not have is an error, not a failed check."""
    with pytest.raises(DataError, match="does not know"):
        check_model(tiny_model, suite=[("x", "maybe")])


def test_cli_check_exit_codes(tiny_model, tiny_vectors, cli, tmp_path):
    """`vecclf check` exits 0 when every check passes and 5 when one fails."""
    store, _, _ = tiny_vectors
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps({"text": t, "expect": e}) + "\n" for t, e in TINY_SUITE), encoding="utf-8")
    code, out, err = cli("check", "--name", "demo", "--suite", good, "--store", store)
    assert code == 0, err
    assert json.loads(out)["passed"] is True
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"text": t, "expect": "neg" if e == "pos" else "pos"} for t, e in TINY_SUITE]))
    code, out, _ = cli("check", "--name", "demo", "--suite", bad, "--store", store)
    assert code == 5
    assert json.loads(out)["passed"] is False


@pytest.mark.slow
def test_sst2_model_passes_builtin_sentiment_checks(default_store, tmp_path):
    """A real SST-2 model on the bundled GloVe passes invariance and the obvious-sentiment suite."""
    train_csv = sentences_csv("stsa.binary.train", tmp_path / "sst2-train.csv")
    train(store=str(default_store), name="sst2-behaviour", data=str(train_csv), features="hybrid", C=3.0,
          test_size=0.1)
    model, _ = ModelRegistry(default_store).load("sst2-behaviour")
    report = check_model(model, lowercase=True)
    assert [c["name"] for c in report["checks"]] == ["invariance", "sentiment minimum functionality"]
    assert report["passed"], report


@pytest.mark.candidate
def test_candidate_model(request):
    """With --candidate STORE:MODEL[:VERSION], the given model passes every behavioural check."""
    spec = request.config.getoption("--candidate")
    store, name, *version = spec.split(":")
    reg = ModelRegistry(store)
    model, manifest = reg.load(name, version[0] if version else None)
    from vecclf.training.vectors.store import open_store

    report = check_model(model, lowercase=open_store(store, manifest["vectors"]["name"]).lowercase)
    assert report["passed"], json.dumps(report, indent=1)
