"""JSON errors: one exception class, one handler, never a stack trace on the wire.

Every error response is ``{"error": {"code": "...", "message": "..."}}`` with
the matching HTTP status. Werkzeug's own errors (404 route, 405 method, 413
body) are rewritten to the same shape; anything unexpected becomes a logged
500 whose body says only that it happened and which request id to look for.
"""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger("vecclf.service")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    503: "not_ready",
}


class ApiError(Exception):
    """An error the API reports to its caller."""

    def __init__(self, status_code: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.headers = headers or {}

    def to_dict(self) -> dict:
        """Return the JSON body of this error."""
        return {"error": {"code": self.code, "message": self.message}}


def _respond(err: ApiError):
    response = jsonify(err.to_dict())
    response.status_code = err.status_code
    for key, value in err.headers.items():
        response.headers[key] = value
    return response


def _from_http(exc: HTTPException):
    status = exc.code or 500
    message = exc.description or exc.name
    if status == 404:
        message = "no such endpoint; see /openapi.json"
    elif status == 405:
        message = f"method not allowed; allowed: {', '.join(exc.valid_methods or [])}"
    elif status == 413:
        message = "request body too large"
    headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
    return _respond(ApiError(status, _HTTP_CODES.get(status, "http_error"), message, headers))


def _unexpected(exc: Exception):
    log.exception("unhandled error in request %s", g.get("request_id", "-"))
    return _respond(ApiError(500, "internal_error",
                             f"internal error; quote request id {g.get('request_id', '-')} when reporting it"))


def init_app(app: Flask) -> None:
    """Register the JSON error handlers."""
    app.register_error_handler(ApiError, _respond)
    app.register_error_handler(HTTPException, _from_http)
    app.register_error_handler(Exception, _unexpected)
