"""A running service serves the version `vecclf retrain` promotes, without a restart."""

import time

from tests.conftest import make_corpus, write_csv
from vecclf.service import create_app
from vecclf.training.retrain import retrain
from vecclf.training.retrain_config import load_config


def _served_version(client) -> str:
    response = client.post("/v1/models/sentiment/predict", json={"texts": ["a great film"]})
    assert response.status_code == 200
    return response.get_json()["version"]


def test_service_serves_the_promoted_version_without_restart(config, store, tmp_path):
    """The watcher of a live app picks up the retrain's promotion within its poll interval; requests never fail."""
    texts, labels = make_corpus(200, seed=5)
    write_csv(tmp_path / "labels.csv", [{"text": t, "label": l} for t, l in zip(texts, labels)])
    job = tmp_path / "job.toml"
    job.write_text('[model]\nname = "sentiment"\n[data]\npaths = ["labels.csv"]\n'
                   '[training]\nvectors = "tiny"\nfeatures = "mean"\n[gate]\nchecks = false\n')
    app = create_app(config.replace(poll_interval=0.2))
    client = app.test_client()
    try:
        assert _served_version(client) == "v1"  # the first request starts the watcher
        result = retrain(load_config(job), store=str(store))
        assert result["decision"] == "promoted" and result["current"] == "v3"
        deadline = time.monotonic() + 10
        while _served_version(client) != "v3" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _served_version(client) == "v3"
        assert client.get("/v1/models/sentiment").get_json()["version"] == "v3"
    finally:
        app.extensions["vecclf.models"].stop()
