"""A per-model lock for jobs that must not overlap (``vecclf retrain``).

The lock is an advisory ``flock`` on ``<store>/.locks/<model>.lock``: the
kernel releases it when its holder exits, even by a crash or ``kill -9``,
so a stale lock never blocks the next night. The file keeps the holder's pid
and start time for the message a waiting run prints.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import time
from pathlib import Path

from vecclf.training.errors import BusyError, NotFoundError

LOCKS = ".locks"
POLL_SECONDS = 0.2


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text("utf-8"))
        return f"pid {info['pid']}, since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"


@contextlib.contextmanager
def model_lock(store: str | os.PathLike, model: str, wait: float = 0.0, job: str = "retrain"):
    """Hold ``model``'s lock for the ``with`` block, waiting up to ``wait`` seconds for another holder.

    Raises:
        BusyError: another process still holds the lock after ``wait`` seconds.
        NotFoundError: the store folder does not exist.
    """
    store = Path(store)
    if not store.is_dir():
        raise NotFoundError(f"model store {store} does not exist")
    folder = store / LOCKS
    folder.mkdir(exist_ok=True)
    path = folder / f"{model}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise BusyError(f"model {model!r} is locked by another {job} ({_holder(path)}; {path}); "
                                    f"gave up after waiting {wait:g} s (--wait)") from None
                time.sleep(POLL_SECONDS)
        since = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "job": job, "since": since}).encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the flock
