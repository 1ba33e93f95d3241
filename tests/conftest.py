"""Shared fixtures: tiny generated vector stores and corpora, never real downloads."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

POSITIVE = ["good", "great", "excellent", "wonderful", "love", "superb", "fine", "happy", "brilliant", "best"]
NEGATIVE = ["bad", "awful", "terrible", "boring", "hate", "poor", "dull", "sad", "worst", "ugly"]
NEUTRAL = ["the", "a", "movie", "film", "story", "it", "is", "was", "plot", "actor", "and", "of", ".", ",", "!",
           "this", "that", "n't", "do", "not", "very", "really", "i", "we", "they"]


def make_vectors(dim: int = 16, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Return a vocabulary whose sentiment words sit in two separable clusters."""
    rng = np.random.default_rng(seed)
    words = NEUTRAL + POSITIVE + NEGATIVE + [f"w{i}" for i in range(60)]
    vecs = rng.normal(0, 0.3, size=(len(words), dim)).astype(np.float32)
    for i, w in enumerate(words):
        if w in POSITIVE:
            vecs[i, 0] += 2.0
        elif w in NEGATIVE:
            vecs[i, 0] -= 2.0
    return words, vecs


def write_glove(path: Path, words, vecs) -> Path:
    """Write vectors as a GloVe text file (no header)."""
    with open(path, "w", encoding="utf-8") as fh:
        for w, v in zip(words, vecs):
            fh.write(w + " " + " ".join(f"{x:.6f}" for x in v) + "\n")
    return path


def make_corpus(n: int = 120, seed: int = 0) -> tuple[list[str], list[str]]:
    """Return short positive/negative reviews built from the fixture vocabulary."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        pool = POSITIVE if label == "pos" else NEGATIVE
        words = list(rng.choice(NEUTRAL[:12], size=4)) + list(rng.choice(pool, size=2))
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + ".")
        labels.append(label)
    return texts, labels


def write_csv(path: Path, rows: list[dict], delimiter: str = ",") -> Path:
    """Write dict rows as CSV/TSV with a header."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write dict rows as JSON Lines."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def store_dir(tmp_path) -> Path:
    """Return an empty model store folder."""
    d = tmp_path / "models"
    d.mkdir()
    return d


@pytest.fixture
def tiny_vectors(tmp_path, store_dir):
    """Import a tiny GloVe file as store 'tiny'; return (store_dir, words, vecs)."""
    from training.vectors.importers import import_vectors

    words, vecs = make_vectors()
    src = write_glove(tmp_path / "tiny.txt", words, vecs)
    import_vectors(src, store_dir, "tiny")
    return store_dir, words, vecs


@pytest.fixture
def sentiment_csv(tmp_path) -> Path:
    """Return a CSV of 120 labelled synthetic reviews."""
    texts, labels = make_corpus()
    return write_csv(tmp_path / "train.csv", [{"text": t, "label": l} for t, l in zip(texts, labels)])
