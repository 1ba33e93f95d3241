"""JSON logs: one access line per request, with a request id that is also a response header.

A caller's ``X-Request-ID`` is kept when it is a plain token (letters, digits,
``._:-``, at most 128 characters) so ids can follow a request across
services; otherwise a new one is made. The id is returned in ``X-Request-ID``,
printed in the access line, and quoted in 500 bodies. The access line also
feeds the request metrics, so both always agree.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import time
import uuid

from flask import Flask, g, request

from vecclf.service import metrics

ACCESS = logging.getLogger("vecclf.access")
SERVICE = logging.getLogger("vecclf.service")
_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
HEADER = "X-Request-ID"
STARTED = "vecclf.started"  # environ key: perf_counter() when a WSGI layer in front of Flask took the request


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
               "level": record.levelname, "logger": record.name}
        fields = getattr(record, "fields", None)
        if fields:
            out.update(fields)
        else:
            out["message"] = record.getMessage()
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(level: str = "INFO") -> None:
    """Send the service loggers to stderr as JSON lines (once per process)."""
    for logger in (ACCESS, SERVICE):
        logger.setLevel(level.upper())
        if not any(getattr(h, "_vecclf", False) for h in logger.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(JsonFormatter())
            handler._vecclf = True
            logger.addHandler(handler)
        logger.propagate = False


def request_id(incoming: str | None) -> str:
    """Return the caller's request id if it is a plain token, else a new one."""
    return incoming if incoming and _ID_RE.fullmatch(incoming) else uuid.uuid4().hex


def finish(rid: str, method: str, path: str, remote: str | None, endpoint: str, status: int, seconds: float,
           model: str = "", version: str | None = None, n_texts: int | None = None, log: bool = True) -> None:
    """Count a finished request and write its access line (shared by Flask and the predict fast path)."""
    metrics.observe_request(model, endpoint, method, status, seconds)
    if log and ACCESS.isEnabledFor(logging.INFO):
        fields = {"event": "request", "request_id": rid, "method": method, "path": path, "endpoint": endpoint,
                  "status": status, "duration_ms": round(seconds * 1000, 3), "remote": remote}
        if model:
            fields.update(model=model, version=version, n_texts=n_texts)
        ACCESS.info("request", extra={"fields": fields})


def _begin() -> None:
    g.request_id = request_id(request.headers.get(HEADER, ""))
    g.started = request.environ.get(STARTED) or time.perf_counter()


def _finish(response):
    seconds = time.perf_counter() - g.get("started", time.perf_counter())
    rule = request.url_rule
    rid = g.get("request_id", "")
    response.headers[HEADER] = rid
    finish(rid, request.method, request.path, request.remote_addr, rule.endpoint if rule is not None else "unmatched",
           response.status_code, seconds, g.get("model_name", ""), g.get("model_version"), g.get("n_texts"),
           g.get("access_log", True))
    return response


def init_app(app: Flask) -> None:
    """Assign request ids, and log and count every request."""
    access_log = app.config["VECCLF"].access_log

    def begin():
        _begin()
        g.access_log = access_log

    app.before_request(begin)
    app.after_request(_finish)
