"""Tokens -> vector rows -> pooled document vectors: the one pooling implementation of training and serving.

This is the numeric core behind :class:`~vecclf.training.embed.DocumentEmbedder`
(and its compiled serving kernel), kept free of heavy imports so ``vecclf
embed`` and the service start fast. Two steps:

- :func:`token_rows` tokenizes a batch and maps every token to its vector
  row: small batches through :meth:`Tokenizer.many
  <vecclf.training.tokens.Tokenizer.many>` and one index lookup per distinct
  token; large ones (:data:`~vecclf.training.tokens.FLAT_MIN_CHARS`
  characters or more) through :meth:`Tokenizer.flat
  <vecclf.training.tokens.Tokenizer.flat>`, the tokens deduplicated by
  pyarrow's hash kernel and only the distinct ones looked up. The serving
  kernel maps tokens through its per-worker cache instead and builds the same
  :class:`TokenRows`.
- :func:`pool_rows` sums the (weighted) word vectors of each document: a
  request-sized batch copies each token's vector and sums them per document;
  a large one uses one sparse-times-dense product over the distinct rows in
  use, so no per-token copy of the vectors is ever made (and a float16 store
  is converted only for the rows a batch uses). ``meanmax`` adds
  per-document maxima.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vecclf.training.errors import DataError
from vecclf.training.tokens import FLAT_MIN_CHARS
from vecclf.training.vectors.store import VectorStore
from vecclf.training.vectors.subword import oov_vector

# Floats gathered per pooling chunk (64 MB of float32).
_CHUNK_FLOATS = 1 << 24
# Up to this many floats (4 MB), a batch copies each token's vector and sums per document directly.
_DIRECT_FLOATS = 1 << 20


class TokenRows:
    """Documents as flat vector-row indices (-1: no vector) plus per-document offsets, and the OOV words if asked."""

    __slots__ = ("rows", "offsets", "oov_words", "oov_offsets")

    def __init__(self, rows, offsets, oov_words=None, oov_offsets=None):
        self.rows = rows
        self.offsets = offsets
        self.oov_words = oov_words
        self.oov_offsets = oov_offsets


def as_text_list(X) -> list[str]:
    """Return ``X`` (a list, array or Series of strings) as a list of str."""
    if isinstance(X, str):
        raise DataError("expected a list of texts, got a single string")
    texts = list(X)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise DataError(f"text {i} is {type(t).__name__}, not a string")
    return texts


def offsets_of(counts: np.ndarray) -> np.ndarray:
    """Return the ``len(counts) + 1`` running offsets of per-document token counts."""
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def token_rows(store: VectorStore, texts: list[str], keep_oov: bool = False, tokenizer=None) -> TokenRows:
    """Tokenize ``texts`` and map every token to its vector row (-1 if none); keep the OOV words if asked.

    ``tokenizer``: one of the store's tokenizers (:meth:`VectorStore.tokenizer_for`; default its own rule).
    """
    tokenizer = tokenizer or store.tokenizer
    if sum(map(len, texts)) < FLAT_MIN_CHARS:
        docs = tokenizer.many(texts)
        counts = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
        flat = [tok for doc in docs for tok in doc]
        ids: dict[str, int] = {}
        codes = np.fromiter((ids.setdefault(t, len(ids)) for t in flat), dtype=np.int64, count=len(flat))
        rows = store.vocab_index.rows_of(list(ids))[codes] if flat else np.zeros(0, dtype=np.int64)
        oov_words, oov_offsets = None, None
        if keep_oov:
            oov_offsets = np.flatnonzero(rows < 0)
            oov_words = [flat[i] for i in oov_offsets.tolist()]
        return TokenRows(rows, offsets_of(counts), oov_words, oov_offsets)

    import pyarrow.compute as pc

    tokens, counts = tokenizer.flat(texts)
    encoded = pc.dictionary_encode(tokens)
    distinct = store.vocab_index.rows_of_arrow(encoded.dictionary)
    rows = distinct[encoded.indices.to_numpy(zero_copy_only=False)] if len(tokens) else np.zeros(0, dtype=np.int64)
    oov_words, oov_offsets = None, None
    if keep_oov:
        oov_offsets = np.flatnonzero(rows < 0)
        oov_words = tokens.take(oov_offsets).to_pylist() if len(oov_offsets) else []
    return TokenRows(rows, offsets_of(counts), oov_words, oov_offsets)


def pool(
    store: VectorStore,
    texts: list[str],
    *,
    pooling: str = "mean",
    oov: str = "subword",
    empty: str = "zeros",
    weights: Callable[[np.ndarray], np.ndarray] | None = None,
    tokenizer=None,
    first: int = 0,
) -> np.ndarray:
    """Return the pooled (n, dim) or, for ``meanmax``, (n, 2 * dim) float32 document vectors of ``texts``.

    ``weights(rows)`` gives the weight of each vector row (None: all 1); ``tokenizer`` as in :func:`token_rows`;
    ``first`` is the index of ``texts[0]`` in the caller's whole set (errors name texts by that index).

    Raises:
        DataError: ``empty="error"`` and a text has no word with a vector.
    """
    use_subword = oov == "subword" and store.ngrams is not None
    tr = token_rows(store, texts, keep_oov=use_subword, tokenizer=tokenizer)
    return pool_rows(store, tr, pooling=pooling, empty=empty, weights=weights, texts=texts, first=first)


def pool_rows(
    store: VectorStore,
    tr: TokenRows,
    *,
    pooling: str = "mean",
    empty: str = "zeros",
    weights: Callable[[np.ndarray], np.ndarray] | None = None,
    texts: list[str] | None = None,
    first: int = 0,
) -> np.ndarray:
    """Return the pooled document vectors of already-mapped tokens (see :func:`pool`).

    OOV words in ``tr`` (when it kept them and the store has subwords) get vectors from character n-grams.
    """
    n_docs = len(tr.offsets) - 1
    doc_ids = np.repeat(np.arange(n_docs), np.diff(tr.offsets))
    known = tr.rows >= 0
    rows = tr.rows[known]
    docs = doc_ids[known]
    if not (store.ngrams is not None and tr.oov_words) and len(rows) * store.dim <= _DIRECT_FLOATS:
        return _pool_direct(store, rows, docs, n_docs, pooling, empty, weights, texts, first)
    import scipy.sparse as sp

    uniq, inverse = _distinct(rows, store.size)
    # Only the rows in use become float32 (a float16 store is never copied whole).
    table = np.asarray(store.vectors.view(np.ndarray)[uniq], dtype=np.float32)
    weight = weights(rows).astype(np.float32) if weights is not None else np.ones(len(rows), dtype=np.float32)
    if store.ngrams is not None and tr.oov_words:
        extra = [oov_vector(store.ngrams, w, store.minn, store.maxn) for w in tr.oov_words]
        ok = [i for i, v in enumerate(extra) if v is not None]
        if ok:
            base = len(table)
            table = np.vstack([table, np.stack([extra[i] for i in ok]).astype(np.float32)])
            inverse = np.concatenate([inverse, base + np.arange(len(ok))])
            docs = np.concatenate([docs, doc_ids[tr.oov_offsets[ok]]])
            unseen = np.full(len(ok), store.size - 1)
            more = weights(unseen).astype(np.float32) if weights is not None else np.ones(len(ok), np.float32)
            weight = np.concatenate([weight, more])
            order = np.argsort(docs, kind="stable")
            docs, inverse, weight = docs[order], inverse[order], weight[order]
    counts = np.bincount(docs, weights=weight, minlength=n_docs)
    _check_empty(counts, empty, texts, first)
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(docs, minlength=n_docs), out=indptr[1:])
    # Entries are already grouped by document, so the CSR matrix is built without sorting.
    summer = sp.csr_matrix((weight, inverse, indptr), shape=(n_docs, len(table)))
    mean = np.zeros((n_docs, store.dim), dtype=np.float32)
    if len(table):
        np.divide(summer @ table, counts[:, None], out=mean, where=counts[:, None] > 0, casting="unsafe")
    if pooling != "meanmax":
        return mean
    return np.hstack([mean, _segment_max(table, inverse, docs, n_docs, store.dim)])


def _pool_direct(store, rows, docs, n_docs, pooling, empty, weights, texts, first=0) -> np.ndarray:
    """Return :func:`pool_rows`'s result for a batch small enough to copy each token's vector (no subwords).

    A sparse product costs a fixed ~50 us to set up; a request of a few texts gathers its rows and
    sums them per document instead (``docs`` is sorted).
    """
    table = np.asarray(store.vectors.view(np.ndarray)[rows], dtype=np.float32)
    weight = weights(rows).astype(np.float32) if weights is not None else None
    counts = np.bincount(docs, weights=weight, minlength=n_docs)
    _check_empty(counts, empty, texts, first)
    mean = np.zeros((n_docs, store.dim), dtype=np.float32)
    maxed = np.zeros_like(mean) if pooling == "meanmax" else None
    if len(rows):
        nonempty = np.flatnonzero(np.bincount(docs, minlength=n_docs))
        starts = np.searchsorted(docs, nonempty)
        sums = np.add.reduceat(table if weight is None else table * weight[:, None], starts, axis=0)
        mean[nonempty] = sums / counts[nonempty, None]
        if maxed is not None:
            maxed[nonempty] = np.maximum.reduceat(table, starts, axis=0)
    return mean if maxed is None else np.hstack([mean, maxed])


def _check_empty(counts: np.ndarray, empty: str, texts: list[str] | None, first: int = 0) -> None:
    if empty == "error" and (counts == 0).any():
        at = int(np.flatnonzero(counts == 0)[0])
        shown = f" ({texts[at][:60]!r})" if texts is not None else ""
        raise DataError(f"text {first + at} has no word with a vector{shown}")


def _distinct(rows: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``np.unique(rows, return_inverse=True)``, without a sort for large batches."""
    if len(rows) < size // 8:
        return np.unique(rows, return_inverse=True)
    # Millions of tokens: mark the rows in a vocabulary-sized mask instead of sorting them.
    mark = np.zeros(size, dtype=bool)
    mark[rows] = True
    uniq = np.flatnonzero(mark)
    del mark
    remap = np.zeros(size, dtype=np.int64)
    remap[uniq] = np.arange(len(uniq))
    return uniq, remap[rows]


def _segment_max(table, inverse, docs, n_docs, dim) -> np.ndarray:
    """Return the per-document maxima of ``table[inverse]`` (zeros for empty documents); ``docs`` is sorted."""
    maxed = np.zeros((n_docs, dim), dtype=np.float32)
    step = max(1, _CHUNK_FLOATS // max(dim, 1))
    for a in range(0, len(docs), step):
        b = min(a + step, len(docs))
        d = docs[a:b]
        starts = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
        owners = d[starts]
        part = np.maximum.reduceat(table[inverse[a:b]], starts, axis=0)
        # A document split across chunks keeps the larger of its partial maxima.
        first = owners == (docs[a - 1] if a else -1)
        maxed[owners] = np.where(first[:, None], np.maximum(maxed[owners], part), part)
    return maxed


def embed_texts(store: VectorStore, texts: list[str], pooling: str = "mean") -> np.ndarray:
    """Return the embeddings ``DocumentEmbedder(pooling=...).fit(texts).transform(texts)`` gives.

    ``mean`` and ``meanmax`` learn nothing from the texts, so they skip
    scikit-learn entirely; ``sif`` and ``tfidf`` go through the estimator.
    """
    if pooling in ("mean", "meanmax"):
        return pool(store, texts, pooling=pooling)
    from vecclf.training.embed import DocumentEmbedder

    emb = DocumentEmbedder(vectors=str(store.path), pooling=pooling)
    emb.use_store(store)
    return emb.fit(texts).transform(texts)
