"""`vecclf feedback list|queue|import|export|label` on a trained model's store."""

import datetime as dt
import json

import pytest

from tests.conftest import write_csv, write_jsonl
from vecclf.training.cli import main
from vecclf.training.database import database_url
from vecclf.training.feedback import FeedbackStore
from vecclf.training.feedback_cli import parse_since


@pytest.fixture
def fb(trained):
    """Return (store folder, FeedbackStore of its SQLite file) for the trained model 'demo'."""
    store, _ = trained
    fs = FeedbackStore(database_url(store, None))
    yield store, fs
    fs.dispose()


def lines(out: str) -> list[dict]:
    """Return the JSON lines of a command's stdout."""
    return [json.loads(line) for line in out.splitlines()]


def test_list_prints_json_lines_since_a_time(fb, cli):
    """list prints every row of the model as JSON lines, oldest first; --since keeps the newer ones."""
    store, fs = fb
    old = dt.datetime(2020, 1, 1)
    fs.add_many([{"model": "demo", "text": "old", "label": "pos", "created_at": old},
                 {"model": "demo", "text": "new", "label": "neg"}])
    code, out, _ = cli("feedback", "list", "--name", "demo", "--store", store)
    assert code == 0 and [r["text"] for r in lines(out)] == ["old", "new"]
    code, out, _ = cli("feedback", "list", "--name", "demo", "--store", store, "--since", "2021-06-01")
    assert code == 0 and [r["text"] for r in lines(out)] == ["new"]
    code, out, _ = cli("feedback", "list", "--name", "demo", "--store", store, "--since", "1h")
    assert [r["text"] for r in lines(out)] == ["new"]


def test_database_url_comes_from_the_environment(trained, tmp_path, capsys):
    """VECCLF_DATABASE_URL points the command at another database."""
    store, _ = trained
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    FeedbackStore(url).add({"model": "demo", "text": "there", "label": "pos"})
    assert main(["feedback", "list", "--name", "demo", "--store", str(store)], {"VECCLF_DATABASE_URL": url}) == 0
    assert [r["text"] for r in lines(capsys.readouterr().out)] == ["there"]


def test_queue_then_label_from_the_queues_own_output(fb, cli, tmp_path):
    """queue prints the most uncertain first; label takes those lines back with a label and closes them."""
    store, fs = fb
    fs.enqueue([{"model": "demo", "version": "v1", "text": t, "predicted": "pos", "confidence": c, "request_id": "r7"}
                for t, c in [("meh", 0.55), ("hmm", 0.51), ("fine", 0.8)]])
    code, out, _ = cli("feedback", "queue", "--name", "demo", "--store", store, "--limit", "2")
    items = lines(out)
    assert code == 0 and [i["text"] for i in items] == ["hmm", "meh"]
    todo = write_jsonl(tmp_path / "todo.jsonl", [{**i, "label": lab} for i, lab in zip(items, ["neg", "pos"])])
    code, out, _ = cli("feedback", "label", todo, "--name", "demo", "--store", store)
    assert code == 0 and json.loads(out)["labelled"] == 2
    stored = {r["text"]: r for r in fs.rows("demo")}
    assert stored["hmm"]["label"] == "neg" and stored["hmm"]["agrees"] is False and stored["hmm"]["source"] == "review"
    assert stored["meh"]["agrees"] is True and stored["meh"]["prediction_id"] == "r7"
    assert [i["text"] for i in fs.queue("demo")] == ["fine"]


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_export_then_import_round_trips(fb, cli, tmp_path, capsys, suffix):
    """An export imported into another database gives the same rows; importing it again adds none."""
    store, fs = fb
    fs.add_many([{"model": "demo", "version": "v1", "text": 'say "hi", then', "label": "pos", "predicted": "neg",
                  "confidence": 0.7, "agrees": False, "request_id": "a"},
                 {"model": "demo", "version": "v1", "text": "line\nbreak", "label": "neg"}])
    out_file = tmp_path / f"export.{suffix}"
    code, out, _ = cli("feedback", "export", "--name", "demo", "--store", store, "--output", out_file)
    assert code == 0 and json.loads(out)["rows"] == 2
    other = f"sqlite:///{tmp_path / 'other.db'}"
    for imported in (2, 0):
        assert main(["feedback", "import", str(out_file), "--name", "demo", "--store", str(store)],
                    {"VECCLF_DATABASE_URL": other}) == 0
        report = json.loads(capsys.readouterr().out)
        assert (report["imported"], report["skipped_duplicates"]) == (imported, 2 - imported)
    keep = ("text", "label", "version", "predicted", "confidence", "agrees", "request_id", "created_at")
    before = [{k: r[k] for k in keep} for r in fs.rows("demo")]
    after = [{k: r[k] for k in keep} for r in FeedbackStore(other).rows("demo")]
    assert after == before


@pytest.mark.parametrize("content,words", [
    ("text,label\nfine,pos\na,meh\n", "row 3: column 'label': unknown label 'meh'"),
    ("text,label\nfine,pos\n,pos\n", "row 3: column 'text' is empty"),
    ("text,label\nfine,pos\na,\n", "row 3: column 'label' is empty"),
    ("text,label\nfine,pos\na,pos,extra\n", "row 3: has 3 fields"),
    ("body,label\nfine,pos\n", "row 2: column 'text' is missing"),
    ("text,label,created_at\nfine,pos,\na,pos,yesterday\n", "row 3: column 'created_at' is not an ISO 8601"),
    ("text,label,confidence\nfine,pos,\na,pos,high\n", "row 3: column 'confidence' is not a number"),
    ('{"text": "fine", "label": "pos"}\n["a", "pos"]\n', "line 2: expected a JSON object"),
    ('{"text": "fine", "label": "pos"}\n{"text": 3, "label": "pos"}\n', "line 2: column 'text' must be a string"),
    ('{"text": "fine", "label": "pos"}\n{"text": "a", "label": ["pos", "neg"]}\n', "line 2: column 'label': "
                                                                                   "the model is single-label"),
    ("text,label\n", "has no data rows"),
])
def test_bad_import_files_store_nothing(fb, cli, tmp_path, content, words):
    """A bad row is named with its column, exit 2, and no row of the file is stored."""
    store, fs = fb
    src = tmp_path / ("in.jsonl" if content.startswith("{") else "in.csv")
    src.write_text(content, encoding="utf-8")
    code, out, err = cli("feedback", "import", src, "--name", "demo", "--store", store)
    assert code == 2 and out == "" and words in err
    assert err.startswith("vecclf: error: ") and err.count("\n") == 1
    assert list(fs.rows("demo")) == []


@pytest.mark.parametrize("argv,code,words", [
    (["feedback", "list", "--name", "nope"], 3, "unknown model 'nope'"),
    (["feedback", "list", "--name", "demo", "--since", "soon"], 2, "--since 'soon'"),
    (["feedback", "queue", "--name", "demo", "--limit", "0"], 2, "--limit must be at least 1"),
    (["feedback", "export", "--name", "demo", "--output", "x.parquet"], 2, "feedback files are csv, tsv, jsonl"),
    (["feedback", "import", "missing.csv", "--name", "demo"], 2, "no such file"),
])
def test_bad_arguments(trained, cli, argv, code, words):
    """Bad arguments fail with one line and the documented exit code."""
    store, _ = trained
    got, out, err = cli(*argv, "--store", store)
    assert got == code and words in err and out == ""


def test_label_refuses_an_unknown_item(fb, cli, tmp_path):
    """A labels file naming an id that is not in the model's queue stores nothing."""
    store, fs = fb
    fs.enqueue([{"model": "demo", "text": "meh", "predicted": "pos", "confidence": 0.5}])
    src = write_csv(tmp_path / "labels.csv", [{"id": "1", "label": "neg"}, {"id": "42", "label": "neg"}])
    code, _, err = cli("feedback", "label", src, "--name", "demo", "--store", store)
    assert code == 2 and "row 3: column 'id': no review item 42" in err and list(fs.rows("demo")) == []


@pytest.mark.parametrize("value,expected", [
    ("2024-05-01", dt.datetime(2024, 5, 1)),
    ("2024-05-01T12:00:00+02:00", dt.datetime(2024, 5, 1, 10)),
    ("2024-05-01T10:00:00Z", dt.datetime(2024, 5, 1, 10)),
    ("36h", dt.datetime(2024, 4, 30, 0)),
    ("7d", dt.datetime(2024, 4, 24, 12)),
])
def test_since_accepts_times_and_ages(value, expected):
    """--since takes ISO 8601 (converted to UTC) or an age before now."""
    assert parse_since(value, now=dt.datetime(2024, 5, 1, 12)) == expected


def test_an_unreachable_database_is_exit_6(trained, capsys):
    """A database that is down: one line naming it, exit 6."""
    store, _ = trained
    env = {"VECCLF_DATABASE_URL": "postgresql://u:secret@127.0.0.1:1/db?connect_timeout=2"}
    assert main(["feedback", "list", "--name", "demo", "--store", str(store)], env) == 6
    err = capsys.readouterr().err
    assert "127.0.0.1:1" in err and "secret" not in err and err.count("\n") == 1
