"""Run the service under gunicorn with the project's settings: what ``vecclf serve`` (and the image) runs.

:class:`Application` is a gunicorn application built from one frozen
:class:`~vecclf.service.config.Config`: the settings go to gunicorn as values
(:func:`gunicorn_settings`) and the app is ``create_app(config)``; nothing is
passed through environment variables. Why each setting:

- ``preload_app``: the master loads every model and opens the vector stores
  (memory-mapped, word index built) once; workers fork from it and share
  those pages. ``gc.freeze()`` before the first fork moves everything loaded
  so far out of the collector's reach, so no worker's garbage collection
  writes to (and so copies) the shared pages.
- Prometheus multiprocess mode: each worker writes its samples to files in
  ``config.metrics_dir`` and ``/metrics`` merges them. prometheus_client reads
  that folder only from ``PROMETHEUS_MULTIPROC_DIR``, before it is imported,
  so :func:`serve` sets that one variable (the library's, not a vecclf
  setting); stale samples of an earlier run are removed first.
- BLAS libraries get one thread per worker (requests do tiny matrix products,
  and idle BLAS threads spinning in every worker would take the cores the
  workers need).
- A worker that stops writes the review-queue samples it still holds (``worker_exit``).
- ``config.runtime_dir`` lets the worker that takes an admin reload tell its
  siblings; a temporary one is made (and removed on exit) when unset.
- The worker class is :class:`vecclf.service.worker.SlowClientSafeWorker`,
  gunicorn's threaded worker made safe to face clients directly (gunicorn's
  sync workers need a buffering proxy in front; see that module): idle
  connections wait in a poller (``keepalive`` seconds at most), a request
  must arrive, and its answer be taken, within ``client_timeout`` seconds
  each, and ``threads`` requests run at once per worker.

Running gunicorn yourself (``gunicorn vecclf.service.wsgi:app``) works too;
the app then reads ``VECCLF_*`` in ``wsgi.py``, and the settings above are yours to give.
"""

from __future__ import annotations

import errno
import gc
import glob
import os
import shutil
import socket
import tempfile

from vecclf.service.config import Config
from vecclf.service.worker import worker_class
from vecclf.training.errors import ConfigError


def prepare_runtime(config: Config) -> tuple[Config, str | None]:
    """Return ``config`` with its metrics and runtime folders made (temporary ones where unset), and the temp root."""
    made = None
    if not config.metrics_dir or not config.runtime_dir:
        made = tempfile.mkdtemp(prefix="vecclf-")
    config = config.replace(metrics_dir=config.metrics_dir or os.path.join(made, "metrics"),
                            runtime_dir=config.runtime_dir or os.path.join(made, "run"))
    for folder in (config.metrics_dir, config.runtime_dir):
        os.makedirs(folder, exist_ok=True)
    for stale in glob.glob(os.path.join(config.metrics_dir, "*.db")):
        os.unlink(stale)
    return config, made


def check_port(config: Config) -> None:
    """Raise ConfigError at once if ``config``'s host and port cannot be listened on.

    Called before any model loads: gunicorn would otherwise load every model,
    then retry the bind five times, a second apart. The probe binds the way
    gunicorn does (``SO_REUSEADDR``, so a port left in TIME_WAIT counts as
    free) and lets go at once.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(config.host, config.port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on host {config.host!r}: {exc.strerror} (set --host or VECCLF_HOST)") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {config.port} is in use (set --port or VECCLF_PORT)") from None
            raise ConfigError(f"cannot listen on {bind_address(config)}: {exc.strerror} "
                              "(set --host/--port or VECCLF_HOST/VECCLF_PORT)") from None


def bind_address(config: Config) -> str:
    """Return gunicorn's bind string for the configured host and port (IPv6 hosts bracketed)."""
    return f"[{config.host}]:{config.port}" if ":" in config.host else f"{config.host}:{config.port}"


def gunicorn_settings(config: Config, made: str | None = None) -> dict:
    """Return the gunicorn settings vecclf runs with, hooks included (see the module docs for why)."""

    def when_ready(server):
        """Freeze what the master loaded so collections in the workers never touch it."""
        _one_blas_thread()
        gc.collect()
        gc.freeze()
        server.log.info("vecclf ready on %s with %d workers (store %s)", bind_address(config), config.workers,
                        config.store)

    def post_worker_init(worker):
        """Start this worker's model watcher and publish what it serves."""
        _one_blas_thread()
        models = _extension(worker, "vecclf.models")
        if models is not None:
            models.start()

    def worker_exit(server, worker):
        """Write the review-queue samples this worker still holds before it goes."""
        review = _extension(worker, "vecclf.review")
        if review is not None:
            review.stop()

    def child_exit(server, worker):
        """Drop a dead worker's live gauges."""
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, config.metrics_dir)

    def on_exit(server):
        """Remove the temporary folders :func:`prepare_runtime` made."""
        if made:
            shutil.rmtree(made, ignore_errors=True)

    settings = {
        "bind": [bind_address(config)],
        "workers": config.workers,
        "worker_class": worker_class(config.client_timeout, config.max_body_bytes, config.access_log),
        "threads": config.threads,
        "timeout": config.timeout,
        "graceful_timeout": config.graceful_timeout,
        "keepalive": config.keepalive,
        "preload_app": True,
        "accesslog": None,  # the app writes JSON access lines with request ids
        "errorlog": "-",
        "loglevel": config.log_level.lower(),
        "proc_name": "vecclf",
        "control_socket_disable": True,  # gunicorn >= 24: no shared control socket between instances
        "when_ready": when_ready,
        "post_worker_init": post_worker_init,
        "worker_exit": worker_exit,
        "child_exit": child_exit,
        "on_exit": on_exit,
    }
    if os.path.isdir("/dev/shm"):
        settings["worker_tmp_dir"] = "/dev/shm"  # heartbeat files off a possibly slow or read-only disk
    return settings


def _extension(worker, name: str):
    """Return the Flask app's extension ``name`` behind a gunicorn worker (and its body reader), or None."""
    app = getattr(worker.wsgi, "wrapped", worker.wsgi)
    return app.extensions.get(name) if hasattr(app, "extensions") else None


def _one_blas_thread() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def application(config: Config, made: str | None = None):
    """Return the gunicorn application serving ``config`` (not started)."""
    from gunicorn.app.base import BaseApplication

    class Application(BaseApplication):
        """gunicorn with vecclf's settings and ``create_app(config)``; command-line arguments are not read."""

        def load_config(self):
            known = self.cfg.settings
            for key, value in gunicorn_settings(config, made).items():
                if key in known:  # a setting this gunicorn does not have (older releases) is left out
                    self.cfg.set(key, value)

        def load(self):
            from vecclf.service import create_app

            return create_app(config)

    return Application()


def serve(config: Config) -> int:
    """Serve the store's current models until stopped; return the exit code.

    Raises:
        ConfigError: the port is in use or the address cannot be listened on (checked before any model loads).
    """
    check_port(config)
    config, made = prepare_runtime(config)
    # prometheus_client reads its folder only from the environment, when first imported (module docs).
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = config.metrics_dir
    try:
        application(config, made).run()
    except SystemExit as exc:  # gunicorn exits from the master and from each worker (on_exit cleans up, once)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
