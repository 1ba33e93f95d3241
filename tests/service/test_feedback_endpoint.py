"""POST /v1/models/<name>/feedback, GET /v1/models/<name>/review and GET /v1/feedback."""

import pytest

from tests.service.conftest import metric_value
from vecclf.service import create_app
from vecclf.training.database import database_url
from vecclf.training.feedback import FeedbackStore

URL = "/v1/models/sentiment/feedback"
FEEDBACK_TOKEN = "feedback-token-0123456789"


@pytest.fixture
def rows(store):
    """Return a function listing the stored feedback rows of a model."""
    fs = FeedbackStore(database_url(store, None))
    yield lambda model="sentiment": list(fs.rows(model))
    fs.dispose()


def make(config, **changes):
    """Return a test client of an app built with ``changes`` to the config."""
    app = create_app(config.replace(**changes))
    app.config["TESTING"] = True
    return app.test_client()


def test_feedback_is_stored_with_the_serving_versions_prediction(client, rows):
    """201 with the id; the row has the model, serving version, its prediction, time and request id."""
    r = client.post(URL, json={"text": "A great and wonderful film!", "label": "neg", "prediction_id": "pred-1"},
                    headers={"X-Request-ID": "fb-1"})
    assert r.status_code == 201
    body = r.json
    assert body["model"] == "sentiment" and body["version"] == "v1" and body["label"] == "neg"
    assert body["prediction"]["label"] == "pos" and body["agrees"] is False
    (row,) = rows()
    assert row["id"] == body["id"] and row["version"] == "v1" and row["predicted"] == "pos"
    assert row["confidence"] == pytest.approx(body["prediction"]["confidence"])
    assert (row["request_id"], row["prediction_id"], row["source"]) == ("fb-1", "pred-1", "api")
    assert row["created_at"].endswith("+00:00")


@pytest.mark.parametrize("body,status,code", [
    ({"label": "pos"}, 400, "missing_field"),
    ({"text": "fine"}, 400, "missing_field"),
    ({"text": 3, "label": "pos"}, 400, "invalid_text"),
    ({"text": ["a"], "label": "pos"}, 400, "invalid_text"),
    ({"text": "   ", "label": "pos"}, 400, "empty_text"),
    ({"text": "fine", "label": "meh"}, 400, "unknown_label"),
    ({"text": "fine", "label": ["pos"]}, 400, "invalid_label"),
    ({"text": "fine", "label": 1}, 400, "invalid_label"),
    ({"text": "fine", "label": ""}, 400, "invalid_label"),
    ({"text": "fine", "label": "pos", "prediction_id": "has spaces"}, 400, "invalid_prediction_id"),
    ({"text": "fine", "label": "pos", "extra": 1}, 400, "unknown_field"),
    (["fine", "pos"], 400, "invalid_body"),
    ({"text": "x" * 2001, "label": "pos"}, 413, "text_too_long"),
])
def test_bad_feedback(client, rows, body, status, code):
    """Each bad body gets its JSON error, and nothing is stored."""
    r = client.post(URL, json=body)
    assert (r.status_code, r.json["error"]["code"]) == (status, code)
    assert rows() == []


@pytest.mark.parametrize("kwargs,status,code", [
    ({"data": "{not json", "content_type": "application/json"}, 400, "invalid_json"),
    ({"data": "", "content_type": "application/json"}, 400, "empty_body"),
    ({"data": "text=a&label=pos", "content_type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
    ({"data": "{" + " " * 200_001 + "}", "content_type": "application/json"}, 413, "body_too_large"),
])
def test_bad_bodies_get_predicts_errors(client, kwargs, status, code):
    """Predict's body checks and limits apply to feedback too."""
    r = client.post(URL, **kwargs)
    assert (r.status_code, r.json["error"]["code"]) == (status, code)


def test_unknown_model_is_404(client):
    """Feedback for a model that is not served is a 404."""
    r = client.post("/v1/models/nope/feedback", json={"text": "a", "label": "pos"})
    assert r.status_code == 404 and r.json["error"]["code"] == "model_not_found"


def test_new_labels_need_the_models_feedback_toml(client, store, rows):
    """A label the model does not know is stored once its feedback.toml allows new labels."""
    assert client.post(URL, json={"text": "so so", "label": "mixed"}).status_code == 400
    (store / "sentiment" / "feedback.toml").write_text("allow_new_labels = true\n")
    r = client.post(URL, json={"text": "so so", "label": "mixed"})
    assert r.status_code == 201 and [x["label"] for x in rows()] == ["mixed"]
    assert client.get("/v1/feedback").json["models"]["sentiment"] == {"allow_new_labels": True}
    (store / "sentiment" / "feedback.toml").write_text("allow_new_labels = 'maybe'\n")
    r = client.post(URL, json={"text": "so so", "label": "mixed"})
    assert r.status_code == 500 and r.json["error"]["code"] == "invalid_model_config"


@pytest.mark.parametrize("header,status", [
    (None, 401),
    ("Bearer wrong-token-0123456789", 401),
    (f"Basic {FEEDBACK_TOKEN}", 401),
    (f"Bearer {FEEDBACK_TOKEN}x", 401),
    (f"Bearer {FEEDBACK_TOKEN}", 201),
    (f"bearer {FEEDBACK_TOKEN}", 201),
])
def test_the_feedback_token(config, header, status):
    """With VECCLF_FEEDBACK_TOKEN set, only the right bearer token may send feedback or read the queue."""
    client = make(config, feedback_token=FEEDBACK_TOKEN)
    headers = {"Authorization": header} if header else {}
    r = client.post(URL, json={"text": "fine", "label": "pos"}, headers=headers)
    assert r.status_code == status
    assert client.get("/v1/models/sentiment/review", headers=headers).status_code == (200 if status == 201 else 401)
    if status == 401:
        assert r.json["error"]["code"] == "unauthorized" and "Bearer" in r.headers["WWW-Authenticate"]
    assert client.get("/v1/feedback").json["token_required"] is True


def test_feedback_can_be_turned_off(config, store):
    """VECCLF_FEEDBACK=off answers 403 and never creates the database."""
    client = make(config, feedback=False)
    r = client.post(URL, json={"text": "fine", "label": "pos"})
    assert r.status_code == 403 and r.json["error"]["code"] == "feedback_disabled"
    assert client.get("/v1/models/sentiment/review").status_code == 403
    assert client.get("/v1/feedback").json["enabled"] is False
    assert not (store / "vecclf.db").exists()


def test_a_database_that_is_down_is_503_and_predict_still_works(config):
    """Feedback answers 503 storage_unavailable while the database is unreachable; predictions go on."""
    client = make(config, database_url="postgresql://u@127.0.0.1:1/db?connect_timeout=2")
    r = client.post(URL, json={"text": "fine", "label": "pos"})
    assert r.status_code == 503 and r.json["error"]["code"] == "storage_unavailable"
    assert client.post("/v1/models/sentiment/predict", json={"texts": ["fine"]}).status_code == 200


def test_metrics_count_feedback_and_agreement(client):
    """/metrics counts feedback per model and version, agreements, and shows their ratio."""
    labels = {"model": "sentiment", "version": "v1"}

    def read():
        page = client.get("/metrics").get_data(as_text=True)
        return [metric_value(page, name, **labels)
                for name in ("vecclf_feedback_total", "vecclf_feedback_agreed_total", "vecclf_feedback_agreement")]

    total, agreed, _ = read()  # the in-process registry outlives each test's app
    for label in ("pos", "pos", "pos", "neg"):
        assert client.post(URL, json={"text": "A great and wonderful film!", "label": label}).status_code == 201
    total_now, agreed_now, ratio = read()
    assert (total_now - total, agreed_now - agreed) == (4, 3)
    assert ratio == pytest.approx(agreed_now / total_now)


def test_review_listing_and_its_limit(client, store):
    """The review endpoint lists open items most uncertain first; a bad limit is a 400."""
    FeedbackStore(database_url(store, None)).enqueue(
        [{"model": "sentiment", "version": "v1", "text": t, "predicted": "pos", "confidence": c}
         for t, c in [("a", 0.9), ("b", 0.6), ("c", 0.7)]])
    r = client.get("/v1/models/sentiment/review?limit=2")
    assert r.status_code == 200 and [i["text"] for i in r.json["items"]] == ["b", "c"]
    for bad in ("0", "x", "1001", "-1"):
        r = client.get(f"/v1/models/sentiment/review?limit={bad}")
        assert r.status_code == 400 and r.json["error"]["code"] == "invalid_limit"
    assert client.get("/v1/models/nope/review").status_code == 404


def test_multilabel_feedback_takes_a_list(client, store, rows, tmp_path):
    """A multi-label label list is stored as a list; a label string is one label."""
    from tests.conftest import write_csv
    from vecclf.training.train import train

    data = write_csv(tmp_path / "ml.csv", [{"text": f"{w} film {i}", "label": lab} for i in range(30)
                                           for w, lab in (("great", "pos|fun"), ("awful", "neg"))])
    train(store=str(store), name="tags", data=str(data), vectors="tiny", features="mean", seed=0)
    app = create_app(client.application.config["VECCLF"])
    r = app.test_client().post("/v1/models/tags/feedback", json={"text": "great film", "label": ["neg", "fun"]})
    assert r.status_code == 201 and r.json["label"] == ["fun", "neg"] and isinstance(r.json["prediction"]["label"], list)
    assert rows("tags")[0]["label"] == ["fun", "neg"]


def test_round_trip_through_postgresql(config, postgres_url, capsys):
    """With VECCLF_DATABASE_URL on PostgreSQL, feedback posted to the service is what `vecclf feedback list` prints."""
    import json

    from vecclf.training.cli import main

    client = make(config, database_url=postgres_url)
    ids = [client.post(URL, json={"text": f"text {i}", "label": "pos"}).json["id"] for i in range(3)]
    assert main(["feedback", "list", "--name", "sentiment", "--store", config.store],
                {"VECCLF_DATABASE_URL": postgres_url}) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == ids and [r["text"] for r in rows] == ["text 0", "text 1", "text 2"]
    assert {r["version"] for r in rows} == {"v1"}
    client.application.extensions["vecclf.feedback"].dispose()
