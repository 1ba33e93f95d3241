"""Prometheus metrics: requests, latency, texts per request, serving versions."""

import re

from tests.service.conftest import metric_value, predict


def test_requests_are_counted_per_model_endpoint_and_status(client):
    """Predict calls raise the counter of their model, endpoint and status."""
    before = client.get("/metrics").get_data(as_text=True)
    predict(client)
    predict(client, name="nope")
    after = client.get("/metrics").get_data(as_text=True)
    ok = dict(model="sentiment", endpoint="api.predict", status="200")
    assert metric_value(after, "vecclf_http_requests_total", **ok) == metric_value(before, "vecclf_http_requests_total", **ok) + 1
    miss = dict(model="", endpoint="api.predict", status="404")
    assert metric_value(after, "vecclf_http_requests_total", **miss) == metric_value(before, "vecclf_http_requests_total", **miss) + 1


def test_latency_and_texts_histograms(client):
    """Latency and texts-per-request histograms are exported per model."""
    predict(client, texts=["a"] * 7)
    text = client.get("/metrics").get_data(as_text=True)
    assert metric_value(text, "vecclf_texts_per_request_bucket", model="sentiment", endpoint="predict", le="10.0") >= 1
    assert re.search(r'vecclf_http_request_duration_seconds_count\{endpoint="api.predict",model="sentiment"\} \d', text)


def test_serving_versions_are_exported(client):
    """Each served model's version is a gauge of 1."""
    predict(client)
    text = client.get("/metrics").get_data(as_text=True)
    assert metric_value(text, "vecclf_model_version_info", model="sentiment", version="v1") == 1.0
    assert metric_value(text, "vecclf_model_version_info", model="mood", version="v1") == 1.0


def test_metrics_is_prometheus_text(client):
    """/metrics answers the Prometheus text content type."""
    r = client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain" and "# TYPE vecclf_http_requests_total counter" in r.get_data(as_text=True)
