"""Check request bodies before any model sees them.

A body must be JSON (``Content-Type: application/json``), UTF-8, at most
``max_body_bytes``, and an object ``{"texts": [str, ...]}`` with 1 to
``max_texts`` strings of at most ``max_text_chars`` characters (feedback:
``{"text": str, "label": str | [str], "prediction_id"?: str}`` under the same
limits). Each failure is an :class:`~vecclf.service.errors.ApiError` that
says what was wrong and where.
"""

from __future__ import annotations

import json
import re

from flask import Request

from vecclf.service.config import Config
from vecclf.service.errors import ApiError

JSON_TYPES = ("application/json",)
FEEDBACK_FIELDS = ("text", "label", "prediction_id")
_TOKEN_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _bad(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def read_json(request: Request, config: Config):
    """Return the decoded JSON body of ``request``."""
    check_headers(request.mimetype or "", request.content_length, config)
    return decode_json(request.get_data(cache=False), config)


def check_headers(mimetype: str, content_length: int | None, config: Config) -> None:
    """Refuse a body that is not JSON, or that says it is larger than the limit, before reading it."""
    if mimetype not in JSON_TYPES and not mimetype.endswith("+json"):
        got = mimetype or "no Content-Type"
        raise ApiError(415, "unsupported_media_type", f"send JSON with Content-Type: application/json (got {got})")
    if content_length is not None and content_length > config.max_body_bytes:
        raise ApiError(413, "body_too_large",
                       f"request body too large: {content_length} bytes; the limit is {config.max_body_bytes}")


def decode_json(raw: bytes, config: Config):
    """Return the JSON value of the body bytes ``raw``."""
    if len(raw) > config.max_body_bytes:
        raise ApiError(413, "body_too_large", f"request body too large: the limit is {config.max_body_bytes} bytes")
    if not raw.strip():
        raise _bad("empty_body", 'request body is empty; send {"texts": ["..."]}')
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad("invalid_utf8", f"request body is not valid UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad("invalid_json", f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise _bad("invalid_json", "request body is nested too deeply") from None
    except ValueError as exc:  # past the parser's own limits: an integer of more than sys.get_int_max_str_digits() digits
        raise _bad("invalid_json", f"request body holds a number vecclf will not parse ({_first_line(exc)})") from None


def parse_texts(request: Request, config: Config) -> list[str]:
    """Return the validated ``texts`` of a predict/embed request."""
    return texts_of(read_json(request, config), config)


def texts_of(body, config: Config) -> list[str]:
    """Return the validated ``texts`` of a decoded predict/embed body."""
    if not isinstance(body, dict):
        raise _bad("invalid_body", f'body must be a JSON object {{"texts": [...]}}, got {_kind(body)}')
    if "texts" not in body:
        raise _bad("missing_field", 'body has no "texts" field; send {"texts": ["..."]}')
    if len(body) > 1:
        unknown = sorted(set(body) - {"texts"})
        raise _bad("unknown_field", f"unknown field(s) {', '.join(map(repr, unknown))}; only \"texts\" is accepted")
    texts = body["texts"]
    if not isinstance(texts, list):
        raise _bad("invalid_texts", f'"texts" must be a list of strings, got {_kind(texts)}')
    if not texts:
        raise _bad("empty_texts", '"texts" is empty; send at least one text')
    if len(texts) > config.max_texts:
        raise ApiError(413, "too_many_texts", f'"texts" has {len(texts)} items; the limit is {config.max_texts} per request')
    limit = config.max_text_chars
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise _bad("invalid_text", f'"texts"[{i}] must be a string, got {_kind(t)}')
        if len(t) > limit:
            raise ApiError(413, "text_too_long", f'"texts"[{i}] has {len(t)} characters; the limit is {limit}')
    return texts


def _first_line(exc: Exception) -> str:
    return str(exc).split(";")[0].split("\n")[0][:200]


def feedback_of(body, config: Config) -> tuple[str, object, str | None]:
    """Return ``(text, label, prediction_id)`` of a decoded feedback body; the label is checked by the model later."""
    if not isinstance(body, dict):
        raise _bad("invalid_body", f'body must be a JSON object {{"text": ..., "label": ...}}, got {_kind(body)}')
    unknown = sorted(set(body) - set(FEEDBACK_FIELDS))
    if unknown:
        raise _bad("unknown_field", f"unknown field(s) {', '.join(map(repr, unknown))}; "
                                    f"accepted: {', '.join(map(repr, FEEDBACK_FIELDS))}")
    for field in ("text", "label"):
        if field not in body:
            raise _bad("missing_field", f'body has no "{field}" field; send {{"text": "...", "label": "..."}}')
    text, label, prediction_id = body["text"], body["label"], body.get("prediction_id")
    if not isinstance(text, str):
        raise _bad("invalid_text", f'"text" must be a string, got {_kind(text)}')
    if not text.strip():
        raise _bad("empty_text", '"text" is empty; send the text the label is for')
    if len(text) > config.max_text_chars:
        raise ApiError(413, "text_too_long", f'"text" has {len(text)} characters; the limit is {config.max_text_chars}')
    if prediction_id is not None and not (isinstance(prediction_id, str) and _TOKEN_RE.fullmatch(prediction_id)):
        raise _bad("invalid_prediction_id", '"prediction_id" must be the X-Request-ID of the prediction '
                                            "(letters, digits, ._:- and at most 128 characters)")
    return text, label, prediction_id


def _kind(value) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)
