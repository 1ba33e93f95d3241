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

from service import metrics

ACCESS = logging.getLogger("vecclf.access")
SERVICE = logging.getLogger("vecclf.service")
_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
HEADER = "X-Request-ID"


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


def _begin() -> None:
    incoming = request.headers.get(HEADER, "")
    g.request_id = incoming if _ID_RE.match(incoming) else uuid.uuid4().hex
    g.started = time.perf_counter()


def _finish(response):
    seconds = time.perf_counter() - g.get("started", time.perf_counter())
    rule = request.url_rule
    endpoint = rule.endpoint if rule is not None else "unmatched"
    model = g.get("model_name", "")
    response.headers[HEADER] = g.get("request_id", "")
    metrics.observe_request(model, endpoint, request.method, response.status_code, seconds)
    if ACCESS.isEnabledFor(logging.INFO) and g.get("access_log", True):
        fields = {"event": "request", "request_id": g.get("request_id"), "method": request.method,
                  "path": request.path, "endpoint": endpoint, "status": response.status_code,
                  "duration_ms": round(seconds * 1000, 3), "remote": request.remote_addr}
        if model:
            fields.update(model=model, version=g.get("model_version"), n_texts=g.get("n_texts"))
        ACCESS.info("request", extra={"fields": fields})
    return response


def init_app(app: Flask) -> None:
    """Assign request ids, and log and count every request."""
    access_log = app.config["VECCLF"].access_log

    def begin():
        _begin()
        g.access_log = access_log

    app.before_request(begin)
    app.after_request(_finish)
