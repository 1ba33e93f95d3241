"""Metrics: accuracy, macro-F1, per-class scores and the confusion matrix, single- and multi-label."""

import pytest

from vecclf.training.data import Dataset
from vecclf.training.errors import DataError
from vecclf.training.evaluate import check_known_labels, check_label_kind, metrics


def test_single_label_metrics():
    """Accuracy, macro-F1, per-class and confusion matrix match a hand count."""
    m = metrics(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b"])
    assert m["accuracy"] == 0.75 and m["n"] == 4
    assert m["confusion_matrix"] == {"labels": ["a", "b"], "matrix": [[1, 1], [0, 2]]}
    assert m["per_class"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_multilabel_metrics():
    """Multi-label metrics give subset accuracy, micro/macro F1 and Hamming loss."""
    m = metrics([("a", "b"), ("a",)], [("a", "b"), ("b",)], ["a", "b"], multilabel=True)
    assert m["accuracy"] == 0.5 and m["hamming_loss"] == 0.5
    assert m["per_class"]["a"]["recall"] == 0.5 and "confusion_matrix" not in m


def _ds(labels, multilabel=False):
    return Dataset("ev.csv", ["t"] * len(labels), labels, "utf-8", "csv", multilabel, 0, list(range(2, 2 + len(labels))))


BAD = [
    (lambda: check_known_labels(_ds(["a", "c"]), ["a", "b"], "label"),
     "ev.csv: row 3: column 'label' has label 'c', which the model does not know (it knows: a, b)"),
    (lambda: check_known_labels(_ds([("a",), ("a", "z")], True), ["a", "b"], "tag"),
     "ev.csv: row 3: column 'tag' has label 'z'"),
    (lambda: check_label_kind(_ds([("a",), ("a", "b")], True), False, "label"),
     "ev.csv: row 3: column 'label' holds several labels (a|b), but the model was trained with one label per text"),
]


@pytest.mark.parametrize("check, message", BAD)
def test_label_checks(check, message):
    """Labels the model cannot score are refused with the file, row and column."""
    with pytest.raises(DataError) as info:
        check()
    assert message in str(info.value)


def test_multilabel_model_accepts_single_label_rows():
    """Single-label rows are fine for a multi-label model."""
    check_label_kind(_ds([("a",), ("b",)], True), True, "label")
    check_label_kind(_ds(["a", "b"]), True, "label")
    assert check_known_labels(_ds(["a"]), ["a"], "label") is None
