"""Feature sets: pooled word vectors, alone or next to sparse n-gram blocks.

================ ===============================================================
``mean``         mean of word vectors (the plain transfer-learning baseline)
``sif``          SIF-weighted mean with the common component removed
``meanmax``      mean and max pooling concatenated
``dense``        mean and SIF embeddings, each L2-normalised, standardised
                 (the few-labels candidate: nothing to learn per word)
``hybrid``       NB-weighted word 1-2 grams + TF-IDF character 2-5 grams
                 (within word boundaries) + the standardised mean embedding
``hybrid-pos``   ``hybrid`` plus sentence start/end markers in the word n-grams
                 and the vectors of the first three words (question type,
                 imperative, ...: where a sentence starts carries its class)
================ ===============================================================

Why the hybrid works: the dense block carries meaning learned from billions of
words (it generalises from few labels and to unseen words), the NB-weighted
n-grams carry the exact phrases of the task (Wang & Manning 2012), the
character n-grams catch morphology and misspellings; one L2-regularised
logistic regression balances them. Each block is scaled to unit-ish row norm
so one C fits all. ``auto`` (:mod:`vecclf.training.selection`) chooses among ``dense``,
``hybrid`` and ``hybrid-pos`` and C by cross-validation on the training data.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import Normalizer, normalize
from sklearn.utils.validation import check_is_fitted

from vecclf.training.embed import DocumentEmbedder, StoreBacked, as_text_list
from vecclf.training.tokens import Tokenizer

FEATURE_SETS = ("mean", "sif", "meanmax", "dense", "hybrid", "hybrid-pos")
BOS, EOS = "<s>", "</s>"


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
        """Learn column means and scales."""
        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        std[std == 0] = 1.0
        factor = float(self.weight) / (np.sqrt(X.shape[1]) if self.per_feature else 1.0)
        self.scale_ = std / factor
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        """Return the scaled block as float32."""
        check_is_fitted(self, "scale_")
        return ((np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_).astype(np.float32)


class FirstWords(StoreBacked, TransformerMixin, BaseEstimator):
    """Concatenate the vectors of each text's first ``k`` tokens (zeros where missing)."""

    def __init__(self, vectors="glove-6b-50d", store=None, k=3):
        self.vectors = vectors
        self.store = store
        self.k = k

    def fit(self, X, y=None):
        """Record the width; nothing is learned."""
        store = self._open()
        self.dim_ = store.dim
        self.n_features_out_ = self.k * store.dim
        return self

    def transform(self, X):
        """Return the (n_texts, k * dim) matrix."""
        check_is_fitted(self, "dim_")
        store = self._open()
        texts = as_text_list(X)
        out = np.zeros((len(texts), self.k * self.dim_), dtype=np.float32)
        heads = [tokens[: self.k] for tokens in store.tokenizer.many(texts)]
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


class CharNgrams(TransformerMixin, BaseEstimator):
    """TF-IDF character n-grams inside word boundaries of a text's first ``max_chars`` characters.

    A thin wrapper over scikit-learn's ``TfidfVectorizer(analyzer="char_wb")``
    that keeps only the terms and idf weights, in compact form.
    """

    def __init__(self, ngram_range=(2, 5), min_df=2, max_features=400_000, lowercase=True, max_chars=1000):
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.lowercase = lowercase
        self.max_chars = max_chars

    def _head(self, X) -> list[str]:
        # Character n-grams pay off on short, noisy text; on long documents the word and vector
        # blocks carry the content, and n-gramming every character would dominate training time.
        texts = as_text_list(X)
        limit = getattr(self, "max_chars", None)  # bundles written before the cap have no attribute
        if limit:
            texts = [t[:limit] for t in texts]
        return texts

    def _vectorizer(self, vocabulary=None) -> TfidfVectorizer:
        return TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(self.ngram_range), sublinear_tf=True,
                               lowercase=self.lowercase, min_df=self.min_df, max_features=self.max_features,
                               vocabulary=vocabulary, dtype=np.float32)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_fitted", None)
        return state

    def fit(self, X, y=None):
        """Learn the n-gram vocabulary and idf weights."""
        texts = self._head(X)
        vec = self._vectorizer()
        if len(texts) < 50 and self.min_df > 1:
            vec.set_params(min_df=1)  # too few texts for a rare-gram floor
        vec.fit(texts)
        self.terms_ = pack_terms(vec.vocabulary_)
        self.idf_ = np.asarray(vec.idf_, dtype=np.float64)
        self._fitted = None
        return self

    def transform(self, X):
        """Return the TF-IDF matrix."""
        check_is_fitted(self, "idf_")
        vec = getattr(self, "_fitted", None)
        if vec is None:
            vec = self._vectorizer(unpack_terms(self.terms_))
            vec.idf_ = self.idf_
            self._fitted = vec
        return vec.transform(self._head(X))


def dense_block(vectors, store, poolings=("mean",), weight=1.0):
    """Return pooled embeddings, each L2-normalised, standardised as one block of row norm about ``weight``."""
    parts = [(p, Pipeline([("embed", DocumentEmbedder(vectors=vectors, store=store, pooling=p)),
                           ("norm", Normalizer())])) for p in poolings]
    joined = parts[0][1] if len(parts) == 1 else FeatureUnion(parts)
    return Pipeline([("pooled", joined), ("scale", DenseScale(weight=weight, per_feature=True))])


def build_features(name: str, vectors: str, store: str | None, lowercase: bool = True, dense_weight: float = 1.0):
    """Return an unfitted transformer for feature set ``name``."""
    if name in ("mean", "sif", "meanmax"):
        return Pipeline([
            ("embed", DocumentEmbedder(vectors=vectors, store=store, pooling=name)),
            ("scale", DenseScale(weight=1.0)),
        ])
    if name == "dense":
        return dense_block(vectors, store, ("mean", "sif"))
    if name in ("hybrid", "hybrid-pos"):
        pos = name == "hybrid-pos"
        blocks = [
            ("words", NBNgrams(lowercase=lowercase, bos=pos)),
            ("chars", CharNgrams(lowercase=lowercase)),
            ("dense", dense_block(vectors, store, ("mean",), weight=dense_weight)),
        ]
        if pos:
            blocks.append(("first", Pipeline([("embed", FirstWords(vectors=vectors, store=store, k=3)),
                                              ("scale", DenseScale(weight=1.0, per_feature=True))])))
        return FeatureUnion(blocks)
    raise ValueError(f"unknown feature set {name!r}; choose one of {', '.join(FEATURE_SETS)} or auto")
