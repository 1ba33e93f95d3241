"""Feedback endpoints: users send back the right label for a text; reviewers read the queue of uncertain texts.

- ``POST /v1/models/<name>/feedback`` ``{"text", "label", "prediction_id"?}``
  stores the label with the serving version and what that version predicts
  for the text; 201 ``{"id", ...}``. Labels must be ones the model knows
  unless its ``feedback.toml`` allows new ones. Predict's limits apply.
- ``GET /v1/models/<name>/review?limit=N``: open review items, most uncertain first.
- ``GET /v1/feedback``: whether feedback is on, needs a token, and the review settings.

``VECCLF_FEEDBACK=off`` answers the first two with 403; ``VECCLF_FEEDBACK_TOKEN``
makes them require ``Authorization: Bearer <token>`` (compared in constant time).
Rows go to :class:`vecclf.training.feedback.FeedbackStore` (the store's SQLite
file or ``VECCLF_DATABASE_URL``); a database that fails answers 503.
"""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Flask, current_app, g, jsonify, request

from vecclf.service import metrics
from vecclf.service.api import served_or_404
from vecclf.service.errors import ApiError
from vecclf.service.validation import feedback_of, read_json
from vecclf.training.errors import ConfigError, DataError, StorageError
from vecclf.training.feedback_labels import UnknownLabelError, agrees, allows_new_labels, check_label

log = logging.getLogger("vecclf.service")
bp = Blueprint("feedback", __name__)
MAX_REVIEW_ITEMS = 1000


def _open(config) -> None:
    """Refuse the call unless feedback is on and the caller has the token (when one is set)."""
    if not config.feedback:
        raise ApiError(403, "feedback_disabled", "feedback is turned off on this service (VECCLF_FEEDBACK=off)")
    token = config.feedback_token
    if token:
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(credential.strip().encode(), token.encode()):
            raise ApiError(401, "unauthorized", "missing or wrong feedback token; send Authorization: Bearer <token>",
                           {"WWW-Authenticate": 'Bearer realm="vecclf-feedback"'})


def _store():
    return current_app.extensions["vecclf.feedback"]


def _unavailable(exc: StorageError) -> ApiError:
    log.error("feedback database failed in request %s: %s", g.get("request_id", "-"), exc)
    return ApiError(503, "storage_unavailable", "the feedback database is unavailable; try again later")


def _allows_new(config, name: str) -> bool:
    try:
        return allows_new_labels(config.store, name)
    except ConfigError as exc:
        log.error("%s", exc)
        raise ApiError(500, "invalid_model_config", f"model {name!r} has an invalid feedback.toml; see the server log")


@bp.post("/v1/models/<name>/feedback")
def post_feedback(name: str):
    """Store a label for a text, with what the serving version predicts for it."""
    config = current_app.config["VECCLF"]
    _open(config)
    served = served_or_404(name)
    text, label, prediction_id = feedback_of(read_json(request, config), config)
    g.n_texts = 1
    multilabel = bool(served.manifest.get("multilabel"))
    known = served.manifest.get("labels") or served.predictor.classes
    try:
        label = check_label(label, known, multilabel, _allows_new(config, served.name))
    except UnknownLabelError as exc:
        raise ApiError(400, "unknown_label", str(exc)) from None
    except DataError as exc:
        raise ApiError(400, "invalid_label", str(exc)) from None
    prediction = served.predictor.explain([text])[0]
    predicted = prediction["labels"] if multilabel else prediction["label"]
    agreed = agrees(predicted, label)
    try:
        row_id = _store().add({"model": served.name, "version": served.version, "text": text, "label": label,
                               "predicted": predicted, "confidence": prediction["confidence"], "agrees": agreed,
                               "source": "api", "request_id": g.request_id, "prediction_id": prediction_id})
    except StorageError as exc:
        raise _unavailable(exc) from None
    metrics.count_feedback(served.name, served.version, agreed)
    body = {"id": row_id, "model": served.name, "version": served.version, "label": label,
            "prediction": {"label": predicted, "confidence": prediction["confidence"]}, "agrees": agreed}
    return jsonify(body), 201


@bp.get("/v1/models/<name>/review")
def review_queue(name: str):
    """Return open review items of a model, most uncertain first."""
    config = current_app.config["VECCLF"]
    _open(config)
    served = served_or_404(name)
    raw = request.args.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_REVIEW_ITEMS:
        raise ApiError(400, "invalid_limit", f"limit must be a whole number from 1 to {MAX_REVIEW_ITEMS}, got {raw[:20]!r}")
    try:
        items = _store().queue(served.name, int(raw))
    except StorageError as exc:
        raise _unavailable(exc) from None
    return jsonify(model=served.name, items=items)


@bp.get("/v1/feedback")
def feedback_settings():
    """Say whether feedback is on, needs a token, and how the review queue samples (no secrets)."""
    config = current_app.config["VECCLF"]
    models = current_app.extensions["vecclf.models"].served()
    allow = {}
    for name in sorted(models):
        try:
            allow[name] = allows_new_labels(config.store, name)
        except ConfigError:
            allow[name] = False
    return jsonify(enabled=config.feedback, token_required=bool(config.feedback_token),
                   review={"sample": config.review_sample, "below": config.review_below},
                   models={name: {"allow_new_labels": value} for name, value in allow.items()})


def init_app(app: Flask) -> None:
    """Open the feedback database (tables made now, in the process that builds the app) when anything uses it."""
    from vecclf.training.database import database_url
    from vecclf.training.feedback import FeedbackStore

    config = app.config["VECCLF"]
    store = FeedbackStore(database_url(config.store, config.database_url))
    app.extensions["vecclf.feedback"] = store
    if config.feedback or config.review_sample > 0:
        try:
            store.ensure()
        except StorageError as exc:  # serve predictions anyway; feedback answers 503 until the database is back
            log.error("feedback database unavailable at start: %s", exc)
        finally:
            store.dispose()  # no connection may cross gunicorn's fork
