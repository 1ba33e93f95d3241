"""The API described as OpenAPI 3.0, served at ``/openapi.json`` (``/docs`` renders it offline)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from vecclf import __version__

bp = Blueprint("openapi", __name__)


def _json(schema_ref: str, example=None) -> dict:
    content = {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}
    if example is not None:
        content["example"] = example
    return {"application/json": content}


def _error(description: str) -> dict:
    return {"description": description, "content": _json("Error")}


NAME = {"name": "name", "in": "path", "required": True, "description": "model name",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"}}
TEXTS_BODY = {"required": True, "content": _json("TextsRequest", {"texts": ["a gripping, beautifully shot film"]})}
BAD_INPUT = {
    "400": _error("malformed body: not UTF-8, not JSON, wrong types, missing or empty texts"),
    "404": _error("unknown model"),
    "413": _error("over a configured limit: more than `maxItems` texts (`too_many_texts`), a text longer than "
                  "`maxLength` (`text_too_long`) or a body over the byte limit (`body_too_large`); these limits "
                  "are answered with 413, not 400"),
    "415": _error("body is not application/json"),
    "503": _error("the model exists but cannot serve now (`model_unavailable`; /readyz says why)"),
}

FEEDBACK_GUARDS = {
    "401": _error("VECCLF_FEEDBACK_TOKEN is set and the bearer token is missing or wrong"),
    "403": _error("feedback is turned off (VECCLF_FEEDBACK=off)"),
    "503": _error("the feedback database is unavailable"),
}
LABEL = {"type": "string", "minLength": 1, "maxLength": 200}
LABELS = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}


def spec(config) -> dict:
    """Return the OpenAPI 3.0 document of this service, limits filled in from ``config``."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "vecclf", "version": __version__,
                 "description": "Text classification with pretrained word vectors. Every error is "
                                "`{\"error\": {\"code\", \"message\"}}`; every response carries `X-Request-ID`."},
        "paths": {
            "/healthz": {"get": {"summary": "Liveness", "operationId": "healthz", "tags": ["ops"],
                                 "responses": {"200": {"description": "the process answers",
                                                       "content": _json("Health", {"status": "ok"})}}}},
            "/readyz": {"get": {"summary": "Readiness: every model of VECCLF_MODELS serves (when set), else at least one",
                                "operationId": "readyz",
                                "tags": ["ops"],
                                "responses": {"200": {"description": "ready (status `degraded` if a model or a newer version cannot serve)",
                                                      "content": _json("Readiness")},
                                              "503": {"description": "a model of VECCLF_MODELS, or with it unset every model, cannot serve",
                                                      "content": _json("Readiness")}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics of all workers", "operationId": "metrics",
                                 "tags": ["ops"],
                                 "responses": {"200": {"description": "Prometheus text exposition format",
                                                       "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/v1/models": {"get": {"summary": "List served models", "operationId": "listModels", "tags": ["models"],
                                   "responses": {"200": {"description": "every served model",
                                                         "content": _json("ModelList")}}}},
            "/v1/models/{name}": {"get": {"summary": "Describe one model", "operationId": "getModel",
                                          "tags": ["models"], "parameters": [NAME],
                                          "responses": {"200": {"description": "the serving version's metadata",
                                                                "content": _json("Model")},
                                                        "404": _error("unknown model"),
                                                        "503": BAD_INPUT["503"]}}},
            "/v1/models/{name}/predict": {"post": {
                "summary": "Classify texts", "operationId": "predict", "tags": ["models"], "parameters": [NAME],
                "requestBody": TEXTS_BODY,
                "responses": {"200": {"description": "one prediction per text, in order", "content": _json(
                    "Predictions", {"model": "sentiment", "version": "v3", "predictions": [
                        {"label": "pos", "confidence": 0.94, "scores": {"neg": 0.06, "pos": 0.94}}]})},
                    **BAD_INPUT}}},
            "/v1/models/{name}/embed": {"post": {
                "summary": "Document embeddings the classifier sees", "operationId": "embed", "tags": ["models"],
                "parameters": [NAME], "requestBody": TEXTS_BODY,
                "responses": {"200": {"description": "one vector per text", "content": _json("Embeddings")},
                              **BAD_INPUT}}},
            "/v1/models/{name}/feedback": {"post": {
                "summary": "Send the right label for a text (stored for the next retrain)", "operationId": "feedback",
                "tags": ["feedback"], "parameters": [NAME], "security": [{}, {"feedbackToken": []}],
                "description": "Stores the text and label with the serving version and the prediction that version "
                               "makes for the text. The label must be one the model knows, unless the model's "
                               "`feedback.toml` sets `allow_new_labels = true`. Predict's limits apply.",
                "requestBody": {"required": True, "content": _json("FeedbackRequest", {
                    "text": "dull and far too long", "label": "neg", "prediction_id": "3f2a9c"})},
                "responses": {"201": {"description": "stored", "content": _json("FeedbackStored")},
                              **BAD_INPUT,
                              "400": _error("malformed body, missing field, text not a string, unknown or invalid label"),
                              **FEEDBACK_GUARDS}}},
            "/v1/models/{name}/review": {"get": {
                "summary": "Texts waiting for a label, most uncertain first", "operationId": "reviewQueue",
                "tags": ["feedback"], "security": [{}, {"feedbackToken": []}],
                "parameters": [NAME, {"name": "limit", "in": "query", "required": False,
                                      "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}}],
                "responses": {"200": {"description": "open review items, one per text", "content": _json("ReviewQueue")},
                              "400": _error("limit out of range"), "404": _error("unknown model"),
                              **FEEDBACK_GUARDS}}},
            "/v1/feedback": {"get": {
                "summary": "Feedback settings: on or off, token required, review sampling", "operationId": "feedbackSettings",
                "tags": ["feedback"],
                "responses": {"200": {"description": "settings (no secrets)", "content": _json("FeedbackSettings")}}}},
            "/v1/admin/reload": {"post": {
                "summary": "Load every model's current version now", "operationId": "reload", "tags": ["admin"],
                "security": [{"adminToken": []}],
                "responses": {"200": {"description": "what was loaded, kept or refused", "content": _json("Reload")},
                              "401": _error("missing or wrong token"),
                              "403": _error("admin calls disabled (no VECCLF_ADMIN_TOKEN)")}}},
            "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi", "tags": ["docs"],
                                      "responses": {"200": {"description": "OpenAPI 3 document",
                                                            "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/docs": {"get": {"summary": "This document, readable", "operationId": "docs", "tags": ["docs"],
                              "responses": {"200": {"description": "HTML page",
                                                    "content": {"text/html": {"schema": {"type": "string"}}}}}}},
            "/": {"get": {"summary": "Playground: type a text, see every model's prediction, correct it",
                          "operationId": "playground", "tags": ["docs"],
                          "responses": {"200": {"description": "HTML page",
                                                "content": {"text/html": {"schema": {"type": "string"}}}}}}},
            "/review": {"get": {"summary": "Review queue: label the texts a model was least sure about",
                                "operationId": "reviewPage", "tags": ["docs"],
                                "responses": {"200": {"description": "HTML page",
                                                      "content": {"text/html": {"schema": {"type": "string"}}}}}}},
            "/assets/{name}": {"get": {"summary": "Script or style sheet shared by the pages", "operationId": "pageAsset",
                                       "tags": ["docs"], "parameters": [{"name": "name", "in": "path", "required": True,
                                                                         "schema": {"type": "string",
                                                                                    "enum": ["common.js", "common.css"]}}],
                                       "responses": {"200": {"description": "JavaScript or CSS", "content": {
                                           "text/javascript": {"schema": {"type": "string"}},
                                           "text/css": {"schema": {"type": "string"}}}},
                                           "404": _error("no such asset")}}},
        },
        "components": {
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer",
                                               "description": "the value of VECCLF_ADMIN_TOKEN"},
                                "feedbackToken": {"type": "http", "scheme": "bearer",
                                                  "description": "the value of VECCLF_FEEDBACK_TOKEN, when it is set"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string", "example": "invalid_json"},
                                   "message": {"type": "string"}}}}},
                "Health": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
                "Readiness": {"type": "object", "required": ["status", "ready", "models"], "properties": {
                    "status": {"type": "string", "enum": ["ready", "degraded", "not_ready"]},
                    "ready": {"type": "boolean"},
                    "missing": {"type": "array", "items": {"type": "string"}},
                    "models": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/ModelState"}}}},
                "ModelState": {"type": "object", "properties": {
                    "version": {"type": "string", "nullable": True}, "loaded": {"type": "boolean"},
                    "refused": {"type": "object", "properties": {
                        "version": {"type": "string", "nullable": True}, "error": {"type": "string"},
                        "at": {"type": "string", "format": "date-time"}}}}},
                "TextsRequest": {"type": "object", "required": ["texts"], "additionalProperties": False,
                                 "description": "Texts over `maxItems` or `maxLength` are refused with 413 "
                                                "(see the operation's responses), every other violation with 400.",
                                 "properties": {
                    "texts": {"type": "array", "minItems": 1, "maxItems": config.max_texts,
                              "items": {"type": "string", "maxLength": config.max_text_chars}}}},
                "Prediction": {"type": "object", "required": ["label", "confidence", "scores"], "properties": {
                    "label": {"type": "string"}, "confidence": {"type": "number"},
                    "scores": {"type": "object", "additionalProperties": {"type": "number"}},
                    "labels": {"type": "array", "items": {"type": "string"},
                               "description": "multi-label models: every label over the threshold"}}},
                "Predictions": {"type": "object", "required": ["model", "version", "predictions"], "properties": {
                    "model": {"type": "string"}, "version": {"type": "string"},
                    "predictions": {"type": "array", "items": {"$ref": "#/components/schemas/Prediction"}}}},
                "Embeddings": {"type": "object", "required": ["model", "version", "dim", "vectors"], "properties": {
                    "model": {"type": "string"}, "version": {"type": "string"}, "dim": {"type": "integer"},
                    "vectors": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}}},
                "Model": {"type": "object", "required": ["name", "version", "labels"], "properties": {
                    "name": {"type": "string"}, "version": {"type": "string"},
                    "labels": {"type": "array", "items": {"type": "string"}}, "multilabel": {"type": "boolean"},
                    "metrics": {"type": "object", "additionalProperties": {"type": "number"}},
                    "evaluation": {"type": "string", "nullable": True, "enum": ["holdout", "test-file", "cv", None],
                                   "description": "how `metrics` were measured: a held-out part of the training "
                                                  "data, a separate test file, or cross-validation"},
                    "n_test": {"type": "integer", "nullable": True, "description": "texts the metrics were measured on"},
                    "vectors": {"type": "object", "properties": {
                        "name": {"type": "string"}, "sha256": {"type": "string"}, "dim": {"type": "integer"},
                        "lowercase": {"type": "boolean"}}},
                    "embedding_dim": {"type": "integer"},
                    "created_at": {"type": "string", "nullable": True},
                    "loaded_at": {"type": "string", "format": "date-time"}}},
                "ModelList": {"type": "object", "required": ["models"], "properties": {
                    "models": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}}}},
                "FeedbackRequest": {"type": "object", "required": ["text", "label"], "additionalProperties": False,
                                    "properties": {
                    "text": {"type": "string", "minLength": 1, "maxLength": config.max_text_chars},
                    "label": {"oneOf": [LABEL, {"type": "array", "items": LABEL, "minItems": 1}],
                              "description": "one label; a list for multi-label models"},
                    "prediction_id": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$",
                                      "description": "X-Request-ID of the prediction being corrected"}}},
                "FeedbackStored": {"type": "object", "required": ["id", "model", "version", "label", "prediction", "agrees"],
                                   "properties": {
                    "id": {"type": "integer"}, "model": {"type": "string"}, "version": {"type": "string"},
                    "label": LABELS, "agrees": {"type": "boolean", "description": "the prediction matched the label"},
                    "prediction": {"type": "object", "properties": {"label": LABELS, "confidence": {"type": "number"}}}}},
                "ReviewItem": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "model": {"type": "string"}, "version": {"type": "string"},
                    "text": {"type": "string"}, "predicted": LABELS, "confidence": {"type": "number"},
                    "request_id": {"type": "string", "nullable": True},
                    "created_at": {"type": "string", "format": "date-time"}}},
                "ReviewQueue": {"type": "object", "required": ["model", "items"], "properties": {
                    "model": {"type": "string"},
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/ReviewItem"}}}},
                "FeedbackSettings": {"type": "object", "properties": {
                    "enabled": {"type": "boolean"}, "token_required": {"type": "boolean"},
                    "review": {"type": "object", "properties": {"sample": {"type": "number"}, "below": {"type": "number"}}},
                    "models": {"type": "object", "additionalProperties": {
                        "type": "object", "properties": {"allow_new_labels": {"type": "boolean"}}}}}},
                "Reload": {"type": "object", "properties": {
                    "reload": {"type": "object", "properties": {
                        "loaded": {"type": "object", "additionalProperties": {"type": "string"}},
                        "unchanged": {"type": "object", "additionalProperties": {"type": "string"}},
                        "refused": {"type": "object", "additionalProperties": {"type": "object"}}}},
                    "status": {"type": "string"},
                    "models": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/ModelState"}}}},
            },
        },
    }


@bp.get("/openapi.json")
def openapi_json():
    """Return the OpenAPI document."""
    return jsonify(spec(current_app.config["VECCLF"]))
