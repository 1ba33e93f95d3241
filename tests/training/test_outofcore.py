"""Out-of-core logistic regression: features by chunks, SGD epochs, served like the in-memory model."""

import numpy as np
import pytest
from sklearn.linear_model import SGDClassifier

from tests.conftest import make_corpus
from vecclf.training import model as model_module
from vecclf.training import outofcore
from vecclf.training.inference import Predictor
from vecclf.training.model import TextModel


@pytest.fixture
def small_chunks(monkeypatch):
    """Make every fit of 60 rows or more out of core, in chunks of 25 rows."""
    monkeypatch.setattr(model_module, "OUT_OF_CORE_ROWS", 60)
    monkeypatch.setattr(outofcore, "CHUNK_ROWS", 25)


@pytest.mark.parametrize("features, n_classes, class_weight", [("hybrid", 2, None), ("hybrid-pos", 3, "balanced"),
                                                                ("mean", 2, "balanced")])
def test_large_fits_are_out_of_core_and_compile(tiny_vectors, small_chunks, features, n_classes, class_weight):
    """Above the row threshold the head is log-loss SGD; it learns the task and the compiled path agrees with it."""
    store, _, _ = tiny_vectors
    texts, labels = make_corpus(160)
    if n_classes == 3:
        labels = [lab if i % 5 else "other" for i, lab in enumerate(labels)]
    model = TextModel(vectors="tiny", store=str(store), features=features, C=10.0, class_weight=class_weight).fit(
        texts, labels)
    assert type(model.pipeline_.named_steps["clf"]) is SGDClassifier
    assert np.mean(model.predict(texts) == np.asarray(labels, dtype=object)) > 0.8
    predictor = Predictor(model)
    assert predictor.compiled is True, predictor.fallback
    np.testing.assert_allclose(predictor.predict_proba(texts[:20]), model.predict_proba(texts[:20]), atol=1e-5)


def test_out_of_core_fits_are_reproducible(tiny_vectors, small_chunks):
    """The same seed gives the same weights (chunks and rows are shuffled by it)."""
    store, _, _ = tiny_vectors
    texts, labels = make_corpus(100)
    fit = [TextModel(vectors="tiny", store=str(store), features="hybrid", seed=3).fit(texts, labels)
           for _ in range(2)]
    coef = [m.pipeline_.named_steps["clf"].coef_ for m in fit]
    np.testing.assert_array_equal(coef[0], coef[1])


def test_multilabel_and_small_sets_stay_in_memory(tiny_vectors, small_chunks):
    """Multi-label data (and anything under the threshold) keeps the in-memory solver."""
    store, _, _ = tiny_vectors
    texts, labels = make_corpus(100)
    multi = TextModel(vectors="tiny", store=str(store), features="mean").fit(texts, [(lab,) for lab in labels])
    small = TextModel(vectors="tiny", store=str(store), features="mean").fit(texts[:40], labels[:40])
    assert type(multi.pipeline_.named_steps["clf"]) is not SGDClassifier
    assert type(small.pipeline_.named_steps["clf"]) is not SGDClassifier


def test_out_of_core_model_round_trips_as_a_bundle(tiny_vectors, small_chunks):
    """A bundle of an SGD-headed model saves (trusted types only) and reloads to the same probabilities."""
    from vecclf.training.registry import ModelRegistry

    store, _, _ = tiny_vectors
    texts, labels = make_corpus(100)
    model = TextModel(vectors="tiny", store=str(store), features="hybrid").fit(texts, labels)
    reg = ModelRegistry(store)
    reg.save("big", model, {"vectors": {"name": "tiny", "sha256": model.embedder().vectors_sha256_}})
    loaded, _ = reg.load("big")
    np.testing.assert_array_equal(loaded.predict_proba(texts[:10]), model.predict_proba(texts[:10]))


def test_fitted_unions_transform_in_process(tiny_vectors, small_chunks):
    """Blocks fit in threads, but a fitted model's feature union keeps no n_jobs (no worker processes later)."""
    store, _, _ = tiny_vectors
    texts, labels = make_corpus(100)
    for n in (100, 40):  # out of core, and in memory
        model = TextModel(vectors="tiny", store=str(store), features="hybrid", n_jobs=2).fit(texts[:n], labels[:n])
        assert model.pipeline_.named_steps["features"].n_jobs is None
