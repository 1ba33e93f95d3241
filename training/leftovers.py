"""Temporary names that say who writes them, and removing what dead writers left in a model store.

Everything vecclf writes into a store is first written under a hidden
temporary name and renamed into place when complete: vector stores, model
versions, ``current``, ``history.json``, a store's ``.verified.json``. A
writer killed before the rename (a train stopped by the OOM killer, an
import interrupted) leaves that temporary entry behind, gigabytes for a
large import. Temporary names therefore carry the writer's host and pid::

    .<name>.tmp-<host>-<pid>-<random>

and :func:`collect` removes an entry

- at once when it was written on this host by a process that no longer
  exists;
- when it is older than ``max_age`` (24 hours by default) and its writer
  cannot be checked: another host's (a store shared over NFS), or an entry
  from before vecclf named its temporaries so (``.<name>.<8 random
  characters>``, ``.<name>.old.<pid>``).

A live writer's entry is always kept. The next write to a store (an import,
a train, a promote or rollback) collects what it finds; ``vecclf store gc``
does it on demand.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import time
from pathlib import Path

log = logging.getLogger(__name__)

MAX_AGE = 24 * 3600
HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:40] or "host"
_NEW = re.compile(r"^\.(?P<base>.+)\.tmp-(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-(?P<token>[A-Za-z0-9_]+)$")
# What vecclf wrote before its temporaries carried a pid: tempfile's 8-character suffixes on a version, current or
# history.json in a model's folder, and on a vector store's name (or ".<name>.old.<pid>", renamed aside during a
# --force import) in vectors/. Nothing else hidden is ever taken for litter.
_OLD_IN_MODEL = re.compile(r"^\.(?:v\d+|current|history\.json)\.[a-z0-9_]{8}$")
_OLD_IN_VECTORS = re.compile(r"^\.[A-Za-z0-9][A-Za-z0-9._-]*\.(?:[a-z0-9_]{8}|old\.\d+)$")


def temp_prefix(base: str) -> str:
    """Return the prefix of a temporary name for ``base`` written by this process (for ``tempfile.mk*temp``)."""
    return f".{base.lstrip('.')}.tmp-{HOST}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _temporary(name: str, old: re.Pattern | None) -> bool:
    return bool(_NEW.match(name) or (old is not None and old.match(name)))


def _verdict(name: str, age: float, max_age: float, old: re.Pattern | None) -> str | None:
    """Return why the entry ``name`` of age ``age`` is litter, or None to keep it."""
    m = _NEW.match(name)
    if m:
        if m.group("host") == HOST:
            return None if _alive(int(m.group("pid"))) else f"its writer (pid {m.group('pid')}) is gone"
        return f"written on {m.group('host')} {age / 3600:.0f} h ago" if age > max_age else None
    if old is not None and old.match(name) and age > max_age:
        return f"an unfinished write from {age / 3600:.0f} h ago"
    return None


def _folders(store: Path) -> list[tuple[Path, re.Pattern | None]]:
    """Return the folders of a store that vecclf writes temporaries into, with what older vecclf left in each."""
    folders: list[tuple[Path, re.Pattern | None]] = [(store, None)]
    for parent in (store, store / "vectors"):
        try:
            children = sorted(p for p in parent.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            continue
        for child in children:
            if parent == store:
                folders.append((child, _OLD_IN_VECTORS if child.name == "vectors" else _OLD_IN_MODEL))
            else:
                folders.append((child, None))
    return folders


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_symlink() and p.is_file())


def collect(store: str | os.PathLike, max_age: float = MAX_AGE, *, dry_run: bool = False) -> dict:
    """Remove the leftovers of dead writers in ``store``; return ``{"removed": [...], "kept": [...], "bytes"}``.

    Each entry is ``{"path" (relative to the store), "bytes", "reason"}``; ``kept`` lists the
    temporaries of writers still running. Nothing outside the store's own folders is touched.
    """
    store = Path(store)
    removed, kept = [], []
    now = time.time()
    for folder, old in _folders(store):
        try:
            entries = sorted(p for p in folder.iterdir() if _temporary(p.name, old))
        except OSError:
            continue
        for entry in entries:
            try:
                age = now - entry.lstat().st_mtime
                reason = _verdict(entry.name, age, max_age, old)
                if reason is None:
                    kept.append({"path": str(entry.relative_to(store)), "reason": "its writer may still be running"})
                    continue
                item = {"path": str(entry.relative_to(store)), "bytes": _size(entry), "reason": reason}
                if not dry_run:
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
                removed.append(item)
            except FileNotFoundError:
                continue  # its writer finished (renamed it) or another collector got there first
            except OSError as exc:
                log.warning("cannot remove the leftover %s: %s", entry, exc)
    return {"removed": removed, "kept": kept, "bytes": sum(item["bytes"] for item in removed)}


def collect_quietly(store: str | os.PathLike) -> None:
    """Collect leftovers before a write; a failure is logged, never raised (the write matters more)."""
    try:
        result = collect(store)
    except Exception as exc:  # noqa: BLE001
        log.warning("cannot clean up the store %s: %s", store, exc)
        return
    for item in result["removed"]:
        log.info("removed the leftover %s (%d bytes): %s", item["path"], item["bytes"], item["reason"])
