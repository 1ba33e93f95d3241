"""The command line's settings: one frozen object, built once in ``vecclf``'s ``main`` from flags and ``VECCLF_*``.

Everything below the command line receives values as parameters; nothing
under :mod:`vecclf.training` reads the environment. The service has its own
object, :class:`vecclf.service.config.Config`, built the same way.

======================= ============================= ===========================================
variable                default                       meaning
======================= ============================= ===========================================
``VECCLF_STORE``        ``models``                    model store folder (``--store`` wins)
``VECCLF_LOG_LEVEL``    ``INFO`` on a terminal, else  log level of the command line's stderr
                        ``WARNING``                   (``-v`` wins: debug)
``VECCLF_PROGRESS``     ``auto``                      progress on stderr: ``bars`` (auto on a
                                                      terminal), ``lines`` (auto elsewhere),
                                                      ``json`` or ``off``
``VECCLF_DATABASE_URL`` SQLite ``<store>/vecclf.db`` feedback and review-queue database (any
                                                      SQLAlchemy URL, e.g. ``postgresql://u@h/db``)
======================= ============================= ===========================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from vecclf.training.errors import ConfigError
from vecclf.training.progress import MODES as PROGRESS_MODES

#: The model store folder when neither ``--store`` nor ``VECCLF_STORE`` names one (relative to the working directory).
DEFAULT_STORE = "models"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
PREFIX = "VECCLF_"


@dataclass(frozen=True)
class Settings:
    """What every command may need: the store, how loud to be, how to show progress, the feedback database."""

    store: str = DEFAULT_STORE
    log_level: str | None = None  # None: INFO on a terminal, WARNING otherwise
    progress: str = "auto"
    database_url: str | None = None  # None: the SQLite file in the store (vecclf.training.database)

    def __post_init__(self):
        if not self.store:
            raise ConfigError(f"{PREFIX}STORE must name a folder")
        if self.log_level is not None and self.log_level.upper() not in LOG_LEVELS:
            raise ConfigError(f"{PREFIX}LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}")
        if self.progress not in PROGRESS_MODES:
            raise ConfigError(f"{PREFIX}PROGRESS must be one of {', '.join(PROGRESS_MODES)}, got {self.progress!r}")

    def replace(self, **changes) -> "Settings":
        """Return a copy with ``changes`` applied (and checked); ``None`` values change nothing."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "Settings":
        """Build the settings from ``VECCLF_*`` entries of ``environ``.

        Raises:
            ConfigError: a value is malformed, naming the variable.
        """
        values = {}
        store = environ.get(f"{PREFIX}STORE", "").strip()
        if store:
            values["store"] = store
        level = environ.get(f"{PREFIX}LOG_LEVEL", "").strip()
        if level:
            values["log_level"] = level.upper()
        shown = environ.get(f"{PREFIX}PROGRESS", "").strip()
        if shown:
            values["progress"] = shown.lower()
        url = environ.get(f"{PREFIX}DATABASE_URL", "").strip()
        if url:
            values["database_url"] = url
        return cls(**values)
