"""The gunicorn worker ``vecclf serve`` runs: gthread, made safe to face slow clients without a proxy.

gunicorn's own advice is that its default sync workers need a buffering
proxy in front: with nothing buffering, a client that trickles data holds a
worker, and "a DOS attack would be trivial". So it was here: two idle TCP
connections stopped the two sync workers for 30 s at a time. For serving
directly, gunicorn points to its threaded or asynchronous workers. vecclf
runs gunicorn's threaded worker (``gthread``: a main loop that accepts and
polls connections, a pool of threads that run requests) with these changes,
so that no client holds a thread for long and none can stall the main loop:

- **Idle connections cost no thread.** A new connection waits in the main
  loop's poller until its first bytes arrive (gunicorn 27 lends it a thread
  for up to 5 s first), and is closed if nothing comes within ``keepalive``
  seconds; the same holds between requests on a kept-alive connection.
- **A bounded time to send a request and to take the answer.** From its
  first byte, a request (request line, headers and body) must arrive within
  ``client_timeout`` seconds, and the answer must be taken within as many
  again; past that the main loop shuts the socket down, which frees the
  thread blocked on it (a request still arriving gets a JSON 408 first). The
  body is read in full before the application runs (as a buffering proxy
  would), so the deadline covers the whole upload and the model's own time
  is never cut short.
- **A busy worker stops accepting.** While every thread is taken, the
  worker leaves new connections to the other workers (the kernel queues
  them for whichever worker is free), so ``/healthz`` keeps answering as
  long as one worker has a free thread.
- **The main loop never waits for a client.** gunicorn 27 closes a
  ``Connection: close`` socket "gracefully" (half-close, then read until the
  client closes, up to 2 s) on the main loop; here that happens in the
  request's thread, bounded at 1 s.
- **Every error is JSON.** A request gunicorn cannot parse (a malformed
  request line, too many or too long headers, a bad chunk) or that times
  out is answered with ``{"error": {"code", "message"}}``, one access line
  and one counted request, like the application's own errors.

So a client can hold a thread for at most about ``2 x client_timeout``
seconds, and ``workers x threads`` such clients at once are needed to make
``/healthz`` wait (for at most that long). Against floods far beyond a
handful of connections a proxy or load balancer is still the right tool;
vecclf no longer needs one to survive a few slow or hostile clients.

The worker relies on gunicorn 27's gthread internals (``TConn``, the
poller, ``pending_conns``), hence ``gunicorn>=27,<28`` in pyproject.toml;
``tests/service/test_slow_clients.py`` runs slow clients against a real
server and fails if a gunicorn release breaks this.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import selectors
import socket
import threading
import time
from functools import partial

from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import TConn, ThreadWorker

log = logging.getLogger("vecclf.service")

_GRACEFUL_CLOSE = 1.0
# gunicorn's parse failures that deserve another status than 400 (every other ParseException is a 400).
_STATUS = [
    (http_errors.InvalidResponseHeader, 500, "internal_error"),  # the application's fault, not the client's
    (http_errors.InvalidResponseHeaderName, 500, "internal_error"),
    (http_errors.LimitRequestLine, 414, "uri_too_long"),
    (http_errors.LimitRequestHeaders, 431, "headers_too_large"),
    (http_errors.UnsupportedTransferCoding, 501, "not_implemented"),
    (http_errors.ExpectationFailed, 417, "expectation_failed"),
    (http_errors.ForbiddenProxyRequest, 403, "forbidden"),
    (http_errors.ParseException, 400, "bad_request"),
]
_REASONS = {400: "Bad Request", 403: "Forbidden", 408: "Request Timeout", 414: "URI Too Long",
            417: "Expectation Failed", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
            501: "Not Implemented"}


def error_response(status: int, code: str, message: str) -> bytes:
    """Return a whole HTTP/1.1 error response with vecclf's JSON body (the connection is closed after it)."""
    body = json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":")).encode() + b"\n"
    head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


class _Deadlines:
    """Connections that must finish sending (or taking) something by a given time."""

    def __init__(self):
        self._lock = threading.Lock()
        self._due: dict[TConn, tuple[float, str]] = {}

    def set(self, conn: TConn, seconds: float, phase: str) -> None:
        with self._lock:
            self._due[conn] = (time.monotonic() + seconds, phase)

    def clear(self, conn: TConn) -> None:
        with self._lock:
            self._due.pop(conn, None)

    def expire(self, reap) -> None:
        """Call ``reap(conn, phase)`` for each connection past its deadline (and forget it), under the lock."""
        now = time.monotonic()
        with self._lock:
            late = [(conn, phase) for conn, (due, phase) in self._due.items() if due <= now]
            for conn, phase in late:
                del self._due[conn]
                reap(conn, phase)


class _Conn(TConn):
    """A connection whose graceful close, once done by its request's thread, is not redone on the main loop."""

    lingered = False

    def close(self, graceful=False):
        super().close(graceful=graceful and not self.lingered)

    def linger(self, seconds: float) -> None:
        """Half-close, then read until the client closes (at most ``seconds``), so the answer is not cut by a reset."""
        self.lingered = True
        try:
            self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                self.sock.settimeout(left)
                if not self.sock.recv(65536):
                    break
        except OSError:
            pass


class _ReadBodyFirst:
    """WSGI wrapper: read the whole body within the deadline, then run the app with no deadline."""

    def __init__(self, app, worker: "SlowClientSafeWorker"):
        self.wrapped = app
        self.worker = worker

    def __call__(self, environ, start_response):
        worker = self.worker
        conn = worker.current.conn
        length = environ.get("CONTENT_LENGTH", "")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if (length.isdigit() and 0 < int(length) <= worker.max_body_bytes) or (chunked and not length):
            body = environ["wsgi.input"].read(worker.max_body_bytes + 1 if chunked else int(length))
            if not chunked and len(body) < int(length):  # the client stopped (or its deadline cut it off)
                raise http_errors.NoMoreData(body)
            if not chunked or len(body) <= worker.max_body_bytes:
                environ["wsgi.input"] = io.BytesIO(body)
                if chunked:  # now a body of known length, as a buffering proxy would pass it on
                    environ.pop("HTTP_TRANSFER_ENCODING", None)
                    environ["CONTENT_LENGTH"] = str(len(body))
            else:  # over the limit: the app refuses it (413) without this worker holding it all
                environ["wsgi.input"] = io.BufferedReader(_Prefixed(body, environ["wsgi.input"]))
        worker.deadlines.clear(conn)  # the request is here; the model's time is not the client's
        result = self.wrapped(environ, start_response)
        worker.deadlines.set(conn, worker.client_timeout, "write")
        return result


class _Prefixed(io.RawIOBase):
    """A body stream that gives ``head`` first, then the rest of ``tail``."""

    def __init__(self, head: bytes, tail):
        self._head, self._tail = memoryview(head), tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer):
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._tail.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class SlowClientSafeWorker(ThreadWorker):
    """gunicorn's gthread worker with the changes the module docs list; settings come from :func:`worker_class`."""

    client_timeout = 10.0
    max_body_bytes = 10 * 1024 * 1024
    access_log = True

    def init_process(self):
        self.deadlines = _Deadlines()
        self.current = threading.local()
        self.busy = 0  # threads taken; changed on the main loop only
        super().init_process()

    def load_wsgi(self):
        super().load_wsgi()
        self.wsgi = _ReadBodyFirst(self.wsgi, self)

    # ------------------------------------------------------------ main loop
    def accept(self, listener):
        """Take a new connection into the poller: it gets a thread once it has sent something."""
        try:
            sock, addr = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNABORTED):  # another worker took it, or it left
                return
            raise
        self.nr_conns += 1
        conn = _Conn(self.cfg, sock, addr, listener.getsockname())  # non-blocking until a thread takes it
        conn.timeout = time.monotonic() + self.cfg.keepalive
        self.pending_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn))

    def enqueue_req(self, conn):
        self.busy += 1
        if self.busy >= self.cfg.threads:
            super().set_accept_enabled(False)  # let the other workers take new connections
        super().enqueue_req(conn)

    def finish_request(self, conn, fs):
        self.busy -= 1
        super().finish_request(conn, fs)

    def set_accept_enabled(self, enabled):
        super().set_accept_enabled(enabled and self.busy < self.cfg.threads)

    def murder_keepalived(self, force=False):
        """Close expired idle connections, and shut down those past their request or answer deadline."""
        super().murder_keepalived(force)
        self.deadlines.expire(self._reap)

    def _reap(self, conn: TConn, phase: str) -> None:
        started = time.perf_counter()
        if phase == "read":
            message = f"the request did not arrive within {self.client_timeout:g} s"
            try:
                conn.sock.send(error_response(408, "request_timeout", message), socket.MSG_DONTWAIT)
            except OSError:
                pass
            self._count(408, conn.client, message, started)
        else:
            log.warning("closed a connection from %s: the answer was not taken within %g s",
                        _ip(conn.client), self.client_timeout)
        try:
            conn.sock.shutdown(socket.SHUT_RDWR)  # the thread blocked on it returns at once
        except OSError:
            pass

    # ------------------------------------------------------------ request threads
    def handle(self, conn):
        self.current.conn = conn
        self.deadlines.set(conn, self.client_timeout, "read")
        try:
            keep = super().handle(conn)
        finally:
            self.deadlines.clear(conn)
        if not keep and isinstance(conn, _Conn) and conn.sock.fileno() >= 0:
            conn.linger(_GRACEFUL_CLOSE)  # waits for the client: here, bounded, not on the main loop
        return keep

    def handle_error(self, req, client, addr, exc):
        """Answer what gunicorn could not parse (or what failed outside the app) with vecclf's JSON error."""
        started = time.perf_counter()
        status, code = next(((s, c) for kind, s, c in _STATUS if isinstance(exc, kind)), (500, "internal_error"))
        if status == 500:
            log.error("request from %s failed outside the application", _ip(addr), exc_info=exc)
            message = "internal error"
        else:
            message = f"{type(exc).__name__}: {str(exc)[:200]}" if str(exc) else type(exc).__name__
        self._count(status, addr, message, started, getattr(req, "method", None), getattr(req, "path", None))
        try:
            client.sendall(error_response(status, code, message))
        except OSError:
            pass

    def _count(self, status: int, addr, message: str, started: float, method: str | None = None,
               path: str | None = None) -> None:
        from vecclf.service import logs

        rid = logs.request_id(None)
        logs.finish(rid, method or "-", path or "-", _ip(addr), "server", status, time.perf_counter() - started,
                    log=self.access_log)
        log.warning("answered %d to %s without the application: %s (request id %s)", status, _ip(addr), message, rid)


def _ip(addr) -> str:
    return addr[0] if isinstance(addr, (tuple, list)) and addr else str(addr or "-")


def worker_class(client_timeout: float, max_body_bytes: int, access_log: bool) -> type:
    """Return the worker class with these settings (gunicorn takes a class as ``worker_class``)."""
    return type("SlowClientSafeWorker", (SlowClientSafeWorker,),
                {"client_timeout": float(client_timeout), "max_body_bytes": int(max_body_bytes),
                 "access_log": bool(access_log), "__module__": __name__})
