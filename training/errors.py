"""Domain errors. Each carries the CLI exit code; only the CLI layer exits."""

from __future__ import annotations

import os
import shutil


class VecclfError(Exception):
    """Base class for every error vecclf reports to a user."""

    exit_code = 1


class DataError(VecclfError, ValueError):
    """Input data is unreadable, malformed or unusable for the task."""

    exit_code = 2


class VectorFormatError(DataError):
    """A word-vector file is truncated, malformed or of an unknown format."""


class NotFoundError(VecclfError, LookupError):
    """A named vector set, model or version does not exist in the store."""

    exit_code = 3


class BundleError(VecclfError):
    """A stored artifact is incomplete, corrupted or does not match its vectors."""

    exit_code = 4


class ConfigError(VecclfError, ValueError):
    """A configuration value is invalid."""

    exit_code = 2


class StorageError(VecclfError, OSError):
    """Reading or writing failed for a reason outside the data: a full disk, a database that is down."""

    exit_code = 6


class BusyError(VecclfError):
    """Another run holds a lock this one needs (a retrain of the same model)."""

    exit_code = 7


def storage_error(exc: OSError, path: str | os.PathLike) -> StorageError:
    """Return the :class:`StorageError` for a failed write to ``path``: one line, the reason and the free space left."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return StorageError(f"cannot write {path}: {reason} ({free_space(path)} free on its file system)")


def free_space(path: str | os.PathLike) -> str:
    """Return the space left on the file system holding ``path`` (or its nearest existing parent), for a person."""
    where = os.path.abspath(path)
    while where and not os.path.exists(where):
        parent = os.path.dirname(where)
        if parent == where:
            break
        where = parent
    try:
        free = float(shutil.disk_usage(where).free)
    except OSError:
        return "unknown space"
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if free < 1024 or unit == "GiB":
            return f"{free:.0f} {unit}" if unit == "bytes" else f"{free:.1f} {unit}"
        free /= 1024
    return f"{free:.1f} TiB"
