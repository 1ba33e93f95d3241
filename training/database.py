"""Database connections through SQLAlchemy: a SQLite file in the model store by default, or any URL.

Feedback, the review queue and SQL label sources all connect here, so every
part of vecclf treats a database the same way::

    engine = connect(database_url(store, None))        # <store>/vecclf.db
    engine = connect("postgresql://postgres@127.0.0.1:5432/test")

- SQLite runs in WAL mode with a busy timeout, so concurrent gunicorn
  workers and a retrain job read and write the same file without losing a row.
- ``postgresql://`` URLs use psycopg 3 (``postgresql+psycopg://``).
- Connection failures raise :class:`~vecclf.training.errors.StorageError`
  with one line naming the database (password hidden), never a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from vecclf.training.errors import ConfigError, StorageError

DEFAULT_FILE = "vecclf.db"
# Seconds a SQLite writer waits for another's lock before failing.
SQLITE_BUSY_SECONDS = 30


def database_url(store: str | os.PathLike, url: str | None) -> str:
    """Return ``url``, or the SQLite file inside ``store`` when it is None or empty."""
    if url:
        return url
    return f"sqlite:///{Path(store).resolve() / DEFAULT_FILE}"


def redact(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: show the scheme at most
        return url.split("://", 1)[0] + "://..." if "://" in url else "<invalid URL>"


def connect(url: str, **options):
    """Return a SQLAlchemy engine for ``url`` (see the module docs); nothing is connected until first use.

    Raises:
        ConfigError: ``url`` is not a database URL SQLAlchemy knows.
    """
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"database URL {redact(url)!r} is not valid: {exc}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite:
        options.setdefault("connect_args", {"timeout": SQLITE_BUSY_SECONDS})
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    else:
        options.setdefault("pool_pre_ping", True)
    try:
        engine = create_engine(parsed, **options)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"database URL {redact(url)!r}: {exc}") from None
    if sqlite:
        @event.listens_for(engine, "connect")
        def _wal(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
            cursor.close()
    return engine


def check(engine) -> None:
    """Connect once; raise :class:`StorageError` naming the database if that fails."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StorageError(f"database {redact(str(engine.url))} is unreachable: {reason}") from None
