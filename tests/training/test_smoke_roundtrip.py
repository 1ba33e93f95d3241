"""Train -> save -> load -> predict round trip on a tiny store."""

import numpy as np

from training.registry import ModelRegistry
from training.train import train


def test_round_trip_gives_identical_probabilities(tiny_vectors, sentiment_csv):
    """A saved and reloaded model predicts exactly what the trained one did."""
    store, _, _ = tiny_vectors
    report = train(store=str(store), name="demo", data=str(sentiment_csv), vectors="tiny", features="meanmax", seed=1)
    assert report["version"] == "v1" and report["current"] is True
    assert report["metrics"]["accuracy"] > 0.9
    model, manifest = ModelRegistry(store).load("demo")
    texts = ["A great and wonderful film!", "Awful, boring plot.", "zzz unknown words only"]
    again, _ = ModelRegistry(store).load("demo", "v1")
    np.testing.assert_array_equal(model.predict_proba(texts), again.predict_proba(texts))
    assert list(model.predict(texts[:2])) == ["pos", "neg"]
    assert manifest["vectors"]["name"] == "tiny"
