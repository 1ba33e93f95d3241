"""The service's settings: one frozen object, built once at the edge from ``VECCLF_*`` variables.

``wsgi.py`` and ``vecclf serve`` call :meth:`Config.from_env`;
everything else receives the object. Tests build ``Config(...)`` directly.

============================== ============= ==========================================
variable                       default       meaning
============================== ============= ==========================================
``VECCLF_STORE``               ``models``    model store folder
``VECCLF_MODELS``              (all)         comma-separated models to serve
``VECCLF_HOST``                ``127.0.0.1`` bind address
``VECCLF_PORT``                ``8000``      port
``VECCLF_WORKERS``             ``2``         gunicorn worker processes
``VECCLF_THREADS``             ``16``        request threads per worker
``VECCLF_CLIENT_TIMEOUT``      ``10``        seconds a client has to send a whole request, and to take the answer
``VECCLF_KEEPALIVE``           ``2``         seconds an idle connection is kept (before its first request, between requests)
``VECCLF_TIMEOUT``             ``30``        seconds before a silent worker is restarted
``VECCLF_GRACEFUL_TIMEOUT``    ``30``        seconds a stopping worker may finish requests
``VECCLF_MAX_TEXTS``           ``1000``      texts per request
``VECCLF_MAX_TEXT_CHARS``      ``100000``    characters per text
``VECCLF_MAX_BODY_BYTES``      ``10485760``  request body bytes
``VECCLF_POLL_INTERVAL``       ``2``         seconds between checks of ``current``; 0 = never
``VECCLF_ADMIN_TOKEN``         (unset)       bearer token for ``POST /v1/admin/reload``; unset = disabled
``VECCLF_RUNTIME_DIR``         (unset)       folder the workers share to pass reload requests
``PROMETHEUS_MULTIPROC_DIR``   (unset)       folder of the workers' metric samples (prometheus_client's own name)
``VECCLF_LOG_LEVEL``           ``INFO``      log level
``VECCLF_ACCESS_LOG``          ``1``         JSON access log lines on stderr (0 to turn off)
``VECCLF_DATABASE_URL``        (unset)       feedback database; unset = SQLite ``<store>/vecclf.db``
``VECCLF_FEEDBACK``            ``on``        ``off`` turns ``POST /v1/models/<name>/feedback`` off
``VECCLF_FEEDBACK_TOKEN``      (unset)       bearer token the feedback and review endpoints require
``VECCLF_REVIEW_SAMPLE``       ``0``         fraction of uncertain live texts stored for review (0 = none)
``VECCLF_REVIEW_BELOW``        ``1``         a text is uncertain when its top confidence is below this
============================== ============= ==========================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from vecclf.training.errors import ConfigError
from vecclf.training.settings import DEFAULT_STORE

PREFIX = "VECCLF_"
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Config:
    """Settings of one service instance (see the module docs for the variables)."""

    store: str = DEFAULT_STORE
    models: tuple[str, ...] | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    threads: int = 16
    client_timeout: float = 10.0
    keepalive: int = 2
    timeout: int = 30
    graceful_timeout: int = 30
    max_texts: int = 1000
    max_text_chars: int = 100_000
    max_body_bytes: int = 10 * 1024 * 1024
    poll_interval: float = 2.0
    admin_token: str | None = None
    runtime_dir: str | None = None
    metrics_dir: str | None = None
    log_level: str = "INFO"
    access_log: bool = True
    database_url: str | None = None
    feedback: bool = True
    feedback_token: str | None = None
    review_sample: float = 0.0
    review_below: float = 1.0

    def __post_init__(self):
        for name in ("port", "workers", "threads", "keepalive", "timeout", "graceful_timeout", "max_texts",
                     "max_text_chars", "max_body_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "port" else 1):
                raise ConfigError(f"{PREFIX}{name.upper()} must be a positive integer, got {value!r}")
        if self.port > 65535:
            raise ConfigError(f"{PREFIX}PORT must be at most 65535, got {self.port}")
        if not isinstance(self.client_timeout, (int, float)) or not 0 < self.client_timeout <= 3600:
            raise ConfigError(f"{PREFIX}CLIENT_TIMEOUT must be a number of seconds above 0 (at most 3600), "
                              f"got {self.client_timeout!r}")
        if not isinstance(self.poll_interval, (int, float)) or self.poll_interval < 0:
            raise ConfigError(f"{PREFIX}POLL_INTERVAL must be a number of seconds >= 0, got {self.poll_interval!r}")
        if self.log_level.upper() not in LOG_LEVELS:
            raise ConfigError(f"{PREFIX}LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}")
        if self.admin_token is not None and len(self.admin_token) < 16:
            raise ConfigError(f"{PREFIX}ADMIN_TOKEN must be at least 16 characters (or unset to disable admin calls)")
        if self.feedback_token is not None and len(self.feedback_token) < 16:
            raise ConfigError(f"{PREFIX}FEEDBACK_TOKEN must be at least 16 characters (or unset for open feedback)")
        for name in ("review_sample", "review_below"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
                raise ConfigError(f"{PREFIX}{name.upper()} must be a number from 0 to 1, got {value!r}")

    def replace(self, **changes) -> "Config":
        """Return a copy with ``changes`` applied (and checked)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "Config":
        """Build the config from ``VECCLF_*`` entries of ``environ``.

        Raises:
            ConfigError: a value is malformed, naming the variable.
        """
        values: dict = {}
        for field in dataclasses.fields(cls):
            key = METRICS_DIR_VARIABLE if field.name == "metrics_dir" else PREFIX + field.name.upper()
            if key not in environ:
                continue
            raw = environ[key].strip()
            values[field.name] = _parse(key, field.name, raw)
        return cls(**values)


def _parse(key: str, name: str, raw: str):
    if name == "models":
        names = tuple(n.strip() for n in raw.split(",") if n.strip())
        return names or None
    if name in ("admin_token", "runtime_dir", "metrics_dir", "database_url", "feedback_token"):
        return raw or None
    if name in ("access_log", "feedback"):
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ConfigError(f"{key} must be 1/0, true/false, yes/no or on/off, got {raw!r}")
    if name in ("poll_interval", "client_timeout"):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{key} must be a number of seconds, got {raw!r}") from None
    if name in ("review_sample", "review_below"):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{key} must be a number from 0 to 1, got {raw!r}") from None
    if name in ("port", "workers", "threads", "keepalive", "timeout", "graceful_timeout", "max_texts", "max_text_chars",
                "max_body_bytes"):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{key} must be an integer, got {raw!r}") from None
    return raw
