"""Bad requests: every one a 4xx JSON error with a message, never a 5xx or a stack trace."""

import json

import pytest

BIG = 200_000  # the test config's body limit


def _post(client, path="/v1/models/sentiment/predict", **kw):
    return client.post(path, **kw)


CASES = [
    # (id, request kwargs, path, method, status, code, words in the message)
    ("not json", dict(data=b"hello", content_type="application/json"), None, "post", 400, "invalid_json", "not valid JSON"),
    ("text/plain", dict(data=b'{"texts": ["a"]}', content_type="text/plain"), None, "post", 415, "unsupported_media_type", "application/json"),
    ("no content type", dict(data=b'{"texts": ["a"]}'), None, "post", 415, "unsupported_media_type", "Content-Type"),
    ("form encoded", dict(data={"texts": "a"}), None, "post", 415, "unsupported_media_type", "application/x-www-form-urlencoded"),
    ("invalid utf-8", dict(data=b'{"texts": ["\xff\xfe\xfa"]}', content_type="application/json"), None, "post", 400, "invalid_utf8", "UTF-8"),
    ("empty body", dict(data=b"", content_type="application/json"), None, "post", 400, "empty_body", "empty"),
    ("body is a list", dict(json=["a"]), None, "post", 400, "invalid_body", "JSON object"),
    ("body is null", dict(json=None, data=b"null", content_type="application/json"), None, "post", 400, "invalid_body", "null"),
    ("missing field", dict(json={"text": ["a"]}), None, "post", 400, "missing_field", '"texts"'),
    ("unknown extra field", dict(json={"texts": ["a"], "top": 3}), None, "post", 400, "unknown_field", "'top'"),
    ("texts is a string", dict(json={"texts": "a"}), None, "post", 400, "invalid_texts", "list of strings"),
    ("texts is an object", dict(json={"texts": {"a": 1}}), None, "post", 400, "invalid_texts", "an object"),
    ("empty list", dict(json={"texts": []}), None, "post", 400, "empty_texts", "empty"),
    ("number item", dict(json={"texts": ["ok", 3]}), None, "post", 400, "invalid_text", '"texts"[1]'),
    ("null item", dict(json={"texts": [None]}), None, "post", 400, "invalid_text", "null"),
    ("nested list item", dict(json={"texts": [["a"]]}), None, "post", 400, "invalid_text", "a list"),
    ("too many texts", dict(json={"texts": ["a"] * 51}), None, "post", 413, "too_many_texts", "limit is 50"),
    ("one huge text", dict(json={"texts": ["good " * 1000]}), None, "post", 413, "text_too_long", "limit is 2000"),
    ("body over the byte limit", dict(data=b'{"texts": ["' + b"a" * BIG + b'"]}', content_type="application/json"),
     None, "post", 413, "body_too_large", "too large"),
    ("deeply nested json", dict(data=b"[" * 100_000 + b"]" * 100_000, content_type="application/json"), None, "post", 400,
     "invalid_json", "nested"),
    ("unknown model", dict(json={"texts": ["a"]}), "/v1/models/nope/predict", "post", 404, "model_not_found", "'nope'"),
    ("dot-dot model name", dict(json={"texts": ["a"]}), "/v1/models/../predict", "post", 404, "model_not_found", "'..'"),
    ("dot-dot inside name", dict(json={"texts": ["a"]}), "/v1/models/a..b/embed", "post", 404, "model_not_found", "'a..b'"),
    ("encoded traversal", dict(json={"texts": ["a"]}), "/v1/models/%2e%2e%2fvectors/predict", "post", 404, None, None),
    ("wrong method on predict", {}, None, "get", 405, "method_not_allowed", "POST"),
    ("wrong method on healthz", {}, "/healthz", "delete", 405, "method_not_allowed", "GET"),
    ("unknown path", {}, "/v2/anything", "get", 404, "not_found", "openapi"),
    ("unknown model metadata", {}, "/v1/models/nope", "get", 404, "model_not_found", "GET /v1/models"),
]


@pytest.mark.parametrize("kw,path,method,status,code,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_request_gets_a_json_4xx(client, kw, path, method, status, code, words):
    """Bad input is answered with the right 4xx status and a JSON error naming the problem."""
    r = getattr(client, method)(path or "/v1/models/sentiment/predict", **kw)
    assert r.status_code == status, r.get_data(as_text=True)[:300]
    assert r.mimetype == "application/json"
    body = json.loads(r.get_data())
    assert set(body) == {"error"} and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    if words:
        assert words in body["error"]["message"]
    assert "Traceback" not in r.get_data(as_text=True)


def test_405_names_the_allowed_methods(client):
    """A wrong method gets an Allow header."""
    r = client.get("/v1/models/sentiment/predict")
    assert "POST" in r.headers["Allow"]


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "application/vnd.api+json"])
def test_json_content_types_are_accepted(client, content_type):
    """Any JSON media type is accepted."""
    r = client.post("/v1/models/sentiment/predict", data=b'{"texts": ["good"]}', content_type=content_type)
    assert r.status_code == 200


def test_odd_but_valid_strings_are_classified(client):
    """Empty, whitespace, emoji, lone-surrogate and non-Latin texts are valid input."""
    texts = ["", "   ", "😀🎬", "\ud800", "映画はとても良かった", "x" * 2000]
    r = client.post("/v1/models/sentiment/predict", data=json.dumps({"texts": texts}), content_type="application/json")
    assert r.status_code == 200 and len(r.json["predictions"]) == len(texts)
