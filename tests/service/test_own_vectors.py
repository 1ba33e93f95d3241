"""Stores made by ``vectors finetune`` and ``vectors train`` serve through the same embedder and HTTP path."""

import numpy as np
import pytest

from tests.conftest import NEW_WORDS as NEW
from tests.conftest import make_corpus, write_csv, write_in_domain
from vecclf.service import create_app
from vecclf.service.config import Config
from vecclf.training.registry import ModelRegistry
from vecclf.training.train import train
from vecclf.training.vectors.finetune import FinetuneSettings, finetune_vectors
from vecclf.training.vectors.store import open_store
from vecclf.training.vectors.trainer import VectorSettings, train_vectors

TEXTS = [f"a good film {NEW[0]}", "bad plot, awful actor", f"{NEW[1]}!"]


def make_store(kind: str, store, tmp_path) -> str:
    """Make a 'finetuned' (from the tiny GloVe store) or 'fasttext' (trained) store; return its name."""
    corpus = write_in_domain(tmp_path / "domain.txt")
    if kind == "finetuned":
        finetune_vectors(store, "tiny", [corpus], "own", FinetuneSettings(epochs=2, min_count=2, workers=1))
    else:
        train_vectors(store, "own", [corpus], VectorSettings(algorithm="fasttext", dim=8, epochs=2, min_count=2,
                                                             workers=1, bucket=2000))
    return "own"


@pytest.mark.parametrize("kind", ["finetuned", "fasttext"])
def test_own_vectors_serve_like_imported_ones(kind, tiny_vectors, tmp_path):
    """/embed answers the model's own embedding of the texts, new in-domain words included; /predict its labels."""
    store, _, _ = tiny_vectors
    name = make_store(kind, store, tmp_path)
    texts, labels = make_corpus(80, seed=2)
    data = write_csv(tmp_path / "train.csv", [{"text": t, "label": l} for t, l in zip(texts, labels)])
    train(store=str(store), name="m", data=str(data), vectors=name, features="mean", seed=0)
    model, manifest = ModelRegistry(store).load("m")
    assert manifest["vectors"]["sha256"] == open_store(store, name).sha256
    app = create_app(Config(store=str(store), poll_interval=0, runtime_dir=str(tmp_path / "run")))
    try:
        client = app.test_client()
        assert client.get("/readyz").status_code == 200
        r = client.post("/v1/models/m/embed", json={"texts": TEXTS})
        assert r.status_code == 200 and r.json["dim"] == open_store(store, name).dim
        expected = model.embedder().transform(TEXTS)
        np.testing.assert_allclose(r.json["vectors"], expected, atol=1e-6)
        assert np.linalg.norm(expected[2]) > 0  # a word only the in-domain text has now has a vector
        r = client.post("/v1/models/m/predict", json={"texts": TEXTS})
        assert r.status_code == 200
        assert [p["label"] for p in r.json["predictions"]] == [str(x) for x in model.predict(TEXTS)]
    finally:
        app.extensions["vecclf.models"].stop()
