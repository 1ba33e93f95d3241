"""The fast inference path gives the model's own numbers, or steps aside."""

import numpy as np
import pytest

from training.inference import Predictor
from training.registry import ModelRegistry
from training.train import train

TEXTS = ["A great and wonderful film!", "Awful, boring plot.", "", "zzz unknown", "Good good bad. The film!"]


@pytest.mark.parametrize("features,compiled", [("mean", True), ("meanmax", True), ("sif", True), ("hybrid", False)])
def test_predictor_matches_the_model(tiny_vectors, sentiment_csv, features, compiled):
    """Scores, labels and embeddings equal TextModel's for every feature set; hybrid stays on the pipeline."""
    store, _, _ = tiny_vectors
    train(store=str(store), name="m", data=str(sentiment_csv), vectors="tiny", features=features, seed=1)
    model, _ = ModelRegistry(store).load("m")
    predictor = Predictor(model)
    assert predictor.compiled is compiled
    np.testing.assert_allclose(predictor.predict_proba(TEXTS), model.predict_proba(TEXTS), atol=1e-6)
    for fast, slow in zip(predictor.explain(TEXTS), model.explain(TEXTS)):
        assert fast["label"] == slow["label"]
        assert fast["confidence"] == pytest.approx(slow["confidence"], abs=1e-6)
    np.testing.assert_allclose(predictor.embed(TEXTS), model.embedder().transform(TEXTS), atol=1e-6)
    assert predictor.embed(TEXTS[:1]).shape == (1, predictor.dim)


def test_single_and_batch_agree(tiny_vectors, sentiment_csv):
    """A text scores the same alone and inside a batch."""
    store, _, _ = tiny_vectors
    train(store=str(store), name="m", data=str(sentiment_csv), vectors="tiny", features="mean", seed=1)
    predictor = Predictor(ModelRegistry(store).load("m")[0])
    batch = predictor.predict_proba(TEXTS)
    for i, text in enumerate(TEXTS):
        np.testing.assert_allclose(predictor.predict_proba([text])[0], batch[i], atol=1e-7)
    assert predictor.predict_proba([]).shape == (0, 2)
