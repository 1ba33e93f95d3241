"""TextModel: predict/explain contract for single- and multi-label models."""

import numpy as np
import pytest

from tests.conftest import make_corpus
from vecclf.training.errors import DataError
from vecclf.training.model import TextModel


@pytest.fixture
def model(tiny_vectors):
    """Return a single-label model fitted on the synthetic reviews."""
    store, _, _ = tiny_vectors
    texts, labels = make_corpus(80)
    return TextModel(vectors="tiny", store=str(store), features="mean").fit(texts, labels)


def test_explain_gives_label_confidence_and_scores(model):
    """explain returns the top label, its confidence and every label's score (summing to 1)."""
    out = model.explain(["a great film", "awful plot"])
    assert [o["label"] for o in out] == ["pos", "neg"]
    for o in out:
        assert set(o["scores"]) == {"neg", "pos"} and o["confidence"] == max(o["scores"].values())
        assert sum(o["scores"].values()) == pytest.approx(1)


def test_empty_batch(model):
    """An empty batch gives empty predictions, not an error."""
    assert model.predict_proba([]).shape == (0, 2) and len(model.predict([])) == 0


BAD_FIT = [
    (["a", "b"], ["x"], "2 texts but 1 labels"),
    (["a", "b"], ["x", "x"], "need at least two classes"),
    ("just one string", ["x"], "single string"),
    ([1, 2], ["x", "y"], "text 0 is int"),
]


@pytest.mark.parametrize("texts, labels, message", BAD_FIT)
def test_bad_fit_input(texts, labels, message, tiny_vectors):
    """Unusable training input raises DataError saying what is wrong."""
    store, _, _ = tiny_vectors
    with pytest.raises(DataError, match=message):
        TextModel(vectors="tiny", store=str(store), features="mean").fit(texts, labels)


def test_multilabel_threshold_and_fallback(tiny_vectors):
    """Multi-label models predict every label over the threshold, and at least the top one."""
    store, _, _ = tiny_vectors
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for i in range(60):
        kind = i % 3
        words = (["good", "great"] if kind != 1 else []) + (["bad", "awful"] if kind != 0 else [])
        texts.append(" ".join(list(rng.permutation(words)) + ["film"]))
        labels.append(("happy",) if kind == 0 else ("sad",) if kind == 1 else ("happy", "sad"))
    m = TextModel(vectors="tiny", store=str(store), features="meanmax", C=10).fit(texts, labels)
    assert m.multilabel_ and list(m.classes_) == ["happy", "sad"]
    assert m.predict(["good great film", "bad awful film"]) == [("happy",), ("sad",)]
    high = TextModel(vectors="tiny", store=str(store), features="meanmax", C=10, threshold=1.01).fit(texts, labels)
    assert all(len(p) == 1 for p in high.predict(["good bad film", "film"]))
    assert all("labels" in e for e in m.explain(["good film"]))
