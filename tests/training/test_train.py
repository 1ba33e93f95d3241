"""train(): splitting, class weighting, cross-validation and the report it returns."""

import pytest

from tests.conftest import make_corpus, write_csv
from vecclf.training.data import Dataset
from vecclf.training.errors import DataError
from vecclf.training.train import check_trainable, cross_validate, resolve_class_weight, split, train


def _ds(labels, multilabel=False):
    return Dataset("d.csv", [f"t{i}" for i in range(len(labels))], labels, "utf-8", "csv", multilabel,
                   0, list(range(2, len(labels) + 2)))


@pytest.mark.parametrize("labels, requested, expected", [
    (["a"] * 10 + ["b"] * 10, "auto", None),
    (["a"] * 30 + ["b"] * 10, "auto", "balanced"),
    (["a"] * 30 + ["b"] * 10, "none", None),
    (["a"] * 10 + ["b"] * 10, "balanced", "balanced"),
    ([("a",)] * 9 + [("a", "b")] * 3, "auto", "balanced"),
])
def test_resolve_class_weight(labels, requested, expected):
    """auto balances classes when the largest is at least 3x the smallest; explicit choices win."""
    assert resolve_class_weight(labels, requested) == expected


def test_split_is_stratified_and_seeded():
    """The hold-out keeps class proportions, and the same seed gives the same split."""
    ds = _ds(["a"] * 40 + ["b"] * 20)
    tr, te = split(ds, 0.25, seed=3)
    assert len(te) == 15 and sorted(ds.labels[i] for i in te).count("b") == 5
    assert list(split(ds, 0.25, seed=3)[1]) == list(te)
    assert list(split(ds, 0.25, seed=4)[1]) != list(te)


@pytest.mark.parametrize("size", [0, 1, 1.5, -0.2])
def test_split_refuses_bad_sizes(size):
    """--test-size outside (0, 1) is refused with the flag's name."""
    with pytest.raises(DataError, match="--test-size must be between 0 and 1"):
        split(_ds(["a", "b"] * 5), size, 0)


def test_single_class_is_not_trainable():
    """A dataset with one class is refused naming the file, column and class."""
    with pytest.raises(DataError, match=r"d.csv: column 'label' has a single class \('a'\)"):
        check_trainable(_ds(["a"] * 5), "label")


def test_cv_needs_enough_rows_per_class():
    """--cv K with a class of fewer than K rows is refused, saying how many it has."""
    with pytest.raises(DataError, match="--cv 5 needs at least 5 rows of every class; the smallest class has 2"):
        cross_validate(_ds(["a"] * 10 + ["b"] * 2), {}, 5, 0)
    with pytest.raises(DataError, match="at least 2 folds"):
        cross_validate(_ds(["a"] * 10 + ["b"] * 2), {}, 1, 0)


def test_train_report_and_manifest(tiny_vectors, sentiment_csv):
    """train returns the report the CLI prints and records the evaluation kind in the manifest."""
    from vecclf.training.registry import ModelRegistry

    store, _, _ = tiny_vectors
    report = train(store=str(store), name="demo", data=str(sentiment_csv), vectors="tiny", features="sif",
                   classifier="svm", test_size=0.25, seed=2)
    assert set(report) >= {"model", "version", "current", "metrics", "n_train", "n_test", "encoding", "config"}
    assert (report["n_train"], report["n_test"], report["encoding"]) == (90, 30, "utf-8")
    assert report["config"]["features"] == "sif" and report["config"]["classifier"] == "svm"
    m = ModelRegistry(store).manifest("demo")
    assert m["evaluation"] == "holdout" and m["n_test"] == 30 and m["data"]["rows"] == 120


@pytest.mark.parametrize("seed", range(6))
def test_rare_class_stays_in_training(seed):
    """A class too rare to stratify keeps a row in the training part, so the model can learn and evaluate it."""
    ds = _ds(["pos"] * 5 + ["neg"])
    tr, te = split(ds, 0.2, seed)
    assert "neg" in {ds.labels[i] for i in tr}
    assert sorted(list(tr) + list(te)) == list(range(6)) and len(te) >= 1


def test_too_few_rows_to_hold_out(tmp_path):
    """Two rows of two classes cannot give both a training and a test part; the error says what to do."""
    with pytest.raises(DataError, match="too few to hold out a test part; pass --test FILE or --cv K"):
        split(_ds(["a", "b"]), 0.5, 0)


def test_multilabel_cv(tiny_vectors, tmp_path):
    """Cross-validation works for multi-label data and reports multi-label metrics."""
    store, _, _ = tiny_vectors
    texts, labels = make_corpus(60)
    rows = [{"text": t, "label": ("x|" + l) if i % 3 else l} for i, (t, l) in enumerate(zip(texts, labels))]
    path = write_csv(tmp_path / "ml.csv", rows)
    report = train(store=str(store), name="ml", data=str(path), vectors="tiny", features="mean", cv=3)
    assert report["metrics"]["folds"] == 3 and "micro_f1" in report["metrics"]
