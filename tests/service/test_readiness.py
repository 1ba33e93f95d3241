"""Readiness by model, not by store: a half-written model is reported, not fatal; nothing private is shown."""

import shutil

import pytest

from vecclf.service import create_app
from vecclf.training.registry import CURRENT, ModelRegistry


def _half_written(store, name="half"):
    """Leave what a train killed after renaming its version into place, before writing `current`, leaves."""
    shutil.copytree(store / "mood" / "v1", store / name / "v1")


def _incomplete_current(store, name="broken"):
    """Leave a model whose current pointer names a version without its COMPLETE marker."""
    shutil.copytree(store / "mood" / "v1", store / name / "v1")
    (store / name / CURRENT).write_text("v1\n", "utf-8")
    (store / name / "v1" / "COMPLETE").unlink()


@pytest.mark.parametrize("damage", [_half_written, _incomplete_current])
def test_a_model_without_a_complete_current_version_leaves_the_service_ready(config, store, damage):
    """With VECCLF_MODELS unset, one model without a servable current version is reported but /readyz stays 200."""
    damage(store)
    r = create_app(config).test_client().get("/readyz")
    assert r.status_code == 200, r.json
    assert r.json["ready"] is True and r.json["status"] == "degraded"
    (name,) = [n for n, m in r.json["models"].items() if not m["loaded"]]
    assert r.json["models"][name]["refused"]["error"]
    assert {n for n, m in r.json["models"].items() if m["loaded"]} == {"mood", "sentiment"}


def test_a_configured_model_that_cannot_serve_makes_the_service_unready(config, store):
    """With VECCLF_MODELS set, every named model must serve: one half-written model is 503."""
    _half_written(store)
    r = create_app(config.replace(models=("sentiment", "half"))).test_client().get("/readyz")
    assert r.status_code == 503 and r.json["missing"] == ["half"] and r.json["status"] == "not_ready"


def test_no_model_serving_is_unready(config, store):
    """With VECCLF_MODELS unset and no model able to serve, /readyz is 503."""
    for name in ("mood", "sentiment"):
        (store / name / CURRENT).unlink()
    r = create_app(config).test_client().get("/readyz")
    assert r.status_code == 503 and r.json["ready"] is False


def test_readyz_shows_no_store_path(config, store):
    """Refusals in /readyz and the admin reload answer name versions and causes, never the store's paths."""
    v2 = store / "sentiment" / "v2"
    (v2 / "model.skops").unlink()
    ModelRegistry(store).promote("sentiment", "v2")
    _incomplete_current(store)
    client = create_app(config).test_client()
    body = client.get("/readyz").get_data(as_text=True)
    assert "sentiment" in body and "model.skops" in body
    for private in (str(store), str(store.resolve()), str(store.parent)):
        assert private not in body
    reload = client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {config.admin_token}"})
    assert str(store.parent) not in reload.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/v1/models/nope", "/v1/models/nope/predict", "/v1/models/nope/embed"])
def test_unknown_model_404_lists_no_model_names(client, path):
    """The 404 of an unknown model says how to list models, without listing them."""
    r = client.get(path) if path.count("/") == 3 else client.post(path, json={"texts": ["a"]})
    assert r.status_code == 404 and r.json["error"]["code"] == "model_not_found"
    message = r.json["error"]["message"]
    assert "'nope'" in message and "/v1/models" in message
    assert "sentiment" not in message and "mood" not in message


def test_a_removed_model_is_no_longer_reported(config, store):
    """Once a model that could not serve is deleted from the store, /readyz is plainly ready again."""
    _half_written(store)
    app = create_app(config)
    client = app.test_client()
    assert client.get("/readyz").json["status"] == "degraded"
    shutil.rmtree(store / "half")
    app.extensions["vecclf.models"].refresh()
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json["status"] == "ready" and "half" not in r.json["models"]


def test_refusals_name_versions_relative_to_the_store(config, store, monkeypatch):
    """A store given as a relative path is not shown either: a refusal reads 'sentiment/v2: ...'."""
    monkeypatch.chdir(store.parent)
    (store / "sentiment" / "v2" / "model.skops").unlink()
    ModelRegistry(store).promote("sentiment", "v2")
    body = create_app(config.replace(store="models")).test_client().get("/readyz").json
    assert body["models"]["sentiment"]["refused"]["error"] == "BundleError: sentiment/v2: model.skops is missing"
