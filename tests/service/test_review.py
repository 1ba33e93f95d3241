"""The opt-in review queue: sampling rate, confidence threshold, both predict paths, a full queue, a failing database."""

import random
from types import SimpleNamespace

import pytest

from tests.service.conftest import metric_value
from vecclf.service import create_app
from vecclf.service.review import ReviewSampler
from vecclf.training.database import database_url
from vecclf.training.feedback import FeedbackStore

MODEL = SimpleNamespace(name="sentiment", version="v1")


@pytest.fixture
def fs(store):
    """Return the FeedbackStore on the test store's SQLite file."""
    feedback = FeedbackStore(database_url(store, None))
    yield feedback
    feedback.dispose()


def predictions(confidences):
    """Return predict answers with these top confidences."""
    return [{"label": "pos", "confidence": c, "scores": {"pos": c, "neg": 1 - c}} for c in confidences]


@pytest.mark.parametrize("rate", [0.05, 0.3, 1.0])
def test_the_sampling_rate(fs, rate):
    """Of 2,000 uncertain texts about rate x 2,000 are stored (within 4 standard deviations)."""
    sampler = ReviewSampler(fs, rate, 1.0, chance=random.Random(7).random, interval=60)
    n = 2000
    for start in range(0, n, 10):
        texts = [f"text {i}" for i in range(start, start + 10)]
        sampler.offer(MODEL, texts, predictions([0.6] * 10), "rid")
    sampler.stop()
    stored = len(fs.queue("sentiment"))
    spread = 4 * (n * rate * (1 - rate)) ** 0.5
    assert abs(stored - n * rate) <= spread


def test_only_texts_below_the_confidence_are_kept(fs):
    """VECCLF_REVIEW_BELOW: a text whose top confidence is not below it is never stored."""
    sampler = ReviewSampler(fs, 1.0, 0.7, interval=60)
    sampler.offer(MODEL, ["sure", "unsure", "edge"], predictions([0.95, 0.55, 0.7]), "r1")
    sampler.stop()
    items = fs.queue("sentiment")
    assert [(i["text"], i["predicted"], i["request_id"], i["version"]) for i in items] == [("unsure", "pos", "r1", "v1")]


def test_rate_zero_builds_no_sampler_and_stores_no_text(client, store):
    """With the default rate 0 predict stores nothing and there is no writer at all."""
    assert "vecclf.review" not in client.application.extensions
    assert client.post("/v1/models/sentiment/predict", json={"texts": ["meh"]}).status_code == 200
    assert not (store / "vecclf.db").exists() or FeedbackStore(database_url(store, None)).queue("sentiment") == []


def test_both_predict_paths_sample(config, fs):
    """The fast path and Flask's view both offer their answers, with the request id of the answer."""
    app = create_app(config.replace(review_sample=1.0, review_below=1.0))
    client = app.test_client()
    fast = client.post("/v1/models/sentiment/predict", json={"texts": ["fast one"]}, headers={"X-Request-ID": "f1"})
    app.json.compact = False  # pretty JSON is Flask's to write: the next request goes through the view
    slow = client.post("/v1/models/sentiment/predict", json={"texts": ["slow one"]}, headers={"X-Request-ID": "s1"})
    assert fast.status_code == slow.status_code == 200
    app.extensions["vecclf.review"].stop()
    app.extensions["vecclf.models"].stop()
    assert sorted((i["text"], i["request_id"]) for i in fs.queue("sentiment")) == [("fast one", "f1"), ("slow one", "s1")]


def test_a_full_queue_drops_and_counts(fs, client):
    """Samples beyond the queue's capacity are dropped (counted), never waited for."""
    def dropped():
        return metric_value(client.get("/metrics").get_data(as_text=True), "vecclf_review_dropped_total",
                            model="sentiment")

    before = dropped()
    sampler = ReviewSampler(fs, 1.0, 1.0, capacity=2, interval=60)
    sampler.offer(MODEL, ["a", "b", "c", "d", "e"], predictions([0.5] * 5), "r")
    assert dropped() - before == 3
    assert sampler.drain() == 2
    sampler.stop()


def test_a_failing_database_drops_and_counts(client):
    """When the database is down the writer drops the batch, counts it, and the caller never sees an error."""
    def dropped():
        return metric_value(client.get("/metrics").get_data(as_text=True), "vecclf_review_dropped_total",
                            model="sentiment")

    before = dropped()
    sampler = ReviewSampler(FeedbackStore("postgresql://u@127.0.0.1:1/db?connect_timeout=2"), 1.0, 1.0, interval=60)
    sampler.offer(MODEL, ["a", "b"], predictions([0.5, 0.5]), "r")
    assert sampler.drain() == 0
    assert dropped() - before == 2
    sampler.stop()
