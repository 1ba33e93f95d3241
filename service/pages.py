"""The two HTML pages: the playground at ``/`` and the API browser at ``/docs``.

Both are static files in ``service/static`` that talk to the JSON API from the
browser; they load nothing from the network (no CDN), so they work offline.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from flask import Blueprint, Response

bp = Blueprint("pages", __name__)
STATIC = Path(__file__).with_name("static")


@cache
def _page(name: str) -> bytes:
    return (STATIC / name).read_bytes()


@bp.get("/")
def playground():
    """Return the playground: type a text, see every model's prediction and scores."""
    return Response(_page("playground.html"), mimetype="text/html")


@bp.get("/docs")
def docs():
    """Return the API browser, which renders /openapi.json."""
    return Response(_page("docs.html"), mimetype="text/html")
