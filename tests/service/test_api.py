"""Contract tests of the JSON API with the Flask test client."""

import numpy as np

from tests.service.conftest import predict
from vecclf.training.registry import ModelRegistry


def test_healthz_says_ok(client):
    """/healthz answers {"status": "ok"}."""
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json == {"status": "ok"}


def test_readyz_is_ready_when_every_model_loaded(client):
    """/readyz is 200 and lists each model's serving version."""
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json["status"] == "ready"
    assert {n: m["version"] for n, m in r.json["models"].items()} == {"mood": "v1", "sentiment": "v1"}


def test_readyz_is_503_when_a_configured_model_is_missing(store, config):
    """A configured model that cannot be loaded makes /readyz 503 and names it."""
    from vecclf.service import create_app

    client = create_app(config.replace(models=("sentiment", "absent"))).test_client()
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json["missing"] == ["absent"] and r.json["status"] == "not_ready"


def test_models_lists_every_model_with_metadata(client):
    """/v1/models describes both served models with the contract's fields."""
    models = client.get("/v1/models").json["models"]
    assert [m["name"] for m in models] == ["mood", "sentiment"]
    for m in models:
        assert {"name", "version", "labels", "metrics", "vectors", "created_at"} <= set(m)
        assert m["labels"] == ["neg", "pos"] and m["vectors"]["name"] == "tiny"


def test_one_model_metadata(client):
    """/v1/models/<name> describes that model's serving version."""
    r = client.get("/v1/models/sentiment")
    assert r.status_code == 200 and r.json["name"] == "sentiment" and r.json["version"] == "v1"


def test_predict_returns_one_prediction_per_text(client, store):
    """predict answers label, confidence and every label's score, equal to the model's own."""
    texts = ["A great and wonderful film!", "Awful, boring plot.", ""]
    r = predict(client, texts=texts)
    assert r.status_code == 200
    body = r.json
    assert body["model"] == "sentiment" and body["version"] == "v1"
    assert [p["label"] for p in body["predictions"][:2]] == ["pos", "neg"]
    model, _ = ModelRegistry(store).load("sentiment")
    expected = model.predict_proba(texts)
    got = np.array([[p["scores"]["neg"], p["scores"]["pos"]] for p in body["predictions"]])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    for p in body["predictions"]:
        assert p["confidence"] == max(p["scores"].values())


def test_predict_serves_several_models_at_once(client):
    """Each model answers under its own name and version."""
    for name in ("sentiment", "mood"):
        r = predict(client, name=name)
        assert r.status_code == 200 and r.json["model"] == name
        assert r.json["predictions"][0]["label"] == "pos"


def test_embed_returns_vectors_of_the_model_dim(client, store):
    """embed answers the document embedding the classifier sees."""
    r = client.post("/v1/models/sentiment/embed", json={"texts": ["good film", "bad film"]})
    assert r.status_code == 200
    assert r.json["dim"] == 16 and len(r.json["vectors"]) == 2 and len(r.json["vectors"][0]) == 16
    model, _ = ModelRegistry(store).load("sentiment")
    np.testing.assert_allclose(r.json["vectors"], model.embedder().transform(["good film", "bad film"]), atol=1e-6)


def test_every_response_has_a_request_id(client):
    """Successes and errors both carry X-Request-ID."""
    assert client.get("/healthz").headers["X-Request-ID"]
    assert client.get("/v1/models/nope").headers["X-Request-ID"]


def test_unexpected_error_is_a_json_500_without_trace(app, client, monkeypatch):
    """A bug inside a handler gives a JSON 500 naming the request id, never a traceback."""
    served = app.extensions["vecclf.models"].get("sentiment")

    def boom(texts):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(served.predictor, "explain", boom)
    r = predict(client)
    assert r.status_code == 500
    assert r.json["error"]["code"] == "internal_error"
    assert r.headers["X-Request-ID"] in r.json["error"]["message"]
    assert "secret" not in r.get_data(as_text=True) and "Traceback" not in r.get_data(as_text=True)
