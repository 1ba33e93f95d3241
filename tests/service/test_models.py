"""Model updates without downtime: pointer changes, admin reload, corrupt versions refused."""

import time

import pytest

from vecclf.service.logs import SERVICE
from tests.service.conftest import TOKEN, predict
from vecclf.training.bundle import MODEL_FILE
from vecclf.training.registry import ModelRegistry

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _version(client, name="sentiment"):
    return predict(client, name=name).json["version"]


def _corrupt(store, name="sentiment", version="v2"):
    path = store / name / version / MODEL_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_pointer_change_is_picked_up_on_refresh(app, client, store):
    """After promote, a refresh serves the new version; requests before it got the old one."""
    models = app.extensions["vecclf.models"]
    held = models.get("sentiment")
    ModelRegistry(store).promote("sentiment", "v2")
    assert _version(client) == "v1"
    assert models.refresh()["loaded"] == {"sentiment": "v2"}
    assert _version(client) == "v2"
    assert held.version == "v1" and held.predictor.explain(["good"])  # an in-flight holder still works


def test_watcher_follows_the_pointer_within_the_interval(config, store):
    """With a poll interval, the watcher thread swaps versions by itself."""
    from vecclf.service import create_app

    app = create_app(config.replace(poll_interval=0.2))
    client = app.test_client()
    try:
        assert _version(client) == "v1"  # the first request starts the watcher
        ModelRegistry(store).promote("sentiment", "v2")
        deadline = time.monotonic() + 5
        while _version(client) != "v2" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _version(client) == "v2"
        ModelRegistry(store).rollback("sentiment")
        deadline = time.monotonic() + 5
        while _version(client) != "v1" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _version(client) == "v1"
    finally:
        app.extensions["vecclf.models"].stop()


def test_admin_reload_swaps_at_once(client, store):
    """POST /v1/admin/reload with the token loads the promoted version before answering."""
    ModelRegistry(store).promote("sentiment", "v2")
    r = client.post("/v1/admin/reload", headers=AUTH)
    assert r.status_code == 200
    assert r.json["reload"]["loaded"] == {"sentiment": "v2"}
    assert r.json["reload"]["unchanged"] == {"mood": "v1"}
    assert _version(client) == "v2"


def test_admin_reload_tells_sibling_workers(config, store):
    """A reload taken by one process is followed by another watching the same runtime dir."""
    from vecclf.service import create_app

    first, second = create_app(config), create_app(config.replace(poll_interval=0))
    sibling = second.extensions["vecclf.models"]
    sibling._started_pid = None
    sibling.start()  # the runtime dir makes it watch for reload requests even without polling
    try:
        ModelRegistry(store).promote("sentiment", "v2")
        assert first.test_client().post("/v1/admin/reload", headers=AUTH).status_code == 200
        deadline = time.monotonic() + 5
        while sibling.get("sentiment").version != "v2" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sibling.get("sentiment").version == "v2"
    finally:
        sibling.stop()


@pytest.mark.parametrize("headers,status,code", [
    ({}, 401, "unauthorized"),
    ({"Authorization": "Bearer wrong-token-wrong-token"}, 401, "unauthorized"),
    ({"Authorization": f"Basic {TOKEN}"}, 401, "unauthorized"),
    ({"Authorization": f"Bearer {TOKEN}x"}, 401, "unauthorized"),
    ({"Authorization": "Bearer ünïcode"}, 401, "unauthorized"),
])
def test_admin_reload_needs_the_token(client, headers, status, code):
    """Missing or wrong credentials get 401 with WWW-Authenticate."""
    r = client.post("/v1/admin/reload", headers=headers)
    assert r.status_code == status and r.json["error"]["code"] == code
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_admin_reload_disabled_without_token(config):
    """Without VECCLF_ADMIN_TOKEN the admin endpoint is off (403)."""
    from vecclf.service import create_app

    r = create_app(config.replace(admin_token=None)).test_client().post("/v1/admin/reload", headers=AUTH)
    assert r.status_code == 403 and r.json["error"]["code"] == "admin_disabled"


def test_corrupt_version_is_refused_and_old_keeps_serving(app, client, store, caplog):
    """A promoted but corrupt bundle is refused, logged, and reported by /readyz and /metrics."""
    _corrupt(store)
    ModelRegistry(store).promote("sentiment", "v2")
    SERVICE.addHandler(caplog.handler)  # the service logger does not propagate to the root
    try:
        report = client.post("/v1/admin/reload", headers=AUTH).json["reload"]
    finally:
        SERVICE.removeHandler(caplog.handler)
    assert report["refused"]["sentiment"]["version"] == "v2"
    assert "sha256" in report["refused"]["sentiment"]["error"]
    assert any("refused model sentiment version v2" in rec.getMessage() for rec in caplog.records)
    assert _version(client) == "v1"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["status"] == "degraded"
    assert ready.json["models"]["sentiment"]["refused"]["version"] == "v2"
    text = client.get("/metrics").get_data(as_text=True)
    assert 'vecclf_model_up_to_date{model="sentiment"} 0.0' in text
    assert 'vecclf_model_load_failures_total{model="sentiment"}' in text


def test_refused_version_is_not_retried_until_asked(app, store, monkeypatch):
    """Polling does not reload a refused version again; a forced reload does."""
    _corrupt(store)
    ModelRegistry(store).promote("sentiment", "v2")
    models = app.extensions["vecclf.models"]
    assert "sentiment" in models.refresh()["refused"]
    calls = []
    real = models.registry.load
    monkeypatch.setattr(models.registry, "load", lambda *a: calls.append(a) or real(*a))
    models.refresh()
    assert calls == []
    models.refresh(force=True)
    assert calls == [("sentiment", "v2")]


@pytest.mark.parametrize("damage", ["missing model file", "no COMPLETE marker", "vectors changed", "bad manifest"])
def test_every_kind_of_broken_version_is_refused(app, client, store, damage):
    """Incomplete, tampered and incompatible versions never replace the serving one."""
    v2 = store / "sentiment" / "v2"
    ModelRegistry(store).promote("sentiment", "v2")
    if damage == "missing model file":
        (v2 / MODEL_FILE).unlink()
    elif damage == "no COMPLETE marker":
        (v2 / "COMPLETE").unlink()
    elif damage == "vectors changed":
        manifest = v2 / "manifest.json"
        manifest.write_text(manifest.read_text().replace('"sha256": "', '"sha256": "0'), "utf-8")
    else:
        (v2 / "manifest.json").write_text("{not json", "utf-8")
    app.extensions["vecclf.models"].refresh()
    assert _version(client) == "v1"
    assert client.get("/readyz").json["models"]["sentiment"]["refused"]["version"] == "v2"


def test_fixed_version_after_refusal_makes_status_ready_again(app, client, store):
    """Rolling back to the serving version clears the refusal."""
    _corrupt(store)
    registry = ModelRegistry(store)
    registry.promote("sentiment", "v2")
    app.extensions["vecclf.models"].refresh()
    assert client.get("/readyz").json["status"] == "degraded"
    registry.promote("sentiment", "v1")
    app.extensions["vecclf.models"].refresh()
    assert client.get("/readyz").json["status"] == "ready"


def test_a_swapped_out_version_is_given_back_at_the_next_check(app, store, monkeypatch):
    """After a swap, the next check collects the old version and returns freed heap to the system, once."""
    import vecclf.service.models as models_module

    released = []
    monkeypatch.setattr(models_module, "release_memory", lambda: released.append(1))
    models = app.extensions["vecclf.models"]
    models.refresh()
    assert released == []  # nothing swapped yet
    ModelRegistry(store).promote("sentiment", "v2")
    assert models.refresh()["loaded"] == {"sentiment": "v2"}
    assert released == []  # requests in flight may still hold v1
    models.refresh()
    assert released == [1]
    models.refresh()
    assert released == [1]


def test_release_memory_runs_where_glibc_is_missing(monkeypatch):
    """Giving memory back is best effort: without glibc's malloc_trim it still collects and never raises."""
    import vecclf.service.models as models_module

    monkeypatch.setattr(models_module, "_libc", lambda: None)
    models_module.release_memory()
