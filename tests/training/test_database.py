"""Database connections: SQLite in the store (WAL), PostgreSQL for real, one-line errors."""

import threading

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text

from vecclf.training.database import DEFAULT_FILE, check, connect, database_url, redact
from vecclf.training.errors import ConfigError, StorageError


def _table(metadata):
    return Table("things", metadata, Column("id", Integer, primary_key=True), Column("name", String(50)))


def test_default_is_a_sqlite_file_in_the_store(tmp_path):
    """No URL means <store>/vecclf.db, created on first use, in WAL mode."""
    url = database_url(tmp_path / "models", None)
    assert url.endswith(f"/models/{DEFAULT_FILE}") and url.startswith("sqlite:///")
    engine = connect(url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert (tmp_path / "models" / DEFAULT_FILE).is_file()


def test_sqlite_concurrent_writers_lose_no_row(tmp_path):
    """Eight threads, each with its own engine, insert 50 rows each: all 400 are there."""
    url = database_url(tmp_path, None)
    metadata = MetaData()
    things = _table(metadata)
    metadata.create_all(connect(url))

    def writer(k):
        engine = connect(url)
        for i in range(50):
            with engine.begin() as conn:
                conn.execute(insert(things).values(name=f"{k}-{i}"))
        engine.dispose()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with connect(url).connect() as conn:
        assert len(conn.execute(select(things.c.name)).all()) == 400


def test_postgresql_round_trip(postgres_url):
    """A table written and read back on the real PostgreSQL server, in the test's own schema."""
    engine = connect(postgres_url)
    metadata = MetaData()
    things = _table(metadata)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(things), [{"name": "a"}, {"name": "b"}])
    with engine.connect() as conn:
        assert sorted(conn.execute(select(things.c.name)).scalars()) == ["a", "b"]
    engine.dispose()


@pytest.mark.parametrize("url,error,words", [
    ("not a url", ConfigError, "is not valid"),
    ("nosuchdb://x/y", ConfigError, "nosuchdb"),
])
def test_bad_urls_are_config_errors(url, error, words):
    """A URL SQLAlchemy cannot use is refused with one line naming it."""
    with pytest.raises(error, match=words):
        connect(url)


def test_unreachable_server_is_one_line_without_the_password():
    """A server that is not there: StorageError naming the host, password hidden."""
    engine = connect("postgresql://user:secret@127.0.0.1:1/db", connect_args={"connect_timeout": 2})
    with pytest.raises(StorageError) as info:
        check(engine)
    message = str(info.value)
    assert "127.0.0.1:1" in message and "secret" not in message and "\n" not in message
    assert "secret" not in redact("postgresql://user:secret@h/db")
