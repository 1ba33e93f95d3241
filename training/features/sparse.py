"""What the sparse n-gram blocks share: compact vocabularies and the arithmetic of their kernels.

A sparse block's row for a text is ``tf[col] * weight[col]`` over its
columns, L2-normalised; its share of the logits is that row times the
classifier's weights. :class:`SparseKernel` folds the column weights into
the classifier's once (``bind``) and keeps ``[weight^2 | weight * W]`` in one
array, so a single text gathers its columns' numbers in one ``take`` and sums
them in one product; a batch goes through ``(doc, col, tf)`` entries.
"""

from __future__ import annotations

import math

import numpy as np

from vecclf.training.kernels import ONES, RUN, cached
from vecclf.training.vectors.vocabindex import VocabIndex


def pack_terms(vocabulary: dict) -> str:
    """Return a vocabulary's terms in column order as one newline-joined string.

    Bundles store this instead of a dict: skops writes a dict entry by entry
    into its JSON schema (~300 bytes a term), a string in one piece.
    Terms never contain a newline: the tokenizer and ``char_wb`` split on whitespace.
    """
    terms = [""] * len(vocabulary)
    for term, col in vocabulary.items():
        terms[col] = term
    return "\n".join(terms)


def unpack_terms(packed: str) -> dict:
    """Return the term -> column mapping of :func:`pack_terms` output."""
    return {term: col for col, term in enumerate(packed.split("\n"))} if packed else {}


class SharedTerms:
    """Strings -> positions through an array index that forked workers share, plus a small per-process cache.

    A dict built in the gunicorn master is shared too, but every lookup increments the reference count
    of the int it returns, so each worker ends up with its own copy of every page of ints it touched
    (tens of MB for a large n-gram vocabulary). The arrays of a :class:`VocabIndex` are only ever read;
    the cache holds the worker's own ints.
    """

    def __init__(self, packed: str, cache_size: int, shift: int = 0, absent: int = -1):
        self._index = VocabIndex(np.frombuffer(packed.encode("utf-8", "surrogatepass"), dtype=np.uint8))
        self.size = self._index.size
        self._cache: dict[str, int] = {}
        self._cache_size = cache_size
        self._shift, self._absent = shift, absent

    def find(self, keys: list[str]) -> np.ndarray:
        """Return the position of each key (-1 if absent), bypassing the cache."""
        return self._index.rows_of(keys) if keys else np.zeros(0, dtype=np.int64)

    def ids(self, keys: list[str]) -> list[int]:
        """Return the position plus ``shift`` of each key (``absent`` if none) through the cache."""
        return cached(self._cache, keys, self._learn, self._cache_size)

    def _learn(self, keys: list[str]) -> list[int]:
        shift, absent = self._shift, self._absent
        return [v + shift if v >= 0 else absent for v in self.find(keys).tolist()]


# Above this many entries distinct() sorts row by row instead of one global sort.
_SPARSE_DISTINCT = 1 << 16


def distinct(doc: np.ndarray, col: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the distinct ``(doc, col)`` pairs, sorted by document, and how often each occurs."""
    if len(col) > _SPARSE_DISTINCT and len(doc):
        return _distinct_by_rows(doc, col, width)
    keys = doc * width + col
    # Stable sort is a merge sort: far faster than the default on the sorted runs the blocks produce.
    keys.sort(kind="stable")
    first = np.empty(len(keys), dtype=bool)
    first[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, len(keys)))
    keys = keys[starts]
    return keys // width, keys % width, counts


def _distinct_by_rows(doc: np.ndarray, col: np.ndarray, width: int):
    """:func:`distinct` for millions of entries: bucketed by document and sorted row by row (scipy), ~3x faster."""
    import scipy.sparse as sp

    n_docs = int(doc.max()) + 1
    m = sp.csr_matrix((np.ones(len(col), dtype=np.int32), (doc, col)), shape=(n_docs, max(width, 1)))
    m.sum_duplicates()
    rows = np.repeat(np.arange(n_docs), np.diff(m.indptr))
    return rows, m.indices, m.data  # int32: half the memory traffic of int64 on millions of entries


class SparseKernel:
    """Rows of ``tf * weight[col]``, L2-normalised, times the classifier's weights (see the module docs).

    Subclasses give ``entries(batch)`` (the batch's ``(doc, col, tf)``) and ``logits1(batch)``.
    """

    width = 0

    def __init__(self, column_weight: np.ndarray):
        self._colw = np.asarray(column_weight, dtype=np.float64)
        self.width = len(self._colw)

    def bind(self, W: np.ndarray) -> np.ndarray:
        """Fold the column weights into ``W`` (width, n_out); return the bias this block adds (none)."""
        # Its last row, all zeros, is where a one-text term without a column points.
        self._M = np.zeros((self.width + 1, 1 + W.shape[1]), dtype=np.float64)
        np.multiply(self._colw, self._colw, out=self._M[:-1, 0])
        np.multiply(self._colw[:, None], W, out=self._M[:-1, 1:])
        self._W, self._sq = self._M[:-1, 1:], self._M[:-1, 0]
        self._scalar = W.shape[1] == 1
        return np.zeros(W.shape[1])

    def entries(self, batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(doc, col, tf)``: each document's distinct columns and term frequencies."""
        raise NotImplementedError

    def logits1(self, batch):
        """Return what a one-text batch adds to the logits: a float for a one-column head, else an array (or 0.0)."""
        raise NotImplementedError

    def scaled(self, sq: float, w):
        """Return ``w / sqrt(sq)``, the row's products with the weights over its L2 norm (0.0 for an empty row)."""
        return w / math.sqrt(sq) if sq > 0 else 0.0

    def distinct_sum(self, cols: list[int]):
        """Return the logits of one text whose distinct columns are ``cols``, each with term frequency one."""
        k = len(cols)
        rows = self._M.take(cols, 0)
        sums = np.dot(ONES[:k], rows) if k <= RUN else np.add.reduce(rows, 0)
        if self._scalar:
            sq, w = sums.tolist()
            return self.scaled(sq, w)
        return self.scaled(float(sums[0]), sums[1:])

    def add(self, batch, logits: np.ndarray) -> None:
        """Add the block's share of every text's logits (the batch arithmetic; one text takes ``logits1``)."""
        n = len(batch.texts)
        doc, col, tf = self.entries(batch)
        if not len(col):
            return
        norm = np.sqrt(np.bincount(doc, weights=tf * tf * self._sq[col], minlength=n))
        np.divide(1.0, norm, out=norm, where=norm > 0)
        weighted = self._W[col]
        weighted *= (tf * norm[doc])[:, None]
        for k in range(logits.shape[1]):
            logits[:, k] += np.bincount(doc, weights=weighted[:, k], minlength=n)


# Texts per chunk when a block fits or transforms many texts: bounds the per-token arrays (and memory)
# of one step to tens of MB however many rows there are. 8,192 generated MR/SST-2 rows made 138 MiB of
# character n-gram arrays at once (one int64 per gram occurrence, several arrays); 2,048 make a quarter.
CHUNK_TEXTS = 2048


def chunks(texts: list[str], size: int = CHUNK_TEXTS):
    """Yield ``(start, texts[start : start + size])`` over ``texts``."""
    for start in range(0, len(texts), size):
        yield start, texts[start : start + size]


def normalized_rows(doc: np.ndarray, col: np.ndarray, value: np.ndarray, n_docs: int, width: int):
    """Return the float32 CSR matrix of entries ``(doc, col, value)`` (sorted by doc), rows L2-normalised."""
    import scipy.sparse as sp

    value = np.array(value, dtype=np.float64)  # a copy: scaled in place below
    norm = np.sqrt(np.bincount(doc, weights=value * value, minlength=n_docs))
    np.divide(1.0, norm, out=norm, where=norm > 0)
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(doc, minlength=n_docs), out=indptr[1:])
    value *= norm[doc]
    index_type = np.int32 if width < 2**31 and len(col) < 2**31 else np.int64
    return sp.csr_matrix((value.astype(np.float32), col.astype(index_type, copy=False), indptr.astype(index_type)),
                         shape=(n_docs, width))


def stack_rows(parts: list, width: int):
    """Return the row-wise stack of CSR ``parts`` (an empty 0 x width matrix for none)."""
    import scipy.sparse as sp

    if not parts:
        return sp.csr_matrix((0, width), dtype=np.float32)
    return parts[0] if len(parts) == 1 else sp.vstack(parts, format="csr")


def hstack_blocks(parts: list):
    """Return blocks side by side as one float32 CSR matrix, each dense block made CSR first.

    With every part CSR, scipy joins the index arrays directly; ``FeatureUnion``'s own stack of a dense
    block beside sparse ones goes through COO triples, about three times the final matrix at once.
    """
    import scipy.sparse as sp

    parts = [sp.csr_matrix(p, dtype=np.float32) if not sp.issparse(p) or p.dtype != np.float32 or p.format != "csr"
             else p for p in parts]
    return parts[0] if len(parts) == 1 else sp.hstack(parts, format="csr")


class Occurrences:
    """Every text's distinct terms and how often each occurs, as global term ids: what the folds of a search share.

    Term ids follow the terms' sorted order, so the columns a fold keeps (its terms, sorted as the blocks sort
    their vocabularies) are the kept ids in ascending order, and a row's entries stay sorted by column.
    ``m`` is the (texts, terms) CSR matrix of counts; ``strings`` the terms, sorted.
    """

    def __init__(self, doc: np.ndarray, term: np.ndarray, count: np.ndarray, n_docs: int, strings: list[str]):
        """Build from distinct entries sorted by document: ``doc[i]`` holds local term ``term[i]``
        (``strings[term[i]]``) ``count[i]`` times."""
        import scipy.sparse as sp

        order = sorted(range(len(strings)), key=strings.__getitem__)
        rank = np.empty(len(strings), dtype=np.int32)
        rank[order] = np.arange(len(strings), dtype=np.int32)
        self.order = np.asarray(order, dtype=np.int64)  # local term id of each term id
        self.strings = [strings[i] for i in order]
        indptr = np.zeros(n_docs + 1, dtype=np.int64)
        np.cumsum(np.bincount(np.asarray(doc, dtype=np.int64), minlength=n_docs), out=indptr[1:])
        # int32 counts and term ids: half the memory of int64, and the search holds these for all its rows.
        self.m = sp.csr_matrix((np.asarray(count, dtype=np.int32), rank[np.asarray(term, dtype=np.int64)], indptr),
                               shape=(n_docs, len(strings)))
        self.m.sort_indices()  # each row's terms in term-id (sorted) order

    @property
    def n_terms(self) -> int:
        return self.m.shape[1]

    def entries(self, rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(doc, term, count)`` of the texts ``rows``, documents numbered 0.. in that order."""
        sub = self.m[np.asarray(rows, dtype=np.int64)]
        doc = np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr))
        return doc, sub.indices.astype(np.int64, copy=False), sub.data

    def document_frequency(self, rows, Y: np.ndarray | None = None):
        """Return how many of the texts ``rows`` hold each term, and with ``Y`` ((rows, k) memberships) per column of Y."""
        doc, term, _ = self.entries(rows)
        df = np.bincount(term, minlength=self.n_terms)
        if Y is None:
            return df
        per = np.zeros((self.n_terms, Y.shape[1]))
        for c in range(Y.shape[1]):
            per[:, c] = np.bincount(term, weights=Y[doc, c], minlength=self.n_terms)
        return df, per

    def total(self, rows) -> np.ndarray:
        """Return each term's occurrences in the texts ``rows``."""
        _, term, count = self.entries(rows)
        return np.bincount(term, weights=count, minlength=self.n_terms).astype(np.int64)

    def matrix(self, rows, columns: np.ndarray, width: int, value):
        """Return the L2-normalised (rows, width) matrix of the texts ``rows`` over the kept terms, as a fitted
        block's ``transform`` computes it: ``columns[term]`` is a term's column (-1: dropped), ``value(col, count)``
        the entries' values."""
        doc, term, count = self.entries(rows)
        col = columns[term]
        kept = col >= 0
        doc, col, count = doc[kept], col[kept], count[kept]
        return normalized_rows(doc, col, value(col, count), len(rows), width)

    def columns(self, kept: np.ndarray) -> np.ndarray:
        """Return the term -> column map that keeps the terms ``kept`` (ascending ids), in that order."""
        columns = np.full(self.n_terms, -1, dtype=np.int64)
        columns[kept] = np.arange(len(kept), dtype=np.int64)
        return columns
