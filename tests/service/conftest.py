"""Service fixtures: a small trained store (built once per session), apps and clients over copies of it."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vecclf.service import create_app
from vecclf.service.config import Config
from tests.conftest import make_corpus, make_vectors, write_csv, write_glove

TOKEN = "test-admin-token-0123456789"


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory) -> Path:
    """Return a template store: vectors 'tiny', 'sentiment' v1 (current) + v2, and 'mood' v1 (hybrid features)."""
    from vecclf.training.train import train
    from vecclf.training.vectors.importers import import_vectors

    root = tmp_path_factory.mktemp("template")
    store = root / "models"
    store.mkdir()
    words, vecs = make_vectors()
    import_vectors(write_glove(root / "tiny.txt", words, vecs), store, "tiny")
    texts, labels = make_corpus()
    data = write_csv(root / "train.csv", [{"text": t, "label": l} for t, l in zip(texts, labels)])
    common = dict(store=str(store), data=str(data), vectors="tiny", test_size=0.25)
    train(name="sentiment", features="mean", seed=1, **common)
    train(name="sentiment", features="mean", seed=2, C=0.3, **common)
    train(name="mood", features="hybrid", seed=1, **common)
    return store


@pytest.fixture
def store(trained_store, tmp_path) -> Path:
    """Return a private copy of the trained store, free to promote and corrupt."""
    target = tmp_path / "models"
    shutil.copytree(trained_store, target, symlinks=True)
    return target


@pytest.fixture
def config(store) -> Config:
    """Return a test config: no polling thread, admin token set, small limits."""
    return Config(store=str(store), poll_interval=0, admin_token=TOKEN, max_texts=50, max_text_chars=2000,
                  max_body_bytes=200_000, runtime_dir=str(store.parent / "run"))


@pytest.fixture
def app(config):
    """Return the app over the private store."""
    app = create_app(config)
    app.config["TESTING"] = True
    yield app
    app.extensions["vecclf.models"].stop()
    if "vecclf.review" in app.extensions:
        app.extensions["vecclf.review"].stop()


@pytest.fixture
def client(app):
    """Return a Flask test client."""
    return app.test_client()


@pytest.fixture
def access_lines():
    """Collect the JSON access lines the app writes."""
    import json
    import logging

    from vecclf.service.logs import ACCESS, JsonFormatter

    lines = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(json.loads(JsonFormatter().format(record)))

    handler = Collect()
    ACCESS.addHandler(handler)
    yield lines
    ACCESS.removeHandler(handler)


def metric_value(text: str, name: str, **labels) -> float:
    """Return the value of the sample ``name{labels...}`` in a Prometheus text page (0.0 if absent)."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def predict(client, name="sentiment", texts=("A great and wonderful film!",)):
    """POST texts to a model's predict endpoint; return the response."""
    return client.post(f"/v1/models/{name}/predict", json={"texts": list(texts)})


# ---------------------------------------------------------------- a real server (vecclf serve)
def free_port() -> int:
    """Return a free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vecclf_command() -> list[str]:
    """Return the installed `vecclf` console script (what the image runs), else the module."""
    script = Path(sys.executable).with_name("vecclf")
    return [str(script)] if script.exists() else [sys.executable, "-m", "vecclf.training.cli"]


def call(port, method, path, body=None, headers=None, timeout=10):
    """Make one HTTP request; return (status, parsed JSON or text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        hdrs = {"Content-Type": "application/json", **(headers or {})} if payload is not None else (headers or {})
        conn.request(method, path, body=payload, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        ctype = resp.getheader("Content-Type", "")
        return resp.status, json.loads(data) if ctype.startswith("application/json") else data.decode()
    finally:
        conn.close()


def serve(store: Path, log_path: Path, extra_env: dict | None = None):
    """Start `vecclf serve` with 2 workers on a free port; yield (port, process); stop it (a generator for fixtures)."""
    port = free_port()
    env = {**os.environ, "VECCLF_POLL_INTERVAL": "0.3", "VECCLF_ADMIN_TOKEN": TOKEN, "VECCLF_ACCESS_LOG": "0",
           "VECCLF_LOG_LEVEL": "WARNING", **(extra_env or {})}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop("VECCLF_RUNTIME_DIR", None)
    log = open(log_path, "wb")
    proc = subprocess.Popen(vecclf_command() + ["serve", "--store", str(store), "--host", "127.0.0.1", "--port", str(port),
                                                "--workers", "2"], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180  # a loaded 2-core machine needed more than 60 s to load and fork
    while time.monotonic() < deadline:
        try:
            if call(port, "GET", "/readyz", timeout=2)[0] == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    else:
        proc.kill()
    if proc.poll() is not None:
        log.close()
        pytest.fail("server did not start:\n" + log_path.read_text()[-3000:])
    yield port, proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()


@pytest.fixture
def server(store, tmp_path):
    """Start `vecclf serve` with 2 workers on a free port over a private store; yield (port, process)."""
    yield from serve(store, tmp_path / "server.log")
