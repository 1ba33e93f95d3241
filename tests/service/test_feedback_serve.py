"""Feedback and the review queue on a real `vecclf serve` with 4 gunicorn workers and the default SQLite file."""

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from tests.service.conftest import call, free_port, vecclf_command
from vecclf.training.cli import main

pytestmark = pytest.mark.slow
CLIENTS, POSTS = 16, 15


@pytest.fixture
def four_workers(store, tmp_path):
    """Start `vecclf serve --workers 4` with every uncertain text sampled for review; yield (port, process)."""
    port = free_port()
    env = {**os.environ, "VECCLF_POLL_INTERVAL": "0", "VECCLF_ACCESS_LOG": "0", "VECCLF_LOG_LEVEL": "WARNING",
           "VECCLF_REVIEW_SAMPLE": "1", "VECCLF_REVIEW_BELOW": "1"}
    for key in ("PROMETHEUS_MULTIPROC_DIR", "VECCLF_RUNTIME_DIR", "VECCLF_DATABASE_URL", "VECCLF_FEEDBACK",
                "VECCLF_FEEDBACK_TOKEN"):
        env.pop(key, None)
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen(vecclf_command() + ["serve", "--store", str(store), "--port", str(port), "--workers", "4"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if call(port, "GET", "/readyz", timeout=2)[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        proc.wait()
        log.close()
        pytest.fail("server did not start:\n" + (tmp_path / "server.log").read_text()[-3000:])
    yield port, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    log.close()


def test_concurrent_feedback_to_four_workers_stores_every_row(four_workers, store, capsys):
    """16 clients post 240 labels at once: 240 distinct ids, 240 rows listed, counted once each in /metrics;
    the predictions sampled for review are all in the queue after a clean stop."""
    port, proc = four_workers
    answers, errors = [], []

    def client(k):
        for i in range(POSTS):
            try:
                status, body = call(port, "POST", "/v1/models/sentiment/feedback",
                                    {"text": f"client {k} text {i}", "label": "pos" if i % 2 else "neg"})
                answers.append((status, body.get("id")))
            except OSError as exc:
                errors.append(repr(exc))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and {s for s, _ in answers} == {201}
    assert len({i for _, i in answers}) == CLIENTS * POSTS
    metrics = call(port, "GET", "/metrics")[1]
    counted = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                  if line.startswith('vecclf_feedback_total{model="sentiment"'))
    assert counted == CLIENTS * POSTS

    for i in range(40):
        assert call(port, "POST", "/v1/models/sentiment/predict", {"texts": [f"live text {i}"]})[0] == 200
    proc.send_signal(signal.SIGTERM)  # each worker writes the samples it still holds as it stops
    assert proc.wait(timeout=30) == 0

    assert main(["feedback", "list", "--name", "sentiment", "--store", str(store)], {}) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(r["text"] for r in rows) == sorted(f"client {k} text {i}" for k in range(CLIENTS) for i in range(POSTS))
    assert {r["version"] for r in rows} == {"v1"} and all(r["request_id"] for r in rows)
    assert main(["feedback", "queue", "--name", "sentiment", "--store", str(store)], {}) == 0
    queued = [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()]
    assert sorted(queued) == sorted(f"live text {i}" for i in range(40))
