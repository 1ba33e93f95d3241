"""Dense feature blocks (standardised pooled embeddings, first words) and their serving kernels.

A dense block's kernel is a *source* (``batch -> (n, width)`` rows, see
:mod:`vecclf.training.kernels`) wrapped in :class:`ScaledDenseKernel`, which
folds the block's standardisation into the classifier's weights. The
scikit-learn steps that join sources (``Normalizer``, ``FeatureUnion``,
one-step ``Pipeline``) compile here too (:func:`compile_source`).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import Normalizer
from sklearn.utils.validation import check_is_fitted

from vecclf.training.embed import DocumentEmbedder, StoreBacked
from vecclf.training.kernels import Batch, Unsupported, l2, l2_rows
from vecclf.training.pooling import as_text_list


# Rows per slice when scaling: float64 arithmetic on a slice, never on the whole matrix.
_ROWS = 65536


class DenseScale(TransformerMixin, BaseEstimator):
    """Standardise dense columns; multiply by ``weight`` (divided by sqrt(width) if ``per_feature``).

    Dividing by the square root of the block width gives the block a row norm
    near ``weight`` whatever its width, so it sits beside L2-normalised sparse
    blocks without one swamping the other.
    """

    def __init__(self, weight=1.0, per_feature=False):
        self.weight = weight
        self.per_feature = per_feature

    def fit(self, X, y=None):
        """Learn column means and scales (in float64, a slice of rows at a time: no float64 copy of ``X``)."""
        X = np.asarray(X)
        n = max(len(X), 1)
        total = np.zeros(X.shape[1])
        for a in range(0, len(X), _ROWS):
            total += X[a : a + _ROWS].sum(axis=0, dtype=np.float64)
        self.mean_ = total / n
        squares = np.zeros(X.shape[1])
        for a in range(0, len(X), _ROWS):
            part = X[a : a + _ROWS] - self.mean_
            squares += np.einsum("ij,ij->j", part, part)
        std = np.sqrt(squares / n)
        std[std == 0] = 1.0
        factor = float(self.weight) / (np.sqrt(X.shape[1]) if self.per_feature else 1.0)
        self.scale_ = std / factor
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        """Return the scaled block as float32."""
        check_is_fitted(self, "scale_")
        X = np.asarray(X)
        out = np.empty(X.shape, dtype=np.float32)
        for a in range(0, len(X), _ROWS):
            out[a : a + _ROWS] = (X[a : a + _ROWS] - self.mean_) / self.scale_
        return out

    def compile_over(self, source) -> "ScaledDenseKernel":
        """Return the serving kernel of this scaler applied to the compiled ``source``."""
        check_is_fitted(self, "scale_")
        return ScaledDenseKernel(source, self.mean_, self.scale_, int(self.n_features_in_))


class FirstWords(StoreBacked, TransformerMixin, BaseEstimator):
    """Concatenate the vectors of each text's first ``k`` tokens (zeros where missing)."""

    def __init__(self, vectors="glove-6b-50d", store=None, k=3):
        self.vectors = vectors
        self.store = store
        self.k = k

    def fit(self, X, y=None):
        """Record the width; nothing is learned."""
        store = self.vector_store()
        self.dim_ = store.dim
        self.n_features_out_ = self.k * store.dim
        self.hyphens_ = store.hyphens
        return self

    def tokenizer(self, store):
        """Return the store's tokenizer under the hyphen rule this block was fitted with (split before the rule)."""
        return store.tokenizer_for(getattr(self, "hyphens_", "split"))

    def transform(self, X):
        """Return the (n_texts, k * dim) matrix."""
        check_is_fitted(self, "dim_")
        store = self.vector_store()
        texts = as_text_list(X)
        out = np.zeros((len(texts), self.k * self.dim_), dtype=np.float32)
        heads = [tokens[: self.k] for tokens in self.tokenizer(store).many(texts)]
        # One lookup for all heads through the store's shared array index (no per-process word dict).
        rows = store.rows_array([tok for head in heads for tok in head]) if any(heads) else np.zeros(0, np.int64)
        pos = 0
        for i, head in enumerate(heads):
            for j in range(len(head)):
                row = int(rows[pos + j])
                if row >= 0:
                    out[i, j * self.dim_ : (j + 1) * self.dim_] = store.vectors[row]
            pos += len(head)
        return out

    def compile(self, context) -> "FirstWordsKernel":
        """Return the serving kernel (a dense source) of this fitted block."""
        check_is_fitted(self, "dim_")
        store = self.vector_store()
        return FirstWordsKernel(store, self.tokenizer(store), int(self.k), int(self.dim_), context)


def dense_block(vectors, store, poolings=("mean",), weight=1.0):
    """Return pooled embeddings, each L2-normalised, standardised as one block of row norm about ``weight``."""
    parts = [(p, Pipeline([("embed", DocumentEmbedder(vectors=vectors, store=store, pooling=p)),
                           ("norm", Normalizer(copy=False))])) for p in poolings]  # the embedder's own array
    joined = parts[0][1] if len(parts) == 1 else FeatureUnion(parts)
    return Pipeline([("pooled", joined), ("scale", DenseScale(weight=weight, per_feature=True))])


# ---------------------------------------------------------------- kernels
def compile_source(step, context):
    """Return the compiled dense source of a fitted step (see :mod:`vecclf.training.kernels`), or raise Unsupported."""
    from vecclf.training.features.encoded import SentenceEncoder

    if type(step) in (DocumentEmbedder, FirstWords, SentenceEncoder):
        return step.compile(context)
    if isinstance(step, Pipeline) and len(step.steps) == 2 and type(step.steps[1][1]) is Normalizer:
        if step.steps[1][1].norm != "l2":
            raise Unsupported(f"{step.steps[1][1].norm} normalizer")
        return NormalizedSource(compile_source(step.steps[0][1], context))
    if isinstance(step, Pipeline) and len(step.steps) == 1:
        return compile_source(step.steps[0][1], context)
    if isinstance(step, FeatureUnion) and not step.transformer_weights:
        return JoinedSource([compile_source(part, context) for _, part in step.transformer_list])
    raise Unsupported(f"dense step {type(step).__name__}")


class ScaledDenseKernel:
    """A dense source standardised by :class:`DenseScale`, the standardisation folded into the weights."""

    def __init__(self, source, mean: np.ndarray, scale: np.ndarray, width: int):
        self._source = source
        self._mean = np.asarray(mean, dtype=np.float64)
        self._scale = np.asarray(scale, dtype=np.float64)
        self.width = width
        if source.width != width:
            raise Unsupported("dense block width differs from its scaler's")

    def bind(self, W: np.ndarray) -> np.ndarray:
        self._W = np.ascontiguousarray(W / self._scale[:, None])
        self._scalar = W.shape[1] == 1
        self._w1 = np.ascontiguousarray(self._W[:, 0])  # the one column of a binary head
        self._pooled = self._source.direction_of()
        return -(self._mean / self._scale) @ W

    def logits1(self, batch: Batch):
        """Return what a one-text batch adds to the logits: a float for a one-column head, else an array (or 0.0)."""
        pooled = self._pooled
        if pooled is None:
            out = self._source.one(batch) @ self._W
            return float(out[0]) if self._scalar else out
        # An L2-normalised mean is the direction of the sum: (sum @ W) / |sum|, no mean, no copies.
        total, _ = pooled.sum_of(batch)
        if total is None:
            return 0.0
        norm = math.sqrt(total.dot(total))
        if not norm > 0:
            return 0.0
        if self._scalar:
            return float(total.dot(self._w1)) / norm
        return total.dot(self._W) / norm

    def add(self, batch: Batch, logits: np.ndarray) -> None:
        """Add the block's share of every text's logits (the batch arithmetic; one text takes ``logits1``)."""
        logits += self._source(batch) @ self._W


class FirstWordsKernel:
    """:class:`FirstWords` for serving: the vectors of each text's first ``k`` tokens, zeros where missing."""

    def __init__(self, store, tokenizer, k: int, dim: int, context):
        self._store = store
        self._tokenizer = tokenizer
        self._lookup = context.rows_for(store)
        self._k, self._dim = k, dim
        self.width = k * dim
        self._matrix = np.asarray(store.vectors).view(np.ndarray)

    def direction_of(self):
        return None

    def one(self, batch: Batch) -> np.ndarray:
        dim = self._dim
        out = np.zeros(self.width, dtype=np.float32)
        tokens = batch.tokens(self._tokenizer)[0][: self._k]
        for j, row in enumerate(self._lookup.list(tokens)):
            if row >= 0:
                out[j * dim : (j + 1) * dim] = self._matrix[row]
        return out

    def __call__(self, batch: Batch) -> np.ndarray:
        tr = batch.rows(self._lookup, self._tokenizer)
        rows, offsets = tr.rows, tr.offsets
        n, k = len(offsets) - 1, self._k
        out = np.zeros((n, k, self._dim), dtype=np.float32)
        for j in range(k):
            at = offsets[:-1] + j
            has = at < offsets[1:]
            docs = np.flatnonzero(has)
            r = rows[at[has]]
            ok = r >= 0
            out[docs[ok], j] = self._matrix[r[ok]]
        return out.reshape(n, k * self._dim)


class NormalizedSource:
    """``Normalizer()`` after a dense source: rows scaled to unit L2 norm."""

    def __init__(self, inner):
        self._inner = inner
        self.width = inner.width

    def __call__(self, batch: Batch) -> np.ndarray:
        return l2_rows(np.array(self._inner(batch), dtype=np.float32))

    def one(self, batch: Batch) -> np.ndarray:
        return l2(np.array(self._inner.one(batch), dtype=np.float32))

    def direction_of(self):
        inner = self._inner
        # The L2 norm of a mean is that of the sum (zero stays zero): only plain mean pooling, whatever comes after.
        return inner if getattr(inner, "mean_pooled", lambda: False)() else None


class JoinedSource:
    """A ``FeatureUnion`` of dense sources: their columns side by side."""

    def __init__(self, parts: list):
        self._parts = parts
        self.width = sum(p.width for p in parts)

    def __call__(self, batch: Batch) -> np.ndarray:
        return np.hstack([p(batch) for p in self._parts])

    def one(self, batch: Batch) -> np.ndarray:
        return np.concatenate([p.one(batch) for p in self._parts])

    def direction_of(self):
        return None
