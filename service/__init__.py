"""The vecclf HTTP service: a Flask app factory wiring small modules together.

``create_app(config)`` is the only way to build the app; ``vecclf.service.wsgi:app``
builds it from ``VECCLF_*`` variables for gunicorn. Quickstart::

    from vecclf.service import create_app
    from vecclf.service.config import Config

    app = create_app(Config(store="models"))
    app.test_client().post("/v1/models/sentiment/predict", json={"texts": ["I love it"]}).json
"""

from __future__ import annotations

if __name__ != "vecclf.service":
    # Imported by its folder name: a user's own ``service`` package could as well be found first.
    raise ImportError(f"import vecclf.service, not {__name__!r}: vecclf installs one top-level name, 'vecclf'")

from typing import TYPE_CHECKING  # noqa: E402

from vecclf.service.config import Config  # noqa: E402

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: Config | None = None) -> Flask:
    """Build the app and load every model's current version."""
    # Flask is imported here, not above, so `vecclf serve` can refuse a busy port before paying for it.
    from flask import Flask

    from vecclf.service import api, errors, fastpath, feedback, logs, metrics, openapi, pages, review
    from vecclf.service.models import ModelSet

    config = config or Config()
    app = Flask(__name__, static_folder=None)
    app.config["VECCLF"] = config
    # Werkzeug refuses larger bodies before the view reads them; validation repeats the check with a clearer message.
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json.sort_keys = False
    logs.configure(config.log_level)

    models = ModelSet(config)
    models.refresh()
    app.extensions["vecclf.models"] = models

    errors.init_app(app)
    logs.init_app(app)
    # Each process that serves requests starts its watcher on its first request (or
    # earlier, from gunicorn's post_worker_init); the master that preloads never does.
    app.before_request(models.start)
    feedback.init_app(app)
    review.init_app(app, app.extensions["vecclf.feedback"])
    for blueprint in (api.bp, feedback.bp, metrics.bp, openapi.bp, pages.bp):
        app.register_blueprint(blueprint)
    # Successful predict requests skip Flask's request machinery (same checks, metrics and logs);
    # everything else, errors included, is Flask's.
    fastpath.init_app(app, models)
    return app
