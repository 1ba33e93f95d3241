"""The OpenAPI document is valid, complete, and browsable offline."""

import re

import pytest

from tests.conftest import need_module


def test_openapi_document_is_valid(client):
    """/openapi.json is a valid OpenAPI 3 document."""
    validator = need_module("openapi_spec_validator")
    spec = client.get("/openapi.json").json
    validator.validate(spec)
    assert spec["openapi"].startswith("3.")


def test_every_route_is_documented(app, client):
    """Each URL rule of the app (but static files) has a path in the document."""
    paths = client.get("/openapi.json").json["paths"]
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        documented = {m.upper() for m in paths.get(path, {})}
        assert documented, f"{path} is not documented"
        assert (rule.methods - {"HEAD", "OPTIONS"}) <= documented


def test_limits_in_the_document_follow_the_config(client, config):
    """maxItems/maxLength are the configured limits."""
    texts = client.get("/openapi.json").json["components"]["schemas"]["TextsRequest"]["properties"]["texts"]
    assert texts["maxItems"] == config.max_texts and texts["items"]["maxLength"] == config.max_text_chars


@pytest.mark.parametrize("path", ["/docs", "/", "/review"])
def test_pages_load_nothing_from_the_network(client, path):
    """The docs and playground pages reference no external host (no CDN)."""
    r = client.get(path)
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "http://" not in html and "https://" not in html
