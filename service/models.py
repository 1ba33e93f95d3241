"""The models being served, and how they change without downtime.

:class:`ModelSet` loads each model's current version (in the gunicorn master,
before the workers fork, so they share its pages) and swaps in a new version
when the model's ``current`` pointer moves:

- every ``poll_interval`` seconds, in a watcher thread of each worker;
- at once on ``POST /v1/admin/reload``: the worker that takes the call
  reloads before answering, then writes ``<runtime_dir>/reload-request`` so
  its sibling workers follow within half a second (gunicorn's HUP would not
  help: under ``preload`` it re-forks the master's old models).

A swap replaces one dict entry; a request holds the :class:`Served` it looked
up, so requests in flight finish on the old version. A version that fails to
load (corrupt, incomplete, vectors changed, fails its warm-up) is refused and
logged, the old one keeps serving, ``/readyz`` lists the refusal and
``vecclf_model_up_to_date`` drops to 0. A refused version is not retried
until its pointer changes again or an admin reload asks.

A served version whose vector files are rewritten in place (the pages it
maps change under it) is withdrawn at the next check: it is no longer
served (requests get 503 ``model_unavailable``) and ``/readyz`` says why.
A store replaced by rename does not count: the old files stay mapped. A
version refused for its vectors is tried again by the watcher as soon as
the store passes its check (restored, or imported again).

After a swap, the next check (when requests in flight on the old version
have had time to finish) runs the garbage collector and asks glibc to
return free heap pages to the system (``malloc_trim``): each worker loads
a promoted version on its own, and without this the freed versions'
pages stayed in the workers' heaps (benchmarks/soak.py: PSS grew for the
first five promotions).

Readiness is by model: with ``VECCLF_MODELS`` set, every named model must
serve; unset, the service is ready when at least one model of the store
serves, and a model that cannot (no ``current`` pointer after a killed
train, a broken current version) is reported, not fatal. Reasons shown in
``/readyz`` have the store's paths taken out; the log keeps them.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import functools
import gc
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vecclf.service import metrics
from vecclf.service.config import Config
from vecclf.training.errors import BundleError
from vecclf.training.inference import Predictor
from vecclf.training.registry import ModelRegistry
from vecclf.training.vectors import integrity
from vecclf.training.vectors.store import open_store

log = logging.getLogger("vecclf.service")

RELOAD_REQUEST = "reload-request"
_VECTORS_CHANGED = "do not match the sha256 recorded at import"  # integrity's words for changed vector files
# An absolute path still left in a public message (a vector store given by path, say): only its last part is shown.
_ABSOLUTE_PATH = re.compile(r"(^|[\s'\"(=])/(?:[^\s'\"/]+/)*([^\s'\"/:,)]+)")
REQUEST_TICK = 0.5


@dataclass(frozen=True)
class Served:
    """One loaded model version."""

    name: str
    version: str
    manifest: dict
    predictor: Predictor
    loaded_at: str
    # The vector store this version maps: (folder, manifest, {file: identity when loaded}); see _changed_in_place.
    vectors: tuple | None = None

    def describe(self) -> dict:
        """Return the public metadata of this version."""
        m = self.manifest
        vec = m.get("vectors") or {}
        return {"name": self.name, "version": self.version, "labels": list(m.get("labels") or self.predictor.classes),
                "multilabel": bool(m.get("multilabel", False)),
                "metrics": {k: v for k, v in (m.get("metrics") or {}).items() if isinstance(v, (int, float))},
                "evaluation": m.get("evaluation"), "n_test": m.get("n_test"),
                "vectors": {k: vec.get(k) for k in ("name", "sha256", "dim", "lowercase") if k in vec},
                "embedding_dim": self.predictor.dim, "created_at": m.get("created_at"), "loaded_at": self.loaded_at}


def _mapped(store, manifest: dict) -> tuple | None:
    """Return (folder, manifest, {file: identity}) of the vector store a just-loaded version maps, or None."""
    try:
        vstore = open_store(store, (manifest.get("vectors") or {}).get("name", ""), verify=False)
        files = integrity.store_files(vstore.path, vstore.manifest)
        return vstore.path, vstore.manifest, {f: integrity.identity(vstore.path / f) for f in files}
    except Exception:  # noqa: BLE001  (a model without a vector store of its own, say fastText's classifier)
        return None


def _changed_in_place(vectors: tuple | None) -> str | None:
    """Return why the vector files a served version maps no longer hold what was verified, or None.

    Only a change to the very files mapped matters: a store replaced by rename (a new inode) leaves the old
    files, and so the mapping, intact. A file whose identity moved (a write, or just a chmod) is hashed again.
    """
    if vectors is None:
        return None
    folder, manifest, seen = vectors
    for name, before in seen.items():
        try:
            now = integrity.identity(folder / name)
        except OSError:
            return None  # removed: the mapping keeps the old file
        if now[:2] != before[:2]:
            return None  # replaced by rename: the mapping keeps the old file
        if now != before:
            try:
                integrity.verify(folder, manifest)
            except BundleError as exc:
                return f"vectors changed while served: {exc}"
            seen.update({f: integrity.identity(folder / f) for f in seen})
    return None


@functools.cache
def _libc():
    """Return glibc, or None where the C library is another (musl, macOS)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def release_memory() -> None:
    """Collect garbage, then return the heap's free pages to the system where glibc can (best effort)."""
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class ModelSet:
    """The served models of one process (see the module docs)."""

    def __init__(self, config: Config):
        self.config = config
        self.registry = ModelRegistry(config.store)
        self._served: dict[str, Served] = {}
        self._refused: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._vector_trouble: set[str] = set()  # models refused because their vectors failed their check
        self._swapped_out = False  # a version left service since the last check: give its memory back
        self._started_pid: int | None = None
        self._published: dict[str, str] = {}
        self._stop = threading.Event()
        self._seen_request = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ reading
    def get(self, name: str) -> Served | None:
        """Return the served version of ``name``, or None."""
        return self._served.get(name)

    def unavailable(self, name: str) -> bool:
        """Return True when ``name`` is a model of this service that cannot serve now (see /readyz for why)."""
        return name not in self._served and name in self._refused

    def served(self) -> dict[str, Served]:
        """Return a snapshot of every served model."""
        return dict(self._served)

    def wanted(self) -> list[str]:
        """Return the models this service should serve: ``VECCLF_MODELS``, else every model folder in the store."""
        if self.config.models is not None:
            return list(self.config.models)
        try:
            return self.registry.names()
        except OSError as exc:
            log.error("cannot list the model store %s: %s", self.config.store, exc)
            return sorted(self._served)

    def status(self) -> dict:
        """Return readiness by model (see the module docs): which models serve, which cannot and why."""
        wanted = self.wanted()
        served = dict(self._served)
        refused = {n: r for n, r in self._refused.items() if n in served or n in wanted}  # not a model removed since
        models = {}
        for name in sorted(set(wanted) | set(served)):
            entry = {"version": served[name].version if name in served else None, "loaded": name in served}
            if name in refused:
                entry["refused"] = refused[name]
            models[name] = entry
        missing = [n for n in wanted if n not in served]
        # Named models must all serve; otherwise a model that cannot serve (a half-written train, a broken
        # version) is reported, not fatal: a probe would pull every replica for one model's trouble.
        ready = bool(served) and (not missing if self.config.models is not None else True)
        state = "ready" if ready and not refused and not missing else ("degraded" if ready else "not_ready")
        return {"status": state, "ready": ready, "missing": missing, "models": models}

    # ------------------------------------------------------------ loading
    def refresh(self, force: bool = False) -> dict:
        """Load every wanted model whose current version is not the one served; return what happened."""
        report = {"loaded": {}, "unchanged": {}, "refused": {}}
        if self._swapped_out:  # one poll later, requests that held the old version have finished
            self._swapped_out = False
            release_memory()
        with self._lock:
            wanted = self.wanted()
            for name in wanted:
                self._refresh_one(name, force, report)
            for name in set(self._refused) - set(wanted) - set(self._served):
                del self._refused[name]  # its folder is gone: nothing left to report
        self._publish()
        return report

    def _refresh_one(self, name: str, force: bool, report: dict) -> None:
        served = self._served.get(name)
        problem = _changed_in_place(served.vectors) if served is not None else None
        if problem:  # what the served version maps was rewritten under it: stop serving it rather than answer wrongly
            swapped = dict(self._served)
            del swapped[name]
            self._served = swapped
            self._swapped_out = True
            self._vector_trouble.add(name)
            self._refuse(name, served.version, problem, report)
            return
        try:
            version = self.registry.current(name)
        except Exception as exc:  # an invalid configured name, an unreadable pointer
            self._refuse(name, None, f"cannot read the current version: {exc}", report, count=False)
            return
        if version is None:
            self._refuse(name, None, "model has no current version in the store", report, count=False)
            return
        if served is not None and served.version == version:
            self._refused.pop(name, None)
            report["unchanged"][name] = version
            return
        refused = self._refused.get(name)
        if refused is not None and refused.get("version") == version and not force:
            if name not in self._vector_trouble or not self._vectors_fixed(name, version):
                report["refused"][name] = refused
                return
        started = time.perf_counter()
        try:
            model, manifest = self.registry.load(name, version)
            predictor = Predictor(model)
            predictor.explain(["warm up the model before it serves"])  # builds lazy caches now, not per request
        except Exception as exc:  # corrupt, incomplete, incompatible: keep the old version
            if _VECTORS_CHANGED in str(exc):
                self._vector_trouble.add(name)
            self._refuse(name, version, f"{type(exc).__name__}: {exc}", report)
            return
        self._vector_trouble.discard(name)
        entry = Served(name, version, manifest, predictor, _now(), _mapped(self.config.store, manifest))
        swapped = dict(self._served)
        swapped[name] = entry
        self._served = swapped  # one reference assignment: readers see the old or the new dict
        self._swapped_out = self._swapped_out or served is not None
        self._refused.pop(name, None)
        report["loaded"][name] = version
        log.info("serving model %s version %s (was %s, loaded in %.0f ms, %s path)", name, version,
                 served.version if served else None, 1000 * (time.perf_counter() - started),
                 "compiled" if predictor.compiled else "pipeline")
        if served is not None and self._started_pid == os.getpid():
            metrics.count_reload(name)

    def _vectors_fixed(self, name: str, version: str) -> bool:
        """Return True when the vector store of a version refused for its vectors now passes its check.

        Cheap while nothing changed (the failed files are remembered by identity), so polling may ask:
        a store restored or imported again brings the model back without an admin reload.
        """
        try:
            vectors = (self.registry.manifest(name, version).get("vectors") or {}).get("name", "")
            open_store(self.config.store, vectors)
        except Exception:  # noqa: BLE001  (still broken, or gone)
            return False
        return True

    def _refuse(self, name: str, version: str | None, error: str, report: dict, count: bool = True) -> None:
        serving = self._served.get(name)
        entry = {"version": version, "error": self._public(error), "at": _now()}
        previous = self._refused.get(name)
        self._refused[name] = entry
        report["refused"][name] = entry
        if previous and previous.get("version") == version and previous.get("error") == entry["error"]:
            return  # already logged and counted
        log.error("refused model %s version %s: %s; %s", name, version, error,
                  f"still serving {serving.version}" if serving else "model not served")
        if count:
            metrics.count_load_failure(name)

    def _public(self, error: str) -> str:
        """Return ``error`` with the store's location taken out (``/readyz`` is public; the log keeps the paths)."""
        store = str(self.config.store).rstrip(os.sep)
        for root in sorted({str(Path(store).resolve()), os.path.abspath(store), store}, key=len, reverse=True):
            error = error.replace(root + os.sep, "")
            if os.path.isabs(root):
                error = error.replace(root, "<store>")
        return _ABSOLUTE_PATH.sub(lambda m: m.group(1) + "<path>/" + m.group(2), error)

    def _publish(self) -> None:
        if self._started_pid != os.getpid():
            return  # the gunicorn master: its gauges would outlive what the workers serve
        serving = {n: s.version for n, s in self._served.items()}
        up = {n: n in self._served and n not in self._refused for n in set(self.wanted()) | set(self._served)}
        metrics.publish_versions(serving, self._published, up)
        self._published = serving

    # ------------------------------------------------------------ watching
    def start(self) -> None:
        """Begin serving in this process: publish gauges and start the watcher (once per process, whatever the threads)."""
        if self._started_pid == os.getpid():
            return
        with self._start_lock:
            if self._started_pid != os.getpid():
                self._start()

    def _start(self) -> None:
        self._started_pid = os.getpid()
        self._stop = threading.Event()
        self._seen_request = self._request_stamp()
        self._publish()
        if self.config.poll_interval > 0 or self.config.runtime_dir:
            self._thread = threading.Thread(target=self._watch, name="vecclf-model-watcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the watcher thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _watch(self) -> None:
        interval = self.config.poll_interval
        tick = min(REQUEST_TICK, interval) if interval > 0 else REQUEST_TICK
        next_poll = time.monotonic() + interval
        while not self._stop.wait(tick):
            try:
                stamp = self._request_stamp()
                if stamp != self._seen_request:
                    self._seen_request = stamp
                    self.refresh(force=True)
                elif interval > 0 and time.monotonic() >= next_poll:
                    self.refresh()
                if interval > 0 and time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + interval
            except Exception:  # the watcher must outlive any surprise
                log.exception("model watcher check failed")

    def _request_file(self) -> Path | None:
        return Path(self.config.runtime_dir) / RELOAD_REQUEST if self.config.runtime_dir else None

    def _request_stamp(self):
        path = self._request_file()
        if path is None:
            return None
        try:
            return path.read_text("utf-8")
        except OSError:
            return None

    def request_reload(self) -> dict:
        """Reload now in this process and ask sibling workers to do the same."""
        report = self.refresh(force=True)
        path = self._request_file()
        if path is not None:
            token = f"{os.getpid()}:{time.time_ns()}"
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{RELOAD_REQUEST}.{os.getpid()}")
                tmp.write_text(token, "utf-8")
                os.replace(tmp, path)
                self._seen_request = token
            except OSError as exc:
                log.error("cannot signal other workers through %s: %s", path, exc)
        return report
