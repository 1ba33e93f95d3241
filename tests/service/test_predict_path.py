"""The predict fast path answers exactly as the Flask view would, and hands every other request to Flask."""

import io
import json

import pytest

from vecclf.service.fastpath import FastPredict
from tests.service.conftest import metric_value

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


@pytest.mark.parametrize("failure", ["raises", "raises once", "unencodable"])
def test_a_bug_in_the_model_is_flasks_json_500(app, paths, monkeypatch, access_lines, failure):
    """An unexpected failure is answered by Flask's handler, logged and counted once; the model runs once."""
    import numpy as np

    fast, _, calls = paths
    served = app.extensions["vecclf.models"].get("sentiment")
    runs = []

    def broken(texts):
        runs.append(texts)
        if failure == "unencodable":
            return [{"label": "pos", "confidence": np.float32(0.5), "scores": {}}]
        if failure == "raises" or len(runs) == 1:
            raise RuntimeError("secret internal detail")
        return [{"label": "pos", "confidence": 1.0, "scores": {}}]

    monkeypatch.setattr(served.predictor, "explain", broken)
    status, headers, raw = _call(fast, _environ(body=b'{"texts": ["a"]}'))
    assert calls == [URL] and status.startswith("500") and len(runs) == 1
    assert b"secret" not in raw and json.loads(raw)["error"]["code"] == "internal_error"
    (line,) = access_lines
    assert (line["status"], line["model"], line["n_texts"]) == (500, "sentiment", 1)
    assert line["request_id"] == headers["X-Request-ID"]


@pytest.mark.parametrize("step", ["decode_json", "texts_of", "check_headers"])
def test_a_failure_in_the_fast_checks_is_flasks_json_500(app, paths, monkeypatch, access_lines, step):
    """A surprise in the fast path's own checks never escapes the WSGI app: Flask answers a JSON 500, logged once."""
    from vecclf.service import fastpath

    fast, _, calls = paths

    def surprise(*args, **kwargs):
        raise RuntimeError("secret parser detail")

    monkeypatch.setattr(fastpath, step, surprise)
    status, _, raw = _call(fast, _environ(body=b'{"texts": ["a"]}'))
    assert calls == [URL] and status.startswith("500")
    assert b"secret" not in raw and json.loads(raw)["error"]["code"] == "internal_error"
    assert [line["status"] for line in access_lines] == [500]


def test_a_handed_over_request_is_timed_from_the_start(app, paths, monkeypatch, access_lines):
    """The access line and latency of a request Flask finishes include the fast path's part of it."""
    import time

    fast, _, _ = paths
    served = app.extensions["vecclf.models"].get("sentiment")

    def slow_then_broken(texts):
        time.sleep(0.2)
        raise RuntimeError("late failure")

    monkeypatch.setattr(served.predictor, "explain", slow_then_broken)
    status, _, _ = _call(fast, _environ(body=b'{"texts": ["a"]}'))
    assert status.startswith("500") and access_lines[-1]["duration_ms"] >= 200


def test_an_api_error_from_the_model_is_answered_once(app, paths, monkeypatch):
    """An ApiError raised past validation is Flask's to answer, and the model is not run again."""
    from vecclf.service.errors import ApiError

    fast, _, calls = paths
    served = app.extensions["vecclf.models"].get("sentiment")
    runs = []

    def busy(texts):
        runs.append(texts)
        raise ApiError(503, "busy", "try again")

    monkeypatch.setattr(served.predictor, "explain", busy)
    status, _, raw = _call(fast, _environ(body=b'{"texts": ["a"]}'))
    assert status.startswith("503") and json.loads(raw)["error"]["code"] == "busy" and len(runs) == 1


def test_another_json_provider_is_flasks(app, paths):
    """A replaced JSON provider (other bytes, other media type) makes every predict Flask's."""
    from flask.json.provider import DefaultJSONProvider

    class Other(DefaultJSONProvider):
        mimetype = "application/vnd.example+json"

    fast, _, calls = paths
    app.json = Other(app)
    status, headers, _ = _call(fast, _environ(body=b'{"texts": ["a"]}'))
    assert calls == [URL] and status == "200 OK" and headers["Content-Type"] == "application/vnd.example+json"


@pytest.mark.parametrize("error", [ConnectionResetError("peer reset"), ValueError("I/O operation on closed file")])
def test_a_failed_body_read_is_reported_by_flask(paths, access_lines, error):
    """A client that goes away mid-body gets Flask's 400, logged once."""
    fast, _, calls = paths

    class Reset(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            raise error

    env = _environ(body=b'{"texts": ["a"]}')
    env["wsgi.input"] = io.BufferedReader(Reset())
    status, _, raw = _call(fast, env)
    assert calls == [URL] and status.startswith("400") and json.loads(raw)["error"]["code"] == "bad_request"
    assert [x["status"] for x in access_lines] == [400]


def test_a_short_body_is_flasks_call(paths):
    """A body shorter than its Content-Length gets the answer Flask alone gives."""
    fast, flask_app, calls = paths
    body = b'{"texts": ["a"]}'
    ours = _call(fast, _environ(body=body, CONTENT_LENGTH="100"))
    theirs = _call(flask_app, _environ(body=body, CONTENT_LENGTH="100"))
    assert calls == [URL] and ours[0] == theirs[0] and ours[0].startswith("400") and ours[2] == theirs[2]


@pytest.mark.parametrize("length", ["\u00b2", "1" * 30, "-1", "+5", " 5", ""])
def test_odd_content_lengths_are_flasks(paths, length):
    """A Content-Length that is not a plain number is left to Flask (never a 500)."""
    fast, _, calls = paths
    status, _, _ = _call(fast, _environ(body=b'{"texts": ["a"]}', CONTENT_LENGTH=length))
    assert calls == [URL] and not status.startswith("5")


@pytest.mark.parametrize("ctype", ["application/json\u00a0", "\u00a0application/json", "application/json\x0b"])
def test_content_type_is_read_as_werkzeug_reads_it(paths, ctype):
    """Only spaces and tabs are trimmed from the media type, as werkzeug does: anything else is a 415."""
    fast, _, calls = paths
    status, _, raw = _call(fast, _environ(body=b'{"texts": ["a"]}', content_type=ctype))
    assert status.startswith("415") and json.loads(raw)["error"]["code"] == "unsupported_media_type"


def test_debug_mode_pretty_json_is_flasks(app, paths):
    """With Flask's debug or non-compact JSON, the answer is Flask's own pretty JSON."""
    fast, flask_app, calls = paths
    app.json.compact = False
    status, _, raw = _call(fast, _environ(body=b'{"texts": ["a"]}', HTTP_X_REQUEST_ID="r"))
    assert calls == [URL] and status == "200 OK" and b'\n  "model"' in raw
    assert raw == _call(flask_app, _environ(body=b'{"texts": ["a"]}', HTTP_X_REQUEST_ID="r"))[2]


def test_json_settings_changed_after_start_are_followed(app, paths):
    """The encoder follows the app's JSON settings as jsonify does."""
    fast, flask_app, calls = paths
    app.json.sort_keys = True
    env = dict(body=b'{"texts": ["a"]}', HTTP_X_REQUEST_ID="r")
    ours, theirs = _call(fast, _environ(**env)), _call(flask_app, _environ(**env))
    assert calls == [] and ours[2] == theirs[2] and ours[2].startswith(b'{"model"')


def test_every_flask_hook_is_known_to_the_fast_path(app):
    """The fast path reproduces the app's hooks; a new hook must be added there too (then here)."""
    before = [f.__qualname__ for f in app.before_request_funcs[None]]
    after = [f.__qualname__ for f in app.after_request_funcs[None]]
    assert before == ["init_app.<locals>.begin", "ModelSet.start", "_raise_handed_over"]
    assert after == ["_finish"]
    assert not app.teardown_request_funcs and not app.url_value_preprocessors and not app.url_default_functions
    assert not app.teardown_appcontext_funcs
    from flask import request_finished, request_started

    assert not request_started.receivers and not request_finished.receivers
    for bp in app.blueprints.values():
        assert not bp.before_request_funcs and not bp.after_request_funcs and not bp.teardown_request_funcs


def test_fast_answers_are_counted_and_logged_like_flasks(client, paths):
    """Metrics and the access line name the same endpoint, model, version and text count."""
    fast, _, calls = paths

    def count(text):
        return metric_value(text, "vecclf_http_requests_total", endpoint="api.predict", model="sentiment", status="200")

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
