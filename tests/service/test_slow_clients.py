"""Slow and hostile clients against a real `vecclf serve`: /healthz keeps answering, every error is JSON."""

import json
import shutil
import socket
import threading
import time

import pytest

from tests.service.conftest import call, metric_value, serve

pytestmark = pytest.mark.slow

SERVE_ENV = {"VECCLF_CLIENT_TIMEOUT": "2", "VECCLF_KEEPALIVE": "1", "VECCLF_THREADS": "8"}


@pytest.fixture(scope="module")
def server(trained_store, tmp_path_factory):
    """One server for the module: short client deadlines, 8 threads a worker (as many as there are slow clients)."""
    store = tmp_path_factory.mktemp("slow-clients") / "models"
    shutil.copytree(trained_store, store, symlinks=True)
    yield from serve(store, store.parent / "server.log", SERVE_ENV)


def _raw(port, data: bytes, timeout=5.0) -> bytes:
    """Send raw bytes, return whatever comes back until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


def _attacker(port, kind: str, stop: threading.Event, answers: list):
    """Hold a connection open, idle or dripping a request a byte at a time; reconnect whenever it is closed."""
    request = b'POST /v1/models/sentiment/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.settimeout(0.2)
                sent = 0
                while not stop.is_set():
                    if kind == "drip":
                        s.send(request[sent % len(request) : sent % len(request) + 1])
                        sent += 1
                    try:
                        got = s.recv(65536)
                    except (TimeoutError, BlockingIOError):
                        continue
                    if not got:
                        break
                    answers.append(got)
                    break
        except OSError:
            time.sleep(0.05)


def test_eight_slow_clients_never_block_healthz(server):
    """4 idle and 4 byte-dripping connections, held (and reopened) for 8 s: /healthz answers within 2 s throughout."""
    port, _ = server
    stop, answers = threading.Event(), []
    attackers = [threading.Thread(target=_attacker, args=(port, kind, stop, answers), daemon=True)
                 for kind in ["idle"] * 4 + ["drip"] * 4]
    for t in attackers:
        t.start()
    slowest, failures, started = 0.0, [], time.monotonic()
    try:
        while time.monotonic() - started < 8:
            t0 = time.monotonic()
            try:
                status, body = call(port, "GET", "/healthz", timeout=2)
                if status != 200:
                    failures.append(status)
            except OSError as exc:
                failures.append(repr(exc))
            slowest = max(slowest, time.monotonic() - t0)
            time.sleep(0.2)
        status, body = call(port, "POST", "/v1/models/sentiment/predict", {"texts": ["good film"]}, timeout=2)
        assert status == 200 and body["predictions"][0]["label"] == "pos"
    finally:
        stop.set()
        for t in attackers:
            t.join(timeout=5)
    assert not failures and slowest < 2.0, (failures, slowest)
    timeouts = [a for a in answers if a.startswith(b"HTTP/1.1 408")]
    assert timeouts, answers[:3]  # the drippers were cut off at their deadline, with a JSON answer
    assert json.loads(timeouts[0].split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"
    metrics = call(port, "GET", "/metrics")[1]
    assert metric_value(metrics, "vecclf_http_requests_total", endpoint="server", status="408") >= len(timeouts)


BAD_HTTP = [
    # (id, raw request, status, error code)
    ("garbage request line", b"GARBAGE\r\n\r\n", 400, "bad_request"),
    ("request line over 4094 bytes", b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    ("101 headers", b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(101)) + b"\r\n", 431,
     "headers_too_large"),
    ("header without a colon", b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n", 400, "bad_request"),
    ("bad chunk size", b"POST /v1/models/sentiment/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400, "bad_request"),
    ("unknown transfer coding", b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400,
     "bad_request"),
]


@pytest.mark.parametrize("raw,status,code", [b[1:] for b in BAD_HTTP], ids=[b[0] for b in BAD_HTTP])
def test_what_gunicorn_cannot_parse_is_answered_in_json(server, raw, status, code):
    """Malformed HTTP gets vecclf's JSON error with the right status, and is counted."""
    port, _ = server
    answer = _raw(port, raw)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d" % status), answer[:200]
    assert b"application/json" in head and json.loads(body)["error"]["code"] == code
    metrics = call(port, "GET", "/metrics")[1]
    assert metric_value(metrics, "vecclf_http_requests_total", endpoint="server", status=str(status)) >= 1


def test_a_chunked_body_is_read_whole_before_the_model_runs(server):
    """A valid chunked predict is answered like a plain one."""
    port, _ = server
    body = b'{"texts": ["good film"]}'
    raw = (b"POST /v1/models/sentiment/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    head, _, answer = _raw(port, raw).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert json.loads(answer)["predictions"][0]["label"] == "pos"
