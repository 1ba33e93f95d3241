"""Tokens -> vector rows -> pooled document vectors, without scikit-learn.

This is the numeric core behind :class:`~vecclf.training.embed.DocumentEmbedder`,
kept free of heavy imports so ``vecclf embed`` and the service start fast.

:func:`token_rows` has two paths that give identical results:

- small batches: :meth:`Tokenizer.many <vecclf.training.tokens.Tokenizer.many>`,
  then one index lookup per distinct token;
- large batches (:data:`FAST_MIN_CHARS` characters or more): ASCII texts are
  tokenized with vectorized byte rules (:mod:`vecclf.training.fasttokenize`), the
  tokens deduplicated by pyarrow's hash kernel and only the distinct ones looked
  up; non-ASCII texts still go through the regular tokenizer (NFKC and Unicode
  word classes), and the two are merged back in text order.

:func:`pool` sums the (weighted) word vectors of each document with one
sparse-times-dense product over the distinct rows in use, so no per-token
copy of the vectors is ever made (and a float16 store is converted only for
the rows a batch uses).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vecclf.training.errors import DataError
from vecclf.training.vectors.store import VectorStore
from vecclf.training.vectors.subword import oov_vector

# Below this many characters per batch the regular tokenizer is as fast.
FAST_MIN_CHARS = 20000
# Floats gathered per pooling chunk (64 MB of float32).
_CHUNK_FLOATS = 1 << 24


class TokenRows:
    """Documents as flat vector-row indices plus per-document offsets."""

    __slots__ = ("rows", "offsets", "oov_words", "oov_offsets")

    def __init__(self, rows, offsets, oov_words, oov_offsets):
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


def _offsets(counts: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def _python_rows(store: VectorStore, texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return (rows, counts, flat tokens) through the regular tokenizer."""
    docs = store.tokenizer.many(texts)
    counts = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
    flat = [tok for doc in docs for tok in doc]
    ids: dict[str, int] = {}
    codes = np.fromiter((ids.setdefault(t, len(ids)) for t in flat), dtype=np.int64, count=len(flat))
    rows = store.vocab_index.rows_of(list(ids))[codes] if flat else np.zeros(0, dtype=np.int64)
    return rows, counts, flat


def _arrow_rows(store: VectorStore, texts: list[str]):
    """Return (rows, counts, tokens as a pyarrow array) for ASCII ``texts``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from vecclf.training.fasttokenize import tokenize_ascii

    toks = tokenize_ascii(texts, store.lowercase)
    array = pa.LargeStringArray.from_buffers(len(toks), pa.py_buffer(toks.offsets), pa.py_buffer(toks.data))
    encoded = pc.dictionary_encode(array)
    distinct = store.vocab_index.rows_of_arrow(encoded.dictionary)
    rows = distinct[encoded.indices.to_numpy(zero_copy_only=False)] if len(array) else np.zeros(0, dtype=np.int64)
    return rows, toks.counts, array


def token_rows(store: VectorStore, texts: list[str], keep_oov: bool = False) -> TokenRows:
    """Tokenize ``texts`` and map every token to its vector row (-1 if none)."""
    n = len(texts)
    if sum(map(len, texts)) < FAST_MIN_CHARS:
        rows, counts, flat = _python_rows(store, texts)
        offsets = _offsets(counts)
        oov_words, oov_offsets = None, None
        if keep_oov:
            oov_offsets = np.flatnonzero(rows < 0)
            oov_words = [flat[i] for i in oov_offsets.tolist()]
        return TokenRows(rows, offsets, oov_words, oov_offsets)

    is_ascii = np.fromiter(map(str.isascii, texts), dtype=bool, count=n)
    plain = np.flatnonzero(is_ascii)
    other = np.flatnonzero(~is_ascii)
    rows_a, counts_a, tokens_a = _arrow_rows(store, [texts[i] for i in plain.tolist()] if len(other) else texts)
    rows_o, counts_o, flat_o = _python_rows(store, [texts[i] for i in other.tolist()])
    counts = np.empty(n, dtype=np.int64)
    counts[plain] = counts_a
    counts[other] = counts_o
    offsets = _offsets(counts)
    if len(other) == 0:
        rows, gather = rows_a, None
    else:
        # Each text's tokens sit contiguously in [ascii tokens..., other tokens...]; gather them in text order.
        source_start = np.empty(n, dtype=np.int64)
        source_start[plain] = _offsets(counts_a)[:-1]
        source_start[other] = len(rows_a) + _offsets(counts_o)[:-1]
        total = int(offsets[-1])
        gather = np.arange(total, dtype=np.int64) + np.repeat(source_start - offsets[:-1], counts)
        rows = np.concatenate([rows_a, rows_o])[gather]
    oov_words, oov_offsets = None, None
    if keep_oov:
        oov_offsets = np.flatnonzero(rows < 0)
        source = oov_offsets if gather is None else gather[oov_offsets]
        in_a = source < len(rows_a)
        words_a = tokens_a.take(source[in_a]).to_pylist() if in_a.any() else []
        words_o = iter([flat_o[i - len(rows_a)] for i in source[~in_a].tolist()])
        it_a = iter(words_a)
        oov_words = [next(it_a) if a else next(words_o) for a in in_a.tolist()]
    return TokenRows(rows, offsets, oov_words, oov_offsets)


def pool(
    store: VectorStore,
    texts: list[str],
    *,
    pooling: str = "mean",
    oov: str = "subword",
    empty: str = "zeros",
    weights: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Return the pooled (n, dim) or, for ``meanmax``, (n, 2 * dim) float32 document vectors.

    ``weights(rows)`` gives the weight of each vector row (None: all 1).

    Raises:
        DataError: ``empty="error"`` and a text has no word with a vector.
    """
    import scipy.sparse as sp

    use_subword = oov == "subword" and store.ngrams is not None
    tr = token_rows(store, texts, keep_oov=use_subword)
    n_docs = len(texts)
    doc_ids = np.repeat(np.arange(n_docs), np.diff(tr.offsets))
    known = tr.rows >= 0
    rows = tr.rows[known]
    docs = doc_ids[known]
    uniq, inverse = _distinct(rows, store.size)
    # Only the rows in use become float32 (a float16 store is never copied whole).
    table = np.asarray(store.vectors.view(np.ndarray)[uniq], dtype=np.float32)
    weight = weights(rows).astype(np.float32) if weights is not None else np.ones(len(rows), dtype=np.float32)
    if use_subword and tr.oov_words:
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
    if empty == "error" and (counts == 0).any():
        first = int(np.flatnonzero(counts == 0)[0])
        raise DataError(f"text {first} has no word with a vector ({texts[first][:60]!r})")
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
    emb._store = store
    return emb.fit(texts).transform(texts)
