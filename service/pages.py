"""The HTML pages: the playground at ``/``, the review queue at ``/review`` and the API browser at ``/docs``.

All are static files in ``service/static`` that talk to the JSON API from the
browser (the first two share ``/assets/common.js`` and ``common.css``); they load nothing from
the network (no CDN), so they work offline.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from flask import Blueprint, Response, abort

bp = Blueprint("pages", __name__)
STATIC = Path(__file__).with_name("static")


@cache
def _page(name: str) -> bytes:
    return (STATIC / name).read_bytes()


@bp.get("/")
def playground():
    """Return the playground: type a text, see every model's prediction and scores."""
    return Response(_page("playground.html"), mimetype="text/html")


@bp.get("/review")
def review():
    """Return the review page: the uncertain texts of a model, a label to choose for each."""
    return Response(_page("review.html"), mimetype="text/html")


ASSETS = {"common.js": "text/javascript", "common.css": "text/css"}


@bp.get("/assets/<name>")
def asset(name: str):
    """Return a script or style sheet the playground and the review page share."""
    if name not in ASSETS:
        abort(404)
    return Response(_page(name), mimetype=ASSETS[name])


@bp.get("/docs")
def docs():
    """Return the API browser, which renders /openapi.json."""
    return Response(_page("docs.html"), mimetype="text/html")
