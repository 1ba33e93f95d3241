"""The JSON API: health, readiness, model metadata, predict, embed, admin reload."""

from __future__ import annotations

import hmac

from flask import Blueprint, current_app, g, jsonify, request

from vecclf.service import metrics
from vecclf.service.errors import ApiError
from vecclf.service.models import ModelSet, Served
from vecclf.service.validation import parse_texts

bp = Blueprint("api", __name__)


def _models() -> ModelSet:
    return current_app.extensions["vecclf.models"]


def served_or_404(name: str) -> Served:
    """Return the served model ``name`` (noted for the access line), or raise a 404 (which does not list the models)."""
    served = _models().get(name)
    if served is None:
        shown = name if len(name) <= 100 else name[:100] + "..."
        if _models().unavailable(name):
            raise ApiError(503, "model_unavailable", f"model {shown!r} cannot serve now; GET /readyz says why")
        # Not the list of models: a caller who may use them asks GET /v1/models, a prober learns nothing here.
        raise ApiError(404, "model_not_found", f"unknown model {shown!r}; GET /v1/models lists the served models")
    g.model_name, g.model_version = served.name, served.version
    return served


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Readiness: every model of VECCLF_MODELS serves (when set), else at least one model serves."""
    status = _models().status()
    return jsonify(status), 200 if status["ready"] else 503


@bp.get("/v1/models")
def list_models():
    """Describe every served model."""
    served = _models().served()
    return jsonify(models=[served[n].describe() for n in sorted(served)])


@bp.get("/v1/models/<name>")
def show_model(name: str):
    """Describe one served model."""
    return jsonify(served_or_404(name).describe())


@bp.post("/v1/models/<name>/predict")
def predict(name: str):
    """Classify texts with the model's serving version."""
    served = served_or_404(name)
    texts = parse_texts(request, current_app.config["VECCLF"])
    g.n_texts = len(texts)
    metrics.observe_texts(served.name, "predict", len(texts))
    predictions = served.predictor.explain(texts)
    review = current_app.extensions.get("vecclf.review")
    if review is not None:  # the opt-in review queue (the fast path offers its answers too)
        review.offer(served, texts, predictions, g.request_id)
    return jsonify(model=served.name, version=served.version, predictions=predictions)


@bp.post("/v1/models/<name>/embed")
def embed(name: str):
    """Return the document embeddings the model's classifier sees."""
    served = served_or_404(name)
    texts = parse_texts(request, current_app.config["VECCLF"])
    g.n_texts = len(texts)
    if not served.predictor.dim:
        raise ApiError(400, "embedding_unavailable",
                       f"model {served.name!r} has no document embedding (fastText's own classifier embeds "
                       "internally); use /predict, or train it with another --classifier")
    metrics.observe_texts(served.name, "embed", len(texts))
    vectors = served.predictor.embed(texts)
    return jsonify(model=served.name, version=served.version, dim=int(vectors.shape[1]), vectors=vectors.tolist())


@bp.post("/v1/admin/reload")
def admin_reload():
    """Load every model's current version now (bearer token required)."""
    token = current_app.config["VECCLF"].admin_token
    if not token:
        raise ApiError(403, "admin_disabled", "admin calls are disabled; set VECCLF_ADMIN_TOKEN to enable them")
    given = request.headers.get("Authorization", "")
    scheme, _, credential = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(credential.strip().encode(), token.encode()):
        raise ApiError(401, "unauthorized", "missing or wrong admin token; send Authorization: Bearer <token>",
                       {"WWW-Authenticate": 'Bearer realm="vecclf-admin"'})
    report = _models().request_reload()
    status = _models().status()
    return jsonify(reload=report, status=status["status"], models=status["models"])
