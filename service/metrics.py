"""Prometheus metrics, counted across every gunicorn worker.

Under gunicorn, ``config.metrics_dir`` names the folder each worker writes
its samples to and ``/metrics`` merges them (prometheus-client multiprocess
mode; :func:`vecclf.service.serve.serve` hands the folder to the library
before it is imported). Without it (tests, the Flask dev server) the normal
in-process registry is used. The metric objects are module globals, created once.

Gauges about models are written only by processes that serve requests (never
by the gunicorn master, which loads the first versions but then stays on
them), and merged with ``livemax``/``livemin`` so a dead worker drops out.

Live quality: every feedback row counts in ``vecclf_feedback_total`` and, when
the serving version's prediction matched the label, in
``vecclf_feedback_agreed_total``; ``/metrics`` also shows their ratio per model
and version as ``vecclf_feedback_agreement`` (a live accuracy estimate since
the service started; ``rate()`` of the two counters gives it over a window).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

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
FEEDBACK = Counter("vecclf_feedback_total", "Feedback labels received, by model and the version serving then",
                   ["model", "version"])
AGREED = Counter("vecclf_feedback_agreed_total",
                 "Feedback labels the serving version's own prediction agreed with", ["model", "version"])
REVIEW_STORED = Counter("vecclf_review_stored_total", "Uncertain live texts written to the review queue", ["model"])
REVIEW_DROPPED = Counter("vecclf_review_dropped_total",
                         "Sampled texts not stored (queue full or database failure)", ["model"])


class _Page:
    """The collectors of one /metrics page plus the feedback agreement ratio computed from the merged counters."""

    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        families = list(self.registry.collect())
        totals: dict[tuple[str, str], list[float]] = {}
        for family in families:
            if family.name in ("vecclf_feedback", "vecclf_feedback_agreed"):
                slot = 0 if family.name == "vecclf_feedback" else 1
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        key = (sample.labels["model"], sample.labels["version"])
                        totals.setdefault(key, [0.0, 0.0])[slot] += sample.value
        ratio = GaugeMetricFamily("vecclf_feedback_agreement",
                                  "Share of feedback labels the serving version predicted itself (live accuracy estimate)",
                                  labels=["model", "version"])
        for (model, version), (total, agreed) in sorted(totals.items()):
            if total:
                ratio.add_metric([model, version], agreed / total)
        return families + [ratio]


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
    return Response(generate_latest(_Page(registry)), mimetype=CONTENT_TYPE_LATEST)


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


def count_feedback(model: str, version: str, agreed: bool | None) -> None:
    """Count one feedback label, and whether the serving version's prediction agreed with it."""
    FEEDBACK.labels(model, version).inc()
    AGREED.labels(model, version).inc(1 if agreed else 0)  # a 0 sample too, so the ratio's parts are both shown


def count_review_stored(model: str, n: int) -> None:
    """Count sampled texts written to the review queue."""
    REVIEW_STORED.labels(model).inc(n)


def count_review_dropped(model: str, n: int) -> None:
    """Count sampled texts that could not be stored."""
    REVIEW_DROPPED.labels(model).inc(n)
