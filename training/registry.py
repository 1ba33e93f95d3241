"""The model store: versions of each model, and which one is current.

Layout: ``<store>/<model>/<version>/`` bundles (``v1``, ``v2``, ...),
``<store>/<model>/current`` holding the serving version's name, and
``<store>/<model>/history.json``: ``events``, every promote and rollback in
the order they happened, and ``promoted``, the stack of promoted versions
that ``rollback`` pops. ``current`` is replaced atomically (temp file +
rename), so a reader sees the old or the new version, never a torn write.

A promote or rollback reads and rewrites the history, so each one holds an
exclusive ``flock`` on the model's folder from reading ``current`` to
writing both files: parallel promotions are recorded one after the other,
each seeing the one before it as ``previous``, and rollback follows what
really happened. Both files are written to temp files first (a full disk
fails before anything changed), then ``current`` is renamed into place
before the history, so a crash between the two renames leaves a history one
event short, never one that names a version that was never current.

A model's first version becomes current by itself; later ones only through
``promote`` (or ``train --promote`` / the retrain gate).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vecclf.training.bundle import COMPLETE, load_bundle, read_manifest, write_bundle
from vecclf.training.errors import NotFoundError, VecclfError, storage_error
from vecclf.training.leftovers import collect_quietly, temp_prefix
from vecclf.training.vectors.store import NAME_RE, check_name

CURRENT = "current"
# Folders of the store that are not models: the vector stores and the tuned sentence encoders.
RESERVED = {"vectors": "vector stores", "encoders": "tuned sentence encoders (vecclf encoders finetune)"}
HISTORY = "history.json"
_VERSION_RE = re.compile(r"^v(\d+)$")


def _atomic_write(*files: tuple[Path, str]) -> None:
    """Replace each ``(path, text)`` by rename, in order, after every temp file is written and synced.

    Writing all the temp files first means a full disk fails before anything changed.
    """
    written: list[tuple[str, Path]] = []
    try:
        for path, text in files:
            try:
                fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), dir=path.parent)
                written.append((tmp, path))
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                raise storage_error(exc, path) from exc
        while written:
            tmp, path = written[0]
            os.replace(tmp, path)
            written.pop(0)
    finally:
        for tmp, _ in written:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (flock on the directory itself: no lock file to leave behind)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class ModelRegistry:
    """Read and change the model store at ``root``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def model_dir(self, name: str) -> Path:
        """Return the folder of model ``name`` (validated as a safe path component)."""
        if name in RESERVED:
            raise NotFoundError(f"{name!r} is reserved for {RESERVED[name]}, not a model name")
        return self.root / check_name(name, "model name")

    def models(self) -> list[str]:
        """Return the names of models that have at least one complete version."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and p.name not in RESERVED and not p.name.startswith(".") and self.versions(p.name))

    def names(self) -> list[str]:
        """Return every model folder with a version or a ``current`` pointer, complete or not (what a service reports)."""
        if not self.root.is_dir():
            return []
        found = []
        for p in self.root.iterdir():
            if not p.is_dir() or p.name in RESERVED or p.name.startswith(".") or not NAME_RE.match(p.name):
                continue
            try:
                if (p / CURRENT).is_file() or any(_VERSION_RE.match(c.name) for c in p.iterdir()):
                    found.append(p.name)
            except OSError:
                continue
        return sorted(found)

    def versions(self, name: str) -> list[str]:
        """Return the complete versions of ``name``, oldest first."""
        d = self.model_dir(name)
        if not d.is_dir():
            return []
        found = [(int(m.group(1)), p.name) for p in d.iterdir()
                 if (m := _VERSION_RE.match(p.name)) and (p / COMPLETE).is_file()]
        return [v for _, v in sorted(found)]

    def current(self, name: str) -> str | None:
        """Return the current version of ``name``, or None if none is set."""
        try:
            value = (self.model_dir(name) / CURRENT).read_text("utf-8").strip()
        except FileNotFoundError:
            return None
        return value or None

    def resolve(self, name: str, version: str | None = None) -> str:
        """Return ``version``, or the current one, after checking it exists."""
        if not self.model_dir(name).is_dir():
            known = ", ".join(self.models()) or "none"
            raise NotFoundError(f"unknown model {name!r} (models: {known})")
        if version is None:
            version = self.current(name)
            if version is None:
                raise NotFoundError(f"model {name!r} has no current version; promote one")
        check_name(version, "version")
        if not (self.model_dir(name) / version / COMPLETE).is_file():
            known = ", ".join(self.versions(name)) or "none"
            raise NotFoundError(f"model {name!r} has no version {version!r} (versions: {known})")
        return version

    def save(self, name: str, model, manifest: dict, *, promote: bool = False, extras=None) -> tuple[str, bool]:
        """Write a new version of ``name``; return ``(version, became_current)``.

        ``extras(folder, version)`` adds files to the bundle before it is complete (see ``write_bundle``).
        When the version should become current but cannot (a full disk), it is removed again: a failed
        ``train --promote`` leaves no version behind that nobody asked for.

        Raises:
            StorageError: the bundle or the pointer cannot be written (nothing of this version is left).
        """
        d = self.model_dir(name)
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, d) from exc
        collect_quietly(self.root)
        for _ in range(100):
            taken = [int(m.group(1)) for p in d.iterdir() if (m := _VERSION_RE.match(p.name))]
            version = f"v{max(taken, default=0) + 1}"
            try:
                write_bundle(d, version, model, {**manifest, "model": name}, extras)
                break
            except OSError as exc:  # another process took this number first
                if isinstance(exc, VecclfError) or not (d / version).exists():
                    raise
        else:
            raise VecclfError(f"cannot allocate a version number for {name!r}")
        became_current = promote or self.current(name) is None
        if became_current:
            try:
                self.promote(name, version)
            except BaseException:
                shutil.rmtree(d / version, ignore_errors=True)  # never current: take it back
                raise
        return version, became_current

    def history(self, name: str) -> list[dict]:
        """Return every recorded promote and rollback of ``name``, oldest first."""
        return self._read_history(name)["events"]

    def _read_history(self, name: str) -> dict:
        try:
            data = json.loads((self.model_dir(name) / HISTORY).read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            data = {}
        promoted = data.get("promoted") if isinstance(data, dict) else None
        events = data.get("events") if isinstance(data, dict) else None
        if not isinstance(promoted, list):  # no history yet (or an unreadable one): start from the pointer
            current = self.current(name)
            promoted = [current] if current else []
        return {"promoted": [str(v) for v in promoted], "events": events if isinstance(events, list) else []}

    def _record(self, name: str, action: str, version: str, previous: str | None, history: dict) -> dict:
        event = {"action": action, "version": version, "previous": previous, "at": _now()}
        d = self.model_dir(name)
        _atomic_write((d / CURRENT, version + "\n"),
                      (d / HISTORY, json.dumps({"promoted": history["promoted"], "events": history["events"] + [event]})
                       + "\n"))
        return {"model": name, "current": version, "previous": previous, "at": event["at"]}

    def promote(self, name: str, version: str) -> dict:
        """Make ``version`` current and record it (see the module docs for the lock)."""
        version = self.resolve(name, version)
        read_manifest(self.model_dir(name) / version)
        with _locked(self.model_dir(name)):
            history = self._read_history(name)
            previous = self.current(name)
            if not history["promoted"] or history["promoted"][-1] != version:
                history["promoted"].append(version)
            return self._record(name, "promote", version, previous, history)

    def rollback(self, name: str) -> dict:
        """Make the previously promoted version current again, following the recorded history."""
        self.resolve(name)
        with _locked(self.model_dir(name)):
            current = self.resolve(name)
            history = self._read_history(name)
            stack = [v for v in history["promoted"] if (self.model_dir(name) / v / COMPLETE).is_file()]
            while stack and stack[-1] == current:
                stack.pop()
            if not stack:
                raise VecclfError(f"model {name!r}: nothing to roll back to (only {current} was ever promoted)")
            history["promoted"] = stack
            return self._record(name, "rollback", stack[-1], current, history)

    def summary(self, name: str) -> dict:
        """Return a model's current version, its versions, and how well the current version measured (and on what)."""
        current = self.current(name)
        out = {"name": name, "current": current, "versions": self.versions(name)}
        if current is not None:
            manifest = self.manifest(name, current)
            found = manifest.get("metrics") or {}
            out.update({"accuracy": found.get("accuracy"), "macro_f1": found.get("macro_f1"),
                        "evaluation": manifest.get("evaluation"), "n_test": manifest.get("n_test"),
                        "data": (manifest.get("data") or {}).get("path")})
        return out

    def previous(self, name: str) -> str | None:
        """Return the version ``rollback`` would make current, or None."""
        current = self.current(name)
        stack = [v for v in self._read_history(name)["promoted"] if (self.model_dir(name) / v / COMPLETE).is_file()]
        while stack and stack[-1] == current:
            stack.pop()
        return stack[-1] if stack else None

    def prune(self, name: str, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` versions, never the current one nor the one before it; return them.

        Runs under the model's promote/rollback lock, so neither can move ``current`` meanwhile. A version is
        renamed out of the way first, so a reader sees it whole or not at all. ``keep`` <= 0 deletes nothing.
        """
        if keep <= 0:
            return []
        d = self.model_dir(name)
        removed = []
        with _locked(d):
            versions = self.versions(name)
            protected = set(versions[-keep:]) | {self.current(name), self.previous(name)}
            for version in versions:
                if version in protected:
                    continue
                doomed = d / f".deleting-{version}-{os.getpid()}"
                try:
                    os.rename(d / version, doomed)
                except FileNotFoundError:  # removed by someone else meanwhile
                    continue
                shutil.rmtree(doomed, ignore_errors=True)
                removed.append(version)
        return removed

    def manifest(self, name: str, version: str | None = None) -> dict:
        """Return the manifest of a version (default: current)."""
        version = self.resolve(name, version)
        return read_manifest(self.model_dir(name) / version)

    def load(self, name: str, version: str | None = None):
        """Load a version (default: current); return ``(model, manifest)``."""
        version = self.resolve(name, version)
        return load_bundle(self.model_dir(name) / version, self.root)
