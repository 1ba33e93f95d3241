"""Progress on stderr for long commands: bars on a terminal, one plain line per step elsewhere.

Library code says what it is doing; the command line decides how (and
whether) it is shown. Use the module-level functions::

    from vecclf.training import progress

    progress.step("training sentiment on 38,158 rows")        # one line, both modes
    with progress.bar(len(texts), "embedding", unit="texts") as bar:
        for batch in batches:
            ...
            bar.update(len(batch))
    for path in progress.track(paths, "reading articles"):   # iterate with a bar
        ...
    with progress.timed("load", model="sentiment") as info:  # a step that reports when it ends
        info["rows"] = 9613                                   # fields for its closing line
    with progress.prefixed("outer fold 2 of 5"):              # every line inside says which part it is
        ...

How it is shown depends on :func:`configure`, which ``vecclf``'s ``main``
calls once (from ``VECCLF_PROGRESS``):

- ``bars`` (``auto`` on a terminal): steps are printed as lines above tqdm
  progress bars, which vanish when done;
- ``lines`` (``auto`` off a terminal: CI, a log file, ``docker logs``): every
  step and the start of every bar is one plain line, a bar adds a line at most
  every ``interval`` seconds while it runs and one when it ends, so a log shows
  what is running without a flood of carriage returns;
- ``json``: like ``lines``, each line a JSON object (``ts``, ``elapsed``,
  ``message`` and the step's fields) for log collectors;
- ``off``: nothing (the default until :func:`configure` is called, so library
  use and tests stay quiet).

Worker processes call :func:`forward_to` with a queue and their name; the
parent runs :func:`relay` on that queue, and everything is shown by the
parent's reporter as if it were its own (``<name>: `` before each message).

Plain lines start with ``vecclf [<seconds since configure>s]``. Writing is
serialised by a lock, so threads may report too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import IO, TypeVar

MODES = ("auto", "bars", "lines", "json", "off")
T = TypeVar("T")


class Bar:
    """One long step with a known (or unknown) amount of work; use as a context manager."""

    def __init__(self, reporter: "Reporter", total: float | None, desc: str, unit: str):
        self.reporter, self.total, self.desc, self.unit = reporter, total, desc, unit
        self.done = 0.0
        self.started = self.last_line = time.monotonic()
        self._tqdm = None
        mode = reporter.mode
        if mode == "bars":
            from tqdm import tqdm

            self._tqdm = tqdm(total=total, desc=desc, unit=unit, file=reporter.stream, leave=False, mininterval=0.5,
                              unit_scale=unit == "B", dynamic_ncols=True)
        elif mode != "off":
            reporter.line(f"{desc} ({_amount(total, None, unit)})" if total else desc)

    def update(self, n: float = 1) -> None:
        """Count ``n`` more units of work done."""
        self.done += n
        if self._tqdm is not None:
            self._tqdm.update(n)
        elif self.reporter.mode != "off":
            now = time.monotonic()
            if now - self.last_line >= self.reporter.interval:
                self.last_line = now
                self.reporter.line(f"{self.desc}: {_amount(self.done, self.total, self.unit)}")

    def close(self) -> None:
        """Finish the bar (a final line in ``lines`` mode, if the step took longer than a moment)."""
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
        elif self.reporter.mode != "off":
            seconds = time.monotonic() - self.started
            if seconds >= 1.0:
                self.reporter.line(f"{self.desc}: done, {_amount(self.done, None, self.unit)} in {seconds:.1f} s")

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Reporter:
    """Where and how progress goes; :func:`configure` installs one for the process."""

    def __init__(self, stream: IO[str] | None = None, mode: str = "off", interval: float = 15.0):
        if mode not in MODES:
            raise ValueError(f"progress mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.stream = stream if stream is not None else sys.stderr
        if mode == "auto":
            isatty = getattr(self.stream, "isatty", None)
            mode = "bars" if isatty is not None and isatty() else "lines"
        self.mode = mode
        self.interval = interval
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def line(self, message: str, **fields) -> None:
        """Write one progress line (above any bar on a terminal); ``fields`` are shown as ``key=value``."""
        if self.mode == "off":
            return
        elapsed = time.monotonic() - self.started
        if self.mode == "json":
            record = {"ts": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                      "elapsed": round(elapsed, 1), "message": message, **fields}
            text = json.dumps(record, ensure_ascii=False, default=str)
        else:
            text = " ".join([f"vecclf [{elapsed:.1f}s] {message}", *(f"{k}={v}" for k, v in fields.items())])
        with self._lock:
            if self.mode == "bars":
                from tqdm import tqdm

                tqdm.write(text, file=self.stream)
            else:
                self.stream.write(text + "\n")
                self.stream.flush()


    def bar(self, total: float | None, desc: str, unit: str) -> Bar:
        """Return a bar drawn (or written as lines) by this reporter."""
        return Bar(self, total, desc, unit)


class Forwarder:
    """A reporter that sends lines and bars to a queue, for :func:`relay` in the parent process to show."""

    mode = "forward"

    def __init__(self, queue, prefix: str):
        self.queue, self.prefix = queue, prefix
        self._bars = itertools.count()

    def line(self, message: str, **fields) -> None:
        """Send one line, prefixed with this process's name."""
        self.queue.put(("line", f"{self.prefix}: {message}", fields))

    def bar(self, total: float | None, desc: str, unit: str) -> "_SentBar":
        """Return a bar whose updates are sent to the queue."""
        return _SentBar(self.queue, f"{os.getpid()}-{next(self._bars)}", total, f"{self.prefix}: {desc}", unit)


class _SentBar:
    def __init__(self, queue, key: str, total, desc: str, unit: str):
        self.queue, self.key = queue, key
        queue.put(("open", key, (total, desc, unit)))

    def update(self, n: float = 1) -> None:
        self.queue.put(("update", self.key, n))

    def close(self) -> None:
        self.queue.put(("close", self.key, None))

    def __enter__(self) -> "_SentBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Prefixed:
    """A reporter that shows another's lines and bars with ``<prefix>: `` before them (see :func:`prefixed`)."""

    def __init__(self, inner: "Reporter | Forwarder | Prefixed", prefix: str):
        self.inner, self.prefix = inner, prefix
        self.mode = inner.mode

    def line(self, message: str, **fields) -> None:
        """Pass one line on, prefixed."""
        self.inner.line(f"{self.prefix}: {message}", **fields)

    def bar(self, total: float | None, desc: str, unit: str):
        """Return the inner reporter's bar, its description prefixed."""
        return self.inner.bar(total, f"{self.prefix}: {desc}", unit)


_reporter: Reporter | Forwarder | Prefixed = Reporter(mode="off")


def configure(stream: IO[str] | None = None, mode: str = "auto", interval: float = 15.0) -> Reporter | Forwarder:
    """Send progress to ``stream`` (default stderr) in ``mode``; return the previous reporter (to restore it).

    Raises:
        ValueError: ``mode`` is not one of :data:`MODES`.
    """
    return restore(Reporter(stream, mode, interval))


def restore(reporter: Reporter | Forwarder) -> Reporter | Forwarder:
    """Install ``reporter`` (one :func:`configure` or :func:`forward_to` returned); return the one it replaces."""
    global _reporter
    previous, _reporter = _reporter, reporter
    return previous


def forward_to(queue, prefix: str) -> Reporter | Forwarder:
    """In a worker process, send all progress to ``queue`` with ``prefix``; return the previous reporter.

    The parent shows it with :func:`relay`, so lines, JSON and bars of
    several workers share one stream without garbling it.
    """
    return restore(Forwarder(queue, prefix))


def relay(queue) -> threading.Thread:
    """Show what :class:`Forwarder` s send to ``queue`` through this process's reporter, until ``None`` arrives.

    Returns the (started, daemon) thread doing it; put ``None`` on the queue
    and join the thread when the workers are done.
    """
    def run():
        bars: dict[str, Bar] = {}
        while (event := queue.get()) is not None:
            kind, key, value = event
            if kind == "line":
                _reporter.line(key, **value)
            elif kind == "open":
                bars[key] = _reporter.bar(*value)
            elif kind == "update" and key in bars:
                bars[key].update(value)
            elif kind == "close" and key in bars:
                bars.pop(key).close()
        for b in bars.values():
            b.close()

    thread = threading.Thread(target=run, name="progress-relay", daemon=True)
    thread.start()
    return thread


def mode() -> str:
    """Return how progress is shown now: ``bars``, ``lines``, ``json`` or ``off``."""
    return _reporter.mode


def step(message: str, **fields) -> None:
    """Report the start of a step of work, as one line (``fields`` as ``key=value``, or JSON keys)."""
    _reporter.line(message, **fields)


@contextlib.contextmanager
def timed(name: str, **fields) -> Iterator[dict]:
    """Run the ``with`` block as step ``name``: a line when it starts and one when it ends or fails.

    The dict it yields collects fields for the closing line (``rows=...``);
    ``seconds`` is added to it, so the caller can keep the step's time.
    """
    info: dict = dict(fields)
    _reporter.line(name, **fields)
    started = time.monotonic()
    try:
        yield info
    except BaseException as exc:
        info["seconds"] = round(time.monotonic() - started, 3)
        _reporter.line(f"{name}: failed", **{**info, "error": str(exc) or type(exc).__name__})
        raise
    info["seconds"] = round(time.monotonic() - started, 3)
    _reporter.line(f"{name}: done", **info)


@contextlib.contextmanager
def prefixed(prefix: str) -> Iterator[None]:
    """Show every line and bar of the ``with`` block with ``<prefix>: `` before it (a step inside a larger one)."""
    previous = restore(Prefixed(_reporter, prefix))
    try:
        yield
    finally:
        restore(previous)


def bar(total: float | None, desc: str, unit: str = "it") -> "Bar | _SentBar":
    """Return a :class:`Bar` for ``total`` units of work (None: unknown), shown as ``desc``."""
    return _reporter.bar(total, desc, unit)


def track(items: Iterable[T], desc: str, total: float | None = None, unit: str = "it") -> Iterator[T]:
    """Yield ``items``, counting each one on a bar (``total`` defaults to ``len(items)`` when it has one)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with bar(total, desc, unit) as b:
        for item in items:
            yield item
            b.update(1)


def _amount(done: float, total: float | None, unit: str) -> str:
    if unit == "B":
        shown = f"{done / 1e6:,.0f} MB" + (f" of {total / 1e6:,.0f} MB" if total else "")
    else:
        shown = f"{done:,.0f}" + (f" of {total:,.0f}" if total else "") + f" {unit}"
    if total:
        shown = f"{100 * done / total:.0f}%, {shown}"
    return shown
