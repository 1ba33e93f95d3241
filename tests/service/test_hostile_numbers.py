"""Hostile JSON (numbers past the parser's limits, deep nesting, odd literals): a JSON 4xx, logged and counted."""

import json

import pytest

from tests.service.conftest import metric_value

HUGE_INT = b"1" * 5001  # past Python's 4,300-digit limit for int("...")

BODIES = [
    # (id, raw body, status, error code)
    ("5,001-digit integer as the body", HUGE_INT, 400, "invalid_json"),
    ("5,001-digit integer as a text", b'{"texts": [' + HUGE_INT + b"]}", 400, "invalid_json"),
    ("5,001-digit negative integer in an extra field", b'{"texts": ["a"], "n": -' + HUGE_INT + b"}", 400,
     "invalid_json"),
    ("5,001-digit integer nested in a list", b'{"texts": [[[' + HUGE_INT + b"]]]}", 400, "invalid_json"),
    ("huge float overflowing to infinity", b'{"texts": [1e999999]}', 400, "invalid_text"),
    ("float with 5,001 digits", b'{"texts": [0.' + HUGE_INT + b"]}", 400, "invalid_text"),
    ("NaN literal", b'{"texts": [NaN]}', 400, "invalid_text"),
    ("-Infinity literal", b'{"texts": [-Infinity]}', 400, "invalid_text"),
    ("objects nested 30,000 deep", b'{"a":' * 30_000 + b"1" + b"}" * 30_000, 400, "invalid_json"),
    ("lists nested 90,000 deep inside texts", b'{"texts": ' + b"[" * 90_000 + b"]" * 90_000 + b"}", 400,
     "invalid_json"),
    ("duplicate texts keys", b'{"texts": 1, "texts": ["ok"]}', 200, None),
    ("lone surrogate escapes", b'{"texts": ["\\udc00\\ud800 x"]}', 200, None),
    ("NUL byte escape", b'{"texts": ["\\u0000"]}', 200, None),
    ("BOM before the body", b'\xef\xbb\xbf{"texts": ["a"]}', 400, "invalid_json"),
    ("text is 2,000 digits in a string", b'{"texts": ["' + HUGE_INT[:2000] + b'"]}', 200, None),
]


@pytest.mark.parametrize("endpoint", ["predict", "embed"])
@pytest.mark.parametrize("raw,status,code", [b[1:] for b in BODIES], ids=[b[0] for b in BODIES])
def test_hostile_body_gets_json_answer_logged_and_counted(client, access_lines, endpoint, raw, status, code):
    """Each hostile body is answered with JSON (4xx with a code, or 200), one access line and one counted request."""
    def counted():
        page = client.get("/metrics").get_data(as_text=True)
        return metric_value(page, "vecclf_http_requests_total", model="sentiment", endpoint=f"api.{endpoint}",
                            status=str(status))

    before = counted()
    r = client.post(f"/v1/models/sentiment/{endpoint}", data=raw, content_type="application/json")
    assert r.status_code == status, r.get_data(as_text=True)[:300]
    assert r.mimetype == "application/json"
    body = json.loads(r.get_data())
    if code:
        assert body["error"]["code"] == code and body["error"]["message"]
    mine = [line for line in access_lines if line["path"].endswith(endpoint)]
    assert [line["status"] for line in mine] == [status]
    assert counted() == before + 1
