"""Word n-grams weighted by Naive Bayes log-count ratios (Wang & Manning 2012), and their serving kernel.

Fitting and transforming many texts is vectorized and runs in chunks of
:data:`~vecclf.training.features.sparse.CHUNK_TEXTS` texts: each chunk is
tokenized end to end (:meth:`Tokenizer.flat <vecclf.training.tokens.Tokenizer.flat>`),
its distinct tokens get word ids, and a bigram is the pair of its words' ids,
so the counts behind the NB ratios are array operations (one streaming pass,
memory bounded by the number of distinct terms, not of rows). Transforming
maps tokens to ids with pyarrow's hash lookup and uses the serving kernel's
arithmetic (:class:`TermIndex`), so training and serving compute one thing.
"""

from __future__ import annotations

from itertools import islice, repeat
from operator import add, mul

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from vecclf.training.features.sparse import (Occurrences, SharedTerms, SparseKernel, chunks, distinct, normalized_rows,
                                             stack_rows, unpack_terms)
from vecclf.training.kernels import ROW_CACHE_SIZE, Unsupported, cached
from vecclf.training.pooling import as_text_list
from vecclf.training.tokens import Tokenizer

BOS, EOS = "<s>", "</s>"
# Bigram keys are (first word id << 32) | second word id.
_SHIFT = np.int64(32)


class NBNgrams(TransformerMixin, BaseEstimator):
    """Binary word n-grams weighted by Naive Bayes log-count ratios, rows L2-normalised.

    For two classes the ratio is ``r = log((p/|p|1) / (q/|q|1))`` with ``p``
    and ``q`` the per-feature counts in each class plus ``alpha`` (Wang &
    Manning 2012). For more classes (or labels) the weight of a feature is its
    largest absolute one-vs-rest ratio: how strongly it points at any class.
    Tokens come from the same tokenizer as the vectors; ``bos`` adds sentence
    start/end markers so the first and last words form their own bigrams.
    ``max_ngram`` is 1 (words) or 2 (words and bigrams); terms in fewer than
    ``min_df`` texts are dropped, and ``max_features`` (None: no limit) keeps
    only that many of the most frequent, which bounds the model on very large data.
    """

    def __init__(self, lowercase=True, max_ngram=2, alpha=1.0, bos=False, min_df=1, max_features=None):
        self.lowercase = lowercase
        self.max_ngram = max_ngram
        self.alpha = alpha
        self.bos = bos
        self.min_df = min_df
        self.max_features = max_features

    def fit(self, X, y):
        """Learn the n-gram vocabulary and its NB weights from labelled texts (one streaming pass)."""
        self._check_ngram()
        texts = as_text_list(X)
        Y, binary = _memberships(y)
        counter = _TermCounter(Y.shape[1], self.bos, int(self.max_ngram) == 2)
        tokenizer = Tokenizer(self.lowercase)
        for start, part in chunks(texts):
            counter.add(tokenizer, part, Y[start : start + len(part)])
        return self._weigh(*counter.result(self.min_df, getattr(self, "max_features", None)), binary)

    def _check_ngram(self) -> None:
        if int(self.max_ngram) not in (1, 2):
            raise ValueError(f"max_ngram={self.max_ngram}; word n-grams are words (1) or words and bigrams (2)")

    def _weigh(self, terms: list[str], df: np.ndarray, in_class: np.ndarray, binary: bool) -> "NBNgrams":
        """Keep ``terms`` (sorted) with the NB weights of their document frequencies, overall and per class."""
        # Per class: p = alpha + texts of the class with the term, q = alpha + the other texts with it.
        ratios = []
        for c in range(in_class.shape[1]):
            p = self.alpha + in_class[:, c]
            q = self.alpha + (df - in_class[:, c])
            ratios.append(np.log((p / p.sum()) / (q / q.sum())))
        if in_class.shape[1] == 2 and binary:
            r = ratios[1]  # the binary ratio, signed towards the second class
        else:
            r = np.max(np.abs(np.vstack(ratios)), axis=0) if ratios else np.zeros(0)
        self.terms_ = "\n".join(terms)
        self.ratios_ = np.asarray(r, dtype=np.float64)
        self._index = None
        return self

    def occurrences_key(self) -> tuple:
        """Return what :meth:`occurrences` depends on: blocks with equal keys share them."""
        return ("words", bool(self.lowercase), int(self.max_ngram))

    def occurrences(self, texts: list[str]) -> "WordOccurrences":
        """Return the texts' word n-grams (sentence markers included) for :meth:`fit_occurrences` on any rows."""
        self._check_ngram()
        return WordOccurrences(texts, Tokenizer(self.lowercase), int(self.max_ngram) == 2)

    def fit_occurrences(self, occ: "WordOccurrences", rows, y):
        """Fit as ``fit`` on the texts ``rows`` of ``occ`` would; return ``transform(part)``: the fitted block's
        matrix of the texts ``part`` of ``occ``, as ``transform`` computes it.

        Returns None, fitting nothing, where only ``fit`` reproduces the vocabulary (more terms than
        ``max_features``: it keeps the most frequent, ties in the order it met them).
        """
        Y, binary = _memberships(y)
        df, in_class = occ.document_frequency(rows, Y)
        allowed = df >= max(int(self.min_df), 1)
        if not self.bos:
            allowed &= ~occ.marked
        kept = np.flatnonzero(allowed)
        limit = getattr(self, "max_features", None)
        if limit is not None and len(kept) > limit:
            return None
        self._weigh([occ.strings[i] for i in kept.tolist()], df[kept].astype(np.float64), in_class[kept], binary)
        columns, width, ratios = occ.columns(kept), len(kept), self.ratios_
        return lambda part: occ.matrix(part, columns, width, lambda col, _: ratios[col])

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_vocabulary", None)
        state.pop("_index", None)
        return state

    def term_index(self) -> "TermIndex":
        """Return the fitted vocabulary as arrays (built once per process)."""
        check_is_fitted(self, "ratios_")
        index = getattr(self, "_index", None)
        if index is None:
            index = self._index = TermIndex(unpack_terms(self.terms_), bool(self.bos))
        return index

    def transform(self, X):
        """Return the weighted, row-normalised sparse matrix (float32)."""
        index = self.term_index()
        tokenizer = Tokenizer(self.lowercase)
        width = len(self.ratios_)
        parts = []
        for _, part in chunks(as_text_list(X)):
            tokens, counts = tokenizer.flat(part)
            doc, col, _ = index.entries(index.ids_of(tokens), counts)
            parts.append(normalized_rows(doc, col, self.ratios_[col], len(part), width))
        return stack_rows(parts, width)

    def compile(self, context) -> "WordNgramsKernel":
        """Return the serving kernel of this fitted block (see :mod:`vecclf.training.kernels`)."""
        check_is_fitted(self, "ratios_")
        return WordNgramsKernel(self)


def _memberships(y) -> tuple[np.ndarray, bool]:
    """Return the (texts, classes) float32 membership of labels ``y`` (or of a multi-label indicator matrix)
    and whether ``y`` was one label per text."""
    Y = np.asarray(y)
    binary = Y.ndim == 1
    if binary:
        classes = np.unique(Y)
        Y = Y[:, None] == classes[None, :]
    return Y.astype(np.float32), binary


class WordOccurrences(Occurrences):
    """Every text's distinct words and bigrams, sentence markers included, as :class:`Occurrences`.

    ``marked[term]`` says the term holds a marker: the terms of a block without markers are the others
    (markers only add terms: the bigrams inside a text are the same).
    """

    def __init__(self, texts: list[str], tokenizer: Tokenizer, bigrams: bool):
        import pyarrow.compute as pc

        vocab: dict[str, int] = {BOS: 0, EOS: 1}
        docs, terms, pair_docs, pair_keys = [], [], [], []
        for start, part in chunks(texts):
            tokens, counts = tokenizer.flat(part)
            if len(tokens):
                encoded = pc.dictionary_encode(tokens)
                local = np.fromiter((vocab.setdefault(w, len(vocab)) for w in encoded.dictionary.to_pylist()),
                                    dtype=np.int64)
                ids = local[encoded.indices.to_numpy(zero_copy_only=False)]
            else:
                ids = np.zeros(0, dtype=np.int64)
            ids, counts = with_markers(ids, counts, 0, 1)
            doc = np.repeat(np.arange(start, start + len(part)), counts)
            docs.append(doc)
            terms.append(ids)
            if bigrams:
                same = doc[:-1] == doc[1:]
                pair_docs.append(doc[:-1][same])
                pair_keys.append((ids[:-1][same] << _SHIFT) | ids[1:][same])
        words = list(vocab)
        strings = list(words)
        marked = [True, True] + [False] * (len(words) - 2)
        if bigrams and pair_keys:
            uniq, inverse = np.unique(np.concatenate(pair_keys), return_inverse=True)
            firsts, seconds = (uniq >> _SHIFT).tolist(), (uniq & 0xFFFFFFFF).tolist()
            strings += [f"{words[a]} {words[b]}" for a, b in zip(firsts, seconds)]
            marked += [a == 0 or b == 1 for a, b in zip(firsts, seconds)]
            docs += pair_docs
            terms.append(len(words) + inverse.ravel())
        empty = np.zeros(0, dtype=np.int64)
        doc, term, count = distinct(np.concatenate(docs) if docs else empty, np.concatenate(terms) if terms else empty,
                                    max(len(strings), 1))
        super().__init__(doc, term, count, len(texts), strings)
        # Occurrences numbers the terms in sorted order: carry the marker flags along.
        self.marked = np.asarray(marked, dtype=bool)[self.order]


class _TermCounter:
    """Streaming counts of word n-grams: in how many texts each occurs, overall and per class."""

    def __init__(self, n_classes: int, bos: bool, bigrams: bool):
        self.vocab: dict[str, int] = {BOS: 0, EOS: 1} if bos else {}
        self.bos, self.bigrams, self.k = bos, bigrams, n_classes
        self.uni_df = np.zeros(0, dtype=np.int64)
        self.uni_class = np.zeros((0, n_classes))
        self.pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, tokenizer: Tokenizer, texts: list[str], Y: np.ndarray) -> None:
        """Count the terms of one chunk of texts; ``Y`` is their (n, classes) membership."""
        import pyarrow.compute as pc

        tokens, counts = tokenizer.flat(texts)
        if len(tokens):
            encoded = pc.dictionary_encode(tokens)
            vocab = self.vocab
            local = np.fromiter((vocab.setdefault(w, len(vocab)) for w in encoded.dictionary.to_pylist()),
                                dtype=np.int64)
            ids = local[encoded.indices.to_numpy(zero_copy_only=False)]
        else:
            ids = np.zeros(0, dtype=np.int64)
        if self.bos:
            ids, counts = with_markers(ids, counts, 0, 1)
        doc = np.repeat(np.arange(len(texts)), counts)
        size = len(self.vocab)
        d, w, _ = distinct(doc, ids, size)
        grown = np.zeros(size, dtype=np.int64)
        grown[: len(self.uni_df)] = self.uni_df
        self.uni_df = grown + np.bincount(w, minlength=size)
        grown = np.zeros((size, self.k))
        grown[: len(self.uni_class)] = self.uni_class
        for c in range(self.k):
            grown[:, c] += np.bincount(w, weights=Y[d, c], minlength=size)
        self.uni_class = grown
        if not self.bigrams or len(ids) < 2:
            return
        same = doc[:-1] == doc[1:]
        keys = (ids[:-1][same] << _SHIFT) | ids[1:][same]
        owners = doc[:-1][same]
        uniq, inverse = np.unique(keys, return_inverse=True)
        d, p, _ = distinct(owners, inverse.ravel(), len(uniq))
        per_class = np.column_stack([np.bincount(p, weights=Y[d, c], minlength=len(uniq)) for c in range(self.k)])
        self.pairs.append((uniq, np.bincount(p, minlength=len(uniq)), per_class))
        if len(self.pairs) >= 8:
            self.pairs = [self._merged()]

    def _merged(self):
        keys = np.concatenate([k for k, _, _ in self.pairs])
        uniq, inverse = np.unique(keys, return_inverse=True)
        inverse = inverse.ravel()
        df = np.bincount(inverse, weights=np.concatenate([d for _, d, _ in self.pairs]), minlength=len(uniq))
        stacked = np.vstack([c for _, _, c in self.pairs])
        per_class = np.column_stack([np.bincount(inverse, weights=stacked[:, c], minlength=len(uniq))
                                     for c in range(self.k)])
        return uniq, df.astype(np.int64), per_class

    def result(self, min_df: int, max_features: int | None):
        """Return ``(terms, df, per-class df)`` of the terms kept, terms sorted."""
        words = list(self.vocab)
        pair_keys, pair_df, pair_class = self._merged() if self.pairs else (
            np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, self.k)))
        df = np.concatenate([self.uni_df, pair_df])
        in_class = np.vstack([self.uni_class, pair_class])
        keep = np.flatnonzero(df >= max(int(min_df), 1))
        if max_features is not None and len(keep) > max_features:
            keep = np.sort(keep[np.argsort(-df[keep], kind="stable")[: int(max_features)]])
        n_uni = len(words)
        terms = []
        for i in keep.tolist():
            if i < n_uni:
                terms.append(words[i])
            else:
                key = int(pair_keys[i - n_uni])
                terms.append(f"{words[key >> 32]} {words[key & 0xFFFFFFFF]}")
        order = sorted(range(len(terms)), key=terms.__getitem__)
        keep = keep[order] if len(keep) else keep
        return [terms[i] for i in order], df[keep].astype(np.float64), in_class[keep]


def with_markers(ids: np.ndarray, counts: np.ndarray, bos: int, eos: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``[bos, ids..., eos]`` per document (documents end to end) and the new counts."""
    ends = np.cumsum(counts + 2)
    marked = np.empty(int(ends[-1]) if len(ends) else 0, dtype=np.int64)
    marked[ends - counts - 2] = bos
    marked[ends - 1] = eos
    inner = np.ones(len(marked), dtype=bool)
    inner[ends - counts - 2] = False
    inner[ends - 1] = False
    marked[inner] = ids
    return marked, counts + 2


class TermIndex:
    """A fitted word n-gram vocabulary as arrays: word ids, each word's unigram column, sorted bigram keys.

    Every word that occurs in a term gets an id; a bigram is the pair of its
    words' ids, found by binary search in a sorted array, so a batch's n-grams
    are looked up with a few array operations instead of a string per bigram.
    """

    def __init__(self, terms: dict, bos: bool):
        words = {term: i for i, term in enumerate(t for t in terms if " " not in t)}
        pairs = [(term.split(" "), col) for term, col in terms.items() if " " in term]
        for (first, second), _ in pairs:  # a bigram's words are unigrams too unless min_df pruned them
            words.setdefault(first, len(words))
            words.setdefault(second, len(words))
        self.words = list(words)  # id order
        self.unigram = np.full(len(words), -1, dtype=np.int64)
        for term, col in terms.items():
            if " " not in term:
                self.unigram[words[term]] = col
        self.n = n = max(len(words), 1)
        keys = np.asarray([words[a] * n + words[b] for (a, b), _ in pairs], dtype=np.int64)
        order = np.argsort(keys)
        self.pair_keys = keys[order]
        self.pair_cols = np.asarray([c for _, c in pairs], dtype=np.int64)[order]
        self.bos = (words.get(BOS, -1), words.get(EOS, -1)) if bos else None
        self.width = len(terms)
        self._value_set = None

    def ids_of(self, tokens) -> np.ndarray:
        """Return the word id of each token of a pyarrow string array (-1 where it has none)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if self._value_set is None:
            self._value_set = pa.array(self.words, type=pa.large_string())
        if not len(tokens):
            return np.zeros(0, dtype=np.int64)
        found = pc.index_in(tokens.cast(pa.large_string()), value_set=self._value_set)
        return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)

    def entries(self, ids: np.ndarray, counts: np.ndarray):
        """Return ``(doc, col, tf)`` of documents given as word ids end to end (-1: none) and per-document counts."""
        n_docs = len(counts)
        if self.bos is not None:
            ids, counts = with_markers(ids, counts, *self.bos)
        doc = np.repeat(np.arange(n_docs), counts)
        known = ids >= 0
        uni = self.unigram[ids[known]]
        cols, owners = [uni[uni >= 0]], [doc[known][uni >= 0]]
        if len(ids) > 1 and len(self.pair_keys):
            a, b = ids[:-1], ids[1:]
            ok = (a >= 0) & (b >= 0) & (doc[:-1] == doc[1:])
            keys = a[ok] * self.n + b[ok]
            at = np.minimum(np.searchsorted(self.pair_keys, keys), len(self.pair_keys) - 1)
            hit = self.pair_keys[at] == keys
            cols.append(self.pair_cols[at[hit]])
            owners.append(doc[:-1][ok][hit])
        doc, col, _ = distinct(np.concatenate(owners), np.concatenate(cols), max(self.width, 1))
        return doc, col, np.ones(len(col))


class WordNgramsKernel(SparseKernel):
    """:class:`NBNgrams` for serving: binary word 1-2 grams weighted by NB ratios.

    The vocabulary is the block's :class:`TermIndex`. One text becomes a
    Python set of term keys (word ids and their products) whose columns come
    from a per-process term cache; a batch goes through :meth:`TermIndex.entries`.
    """

    def __init__(self, nb: NBNgrams):
        super().__init__(nb.ratios_)
        if int(nb.max_ngram) > 2:
            raise Unsupported("word n-grams longer than two words")
        index = TermIndex(unpack_terms(nb.terms_), bool(nb.bos))
        if index.width != self.width:
            raise Unsupported("NB vocabulary and ratios differ in length")
        self._index = index
        self._unigram, self._pair_keys, self._pair_cols = index.unigram, index.pair_keys, index.pair_cols
        self._n = n = index.n
        self._tokenizer = Tokenizer(nb.lowercase)
        # The cache gives id + 1 for a word, n + 1 for a token with no id: one-text term keys are then plain
        # sums and products (see logits1); the batch path takes one off.
        self._bos1 = tuple(n + 1 if i < 0 else i + 1 for i in index.bos) if nb.bos else None
        # Id order.
        self._words = SharedTerms("\n".join(index.words), ROW_CACHE_SIZE, shift=1, absent=n + 1)
        self._term_cache: dict[int, int] = {}  # per process: term key -> row of _M (width if none), for one text
        if self._words.size != len(index.words):
            raise Unsupported("a word n-gram term holds a line break")

    def logits1(self, batch):
        ids = self._words.ids(batch.tokens(self._tokenizer)[0])
        if self._bos1 is not None:
            ids = [self._bos1[0], *ids, self._bos1[1]]
        if not ids:
            return 0.0
        # Term keys, from ids 1..n+1: the id itself for a unigram, a * (n + 2) + b > n + 1 for the bigram (a, b).
        # Distinct keys are distinct terms, so they have distinct columns (but for "none", a row of zeros).
        keys = set(ids)
        keys.update(map(add, map(mul, ids, repeat(self._n + 2)), islice(ids, 1, None)))
        return self.distinct_sum(cached(self._term_cache, keys, self._term_columns, ROW_CACHE_SIZE))

    def _term_columns(self, keys: list[int]) -> list[int]:
        """Return the row of ``_M`` of each term key of :meth:`logits1`: its column, or ``width`` if it has none."""
        keys = np.asarray(keys, dtype=np.int64)
        n, known = self._n, len(self._unigram)
        out = np.full(len(keys), -1, dtype=np.int64)
        uni = np.flatnonzero(keys <= n + 1)
        ids = keys[uni] - 1
        has = ids < known
        out[uni[has]] = self._unigram[ids[has]]
        pairs = np.flatnonzero(keys > n + 1)
        if len(self._pair_keys) and len(pairs):
            a, b = np.divmod(keys[pairs], n + 2)
            a, b = a - 1, b - 1
            has = (a < known) & (b < known)
            pairs, pair = pairs[has], a[has] * n + b[has]
            at = np.minimum(np.searchsorted(self._pair_keys, pair), len(self._pair_keys) - 1)
            out[pairs] = np.where(self._pair_keys[at] == pair, self._pair_cols[at], -1)
        out[out < 0] = self.width
        return out.tolist()

    def entries(self, batch):
        docs = batch.tokens(self._tokenizer)
        counts = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
        flat = docs[0] if len(docs) == 1 else [t for d in docs for t in d]
        ids = np.asarray(self._words.ids(flat), dtype=np.int64) - 1
        ids[ids == self._n] = -1  # the cache's "no id"
        return self._index.entries(ids, counts)
