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
        cross_validate(_ds(["a"] * 10 + ["b"] * 2), _never, 5, 0)
    with pytest.raises(DataError, match="at least 2 folds"):
        cross_validate(_ds(["a"] * 10 + ["b"] * 2), _never, 1, 0)


def _never(part):
    raise AssertionError("a refused --cv must not start a selection")


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


def _spy_on_training(monkeypatch) -> list:
    """Log, in order, the texts every selection searches, every model fits on and every model predicts."""
    from vecclf.training import selection
    from vecclf.training.model import TextModel

    log = []
    choose_config, fit, predict = selection.choose_config, TextModel.fit, TextModel.predict

    def spy_choose(texts, labels, **kw):
        log.append(("search", sorted(texts)))
        return choose_config(texts, labels, **kw)

    def spy_fit(self, texts, labels, **kw):
        log.append(("fit", sorted(texts)))
        if kw.get("shared") is not None:  # the search's shared work: of the same rows, never of held-out ones
            log.append(("shared", sorted(kw["shared"].texts)))
        return fit(self, texts, labels, **kw)

    def spy_predict(self, texts):
        log.append(("predict", sorted(texts)))
        return predict(self, texts)

    monkeypatch.setattr(selection, "choose_config", spy_choose)
    monkeypatch.setattr(TextModel, "fit", spy_fit)
    monkeypatch.setattr(TextModel, "predict", spy_predict)
    return log


@pytest.mark.parametrize("features", ["auto", "mean"])
def test_nested_cv_keeps_each_held_out_fold_out_of_its_selection(tiny_vectors, tmp_path, monkeypatch, features):
    """--cv K selects and fits inside each fold on its training rows only; only the final model sees every row."""
    from sklearn.model_selection import StratifiedKFold

    store, _, _ = tiny_vectors
    texts, labels = make_corpus(60)
    path = write_csv(tmp_path / "d.csv", [{"text": t, "label": l} for t, l in zip(texts, labels)])
    log = _spy_on_training(monkeypatch)
    report = train(store=str(store), name="m", data=str(path), vectors="tiny", features=features, cv=3, seed=4,
                   budget=0)
    rows = lambda idx: sorted(texts[i] for i in idx)  # noqa: E731
    expected = []
    for tr, te in StratifiedKFold(3, shuffle=True, random_state=4).split(texts, labels):
        assert not set(rows(tr)) & set(rows(te))
        # The fold's search and fit see exactly its training rows; the rows it is scored on come after.
        expected += [("search", rows(tr)), ("fit", rows(tr)), ("predict", rows(te))]
    expected += [("search", sorted(texts)), ("fit", sorted(texts))]  # the model: chosen and fitted on every row
    if features == "auto":
        expected.append(("shared", sorted(texts)))
    assert log == expected
    assert len(report["metrics"]["fold_choices"]) == 3


def test_nested_cv_scores_each_fold_with_its_own_choice(tiny_vectors, tmp_path, monkeypatch):
    """Each outer fold is scored with what its own selection chose, and fold_choices lists those choices in order."""
    from vecclf.training import selection

    store, _, _ = tiny_vectors
    texts, labels = make_corpus(60)
    path = write_csv(tmp_path / "d.csv", [{"text": t, "label": l} for t, l in zip(texts, labels)])
    calls = iter([("sif", 0.5), ("mean", 2.0), ("dense", 3.0), ("mean", 1.0)])
    real = selection.choose_config

    def pick(texts, labels, **kw):
        feats, c = next(calls)
        config, _ = real(texts, labels, **{**kw, "features": feats, "C": c})
        return config, {"mode": "auto", "chosen": {"features": feats, "C": c}}

    monkeypatch.setattr(selection, "choose_config", pick)
    report = train(store=str(store), name="m", data=str(path), vectors="tiny", cv=3)
    assert report["metrics"]["fold_choices"] == [{"features": "sif", "C": 0.5}, {"features": "mean", "C": 2.0},
                                                 {"features": "dense", "C": 3.0}]
    # The model itself is chosen on all the rows, after the folds.
    assert (report["config"]["features"], report["config"]["C"]) == ("mean", 1.0)
