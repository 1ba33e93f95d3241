"""Word n-grams weighted by Naive Bayes log-count ratios (Wang & Manning 2012), and their serving kernel."""

from __future__ import annotations

from itertools import islice, repeat
from operator import add, mul

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_is_fitted

from vecclf.training.features.sparse import SharedTerms, SparseKernel, distinct, pack_terms, unpack_terms
from vecclf.training.kernels import ROW_CACHE_SIZE, Unsupported, cached
from vecclf.training.pooling import as_text_list
from vecclf.training.tokens import Tokenizer

BOS, EOS = "<s>", "</s>"


class NBNgrams(TransformerMixin, BaseEstimator):
    """Binary word n-grams weighted by Naive Bayes log-count ratios, rows L2-normalised.

    For two classes the ratio is ``r = log((p/|p|1) / (q/|q|1))`` with ``p``
    and ``q`` the per-feature counts in each class plus ``alpha`` (Wang &
    Manning 2012). For more classes (or labels) the weight of a feature is its
    largest absolute one-vs-rest ratio: how strongly it points at any class.
    Tokens come from the same tokenizer as the vectors; ``bos`` adds sentence
    start/end markers so the first and last words form their own bigrams.
    """

    def __init__(self, lowercase=True, max_ngram=2, alpha=1.0, bos=False, min_df=1):
        self.lowercase = lowercase
        self.max_ngram = max_ngram
        self.alpha = alpha
        self.bos = bos
        self.min_df = min_df

    def _analyze(self, text: str) -> list[str]:
        tokens = Tokenizer(self.lowercase)(text)
        if self.bos:
            tokens = [BOS, *tokens, EOS]
        grams = list(tokens)
        for n in range(2, self.max_ngram + 1):
            grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
        return grams

    def _counts(self, texts, vocabulary=None):
        vec = CountVectorizer(analyzer=self._analyze, binary=True, vocabulary=vocabulary, dtype=np.float64,
                              min_df=self.min_df if vocabulary is None else 1)
        X = vec.fit_transform(texts) if vocabulary is None else vec.transform(texts)
        return X, vec.vocabulary_

    def fit(self, X, y):
        """Learn the n-gram vocabulary and its NB weights from labelled texts."""
        texts = as_text_list(X)
        counts, vocabulary = self._counts(texts)
        Y = np.asarray(y)
        if Y.ndim == 1:
            classes = np.unique(Y)
            Y = (Y[:, None] == classes[None, :]).astype(np.float64)
        else:
            Y = Y.astype(np.float64)
        counts = counts.tocsc()
        ratios = []
        for c in range(Y.shape[1]):
            member = Y[:, c] > 0
            p = self.alpha + np.asarray(counts[member].sum(axis=0)).ravel()
            q = self.alpha + np.asarray(counts[~member].sum(axis=0)).ravel()
            ratios.append(np.log((p / p.sum()) / (q / q.sum())))
        if Y.shape[1] == 2 and np.asarray(y).ndim == 1:
            r = ratios[1]  # the binary ratio, signed towards the second class
        else:
            r = np.max(np.abs(np.vstack(ratios)), axis=0)
        self.terms_ = pack_terms(vocabulary)
        self.ratios_ = np.asarray(r, dtype=np.float64)
        return self

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_vocabulary", None)
        return state

    def transform(self, X):
        """Return the weighted, row-normalised sparse matrix."""
        check_is_fitted(self, "ratios_")
        vocabulary = getattr(self, "_vocabulary", None)
        if vocabulary is None:
            vocabulary = self._vocabulary = unpack_terms(self.terms_)
        counts, _ = self._counts(as_text_list(X), vocabulary)
        weighted = sp.csr_matrix(counts.multiply(self.ratios_[None, :]))
        return normalize(weighted).astype(np.float32)

    def compile(self, context) -> "WordNgramsKernel":
        """Return the serving kernel of this fitted block (see :mod:`vecclf.training.kernels`)."""
        check_is_fitted(self, "ratios_")
        return WordNgramsKernel(self)


class WordNgramsKernel(SparseKernel):
    """:class:`NBNgrams` for serving: binary word 1-2 grams weighted by NB ratios.

    Every word that occurs in a term gets an id; a bigram is the pair of its
    words' ids, found by binary search in a sorted array, so a batch's n-grams
    are looked up with a few array operations instead of a string per bigram.
    One text becomes a Python set of term keys (word ids and their products)
    whose columns come from a per-process term cache.
    """

    def __init__(self, nb: NBNgrams):
        super().__init__(nb.ratios_)
        if int(nb.max_ngram) > 2:
            raise Unsupported("word n-grams longer than two words")
        terms = unpack_terms(nb.terms_)
        if len(terms) != self.width:
            raise Unsupported("NB vocabulary and ratios differ in length")
        words = {term: i for i, term in enumerate(t for t in terms if " " not in t)}
        pairs = [(term.split(" "), col) for term, col in terms.items() if " " in term]
        for (first, second), _ in pairs:  # a bigram's words are unigrams too unless min_df pruned them
            words.setdefault(first, len(words))
            words.setdefault(second, len(words))
        self._unigram = np.full(len(words), -1, dtype=np.int64)
        for term, col in terms.items():
            if " " not in term:
                self._unigram[words[term]] = col
        n = max(len(words), 1)
        keys = np.asarray([words[a] * n + words[b] for (a, b), _ in pairs], dtype=np.int64)
        order = np.argsort(keys)
        self._pair_keys = keys[order]
        self._pair_cols = np.asarray([c for _, c in pairs], dtype=np.int64)[order]
        self._n = n
        self._tokenizer = Tokenizer(nb.lowercase)
        self._bos = (words.get(BOS, -1), words.get(EOS, -1)) if nb.bos else None
        # The cache gives id + 1 for a word, n + 1 for a token with no id: one-text term keys are then plain
        # sums and products (see logits1); the batch path takes one off.
        self._bos1 = tuple(n + 1 if i < 0 else i + 1 for i in self._bos) if nb.bos else None
        # Dicts keep insertion order: id order.
        self._words = SharedTerms("\n".join(words), ROW_CACHE_SIZE, shift=1, absent=n + 1)
        self._term_cache: dict[int, int] = {}  # per process: term key -> row of _M (width if none), for one text
        if self._words.size != len(words):
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
        n_docs = len(docs)
        counts = np.fromiter(map(len, docs), dtype=np.int64, count=n_docs)
        flat = docs[0] if n_docs == 1 else [t for d in docs for t in d]
        ids = np.asarray(self._words.ids(flat), dtype=np.int64) - 1
        ids[ids == self._n] = -1  # the cache's "no id"
        if self._bos is not None:
            # [<s>, tokens..., </s>] per document: two more slots each.
            ends = np.cumsum(counts + 2)
            marked = np.empty(int(ends[-1]), dtype=np.int64)
            marked[ends - counts - 2] = self._bos[0]
            marked[ends - 1] = self._bos[1]
            inner = np.ones(len(marked), dtype=bool)
            inner[ends - counts - 2] = False
            inner[ends - 1] = False
            marked[inner] = ids
            ids, counts = marked, counts + 2
        doc = np.repeat(np.arange(n_docs), counts)
        known = ids >= 0
        uni = self._unigram[ids[known]]
        cols, owners = [uni[uni >= 0]], [doc[known][uni >= 0]]
        if len(ids) > 1 and len(self._pair_keys):
            a, b = ids[:-1], ids[1:]
            ok = (a >= 0) & (b >= 0) & (doc[:-1] == doc[1:])
            keys = a[ok] * self._n + b[ok]
            at = np.minimum(np.searchsorted(self._pair_keys, keys), len(self._pair_keys) - 1)
            hit = self._pair_keys[at] == keys
            cols.append(self._pair_cols[at[hit]])
            owners.append(doc[:-1][ok][hit])
        doc, col, _ = distinct(np.concatenate(owners), np.concatenate(cols), self.width)
        return doc, col, np.ones(len(col))
