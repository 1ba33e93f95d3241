"""The WSGI entry point: ``gunicorn service.wsgi:app``; config read from ``VECCLF_*`` here, at the edge."""

import os

from service import create_app
from service.config import Config

app = create_app(Config.from_env(os.environ))
