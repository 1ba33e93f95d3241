"""JSON access logs with request ids, and the X-Request-ID header."""

import pytest

from tests.service.conftest import predict


def test_access_line_has_request_id_model_and_status(client, access_lines):
    """A predict request logs one JSON line with id, model, version, texts and status."""
    r = predict(client, texts=["good", "bad"])
    line = access_lines[-1]
    assert line["request_id"] == r.headers["X-Request-ID"]
    assert (line["status"], line["model"], line["version"], line["n_texts"]) == (200, "sentiment", "v1", 2)
    assert line["method"] == "POST" and line["path"] == "/v1/models/sentiment/predict" and line["duration_ms"] >= 0


def test_callers_request_id_is_kept(client, access_lines):
    """A well-formed incoming X-Request-ID is echoed and logged."""
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123.x:y"})
    assert r.headers["X-Request-ID"] == "abc-123.x:y" and access_lines[-1]["request_id"] == "abc-123.x:y"


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "semi;colon", "new\\nline"])
def test_malformed_request_id_is_replaced(client, bad):
    """An unsafe incoming id is replaced by a fresh one."""
    r = client.get("/healthz", headers={"X-Request-ID": bad})
    assert r.headers["X-Request-ID"] != bad and len(r.headers["X-Request-ID"]) == 32


@pytest.mark.parametrize("bad", ["abc\n", "", None, "x" * 129])
def test_request_id_must_be_a_whole_plain_token(bad):
    """A trailing newline (which `$` would accept) or anything else unsafe gets a fresh id."""
    from vecclf.service.logs import request_id

    assert request_id("abc-1") == "abc-1"
    got = request_id(bad)
    assert got != bad and len(got) == 32


def test_errors_are_logged_with_their_status(client, access_lines):
    """A 4xx is logged like any other request."""
    client.get("/v1/models/nope")
    assert access_lines[-1]["status"] == 404


def test_access_log_can_be_turned_off(config, access_lines):
    """VECCLF_ACCESS_LOG=0 silences access lines."""
    from vecclf.service import create_app

    create_app(config.replace(access_log=False)).test_client().get("/healthz")
    assert access_lines == []
