"""Retrain data sources: files and globs, SQLite and PostgreSQL tables streamed in chunks, dedup by text."""

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from tests.conftest import make_corpus, write_csv, write_jsonl
from vecclf.training.database import connect
from vecclf.training.errors import DataError, StorageError
from vecclf.training.label_sources import FeedbackSource, FileSource, SqlSource, merge


def files(*patterns, **kw):
    return FileSource(patterns, fmt="auto", text_column=kw.get("text", "text"), label_column=kw.get("label", "label"))


def sql(url, query="SELECT body AS text, sentiment AS label FROM labelled ORDER BY id", chunk=7):
    return SqlSource(url, query, chunk_rows=chunk, text_column="text", label_column="label")


def fill_table(url: str, rows: list[tuple[str, str]]) -> None:
    """Create table ``labelled(id, body, sentiment)`` at ``url`` and insert ``rows``."""
    metadata = MetaData()
    table = Table("labelled", metadata, Column("id", Integer, primary_key=True), Column("body", String(500)),
                  Column("sentiment", String(20)))
    engine = connect(url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"body": t, "sentiment": l} for t, l in rows])
    engine.dispose()


def corpus_rows(n=40):
    texts, labels = make_corpus(n)
    return list(zip(texts, labels))


def test_files_and_globs_merge_with_the_last_row_winning(tmp_path):
    """Globs expand in order, any reader format works, and a repeated text keeps its last label."""
    (tmp_path / "d").mkdir()
    write_csv(tmp_path / "d" / "a.csv", [{"text": "good film", "label": "pos"}, {"text": "bad film", "label": "neg"}])
    write_jsonl(tmp_path / "d" / "b.jsonl", [{"text": "good  film", "label": "neg"}, {"text": "dull", "label": "neg"}])
    ds, summary = merge([files(str(tmp_path / "d" / "*"))])
    assert sorted(zip(ds.texts, ds.labels)) == [("bad film", "neg"), ("dull", "neg"), ("good  film", "neg")]
    assert summary["rows_by_source"] == {"files": 4} and summary["duplicates"] == 1 and summary["conflicts"] == 1


def test_sources_are_counted_by_name_and_feedback_has_no_rows_yet(tmp_path):
    """rows_by_source names every source, the feedback source included (empty until the feedback store exists)."""
    data = write_csv(tmp_path / "a.csv", [{"text": t, "label": l} for t, l in corpus_rows(10)])
    ds, summary = merge([files(str(data)), FeedbackSource("demo", f"sqlite:///{tmp_path / 'vecclf.db'}")])
    assert summary["rows_by_source"] == {"files": 10, "feedback": 0} and len(ds) == 10


@pytest.mark.parametrize("make,message", [
    (lambda d: files(str(d / "*.parquet")), "matches no file"),
    (lambda d: files(str(d / "gone.csv")), "no such file"),
    (lambda d: files(str(d / "bad.csv")), "column 'label' not found"),
    (lambda d: sql(f"sqlite:///{d / 'absent.db'}"), "no such SQLite database file"),
    (lambda d: sql(f"sqlite:///{d / 'ok.db'}", "SELECT * FROM nowhere"), "data.sql_query failed: no such table"),
    (lambda d: sql(f"sqlite:///{d / 'ok.db'}", "SELECT body FROM labelled"), "returns no column 'text'"),
    (lambda d: sql(f"sqlite:///{d / 'ok.db'}", "SELECT body AS text, '' AS label FROM labelled"),
     "query row 1: column 'label' is empty"),
])
def test_bad_sources_name_what_is_wrong(tmp_path, make, message):
    """A missing file, an unmatched glob, a missing SQLite file, a bad query or column is a DataError naming it."""
    (tmp_path / "d").mkdir()
    write_csv(tmp_path / "d" / "bad.csv", [{"text": "x", "sentiment": "pos"}])
    fill_table(f"sqlite:///{tmp_path / 'd' / 'ok.db'}", [("good", "pos")])
    with pytest.raises(DataError, match=message):
        merge([make(tmp_path / "d")])
    assert not (tmp_path / "d" / "absent.db").exists()


def test_sqlite_table_streams_in_chunks(tmp_path):
    """A SQLite table is read chunk by chunk (progress per chunk), blank texts skipped, every row kept."""
    url = f"sqlite:///{tmp_path / 'labels.db'}"
    rows = corpus_rows(40) + [("   ", "pos")]
    fill_table(url, rows)
    chunks = []
    ds, summary = merge([sql(url, chunk=7)], progress=chunks.append)
    assert chunks == [7] * 5 + [6]
    assert summary["rows_by_source"] == {"sql": 40} and len(ds) == len({t for t, _ in rows[:40]})


def test_postgresql_table_streams_in_chunks(postgres_url):
    """The same table on the real PostgreSQL server, through a server-side cursor in chunks."""
    rows = corpus_rows(40)
    fill_table(postgres_url, rows)
    chunks = []
    ds, summary = merge([sql(postgres_url, chunk=16)], progress=chunks.append)
    assert chunks == [16, 16, 8] and summary["rows_by_source"] == {"sql": 40}
    assert set(zip(ds.texts, ds.labels)) == set(rows)


def test_unreachable_database_is_a_storage_error():
    """A database that does not answer is a StorageError naming it, password hidden."""
    with pytest.raises(StorageError, match=r"postgresql\+psycopg://u:\*\*\*@127.0.0.1:1/x is unreachable"):
        merge([sql("postgresql://u:secret@127.0.0.1:1/x")])
