"""A model with a sentence encoder behind the real gunicorn server (preload, fork): same API, same numbers."""

import pytest

from tests.service.conftest import call, serve
from vecclf.training.inference import Predictor
from vecclf.training.registry import ModelRegistry

pytestmark = pytest.mark.slow


@pytest.fixture(params=["folder", "tuned"])
def encoder_store(request, tiny_vectors, sentiment_csv, tiny_encoder):
    """Train 'enc' with the tiny encoder (by folder, or tuned and named in the store) beside hybrid features."""
    from vecclf.training.encoder_tune import finetune_encoder
    from vecclf.training.train import train

    store, _, _ = tiny_vectors
    encoder = str(tiny_encoder)
    if request.param == "tuned":  # found through the store the server loads from
        encoder = finetune_encoder(str(store), "tuned", str(sentiment_csv), source=encoder, epochs=1,
                                   threads=1)["name"]
    train(store=str(store), name="enc", data=str(sentiment_csv), vectors="tiny", features="hybrid",
          encoder=encoder, seed=0)
    return store


@pytest.fixture
def encoder_server(encoder_store, tmp_path):
    """Serve the store with `vecclf serve` (2 workers); yield (port, process)."""
    yield from serve(encoder_store, tmp_path / "server.log")


def test_workers_forked_after_the_encoder_loaded_answer(encoder_store, encoder_server):
    """The master loads the encoder (preload), forked workers predict with it, single and batch, as in process."""
    texts = ["a great and wonderful film", "boring, awful plot", "the actor was fine"] * 6
    model, _ = ModelRegistry(encoder_store).load("enc")
    expected = Predictor(model).explain(texts)
    port, _ = encoder_server
    for _ in range(4):  # both workers, most likely
        status, body = call(port, "POST", "/v1/models/enc/predict", {"texts": texts[:1]}, timeout=60)
        assert status == 200, body
        assert body["predictions"][0]["label"] == expected[0]["label"]
        assert body["predictions"][0]["confidence"] == pytest.approx(expected[0]["confidence"], abs=1e-5)
    status, body = call(port, "POST", "/v1/models/enc/predict", {"texts": texts}, timeout=60)
    assert status == 200, body
    assert [p["label"] for p in body["predictions"]] == [e["label"] for e in expected]
    status, body = call(port, "GET", "/v1/models/enc")
    assert status == 200 and body["name"] == "enc"
