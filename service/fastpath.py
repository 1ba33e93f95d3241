"""A lean WSGI path for the hottest request: ``POST /v1/models/<name>/predict`` that will succeed.

Flask's request machinery (request context, routing, before/after hooks, the
``Response`` object, ``jsonify``) costs about as much per request as a
single-text prediction itself. :class:`FastPredict` wraps the Flask app's
WSGI callable and answers a well-formed predict request directly, with the
very pieces the Flask view uses: the same body checks
(:mod:`service.validation`), the same served model and predictor, the same
metrics, request id and access line (:func:`service.logs.finish`), and the
same JSON bytes.

Everything else goes to Flask untouched. So does any predict request this path
would not answer with 200 (a wrong Content-Type, a bad body, an unknown model,
a chunked body, an unexpected exception): it hands the request on with the
body it read put back, and Flask's view answers it, so every error keeps one
implementation and one shape.
"""

from __future__ import annotations

import io
import json
import time

from service import logs, metrics
from service.config import Config
from service.errors import ApiError
from service.models import ModelSet
from service.validation import check_headers, decode_json, texts_of

PREFIX = "/v1/models/"
SUFFIX = "/predict"
ENDPOINT = "api.predict"  # the Flask endpoint name, so metrics and logs match whichever path answered


class FastPredict:
    """WSGI middleware: answer successful single-model predict requests without Flask's request machinery."""

    def __init__(self, wsgi_app, models: ModelSet, config: Config, provider):
        self.wsgi_app = wsgi_app
        self.models = models
        self.config = config
        # The Flask app's JSON settings with jsonify's compact separators, so the bytes match; built once.
        self.dumps = json.JSONEncoder(ensure_ascii=provider.ensure_ascii, sort_keys=provider.sort_keys,
                                      separators=(",", ":"), default=provider.default).encode

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST":
            path = environ.get("PATH_INFO", "")
            if path.startswith(PREFIX) and path.endswith(SUFFIX):
                name = path[len(PREFIX) : -len(SUFFIX)]
                if name and "/" not in name:
                    return self._predict(environ, start_response, path, name)
        return self.wsgi_app(environ, start_response)

    def _predict(self, environ, start_response, path: str, name: str):
        started = time.perf_counter()
        config = self.config
        length = environ.get("CONTENT_LENGTH", "")
        if not length.isdigit() or "HTTP_TRANSFER_ENCODING" in environ:
            return self.wsgi_app(environ, start_response)  # no or odd length, chunked: Flask reads those bodies
        length = int(length)
        mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        self.models.start()
        served = self.models.get(name)
        if served is None:
            return self.wsgi_app(environ, start_response)  # nothing read yet: Flask says 404
        try:
            check_headers(mimetype, length, config)
        except ApiError:
            return self.wsgi_app(environ, start_response)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            texts = texts_of(decode_json(raw, config), config)
            predictions = served.predictor.explain(texts)
        except Exception:  # ApiError or a surprise: Flask's view answers, errors have one implementation
            environ["wsgi.input"] = io.BytesIO(raw)
            return self.wsgi_app(environ, start_response)
        n = len(texts)
        metrics.observe_texts(served.name, "predict", n)
        body = (self.dumps({"model": served.name, "version": served.version, "predictions": predictions}) + "\n").encode()
        rid = logs.request_id(environ.get("HTTP_X_REQUEST_ID"))
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                  (logs.HEADER, rid)])
        logs.finish(rid, "POST", path, environ.get("REMOTE_ADDR"), ENDPOINT, 200, time.perf_counter() - started,
                    served.name, served.version, n, config.access_log)
        return [body]
