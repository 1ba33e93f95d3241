"""Check that a vector store's files are the ones imported: a content hash, verified once per file identity.

The manifest's ``sha256`` is one digest over the store's files in order
(``vectors.npy``, ``vocab.txt``, then ``ngrams.npy`` for fastText stores),
computed at import; every model records it. Opening a store recomputes it
from the files and refuses a store whose files no longer give it (values
negated in place, a shuffled vocabulary, a truncated matrix), so a changed
store is never trusted because its own manifest says so.

Hashing a 3M x 300 matrix takes a few seconds, so a result is cached by the
identity of each file: device, inode, size, ``mtime_ns`` and ``ctime_ns``.
Any write to a file changes its ``ctime`` (which no user call can set
back), and a replaced file has a new inode, so a cached result is reused
only for the very files it was computed on. The cache lives in memory and
in ``.verified.json`` inside the store folder (written at import, and after
a successful check when the folder is writable), so each file version is
hashed once, not once per process; files that failed are remembered by
identity too (in memory), so asking again costs no second hash.

sha256 rather than a faster non-cryptographic hash: the recorded digest is
already sha256 (models trained on existing stores keep loading), and with
the CPU's SHA extensions OpenSSL's sha256 runs faster here than BLAKE2b
(docs/design.md has the figures). This is integrity, not authenticity:
whoever can rewrite the store's files can also rewrite its manifest, so the
store must be writable only by the account that imports vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from pathlib import Path

from vecclf.training.errors import BundleError
from vecclf.training.leftovers import temp_prefix

VERIFIED = ".verified.json"
_CHUNK = 1 << 22
_MEMO: dict[str, tuple] = {}
_BAD: dict[str, tuple] = {}  # path -> (sha256, identities, message) of files that failed: refused again without hashing
_LOCK = threading.Lock()


def store_files(path: Path, manifest: dict) -> list[str]:
    """Return the names of the files the manifest's sha256 covers, in hashing order."""
    files = manifest.get("files")
    if isinstance(files, list) and files and all(isinstance(f, str) and "/" not in f for f in files):
        return files
    names = ["vectors.npy", "vocab.txt"]
    return names + ["ngrams.npy"] if (path / "ngrams.npy").exists() else names


def identity(path: Path) -> list[int]:
    """Return what identifies one version of a file: device, inode, size, mtime_ns, ctime_ns."""
    st = os.stat(path)
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def sha256_files(paths: list[Path]) -> str:
    """Return one sha256 over the bytes of ``paths`` in order, read in 4 MiB blocks."""
    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    for path in paths:
        with open(path, "rb", buffering=0) as fh:
            while n := fh.readinto(buffer):
                digest.update(view[:n])
    return digest.hexdigest()


def _identities(path: Path, files: list[str]) -> dict[str, list[int]]:
    try:
        return {name: identity(path / name) for name in files}
    except FileNotFoundError as exc:
        raise BundleError(f"vector store {path}: {Path(exc.filename).name} is missing") from exc


def _read_cache(path: Path) -> dict | None:
    try:
        data = json.loads((path / VERIFIED).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def remember(path: Path, sha256: str, files: dict[str, list[int]]) -> None:
    """Record that ``files`` (name -> identity) give ``sha256``, in memory and, when writable, in the folder."""
    with _LOCK:
        _MEMO[str(path)] = (sha256, files)
    fd, tmp = None, None
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(VERIFIED), dir=path)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fd = None
            json.dump({"sha256": sha256, "files": files}, fh)
        os.replace(tmp, path / VERIFIED)
        tmp = None
    except OSError:
        pass  # a read-only store: the result is kept for this process only
    finally:
        if fd is not None:
            os.close(fd)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def verify(path: str | os.PathLike, manifest: dict, *, force: bool = False) -> dict:
    """Check the store's files against the manifest's sha256; return ``{"sha256", "hashed", "files"}``.

    ``hashed`` is False when a cached result for these very files was used
    (``force`` always hashes).

    Raises:
        BundleError: a file is missing, or the files do not give the recorded sha256.
    """
    path = Path(path)
    expected = manifest.get("sha256")
    files = store_files(path, manifest)
    now = _identities(path, files)
    if not force:
        with _LOCK:
            memo = _MEMO.get(str(path))
            bad = _BAD.get(str(path))
        if memo == (expected, now):
            return {"sha256": expected, "hashed": False, "files": files}
        if bad is not None and bad[:2] == (expected, now):
            raise BundleError(bad[2])  # these very files failed already: no second hash
        cached = _read_cache(path)
        if cached is not None and cached.get("sha256") == expected and cached.get("files") == now:
            with _LOCK:
                _MEMO[str(path)] = (expected, now)
            return {"sha256": expected, "hashed": False, "files": files}
    got = sha256_files([path / name for name in files])
    if _identities(path, files) != now:
        raise BundleError(f"vector store {path}: its files changed while being checked; check again when nothing writes them")
    if got != expected:
        seen = (_read_cache(path) or {}).get("files") or {}
        changed = [name for name in files if name in seen and seen[name] != now[name]]
        which = f"{', '.join(changed)} changed since it was last verified" if changed else \
            f"{' + '.join(files)} do not give it"
        message = (f"vector store {path}: the files do not match the sha256 recorded at import "
                   f"({str(expected)[:12]}..., now {got[:12]}...; {which}); restore the store or import it again "
                   "(vecclf vectors import --force)")
        with _LOCK:
            _BAD[str(path)] = (expected, now, message)
        raise BundleError(message)
    remember(path, got, now)
    return {"sha256": got, "hashed": True, "files": files}


def check_store(store: str | os.PathLike, name: str) -> dict:
    """Hash the files of vector store ``name`` now and return what ``vecclf vectors verify`` prints.

    Raises:
        NotFoundError: no such store.
        BundleError: a file is missing or changed since import.
    """
    from vecclf.training.vectors.store import VectorStore, store_path

    started = time.perf_counter()
    vs = VectorStore(store_path(store, name))
    result = verify(vs.path, vs.manifest, force=True)
    size = sum((vs.path / f).stat().st_size for f in result["files"])
    return {"name": vs.name, "path": str(vs.path), "ok": True, "sha256": result["sha256"], "files": result["files"],
            "bytes": size, "seconds": round(time.perf_counter() - started, 3)}
