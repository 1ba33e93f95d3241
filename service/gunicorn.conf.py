"""gunicorn settings for vecclf, used by ``vecclf serve`` and the Dockerfile alike.

Run: ``gunicorn -c service/gunicorn.conf.py`` (settings come from ``VECCLF_*``).

- ``preload_app``: the master loads every model and opens the vector stores
  (memory-mapped, word index built) once; workers fork from it and share
  those pages. ``gc.freeze()`` before the first fork moves everything loaded
  so far out of the collector's reach, so no worker's garbage collection
  writes to (and so copies) the shared pages.
- Prometheus multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR`` is set here,
  before anything imports prometheus_client; a folder given by the caller is
  emptied of stale samples first, one made here is removed on exit.
- BLAS libraries get one thread per worker (requests do tiny matrix products).
- ``VECCLF_RUNTIME_DIR`` (made here if unset) lets the worker that takes an
  admin reload tell its siblings.
"""

import gc
import glob
import os
import shutil
import tempfile

# One BLAS thread per worker: requests do tiny matrix products, and idle BLAS threads
# spinning in every worker would take the cores the workers need.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

_made = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR") or not os.environ.get("VECCLF_RUNTIME_DIR"):
    _made = tempfile.mkdtemp(prefix="vecclf-")
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(_made, "metrics")
if not os.environ.get("VECCLF_RUNTIME_DIR"):
    os.environ["VECCLF_RUNTIME_DIR"] = os.path.join(_made, "run")
for _d in (os.environ["PROMETHEUS_MULTIPROC_DIR"], os.environ["VECCLF_RUNTIME_DIR"]):
    os.makedirs(_d, exist_ok=True)
for _stale in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
    os.unlink(_stale)

from vecclf.service.config import Config  # noqa: E402  (after the environment above is set)

_config = Config.from_env(os.environ)

wsgi_app = "vecclf.service.wsgi:app"
bind = [f"[{_config.host}]:{_config.port}" if ":" in _config.host else f"{_config.host}:{_config.port}"]
workers = _config.workers
worker_class = "sync"
timeout = _config.timeout
graceful_timeout = _config.graceful_timeout
keepalive = 2
preload_app = True
accesslog = None  # the app writes JSON access lines with request ids
errorlog = "-"
loglevel = _config.log_level.lower()
proc_name = "vecclf"
control_socket_disable = True  # gunicorn >= 24: no shared control socket between instances
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"  # heartbeat files off a possibly slow or read-only disk


def when_ready(server):
    """Freeze what the master loaded so collections in the workers never touch it."""
    gc.collect()
    gc.freeze()
    server.log.info("vecclf ready on %s with %d workers (store %s)", ", ".join(bind), workers, _config.store)


def post_worker_init(worker):
    """Start this worker's model watcher and publish what it serves."""
    models = worker.wsgi.extensions.get("vecclf.models") if hasattr(worker.wsgi, "extensions") else None
    if models is not None:
        models.start()


def child_exit(server, worker):
    """Drop a dead worker's live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the temporary folders made above."""
    if _made:
        shutil.rmtree(_made, ignore_errors=True)
