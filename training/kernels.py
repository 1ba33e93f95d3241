"""What compiled kernels share: one call's batch, per-worker caches, and the contract a kernel keeps.

Each feature block (a scikit-learn transformer) has a ``compile(context)``
method, defined beside the block, that returns its *kernel*: the same numbers
as the block's ``transform`` (and, for blocks in the logit sum, times the
classifier's weights), in plain array arithmetic and with a lean path for one
text. :class:`~vecclf.training.inference.Predictor` composes them. Two kinds:

*Blocks* sit in the classifier's logit sum::

    width                       # columns of the block
    bind(W) -> bias             # fold the block's slice of the weights (width, n_out); return its bias
    logits1(batch) -> float | array   # what a one-text batch adds (a float for a one-column head)
    add(batch, logits)          # add every text's share to the (n, n_out) logits

*Dense sources* produce document vectors (pooled embeddings, first words)::

    width
    __call__(batch) -> (n, width) float32
    one(batch) -> (width,) float32
    direction_of() -> a source with ``sum_of(batch)`` whose L2-normalised output this is, or None

A kernel that cannot reproduce its block raises :class:`Unsupported`; the
predictor then keeps the scikit-learn pipeline. Kernels read only the
per-process caches here and the shared read-only arrays of the stores.
"""

from __future__ import annotations

import numpy as np

from vecclf.training.pooling import TokenRows, offsets_of

# Per process, each cleared when full: tokens -> vector rows, and per word n-gram block words -> ids and
# terms -> columns (ROW_CACHE_SIZE each, ~100 bytes an entry), and per character n-gram block words -> their
# columns (WORD_CACHE_SIZE, ~250 bytes an entry): about 20 MB per worker at most for a hybrid model.
ROW_CACHE_SIZE = 50_000
WORD_CACHE_SIZE = 20_000
# One text's sums are dot products with ones up to this many rows (longer ones take the general arithmetic).
RUN = 8192
ONES = np.ones(RUN)
ONES32 = np.ones(RUN, dtype=np.float32)


class Unsupported(Exception):
    """The model has a part the compiled path does not reproduce."""


def cached(cache: dict, keys, learn, size: int) -> list:
    """Return ``cache[key]`` for each of ``keys``; ``learn(missing keys)`` gives the values of the others.

    The cache is cleared when it would grow past ``size`` (simplest bound: frequent keys come back at once).
    """
    try:
        return list(map(cache.__getitem__, keys))  # the usual case: every key seen before
    except KeyError:
        pass
    found = list(map(cache.get, keys))
    missing = list({k for k, v in zip(keys, found) if v is None})
    learned = dict(zip(missing, learn(missing)))
    if len(cache) + len(learned) > size:
        cache.clear()
    cache.update(learned)
    return [learned[k] if v is None else v for k, v in zip(keys, found)]


class RowLookup:
    """Tokens -> vector rows of one store through its shared array index, behind a per-process cache."""

    def __init__(self, store):
        self.store = store
        self._cache: dict[str, int] = {}

    def list(self, tokens: list[str]) -> list[int]:
        """Return the vector row of each token (-1 if none), as a list."""
        return cached(self._cache, tokens, lambda words: self.store.vocab_index.rows_of(words).tolist(),
                      ROW_CACHE_SIZE)

    def array(self, tokens: list[str]) -> np.ndarray:
        """Return the vector row of each token (-1 if none) as an int64 array."""
        return np.asarray(self.list(tokens), dtype=np.int64)


class Context:
    """What kernels of one model share: a row lookup per vector store (one cache per store, not per block)."""

    def __init__(self):
        self._lookups: dict[int, RowLookup] = {}

    def rows_for(self, store) -> RowLookup:
        """Return the row lookup of ``store``."""
        lookup = self._lookups.get(id(store))
        if lookup is None:
            lookup = self._lookups[id(store)] = RowLookup(store)
        return lookup


class Batch:
    """One call's texts and what several kernels derive from them, computed once."""

    __slots__ = ("texts", "_tokens", "_rows")

    def __init__(self, texts: list[str]):
        self.texts = texts
        self._tokens: dict = {}
        self._rows: dict = {}

    def tokens(self, tokenizer) -> list[list[str]]:
        """Return each text's tokens under ``tokenizer`` (one run per tokenizer rule: casing, hyphens)."""
        key = tokenizer.key
        docs = self._tokens.get(key)
        if docs is None:
            texts = self.texts
            if tokenizer.known is None:
                docs = self._tokens[key] = [tokenizer(texts[0])] if len(texts) == 1 else tokenizer.many(texts)
                return docs
            # The hyphen rule's tokens and the split ones differ only in texts with a hyphen: whichever
            # rule a batch asks for first, the other reuses the rest (a hybrid model asks for both).
            plain, docs = tokenizer.many_with_plain(texts, self._tokens.get(tokenizer.split_key))
            self._tokens.setdefault(tokenizer.split_key, plain)
            self._tokens[key] = docs
        return docs

    def rows(self, lookup: RowLookup, tokenizer) -> TokenRows:
        """Return every token's vector row (-1 if none), documents end to end, through ``lookup``."""
        key = (id(lookup), tokenizer.key)
        got = self._rows.get(key)
        if got is None:
            docs = self.tokens(tokenizer)
            counts = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
            flat = docs[0] if len(docs) == 1 else [t for d in docs for t in d]
            got = self._rows[key] = TokenRows(lookup.array(flat), offsets_of(counts))
        return got


def l2(x: np.ndarray) -> np.ndarray:
    """Scale the vector ``x`` to unit L2 norm in place (a zero vector stays zero); return ``x``."""
    norm = np.sqrt(np.dot(x, x))
    if norm > 0:
        x /= norm
    return x


def l2_rows(X: np.ndarray) -> np.ndarray:
    """Scale the rows of ``X`` to unit L2 norm in place (zero rows stay zero); return ``X``."""
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))[:, None]
    np.divide(X, norms, out=X, where=norms > 0)
    return X
