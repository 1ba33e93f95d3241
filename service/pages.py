"""The two HTML pages: the playground at ``/`` and the API browser at ``/docs``.

Both are static files in ``service/static`` that talk to the JSON API from the
browser; they load nothing from the network (no CDN), so they work offline.
"""

from __future__ import annotations

from flask import Blueprint, current_app, send_from_directory

bp = Blueprint("pages", __name__)


@bp.get("/")
def playground():
    """Return the playground: type a text, see every model's prediction and scores."""
    return send_from_directory(current_app.static_folder, "playground.html", max_age=0)


@bp.get("/docs")
def docs():
    """Return the API browser, which renders /openapi.json."""
    return send_from_directory(current_app.static_folder, "docs.html", max_age=0)
