"""Prometheus metrics, counted across every gunicorn worker.

Under gunicorn, ``config.metrics_dir`` names the folder each worker writes
its samples to and ``/metrics`` merges them (prometheus-client multiprocess
mode; :func:`vecclf.service.serve.serve` hands the folder to the library
before it is imported). Without it (tests, the Flask dev server) the normal
in-process registry is used. The metric objects are module globals, created once.

Gauges about models are written only by processes that serve requests (never
by the gunicorn master, which loads the first versions but then stays on
them), and merged with ``livemax``/``livemin`` so a dead worker drops out.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

bp = Blueprint("metrics", __name__)

REQUESTS = Counter("vecclf_http_requests_total", "HTTP requests by model, endpoint and status",
                   ["model", "endpoint", "method", "status"])
LATENCY = Histogram("vecclf_http_request_duration_seconds", "Time to answer a request",
                    ["model", "endpoint"],
                    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
TEXTS = Histogram("vecclf_texts_per_request", "Texts in one predict/embed request", ["model", "endpoint"],
                  buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000))
VERSION = Gauge("vecclf_model_version_info", "1 for the version of each model a live worker serves",
                ["model", "version"], multiprocess_mode="livemax")
UP_TO_DATE = Gauge("vecclf_model_up_to_date",
                   "1 when every worker serves the version the model's current pointer names, 0 when that version was refused",
                   ["model"], multiprocess_mode="livemin")
LOAD_FAILURES = Counter("vecclf_model_load_failures_total", "Model versions that failed to load and were refused",
                        ["model"])
RELOADS = Counter("vecclf_model_reloads_total", "Model versions swapped in while serving", ["model"])


@bp.get("/metrics")
def metrics():
    """Return every metric in the Prometheus text format."""
    folder = current_app.config["VECCLF"].metrics_dir
    if folder:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def observe_request(model: str, endpoint: str, method: str, status: int, seconds: float) -> None:
    """Count one finished request."""
    REQUESTS.labels(model, endpoint, method, str(status)).inc()
    LATENCY.labels(model, endpoint).observe(seconds)


def observe_texts(model: str, endpoint: str, n: int) -> None:
    """Record how many texts one request carried."""
    TEXTS.labels(model, endpoint).observe(n)


def publish_versions(serving: dict[str, str], previous: dict[str, str], up_to_date: dict[str, bool]) -> None:
    """Record which version of each model this process serves and whether it is the current one."""
    for name, version in previous.items():
        if serving.get(name) != version:
            VERSION.labels(name, version).set(0)
    for name, version in serving.items():
        VERSION.labels(name, version).set(1)
    for name, ok in up_to_date.items():
        UP_TO_DATE.labels(name).set(1 if ok else 0)


def count_load_failure(model: str) -> None:
    """Count a refused model version."""
    LOAD_FAILURES.labels(model).inc()


def count_reload(model: str) -> None:
    """Count a version swapped in while serving."""
    RELOADS.labels(model).inc()
