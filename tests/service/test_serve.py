"""A real gunicorn process started by `vecclf serve` (the Dockerfile's command): query, promote under load."""

import os
import signal
import threading
import time

import pytest

from tests.service.conftest import TOKEN, call
from vecclf.training.registry import ModelRegistry

pytestmark = pytest.mark.slow


def test_gunicorn_serves_the_contract(server):
    """The real server answers health, models, predict, docs and metrics."""
    port, _ = server
    assert call(port, "GET", "/healthz") == (200, {"status": "ok"})
    status, body = call(port, "POST", "/v1/models/sentiment/predict", {"texts": ["A great and wonderful film!"]})
    assert status == 200 and body["predictions"][0]["label"] == "pos"
    status, body = call(port, "POST", "/v1/models/sentiment/predict", {"texts": "not a list"})
    assert status == 400 and body["error"]["code"] == "invalid_texts"
    assert call(port, "GET", "/openapi.json")[0] == 200
    assert [m["name"] for m in call(port, "GET", "/v1/models")[1]["models"]] == ["mood", "sentiment"]


def test_promotion_under_load_drops_no_request(server, store):
    """Requests from 4 clients while v2 is promoted: zero failures, then v2 everywhere, metrics summed over workers."""
    port, _ = server
    results, stop = [], threading.Event()

    def client():
        while not stop.is_set():
            try:
                status, body = call(port, "POST", "/v1/models/sentiment/predict", {"texts": ["good film", "bad plot"]})
                results.append((time.monotonic(), status, body.get("version") if isinstance(body, dict) else None))
            except OSError as exc:
                results.append((time.monotonic(), repr(exc), None))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    promoted_at = time.monotonic()
    ModelRegistry(store).promote("sentiment", "v2")
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join()
    failures = [r for r in results if r[1] != 200]
    assert not failures, failures[:5]
    assert {v for _, _, v in results} == {"v1", "v2"}
    late = [v for at, _, v in results if at > promoted_at + 1.0]
    assert late and set(late) == {"v2"}
    metrics = call(port, "GET", "/metrics")[1]
    served = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                 if line.startswith("vecclf_http_requests_total{") and 'endpoint="api.predict"' in line)
    assert served == len(results)
    assert 'vecclf_model_version_info{model="sentiment",version="v2"} 1.0' in metrics


def test_admin_reload_reaches_every_worker(server, store):
    """An admin reload taken by one worker is followed by the others within a second."""
    port, _ = server
    ModelRegistry(store).promote("sentiment", "v2")
    status, body = call(port, "POST", "/v1/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and body["models"]["sentiment"]["version"] == "v2"
    time.sleep(1.0)
    versions = {call(port, "POST", "/v1/models/sentiment/predict", {"texts": ["x"]})[1]["version"] for _ in range(20)}
    assert versions == {"v2"}


def test_sigterm_stops_cleanly(server, tmp_path):
    """SIGTERM ends the master and workers with exit code 0."""
    port, proc = server
    # Let both workers finish booting: a signal that lands mid-boot tests gunicorn's boot, not our shutdown.
    for _ in range(4):
        assert call(port, "GET", "/healthz")[0] == 200
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    assert code == 0, (tmp_path / "server.log").read_text(errors="replace")[-3000:]


def test_gunicorn_settings_come_from_the_config_object(tmp_path):
    """The settings gunicorn runs with follow the frozen Config: workers, timeouts, bind, preload, hooks."""
    from vecclf.service.config import Config
    from vecclf.service.serve import gunicorn_settings, prepare_runtime

    (tmp_path / "prom").mkdir()
    (tmp_path / "prom" / "counter_1.db").write_bytes(b"stale")
    config = Config(workers=3, timeout=45, port=8123, metrics_dir=str(tmp_path / "prom"))
    config, made = prepare_runtime(config)
    assert not (tmp_path / "prom" / "counter_1.db").exists()  # stale samples of an earlier run are dropped
    assert config.runtime_dir and os.path.isdir(config.runtime_dir) and made
    conf = gunicorn_settings(config, made)
    assert (conf["workers"], conf["timeout"], conf["bind"], conf["preload_app"]) == (3, 45, ["127.0.0.1:8123"], True)
    assert all(callable(conf[hook]) for hook in ("when_ready", "post_worker_init", "child_exit", "on_exit"))
    conf["on_exit"](None)
    assert not os.path.exists(made)


def test_gunicorn_takes_every_setting_by_value(tmp_path):
    """The application hands gunicorn each setting directly: none is unknown to it, none goes through VECCLF_*."""
    from vecclf.service.config import Config
    from vecclf.service.serve import application, gunicorn_settings

    config = Config(workers=3, port=8124, metrics_dir=str(tmp_path / "m"), runtime_dir=str(tmp_path / "r"))
    before = {k: v for k, v in os.environ.items() if k.startswith("VECCLF_")}
    app = application(config)
    assert (app.cfg.workers, app.cfg.bind, app.cfg.preload_app) == (3, ["127.0.0.1:8124"], True)
    assert {k: v for k, v in os.environ.items() if k.startswith("VECCLF_")} == before
    assert set(gunicorn_settings(config)) - {"control_socket_disable"} <= set(app.cfg.settings)
