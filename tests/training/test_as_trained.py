"""evaluate, predict and check read data with the columns and format the model was trained with."""

import json

import pytest

from tests.conftest import make_corpus, write_csv
from vecclf.training.data import as_trained


@pytest.fixture
def custom(tmp_path, cli, tiny_vectors):
    """Train model "c" on a TSV-as-.data file with columns body/sentiment; return (run, folder)."""
    store, _, _ = tiny_vectors
    texts, labels = make_corpus(80, seed=0)
    lines = ["body\tsentiment"] + [f"{t}\t{l}" for t, l in zip(texts, labels)]
    (tmp_path / "train.data").write_text("\n".join(lines) + "\n", encoding="utf-8")
    texts, labels = make_corpus(30, seed=1)
    (tmp_path / "test.data").write_text("\n".join(["body\tsentiment"] + [f"{t}\t{l}" for t, l in zip(texts, labels)])
                                        + "\n", encoding="utf-8")
    write_csv(tmp_path / "test.csv", [{"body": t, "sentiment": l} for t, l in zip(texts, labels)])

    def run(*argv):
        return cli(*argv, "--store", store)

    code, _, err = run("train", "--name", "c", "--data", tmp_path / "train.data", "--format", "tsv", "--vectors", "tiny",
                       "--features", "mean", "--text-column", "body", "--label-column", "sentiment")
    assert code == 0, err
    return run, tmp_path


@pytest.mark.parametrize("name", ["test.data", "test.csv"])
def test_evaluate_needs_no_column_flags(custom, name):
    """evaluate reads a file with the model's own column names, and its format when the extension matches."""
    run, folder = custom
    code, out, err = run("evaluate", "--name", "c", "--data", folder / name)
    assert code == 0, err
    assert json.loads(out)["metrics"]["n"] == 30


def test_flags_still_win_over_the_trained_columns(custom):
    """A column flag given on the command line is used instead of the remembered one."""
    run, folder = custom
    code, _, err = run("evaluate", "--name", "c", "--data", folder / "test.csv", "--text-column", "text")
    assert code == 2 and "'text'" in err


def test_predict_and_check_use_the_trained_columns(custom):
    """predict --input and check --suite read the model's text (and label) columns without flags."""
    run, folder = custom
    code, out, err = run("predict", "--name", "c", "--input", folder / "test.csv")
    assert code == 0, err
    assert len(out.splitlines()) == 30
    code, out, err = run("check", "--name", "c", "--suite", folder / "test.data", "--min-pass-rate", "0.5")
    suite = next(c for c in json.loads(out)["checks"] if c["name"] == "suite")
    assert suite["cases"] == 30, err


@pytest.mark.parametrize(
    "trained, path, given, expected",
    [
        (None, "x.csv", {}, ("text", "label", "auto")),
        ({"path": "/d/t.data", "format": "tsv", "text_column": "b", "label_column": "s"}, "e.data", {},
         ("b", "s", "tsv")),
        ({"path": "/d/t.data", "format": "tsv", "text_column": "b", "label_column": "s"}, "e.jsonl", {},
         ("b", "s", "auto")),
        ({"path": "/d/t.txt", "format": "tsv"}, "e.txt.gz", {}, ("text", "label", "tsv")),
        ({"path": "/d/t.csv", "format": "csv"}, "e", {}, ("text", "label", "csv")),
        ({"path": "/d/t.csv", "format": "csv", "text_column": "b"}, "e.csv",
         {"text_column": "t", "label_column": "l", "fmt": "jsonl"}, ("t", "l", "jsonl")),
    ],
)
def test_as_trained_resolution(trained, path, given, expected):
    """Flags win; else the manifest's columns; its format only for the same (or an unknown) extension."""
    how = as_trained(trained, path, **given)
    assert (how["text_column"], how["label_column"], how["fmt"]) == expected
