"""Run the service under gunicorn with the project's config: what ``vecclf serve`` calls."""

from __future__ import annotations

import os
import sys
from pathlib import Path

CONF = Path(__file__).with_name("gunicorn.conf.py")


def gunicorn_argv() -> list[str]:
    """Return the gunicorn command line the service runs with (the Dockerfile runs the same)."""
    return ["gunicorn", "-c", str(CONF)]


def serve(store: str | None = None, host: str | None = None, port: int | None = None, workers: int | None = None) -> int:
    """Serve the store's current models until stopped; return the exit code.

    Arguments override ``VECCLF_STORE``/``HOST``/``PORT``/``WORKERS``; the gunicorn
    config reads the result once, like every other setting.
    """
    from gunicorn.app.wsgiapp import WSGIApplication

    from vecclf.service.config import Config

    for key, value in (("STORE", store), ("HOST", host), ("PORT", port), ("WORKERS", workers)):
        if value is not None:
            os.environ[f"VECCLF_{key}"] = str(value)
    Config.from_env(os.environ)  # a bad value fails here, as a ConfigError with the variable's name
    saved = sys.argv
    sys.argv = gunicorn_argv()
    try:
        WSGIApplication("%(prog)s [OPTIONS]", prog="vecclf serve").run()
    except SystemExit as exc:  # gunicorn exits from the master and from each worker
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved
    return 0
