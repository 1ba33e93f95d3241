"""The WSGI entry point: ``gunicorn vecclf.service.wsgi:app``; config read from ``VECCLF_*`` here, at the edge."""

import os

from vecclf.service import create_app
from vecclf.service.config import Config

app = create_app(Config.from_env(os.environ))
