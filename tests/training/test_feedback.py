"""The feedback store (SQLite and PostgreSQL), label checks, and the rows a retrain gets."""

import datetime as dt

import pytest

from vecclf.training.database import database_url
from vecclf.training.errors import ConfigError, DataError, StorageError
from vecclf.training.feedback import FeedbackStore, feedback_rows
from vecclf.training.feedback_labels import UnknownLabelError, allows_new_labels, check_label

T0 = dt.datetime(2024, 5, 1, 12, 0, 0)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """Return a FeedbackStore on the store's SQLite file, or on a fresh PostgreSQL schema."""
    url = database_url(tmp_path, None) if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    fs = FeedbackStore(url)
    yield fs
    fs.dispose()


def row(text, label, minutes=0, **extra):
    """Return a feedback row of model 'm' made ``minutes`` after T0."""
    return {"model": "m", "version": "v1", "text": text, "label": label, "created_at": T0 + dt.timedelta(minutes=minutes),
            **extra}


def test_round_trip_keeps_every_field(store):
    """A stored row reads back with its model, version, prediction, request ids, time and label shape."""
    first = store.add(row("good film", "pos", predicted="neg", confidence=0.6, agrees=False, source="api",
                          request_id="r1", prediction_id="p1"))
    second = store.add(row("both", ["a", "b"], 1, predicted=["a"], confidence=0.9, agrees=False))
    store.add({**row("other model", "x"), "model": "other"})
    rows = list(store.rows("m"))
    assert [r["id"] for r in rows] == [first, second]
    assert {k: rows[0][k] for k in ("model", "version", "text", "label", "predicted", "confidence", "agrees",
                                    "source", "request_id", "prediction_id", "created_at")} == {
        "model": "m", "version": "v1", "text": "good film", "label": "pos", "predicted": "neg", "confidence": 0.6,
        "agrees": False, "source": "api", "request_id": "r1", "prediction_id": "p1",
        "created_at": "2024-05-01T12:00:00+00:00"}
    assert rows[1]["label"] == ["a", "b"] and rows[1]["predicted"] == ["a"]
    assert [r["text"] for r in store.rows("m", since=T0 + dt.timedelta(seconds=30))] == ["both"]


def test_queue_is_most_uncertain_first_one_per_text_and_feedback_resolves_it(store):
    """Open review items come lowest confidence first, a text once; feedback for a text closes its items."""
    store.enqueue([{"model": m, "version": "v1", "text": t, "predicted": "pos", "confidence": c, "request_id": "r"}
                   for m, t, c in [("m", "a", 0.7), ("m", "b", 0.51), ("m", "c", 0.6), ("m", "b", 0.55),
                                   ("other", "d", 0.5)]])
    assert [(i["text"], i["confidence"]) for i in store.queue("m")] == [("b", 0.51), ("c", 0.6), ("a", 0.7)]
    assert [i["text"] for i in store.queue("m", limit=2)] == ["b", "c"]
    assert store.queued_count("m") == 4  # every sample counts, repeats of a text too
    store.add(row("b", "neg"))
    assert [i["text"] for i in store.queue("m")] == ["c", "a"]
    ids = {i["text"]: i["id"] for i in store.queue("m")}
    assert store.queued("m", [ids["a"], 999])[ids["a"]]["labelled"] is False


def test_concurrent_processes_may_create_the_tables(tmp_path):
    """Two stores on one new database both create the tables without an error."""
    url = database_url(tmp_path, None)
    a, b = FeedbackStore(url), FeedbackStore(url)
    a.ensure()
    b.ensure()
    assert a.add(row("t", "pos")) == 1 and b.add(row("u", "pos")) == 2


def test_an_unreachable_database_is_a_storage_error():
    """A database that is not there fails with one line naming it, password hidden."""
    fs = FeedbackStore("postgresql://u:secret@127.0.0.1:1/db?connect_timeout=2")
    with pytest.raises(StorageError) as info:
        fs.add(row("t", "pos"))
    assert "127.0.0.1:1" in str(info.value) and "secret" not in str(info.value)


@pytest.mark.parametrize("label,known,multilabel,allow,expected", [
    ("pos", ["pos", "neg"], False, False, "pos"),
    (" pos ", ["pos", "neg"], False, False, "pos"),
    ("new", ["pos", "neg"], False, True, "new"),
    (["b", "a", "a"], ["a", "b"], True, False, ["a", "b"]),
    ("a", ["a", "b"], True, False, ["a"]),
])
def test_good_labels(label, known, multilabel, allow, expected):
    """A label the model knows (or any, when new ones are allowed) comes back normalised."""
    assert check_label(label, known, multilabel, allow) == expected


@pytest.mark.parametrize("label,multilabel,error,words", [
    ("meh", False, UnknownLabelError, "unknown label 'meh'"),
    (["pos"], False, DataError, "single-label"),
    (3, False, DataError, "must be a string"),
    (None, True, DataError, "string or a list"),
    ([], True, DataError, "empty"),
    ([1], True, DataError, "every label must be a string"),
    ("  ", False, DataError, "empty"),
    ("a|b", False, DataError, "contains '|'"),
    ("x" * 201, False, DataError, "longer than 200"),
])
def test_bad_labels(label, multilabel, error, words):
    """Each bad label is refused saying why."""
    with pytest.raises(error, match=words):
        check_label(label, ["pos", "neg"], multilabel, False)


@pytest.mark.parametrize("content,expected", [(None, False), ("allow_new_labels = true\n", True),
                                              ("allow_new_labels = false\n", False), ("# nothing\n", False)])
def test_the_models_feedback_toml_allows_new_labels(tmp_path, content, expected):
    """<store>/<model>/feedback.toml's allow_new_labels decides; no file means no."""
    (tmp_path / "m").mkdir()
    if content is not None:
        (tmp_path / "m" / "feedback.toml").write_text(content)
    assert allows_new_labels(tmp_path, "m") is expected


@pytest.mark.parametrize("content", ["allow_new_labels = 'yes'\n", "allow_new_labels = \n"])
def test_a_bad_feedback_toml_is_a_config_error(tmp_path, content):
    """A malformed feedback.toml is refused naming the file."""
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "feedback.toml").write_text(content)
    with pytest.raises(ConfigError, match="feedback.toml"):
        allows_new_labels(tmp_path, "m")


def test_feedback_rows_keep_the_newest_label_of_each_text(store):
    """Among feedback for one text (whitespace aside), the newest label wins; rows come in the winners' time order."""
    store.add_many([row("dull film", "pos", 0), row("dull  film ", "neg", 5), row("fine", "pos", 1),
                    row("both", ["a", "b"], 2)])
    store.add(row("dull film", "pos", 3))  # stored later, but made earlier: time decides
    rows = [(r["text"], r["label"]) for r in feedback_rows(store, "m")]
    assert rows == [("fine", "pos"), ("both", ("a", "b")), ("dull  film ", "neg")]
    assert feedback_rows(store.url, "m") == feedback_rows(store, "m")


def test_reading_a_store_that_never_got_feedback_creates_nothing(tmp_path):
    """feedback_rows on a store without its SQLite file is empty and leaves no file behind."""
    assert feedback_rows(database_url(tmp_path, None), "m") == []
    assert list(tmp_path.iterdir()) == []
