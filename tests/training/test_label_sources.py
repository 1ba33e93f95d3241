"""Retrain data sources: files and globs, SQLite and PostgreSQL tables streamed in chunks, dedup by text."""

import datetime as dt

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from tests.conftest import make_corpus, write_csv, write_jsonl
from vecclf.training.database import connect
from vecclf.training.errors import DataError, StorageError
from vecclf.training.feedback import FeedbackStore
from vecclf.training.label_sources import FeedbackSource, FileSource, SqlSource, merge


T0 = dt.datetime(2024, 5, 1, 12)


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


def feedback_db(folder, rows, model="demo") -> str:
    """Store feedback ``(text, label, minutes after T0)`` rows of ``model`` in ``folder``/vecclf.db; return its URL."""
    url = f"sqlite:///{folder / 'vecclf.db'}"
    with FeedbackStore(url) as fs:
        fs.add_many([{"model": model, "text": t, "label": lab, "created_at": T0 + dt.timedelta(minutes=m)}
                     for t, lab, m in rows])
    return url


@pytest.mark.parametrize("base,feedback,expected", [
    # feedback wins over the base data for the same text (whitespace aside)
    ([("good film", "pos"), ("bad film", "neg")], [("good  film ", "neg", 0)], {"good  film ": "neg", "bad film": "neg"}),
    # the newest feedback label wins over older feedback, whatever the order the rows were stored in
    ([("good film", "pos")], [("good film", "neg", 5), ("good film", "pos", 9), ("good film", "neg", 1)],
     {"good film": "pos"}),
    ([("good film", "neg")], [("good film", "pos", 2), (" good film", "neg", 7), ("good film", "pos", 3)],
     {"good film": "neg"}),
    # a text only in feedback is added, the others stay
    ([("good film", "pos")], [("dull", "neg", 0)], {"good film": "pos", "dull": "neg"}),
    # no feedback at all: the base data as it is
    ([("good film", "pos")], [], {"good film": "pos"}),
])
def test_feedback_merge_rules(tmp_path, base, feedback, expected):
    """Feedback is read last: each text's newest feedback label wins over older feedback and over the base data."""
    data = write_csv(tmp_path / "a.csv", [{"text": t, "label": lab} for t, lab in base])
    url = feedback_db(tmp_path, feedback)
    feedback_db(tmp_path, [("good film", "other-model label", 99)], model="other")
    ds, summary = merge([files(str(data)), FeedbackSource("demo", url)])
    assert dict(zip(ds.texts, ds.labels)) == expected
    distinct = len({" ".join(t.split()) for t, _, _ in feedback})
    assert summary["rows_by_source"] == {"files": len(base), "feedback": distinct}


def test_a_store_without_feedback_reads_empty_and_unchanged(tmp_path):
    """rows_by_source names the feedback source even when no feedback was ever stored, and no database is made."""
    data = write_csv(tmp_path / "a.csv", [{"text": t, "label": l} for t, l in corpus_rows(10)])
    ds, summary = merge([files(str(data)), FeedbackSource("demo", f"sqlite:///{tmp_path / 'vecclf.db'}")])
    assert summary["rows_by_source"] == {"files": 10, "feedback": 0} and len(ds) == 10
    assert not (tmp_path / "vecclf.db").exists()


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
    with pytest.raises(StorageError, match=r"127.0.0.1:1/x is unreachable") as info:
        merge([FeedbackSource("demo", "postgresql://u:secret@127.0.0.1:1/x")])
    assert "secret" not in str(info.value)
