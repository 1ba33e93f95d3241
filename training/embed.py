"""Turn documents into fixed-size vectors by pooling their word vectors.

:class:`DocumentEmbedder` is a scikit-learn transformer. It takes the vector
store *name or folder* as a parameter (never a loaded object, so ``clone`` in
every CV fold stays cheap) and opens it memory-mapped on first use.

Pooling (``pooling=``):

``mean``      the average of the document's word vectors (the default);
``sif``       smooth-inverse-frequency weighted mean, ``a / (a + p(w))``, with
              the first principal component of the training documents removed
              (Arora et al. 2017). ``p(w)`` comes from Zipf's law over the
              vocabulary's frequency rank (word2vec, GloVe and fastText files
              are sorted by frequency), so no corpus counts are needed;
``tfidf``     mean weighted by the words' inverse document frequency in the
              training texts;
``meanmax``   mean and element-wise max concatenated (``2 * dim`` columns).

Words without a vector (``oov=``): ``"ignore"`` skips them; ``"subword"``
(default where the store has fastText n-grams, else the same as ignore)
builds them from character n-grams.

Documents with no known word (``empty=``): ``"zeros"`` (default) gives the
zero vector, ``"error"`` raises :class:`~vecclf.training.errors.DataError` naming the
first such document.

All pooling is vectorized (see :mod:`vecclf.training.pooling`): documents are
flattened into one row-index array, large batches are tokenized with
vectorized byte rules and their distinct tokens looked up in the store's array
index, and the vectors are summed per document in bounded chunks.

:meth:`DocumentEmbedder.compile` returns the serving kernel (:class:`PoolKernel`):
the same :func:`~vecclf.training.pooling.pool_rows` over rows found through a
per-worker cache, the same finishing step (:meth:`DocumentEmbedder.finish`),
and for one text under mean pooling just the sum of its word vectors (an
L2-normalised mean is the direction of the sum).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from vecclf.training.kernels import ONES32, RUN, Batch, l2, l2_rows
from vecclf.training.pooling import TokenRows, as_text_list, pool, pool_rows, token_rows
from vecclf.training.settings import DEFAULT_STORE
from vecclf.training.vectors.store import VectorStore, open_store

__all__ = ["DocumentEmbedder", "PoolKernel", "StoreBacked", "TokenRows", "as_text_list", "token_rows", "store_dir"]

POOLINGS = ("mean", "sif", "tfidf", "meanmax")
OOV_POLICIES = ("ignore", "subword")
EMPTY_POLICIES = ("zeros", "error")
SIF_A = 1e-3
# Texts pooled in one step when embedding a large set (their tokens, as strings, are in memory at once).
POOL_TEXTS = 16384


def store_dir(store) -> str:
    """Return the model store folder an estimator's ``store`` parameter names (None: ``./models``).

    Estimators never read the environment: the command line and the service
    resolve ``VECCLF_STORE`` once and pass the folder down.
    """
    return str(store) if store is not None else DEFAULT_STORE


class StoreBacked:
    """Mixin for estimators whose ``vectors``/``store`` parameters name a vector store, opened on first use.

    The opened store is a cache, not state: it is never cloned or serialised, and
    :func:`vecclf.training.bundle.load_bundle` re-points every ``StoreBacked`` part of a
    model at the store it was checked against (:meth:`repoint`).
    """

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_store", None)
        return state

    def vector_store(self) -> VectorStore:
        """Return the vector store the parameters name, opened once."""
        store = getattr(self, "_store", None)
        if store is None:
            store = open_store(store_dir(self.store), self.vectors)
            self._store = store
        return store

    def use_store(self, store: VectorStore) -> "StoreBacked":
        """Use the already opened ``store`` (which the parameters must name); return self."""
        self._store = store
        return self

    def repoint(self, store, vectors_path) -> None:
        """Name the model store folder ``store`` and the vectors folder ``vectors_path``; reopen on next use."""
        self.store = str(store)
        self.vectors = str(vectors_path)
        self._store = None


class DocumentEmbedder(StoreBacked, TransformerMixin, BaseEstimator):
    """Embed texts by pooling pretrained word vectors.

    Parameters:
        vectors: vector store name (under ``store``) or folder path.
        store: model store folder; None means ``./models``.
        pooling: one of ``mean``, ``sif``, ``tfidf``, ``meanmax``.
        oov: ``ignore`` or ``subword`` (see module docs).
        empty: ``zeros`` or ``error`` (see module docs).
        normalize: L2-normalise each output vector.
    """

    def __init__(self, vectors="glove-6b-50d", store=None, pooling="mean", oov="subword", empty="zeros", normalize=False):
        self.vectors = vectors
        self.store = store
        self.pooling = pooling
        self.oov = oov
        self.empty = empty
        self.normalize = normalize

    def _check_params(self) -> None:
        for value, allowed, what in (
            (self.pooling, POOLINGS, "pooling"),
            (self.oov, OOV_POLICIES, "oov"),
            (self.empty, EMPTY_POLICIES, "empty"),
        ):
            if value not in allowed:
                raise ValueError(f"{what}={value!r}; choose one of {', '.join(allowed)}")

    def fit(self, X, y=None):
        """Learn pooling weights (idf, principal component) from texts ``X``."""
        self._check_params()
        texts = as_text_list(X)
        store = self.vector_store()
        self.vectors_sha256_ = store.sha256
        self.vectors_name_ = store.name
        self.hyphens_ = store.hyphens
        self.dim_ = store.dim
        self.n_features_out_ = 2 * store.dim if self.pooling == "meanmax" else store.dim
        self.idf_rows_ = np.zeros(0, dtype=np.int64)
        self.idf_values_ = np.zeros(0, dtype=np.float32)
        self.component_ = np.zeros(0, dtype=np.float32)
        if self.pooling == "tfidf":
            tr = token_rows(store, texts, tokenizer=self.tokenizer(store))
            doc_ids = np.repeat(np.arange(len(texts)), np.diff(tr.offsets))
            known = tr.rows >= 0
            pairs = np.unique(np.stack([doc_ids[known], tr.rows[known]]), axis=1)
            rows, df = np.unique(pairs[1], return_counts=True)
            self.idf_rows_ = rows.astype(np.int64)
            self.idf_values_ = (np.log((1 + len(texts)) / (1 + df)) + 1).astype(np.float32)
        if self.pooling == "sif":
            emb = self._pool(store, texts)
            if len(emb) > 1:
                # The first right-singular vector is the common component to remove.
                _, _, vt = np.linalg.svd(emb.astype(np.float64), full_matrices=False)
                self.component_ = vt[0].astype(np.float32)
        return self

    def transform(self, X) -> np.ndarray:
        """Return the (n_texts, n_features_out_) float32 embeddings of ``X``."""
        check_is_fitted(self, "dim_")
        texts = as_text_list(X)
        return self.finish(self._pool(self.vector_store(), texts))

    def finish(self, pooled: np.ndarray) -> np.ndarray:
        """Apply what follows pooling, in place: SIF's common-component removal, then the L2 norm; return it."""
        if self.pooling == "sif" and self.component_.size:
            pooled -= np.outer(pooled @ self.component_, self.component_)
        if self.normalize:
            l2_rows(pooled)
        return pooled

    def get_feature_names_out(self, input_features=None):
        """Return names ``emb0 ... embN`` for the output columns."""
        check_is_fitted(self, "dim_")
        return np.asarray([f"emb{i}" for i in range(self.n_features_out_)], dtype=object)

    def _weights(self, store: VectorStore, rows: np.ndarray) -> np.ndarray:
        if self.pooling == "sif":
            # Zipf: p(rank r) = 1 / ((r + 1) * H_n); rows are frequency ranks.
            harmonic = np.log(store.size) + 0.5772156649
            p = 1.0 / ((rows + 1.0) * harmonic)
            return (SIF_A / (SIF_A + p)).astype(np.float32)
        if self.pooling == "tfidf":
            pos = np.searchsorted(self.idf_rows_, rows)
            pos = np.minimum(pos, max(len(self.idf_rows_) - 1, 0))
            if len(self.idf_rows_) == 0:
                return np.ones(len(rows), dtype=np.float32)
            found = self.idf_rows_[pos] == rows
            unseen = float(self.idf_values_.max()) if len(self.idf_values_) else 1.0
            return np.where(found, self.idf_values_[pos], unseen).astype(np.float32)
        return np.ones(len(rows), dtype=np.float32)

    def _weighting(self, store: VectorStore):
        """Return the row-weight function of this pooling, or None for plain averages."""
        if self.pooling not in ("sif", "tfidf"):
            return None

        def weights(rows):
            return self._weights(store, rows)

        return weights

    def tokenizer(self, store: VectorStore):
        """Return the store's tokenizer under the hyphen rule this embedder was fitted with (models keep their tokens)."""
        return store.tokenizer_for(getattr(self, "hyphens_", "split"))  # fitted before the rule existed: split

    def _pool(self, store: VectorStore, texts: list[str]) -> np.ndarray:
        # Large sets in slices: the per-token arrays of one slice, not of every text, are in memory at once.
        weights, tokenizer = self._weighting(store), self.tokenizer(store)
        if len(texts) <= POOL_TEXTS:
            return pool(store, texts, pooling=self.pooling, oov=self.oov, empty=self.empty, weights=weights,
                        tokenizer=tokenizer)
        out = np.empty((len(texts), self.n_features_out_), dtype=np.float32)  # filled slice by slice: no stacking copy
        for a in range(0, len(texts), POOL_TEXTS):
            out[a : a + POOL_TEXTS] = pool(store, texts[a : a + POOL_TEXTS], pooling=self.pooling, oov=self.oov,
                                           empty=self.empty, weights=weights, tokenizer=tokenizer, first=a)
        return out

    def compile(self, context) -> "PoolKernel":
        """Return the serving kernel of this fitted embedder (a dense source; see :mod:`vecclf.training.kernels`)."""
        check_is_fitted(self, "dim_")
        return PoolKernel(self, context)


class PoolKernel:
    """:class:`DocumentEmbedder` for serving: rows through a per-worker cache, then the same pooling and finish.

    Stores with fastText subwords (OOV words built from n-grams) and ``empty="error"`` keep the
    embedder's own ``transform``: the kernel reproduces the common case, not every option.
    """

    def __init__(self, emb: DocumentEmbedder, context):
        self._emb = emb
        self._store = store = emb.vector_store().warm()  # in a preloading master: every worker shares the index
        self._lookup = context.rows_for(store)
        self._tokenizer = emb.tokenizer(store)
        self.width = int(emb.n_features_out_)
        self._matrix = np.asarray(store.vectors).view(np.ndarray)  # plain view: fancy indexing a memmap is slower
        self._own = emb.empty == "zeros" and not (emb.oov == "subword" and store.ngrams is not None)
        self._weights = emb._weighting(store)
        self._mean = self._own and emb.pooling == "mean"
        # take() gathers rows in one call but copies a non-contiguous array whole first: only on a contiguous
        # float32 matrix, row by row (C order) or through its C-ordered transpose (a Fortran-ordered .npy).
        matrix = self._matrix
        self._by_row = matrix if matrix.dtype == np.float32 and matrix.flags.c_contiguous else None
        self._by_col = matrix.T if matrix.dtype == np.float32 and matrix.T.flags.c_contiguous else None

    def __call__(self, batch: Batch) -> np.ndarray:
        emb = self._emb
        if not self._own:
            return emb.transform(batch.texts)
        if self._mean and len(batch.texts) == 1:
            return self.one(batch)[None, :]
        pooled = pool_rows(self._store, batch.rows(self._lookup, self._tokenizer), pooling=emb.pooling,
                           weights=self._weights)
        return emb.finish(pooled)

    def sum_of(self, batch: Batch) -> tuple[np.ndarray | None, int]:
        """Return the float32 sum of a one-text batch's word vectors (None if it has none), and their number."""
        rows = self._lookup.list(batch.tokens(self._tokenizer)[0])
        if -1 in rows:
            rows = [r for r in rows if r >= 0]
        k = len(rows)
        if not k:
            return None, 0
        if k <= RUN:
            if self._by_row is not None:
                return np.dot(ONES32[:k], self._by_row.take(rows, 0)), k
            if self._by_col is not None:
                return np.dot(self._by_col.take(rows, 1), ONES32[:k]), k
        return self._matrix[rows].astype(np.float32, copy=False).sum(axis=0), k

    def mean_pooled(self) -> bool:
        """Return True when this kernel's output before normalising is a plain mean (so its direction is the sum's)."""
        return self._mean

    def direction_of(self) -> "PoolKernel | None":
        return self if self._mean and self._emb.normalize else None

    def one(self, batch: Batch) -> np.ndarray:
        if not self._mean:
            return self(batch)[0]
        out, count = self.sum_of(batch)
        if out is None:
            return np.zeros(self.width, dtype=np.float32)
        out /= count
        if self._emb.normalize:
            l2(out)
        return out
