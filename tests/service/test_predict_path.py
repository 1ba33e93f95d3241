"""The predict fast path answers exactly as the Flask view would, and hands every other request to Flask."""

import io
import json

import pytest

from service.fastpath import FastPredict

URL = "/v1/models/sentiment/predict"


def _environ(path=URL, body=b"", content_type="application/json", method="POST", **extra):
    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "", "SERVER_NAME": "t",
           "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
           "wsgi.errors": io.StringIO(), "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
           "wsgi.version": (1, 0), "REMOTE_ADDR": "127.0.0.1", "CONTENT_TYPE": content_type,
           "CONTENT_LENGTH": str(len(body))}
    env.update(extra)
    return env


def _call(wsgi, environ):
    got = {}

    def start_response(status, headers, exc_info=None):
        got["status"], got["headers"] = status, dict(headers)

    body = b"".join(wsgi(environ, start_response))
    return got["status"], got["headers"], body


@pytest.fixture
def paths(app):
    """Return (the fast path, Flask's own WSGI app) and count the requests Flask receives."""
    fast = app.wsgi_app
    assert isinstance(fast, FastPredict)
    calls = []
    flask_app = fast.wsgi_app

    def counting(environ, start_response):
        calls.append(environ["PATH_INFO"])
        return flask_app(environ, start_response)

    fast.wsgi_app = counting
    return fast, flask_app, calls


@pytest.mark.parametrize("name", ["sentiment", "mood"])
def test_success_bytes_equal_flask_view(paths, name):
    """A valid predict is answered without Flask, byte for byte as Flask's view answers it."""
    fast, flask_app, calls = paths
    body = json.dumps({"texts": ["A great and wonderful film!", "Awful, boring plot.", "", "été ☃"]}).encode()
    rid = {"HTTP_X_REQUEST_ID": "req-1"}
    ours = _call(fast, _environ(f"/v1/models/{name}/predict", body, **rid))
    theirs = _call(flask_app, _environ(f"/v1/models/{name}/predict", body, **rid))
    assert calls == []
    assert ours[0] == theirs[0] == "200 OK"
    assert ours[2] == theirs[2]
    wanted = ("Content-Type", "Content-Length", "X-Request-ID")
    assert {k: ours[1][k] for k in wanted} == {k: theirs[1][k] for k in wanted}


def test_json_with_charset_and_suffix_types_take_the_fast_path(paths):
    """Content-Type parameters and +json types are accepted as Flask's view accepts them."""
    fast, _, calls = paths
    body = b'{"texts": ["fine"]}'
    for ctype in ("application/json; charset=utf-8", "Application/JSON", "application/vnd.x+json"):
        status, _, _ = _call(fast, _environ(body=body, content_type=ctype))
        assert status == "200 OK"
    assert calls == []


@pytest.mark.parametrize("body, content_type, code", [
    (b"{not json", "application/json", "invalid_json"),
    (b'{"texts": []}', "application/json", "empty_texts"),
    (b'{"texts": ["a"], "x": 1}', "application/json", "unknown_field"),
    (b'{"texts": [1]}', "application/json", "invalid_text"),
    (b"\xff\xfe", "application/json", "invalid_utf8"),
    (b"", "application/json", "empty_body"),
    (b"texts=a", "application/x-www-form-urlencoded", "unsupported_media_type"),
])
def test_bad_bodies_reach_flask_with_the_body_intact(paths, body, content_type, code):
    """A request the fast path would not answer with 200 is Flask's, and Flask sees the same body."""
    fast, _, calls = paths
    status, headers, raw = _call(fast, _environ(body=body, content_type=content_type))
    assert calls == [URL]
    assert status[0] == "4" and json.loads(raw)["error"]["code"] == code
    assert headers["Content-Type"] == "application/json" and headers["X-Request-ID"]


def test_unknown_model_and_other_routes_are_flasks(paths):
    """Unknown models, odd names, other methods and endpoints never take the fast path."""
    fast, _, calls = paths
    body = b'{"texts": ["a"]}'
    assert _call(fast, _environ("/v1/models/nope/predict", body))[0].startswith("404")
    assert _call(fast, _environ("/v1/models/../predict", body))[0].startswith("404")
    assert _call(fast, _environ("/v1/models/a/b/predict", body))[0].startswith("404")
    assert _call(fast, _environ(method="GET"))[0].startswith("405")
    assert _call(fast, _environ("/v1/models/sentiment/embed", body))[0] == "200 OK"
    assert len(calls) == 5


def test_chunked_or_lengthless_bodies_are_read_by_flask(paths):
    """Without a plain Content-Length the fast path reads nothing and passes the request on."""
    fast, _, calls = paths
    body = b'{"texts": ["a fine film"]}'
    env = _environ(body=body, HTTP_TRANSFER_ENCODING="chunked")
    env.pop("CONTENT_LENGTH")
    env["wsgi.input_terminated"] = True
    status, _, raw = _call(fast, env)
    assert calls == [URL] and status == "200 OK" and json.loads(raw)["model"] == "sentiment"


def test_a_bug_in_the_model_is_flasks_json_500(app, paths, monkeypatch):
    """An unexpected exception is answered by Flask's handler: a JSON 500 without a trace."""
    fast, _, calls = paths
    served = app.extensions["vecclf.models"].get("sentiment")

    def broken(texts):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(served.predictor, "explain", broken)
    status, _, raw = _call(fast, _environ(body=b'{"texts": ["a"]}'))
    assert calls == [URL] and status.startswith("500")
    assert b"secret" not in raw and json.loads(raw)["error"]["code"] == "internal_error"


def test_fast_answers_are_counted_and_logged_like_flasks(client, paths):
    """Metrics and the access line name the same endpoint, model, version and text count."""
    fast, _, calls = paths

    def count(text):
        for line in text.splitlines():
            if line.startswith("vecclf_http_requests_total{") and 'endpoint="api.predict"' in line \
                    and 'model="sentiment"' in line and 'status="200"' in line:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = count(client.get("/metrics").get_data(as_text=True))
    r = client.post(URL, json={"texts": ["good", "bad", "ok"]}, headers={"X-Request-ID": "abc"})
    after = count(client.get("/metrics").get_data(as_text=True))
    assert r.status_code == 200 and r.headers["X-Request-ID"] == "abc"
    assert after == before + 1
    assert URL not in calls


def test_access_line_of_a_fast_answer(client, paths, access_lines):
    """The fast path writes the access line the Flask path writes."""
    _, _, calls = paths
    client.post(URL, json={"texts": ["good", "bad"]}, headers={"X-Request-ID": "id-7"})
    assert calls == []
    (line,) = access_lines
    assert {k: line[k] for k in ("request_id", "method", "path", "endpoint", "status", "model", "version", "n_texts")} \
        == {"request_id": "id-7", "method": "POST", "path": URL, "endpoint": "api.predict", "status": 200,
            "model": "sentiment", "version": "v1", "n_texts": 2}
