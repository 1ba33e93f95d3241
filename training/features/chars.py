"""TF-IDF character n-grams inside word boundaries, and their serving kernel.

``char_wb`` n-grams never cross whitespace, so a text's grams are its words'
grams. Fitting and transforming many texts works word by word: each distinct
word is analysed once, and every occurrence contributes its word's grams in
array arithmetic (:func:`occurrence_grams`), chunk by chunk
(:data:`~vecclf.training.features.sparse.CHUNK_TEXTS` texts), so memory is
bounded by the distinct words and grams, not by the rows. The counts are
scikit-learn's ``TfidfVectorizer(analyzer="char_wb", sublinear_tf=True)``:
the tests compare both.
"""

from __future__ import annotations

from itertools import chain

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

from vecclf.training.features.sparse import (Occurrences, SharedTerms, SparseKernel, chunks, distinct, normalized_rows,
                                             stack_rows)
from vecclf.training.kernels import RUN, WORD_CACHE_SIZE, Batch, Unsupported, cached
from vecclf.training.pooling import as_text_list


def _log_tf_steps(n: int) -> np.ndarray:
    """Return ``(n, 2)``: what the j-th occurrence of a term adds to ``tf^2`` and ``tf``, with ``tf = 1 + ln count``."""
    tf = 1.0 + np.log(np.arange(1, n + 1, dtype=np.float64))
    before = np.concatenate([[0.0], tf[:-1]])
    return np.column_stack([tf * tf - before * before, tf - before])


# One text's occurrences are weighted by the step each adds to its column's sublinear tf (~300 kB, built at
# import, so in the gunicorn master); a text with more occurrences than RUN takes the run-by-run arithmetic.
_TF_STEPS = _log_tf_steps(RUN)
_STEPS = np.arange(RUN)
# From this many word occurrences on, pyarrow's hash kernel gives the words their codes.
_ARROW_WORDS = 4096
# Words whose columns a training transform keeps (~250 bytes each): more than most corpora have.
TRAINING_CACHE_WORDS = 200_000


class CharNgrams(TransformerMixin, BaseEstimator):
    """TF-IDF character n-grams inside word boundaries of a text's first ``max_chars`` characters.

    The numbers of scikit-learn's ``TfidfVectorizer(analyzer="char_wb", sublinear_tf=True)``
    (its analyzer makes each word's grams), computed word by word; only the
    terms and idf weights are kept, in compact form.
    """

    def __init__(self, ngram_range=(2, 5), min_df=2, max_features=400_000, lowercase=True, max_chars=1000):
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.lowercase = lowercase
        self.max_chars = max_chars

    def _limit(self) -> int | None:
        return getattr(self, "max_chars", None)  # bundles written before the cap have no attribute

    def _head(self, X) -> list[str]:
        # Character n-grams pay off on short, noisy text; on long documents the word and vector
        # blocks carry the content, and n-gramming every character would dominate training time.
        texts = as_text_list(X)
        limit = self._limit()
        if limit:
            texts = [t[:limit] for t in texts]
        return texts

    def _vectorizer(self, vocabulary=None) -> TfidfVectorizer:
        return TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(self.ngram_range), sublinear_tf=True,
                               lowercase=self.lowercase, min_df=self.min_df, max_features=self.max_features,
                               vocabulary=vocabulary, dtype=np.float32)

    def _counted_grams(self, texts: list[str]):
        """Return ``(gram_ids, counted)`` for ``texts``, read chunk by chunk.

        ``counted`` yields ``(start, doc, gram, count)`` per chunk: each text's distinct grams, numbered in order
        of first sight, and their counts; ``gram_ids`` (gram -> number) grows as it goes.
        """
        vec = self._vectorizer()
        analyze, preprocess = vec.build_analyzer(), vec.build_preprocessor()
        gram_ids: dict[str, int] = {}
        word_grams: dict[str, bytes] = {}

        def learn(words: list[str]) -> list[bytes]:
            return [np.fromiter((gram_ids.setdefault(g, len(gram_ids)) for g in analyze(w)), dtype=np.int64).tobytes()
                    for w in words]

        def grams_of(words: list[str]) -> list[bytes]:
            return cached(word_grams, words, learn, len(word_grams) + len(words) + 1)

        def counted():
            for start, part in chunks(texts):
                doc, gram = occurrence_grams([preprocess(t).split() for t in part], grams_of)
                yield (start, *distinct(doc, gram, max(len(gram_ids), 1)))

        return gram_ids, counted()

    def fit(self, X, y=None):
        """Learn the n-gram vocabulary and idf weights (one streaming pass, word by word)."""
        texts = self._head(X)
        gram_ids, counted = self._counted_grams(texts)
        df = np.zeros(0, dtype=np.int64)
        total = np.zeros(0, dtype=np.int64)
        for _, doc, gram, count in counted:
            size = len(gram_ids)
            df = np.bincount(gram, minlength=size) + np.pad(df, (0, size - len(df)))
            total = np.bincount(gram, weights=count, minlength=size).astype(np.int64) + np.pad(total, (0, size - len(total)))
        grams = list(gram_ids)
        order = sorted(range(len(grams)), key=grams.__getitem__)  # the terms' (alphabetical) order
        self._keep([grams[i] for i in order], df[order], total[order], len(texts))
        return self

    def _keep(self, grams: list[str], df: np.ndarray, total: np.ndarray, n_texts: int) -> np.ndarray:
        """Keep the grams (sorted) that pass ``min_df`` and ``max_features`` with their idf; return their positions.

        ``df`` and ``total``: each gram's document frequency and occurrences in the ``n_texts`` texts fitted on.
        """
        min_df = self.min_df
        if n_texts < 50 and min_df > 1:
            min_df = 1  # too few texts for a rare-gram floor
        floor = min_df if isinstance(min_df, (int, np.integer)) else min_df * n_texts
        kept = np.flatnonzero(df >= floor)
        if self.max_features is not None and len(kept) > self.max_features:
            # As sklearn limits them (same sort on the same alphabetical order, so the same ties win).
            chosen = np.sort((-total[kept]).argsort()[: int(self.max_features)])
            kept = kept[chosen]
        if not len(kept):
            raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher max_df.")
        self.terms_ = "\n".join(grams[i] for i in kept.tolist())
        # sklearn's smooth idf: ln((1 + n) / (1 + df)) + 1.
        self.idf_ = np.log((1.0 + n_texts) / (1.0 + df[kept].astype(np.float64))) + 1.0
        self._kernel = None
        return kept

    def occurrences_key(self) -> tuple:
        """Return what :meth:`occurrences` depends on: blocks with equal keys share them."""
        return ("chars", bool(self.lowercase), tuple(self.ngram_range), self._limit())

    def occurrences(self, texts: list[str]) -> Occurrences:
        """Return the texts' character n-grams as :class:`Occurrences`, for :meth:`fit_occurrences` on any rows."""
        texts = self._head(texts)
        gram_ids, counted = self._counted_grams(texts)
        # Chunk by chunk, as fit counts: one chunk's gram occurrences in memory at once, then only its distinct ones.
        docs, grams, counts = [], [], []
        for start, doc, gram, count in counted:
            docs.append(doc + start)
            grams.append(gram)
            counts.append(count)
        empty = np.zeros(0, dtype=np.int64)
        return Occurrences(np.concatenate(docs) if docs else empty, np.concatenate(grams) if grams else empty,
                           np.concatenate(counts) if counts else empty, len(texts), list(gram_ids))

    def fit_occurrences(self, occ: Occurrences, rows, y=None):
        """Fit as ``fit`` on the texts ``rows`` of ``occ`` would; return ``transform(part)``: the fitted block's
        matrix of the texts ``part`` of ``occ``, as ``transform`` computes it."""
        kept = self._keep(occ.strings, occ.document_frequency(rows), occ.total(rows), len(rows))
        columns, width, idf = occ.columns(kept), len(kept), self.idf_

        def tf_idf(col, count):
            tf = count.astype(np.float64)
            np.log(tf, out=tf)
            tf += 1.0
            return tf * idf[col]

        return lambda part: occ.matrix(part, columns, width, tf_idf)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_fitted", None)
        state.pop("_kernel", None)
        return state

    def transform(self, X):
        """Return the TF-IDF matrix (float32, rows L2-normalised), computed as the serving kernel does."""
        check_is_fitted(self, "idf_")
        kernel = getattr(self, "_kernel", None)
        if kernel is None:
            kernel = self._kernel = self.compile(None, cache_size=TRAINING_CACHE_WORDS)
        width = len(self.idf_)
        parts = []
        for _, part in chunks(as_text_list(X)):
            doc, col, tf = kernel.entries(Batch(part))
            parts.append(normalized_rows(doc, col, tf * self.idf_[col], len(part), width))
        return stack_rows(parts, width)

    def compile(self, context, cache_size: int | None = None) -> "CharNgramsKernel":
        """Return the serving kernel of this fitted block (see :mod:`vecclf.training.kernels`).

        ``cache_size`` bounds the kernel's per-process cache of words' columns (default ``WORD_CACHE_SIZE``;
        training transforms keep more).
        """
        check_is_fitted(self, "idf_")
        vectorizer = self._vectorizer({"": 0})  # only its analyzer is used: no vocabulary needed
        return CharNgramsKernel(self.terms_, self.idf_, vectorizer.build_analyzer(), vectorizer.build_preprocessor(),
                                self._limit(), WORD_CACHE_SIZE if cache_size is None else cache_size)


class CharNgramsKernel(SparseKernel):
    """:class:`CharNgrams` for serving: character n-grams inside word boundaries, sublinear tf times idf.

    ``char_wb`` n-grams never cross whitespace, so a text's grams are its
    words' grams: each word's sorted columns are cached per worker, and one
    text is one sort of its words' columns, each occurrence weighted by the
    step it adds to its column's sublinear tf (no run-length pass needed).
    """

    def __init__(self, terms: str, idf: np.ndarray, analyze, preprocess, max_chars: int | None, cache_size: int):
        super().__init__(idf)
        self._terms = SharedTerms(terms, 0)
        if self._terms.size != self.width:
            raise Unsupported("character vocabulary and idf differ in length")
        self._analyze, self._preprocess, self._max_chars = analyze, preprocess, max_chars
        # Per process: word -> its n-gram columns, sorted, as the bytes of int64s (joining bytes is cheaper than
        # concatenating arrays, and a bytes object is smaller than an array).
        self._word_cols: dict[str, bytes] = {}
        self._cache_size = cache_size

    def _columns(self, words: list[str]) -> list[bytes]:
        """Return the sorted n-gram columns of each word (int64 bytes), learning the ones not seen before."""
        return cached(self._word_cols, words, self._learn, self._cache_size)

    def _learn(self, words: list[str]) -> list[bytes]:
        # Lowercasing is idempotent, so analysing a preprocessed word gives the grams it has inside the whole text.
        grams = [self._analyze(w) for w in words]
        cols = self._terms.find([g for gs in grams for g in gs]).astype(np.int64, copy=False)
        out = []
        for part in np.split(cols, np.cumsum([len(g) for g in grams])[:-1]):
            part = part[part >= 0]
            part.sort()
            out.append(part.tobytes())
        return out

    def logits1(self, batch):
        text = batch.texts[0]
        words = self._preprocess(text[: self._max_chars] if self._max_chars else text).split()
        if not words:
            return 0.0
        # Every occurrence of every word's columns, in a fresh (writable) buffer.
        merged = np.frombuffer(bytearray().join(self._columns(words)), dtype=np.int64)
        n = len(merged)
        if not n:
            return 0.0
        merged.sort()
        if n > RUN:
            return self._runs(merged)
        # The j-th occurrence of a column (j = 0, 1, ..., counted from its first place in the sorted array) adds
        # _TF_STEPS[j] to its [tf^2, tf]: the steps of tf = 1 + ln(count) add up to the sublinear tf of the text.
        j = _STEPS[:n] - merged.searchsorted(merged)
        # Row 0: sum of tf^2 weight^2 (the squared norm); row 1: sum of tf weight W.
        sums = _TF_STEPS.take(j, 0).T @ self._M.take(merged, 0)
        if self._scalar:
            (sq, _), (_, w) = sums.tolist()
            return self.scaled(sq, w)
        return self.scaled(float(sums[0, 0]), sums[1, 1:])

    def _runs(self, merged: np.ndarray):
        """Return the logits of one text from its sorted column occurrences, run by run (any length)."""
        edge = np.empty(len(merged) + 1, dtype=bool)
        edge[0] = edge[-1] = True
        np.not_equal(merged[1:], merged[:-1], out=edge[1:-1])
        starts = np.flatnonzero(edge)
        tf = np.log(np.diff(starts))
        tf += 1.0
        part = self._M.take(merged[starts[:-1]], 0)
        w = tf @ part[:, 1:]
        return self.scaled(float(np.dot(tf * tf, part[:, 0])), float(w[0]) if self._scalar else w)

    def entries(self, batch):
        texts = [t[: self._max_chars] for t in batch.texts] if self._max_chars else batch.texts
        doc, col = occurrence_grams([self._preprocess(t).split() for t in texts], self._columns)
        doc, col, tf = distinct(doc, col, self.width)
        tf = tf.astype(np.float64)
        np.log(tf, out=tf)
        tf += 1.0
        return doc, col, tf


def occurrence_grams(per_doc: list[list[str]], grams_of) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(doc, gram)`` for every gram of every word occurrence of the documents ``per_doc`` (word lists).

    ``grams_of(words)`` gives each distinct word's grams as the bytes of an int64 array.
    """
    counts = np.fromiter(map(len, per_doc), dtype=np.int64, count=len(per_doc))
    flat = list(chain.from_iterable(per_doc))
    if len(flat) > _ARROW_WORDS:
        import pyarrow as pa
        import pyarrow.compute as pc

        encoded = pc.dictionary_encode(pa.array(flat, type=pa.large_string()))
        occurrences = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        distinct_words = encoded.dictionary.to_pylist()
    else:
        codes: dict[str, int] = {}
        occurrences = np.fromiter((codes.setdefault(w, len(codes)) for w in flat), dtype=np.int64, count=len(flat))
        distinct_words = list(codes)
    del flat
    grams = grams_of(distinct_words)
    if not grams:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    lengths = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams)) // 8
    table = np.frombuffer(b"".join(grams), dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    # Every occurrence of a word contributes that word's grams to its document.
    spans = lengths[occurrences]
    total = int(spans.sum())
    ends = np.cumsum(spans)
    index = np.arange(total, dtype=np.int64) + np.repeat(starts[occurrences] - (ends - spans), spans)
    doc = np.repeat(np.repeat(np.arange(len(per_doc)), counts), spans)
    return doc, table[index]
