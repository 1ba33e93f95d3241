"""Feature sets: pooled word vectors, optionally joined with sparse word n-grams.

=========== ===================================================================
``mean``    mean of word vectors (the plain transfer-learning baseline)
``sif``     SIF-weighted mean with the common component removed
``meanmax`` mean and max pooling concatenated
``hybrid``  mean+max pooled vectors (standardised) next to TF-IDF word 1-2
            grams: the dense block carries meaning learned from billions of
            words (it wins with few labels), the sparse block carries the exact
            phrases of the task (it wins with many); the classifier's
            regularisation balances the two
=========== ===================================================================

``auto`` (see :mod:`training.select`) picks among these by cross-validation.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from training.embed import DocumentEmbedder
from training.tokenize import TOKEN_PATTERN

FEATURE_SETS = ("mean", "sif", "meanmax", "hybrid")


class DenseScale(TransformerMixin, BaseEstimator):
    """Standardise dense columns, then multiply by ``weight`` (balances a dense block against sparse ones)."""

    def __init__(self, weight=1.0):
        self.weight = weight

    def fit(self, X, y=None):
        """Learn column means and scales."""
        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        std[std == 0] = 1.0
        self.scale_ = std / float(self.weight)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        """Return the scaled block as float32."""
        check_is_fitted(self, "scale_")
        return ((np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_).astype(np.float32)


def word_ngrams(lowercase: bool = True, max_ngram: int = 2, min_df: int = 1) -> TfidfVectorizer:
    """Return the sparse word n-gram block, tokenized like the vectors."""
    return TfidfVectorizer(
        token_pattern=TOKEN_PATTERN,
        lowercase=lowercase,
        ngram_range=(1, max_ngram),
        min_df=min_df,
        sublinear_tf=True,
        dtype=np.float32,
    )


def build_features(name: str, vectors: str, store: str | None, lowercase: bool = True, dense_weight: float = 1.0):
    """Return an unfitted transformer for feature set ``name``."""
    if name in ("mean", "sif", "meanmax"):
        return Pipeline([
            ("embed", DocumentEmbedder(vectors=vectors, store=store, pooling=name)),
            ("scale", DenseScale(weight=1.0)),
        ])
    if name == "hybrid":
        return FeatureUnion([
            ("dense", Pipeline([
                ("embed", DocumentEmbedder(vectors=vectors, store=store, pooling="meanmax")),
                ("scale", DenseScale(weight=dense_weight)),
            ])),
            ("words", word_ngrams(lowercase=lowercase)),
        ])
    raise ValueError(f"unknown feature set {name!r}; choose one of {', '.join(FEATURE_SETS)} or auto")
