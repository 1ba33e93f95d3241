"""A lean WSGI path for the hottest request: ``POST /v1/models/<name>/predict`` that will succeed.

Flask's request machinery (request context, routing, before/after hooks, the
``Response`` object, ``jsonify``) costs about as much per request as a
single-text prediction itself. :class:`FastPredict` wraps the Flask app's
WSGI callable and answers a well-formed predict request directly, with the
very pieces the Flask view uses: the same body checks
(:mod:`vecclf.service.validation`), the same served model and predictor, the same
metrics, request id and access line (:func:`vecclf.service.logs.finish`), and the
same JSON bytes as ``jsonify``.

Everything else goes to Flask, and so does every predict request this path
would not answer with 200, so errors keep one implementation and one shape:

- before the body is read (unknown model, wrong Content-Type, a missing,
  odd or too large Content-Length, a chunked body, debug/pretty JSON or
  another JSON provider): Flask gets the request untouched;
- a body that fails validation (or arrived shorter than announced): Flask
  gets it back in ``wsgi.input`` and its view answers;
- reading the body failed: Flask gets a body stream that fails the same way;
- the model, the encoder, the checks themselves or anything else raised:
  Flask is handed the exception (the model is not run twice), which its
  error handlers turn into the usual JSON answer, logged and counted once;
  nothing is ever raised out of this WSGI layer (the server would answer
  with its own HTML 500, neither logged nor counted by vecclf).

``start_response`` is called only once the answer, its access line and its
metrics are complete; a handed-over request is timed from when it reached
this path. Flask hooks are not run on this path: the app's hooks
are the model watcher start and the access log, both reproduced here;
``tests/service/test_predict_path.py`` fails if another hook is added.
"""

from __future__ import annotations

import io
import json
import time

from flask import Flask, g, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.http import parse_options_header

from vecclf.service import logs, metrics
from vecclf.service.errors import ApiError
from vecclf.service.models import ModelSet
from vecclf.service.validation import check_headers, decode_json, texts_of

PREFIX = "/v1/models/"
SUFFIX = "/predict"
ENDPOINT = "api.predict"  # the Flask endpoint name, so metrics and logs match whichever path answered
RAISED = "vecclf.fastpath.raised"  # environ key: (exception, served model, number of texts) for Flask to report
STARTED = logs.STARTED  # environ key: when the request reached the fast path, so a handed-over one is timed whole


class _Failed(io.RawIOBase):
    """A request body stream that fails as the real one did, so Flask reports the failure itself."""

    def __init__(self, exc: BaseException):
        self._exc = exc

    def readable(self) -> bool:
        return True

    def readinto(self, buffer):
        raise self._exc


class FastPredict:
    """WSGI middleware: answer successful predict requests without Flask's request machinery."""

    def __init__(self, app: Flask, models: ModelSet):
        self.app = app
        self.wsgi_app = app.wsgi_app
        self.models = models
        self.config = app.config["VECCLF"]
        self.review = app.extensions.get("vecclf.review")  # None unless the review queue is on
        self._encoder_key = None
        self._encode = None

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST":
            path = environ.get("PATH_INFO", "")
            if path.startswith(PREFIX) and path.endswith(SUFFIX):
                name = path[len(PREFIX) : -len(SUFFIX)]
                if name and "/" not in name:
                    return self._predict(environ, start_response, path, name)
        return self.wsgi_app(environ, start_response)

    def _encoder(self):
        """Return ``jsonify``'s encoder for the app's current JSON settings (rebuilt only when they change)."""
        provider = self.app.json
        key = (provider.ensure_ascii, provider.sort_keys, provider.default)
        if key != self._encoder_key:
            self._encode = json.JSONEncoder(ensure_ascii=key[0], sort_keys=key[1], separators=(",", ":"),
                                            default=key[2]).encode
            self._encoder_key = key
        return self._encode

    def _predict(self, environ, start_response, path: str, name: str):
        started = environ[STARTED] = time.perf_counter()  # Flask's access line times from here too
        config = self.config
        length = environ.get("CONTENT_LENGTH", "")
        provider = self.app.json
        if (not (length.isascii() and length.isdigit() and len(length) <= 18) or "HTTP_TRANSFER_ENCODING" in environ
                or type(provider) is not DefaultJSONProvider or provider.mimetype != "application/json"
                or provider.compact is False or self.app.debug):
            return self.wsgi_app(environ, start_response)  # odd or no length, chunked, other JSON: Flask's
        length = int(length)
        served = self.models.get(name)
        if served is None:
            return self.wsgi_app(environ, start_response)  # Flask answers 404
        try:
            check_headers(parse_options_header(environ.get("CONTENT_TYPE"))[0].lower(), length, config)
        except ApiError:
            return self.wsgi_app(environ, start_response)
        except Exception as exc:  # a surprise in the checks themselves: Flask reports it (JSON 500, logged, counted)
            environ[RAISED] = (exc, served, None)
            return self.wsgi_app(environ, start_response)
        try:
            raw = environ["wsgi.input"].read(length) if length else b""
        except (OSError, ValueError) as exc:  # the client went away: Flask meets the same failure and reports it
            environ["wsgi.input"] = io.BufferedReader(_Failed(exc))
            return self.wsgi_app(environ, start_response)
        if len(raw) != length:  # the body ended early: Flask decides, as it would alone
            environ["wsgi.input"] = io.BytesIO(raw)
            return self.wsgi_app(environ, start_response)
        try:
            texts = texts_of(decode_json(raw, config), config)
        except ApiError:
            environ["wsgi.input"] = io.BytesIO(raw)  # Flask's view reads the body again and says what is wrong
            return self.wsgi_app(environ, start_response)
        except Exception as exc:  # never out of the WSGI app: the server would answer its own HTML 500
            environ["wsgi.input"] = io.BytesIO(raw)
            environ[RAISED] = (exc, served, None)
            return self.wsgi_app(environ, start_response)
        n = len(texts)
        try:
            self.models.start()
            metrics.observe_texts(served.name, "predict", n)  # before the model runs, as in the view
            predictions = served.predictor.explain(texts)
            body = (self._encoder()({"model": served.name, "version": served.version,
                                     "predictions": predictions}) + "\n").encode()
            rid = logs.request_id(environ.get("HTTP_X_REQUEST_ID"))
            if self.review is not None:
                self.review.offer(served, texts, predictions, rid)
            logs.finish(rid, "POST", path, environ.get("REMOTE_ADDR"), ENDPOINT, 200, time.perf_counter() - started,
                        served.name, served.version, n, config.access_log)
        except Exception as exc:  # whatever it is, Flask reports it as the view would have
            environ[RAISED] = (exc, served, n)
            return self.wsgi_app(environ, start_response)
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                  (logs.HEADER, rid)])
        return [body]


def _raise_handed_over() -> None:
    """A Flask before-request hook: report an exception the fast path met, as if the view had raised it."""
    handed = request.environ.pop(RAISED, None)
    if handed is not None:
        exc, served, n_texts = handed
        g.model_name, g.model_version, g.n_texts = served.name, served.version, n_texts
        raise exc


def init_app(app: Flask, models: ModelSet) -> None:
    """Put the fast path in front of ``app`` (call after every other hook is registered)."""
    app.before_request(_raise_handed_over)
    app.wsgi_app = FastPredict(app, models)
