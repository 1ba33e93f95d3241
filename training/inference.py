"""Fast inference for served models: the same numbers as ``TextModel``, less overhead per call.

``TextModel.predict_proba`` goes through the scikit-learn pipeline: input
checks, a vectorizer and a sparse matrix per block, a ``FeatureUnion`` hstack,
then the estimator's own checks. That is fine for batch jobs but costs 1-2 ms
for a one-text request. A :class:`Predictor` compiles the linear models that
``vecclf train`` makes by default into plain array arithmetic:

- every text is tokenized once; word rows come from the store's shared array
  index (:attr:`VectorStore.vocab_index`, built in the gunicorn master and
  shared by the workers) behind a small per-process cache of seen tokens;
- ``NBNgrams``: binary word 1-2 gram columns from its vocabulary, NB ratios,
  row L2 norm;
- ``CharNgrams``: the fitted vectorizer's analyzer, vocabulary lookup,
  sublinear tf times idf, row L2 norm;
- pooled embeddings (mean, SIF, meanmax, first words), L2-normalised and
  standardised: standardisation is folded into the classifier's weights;
- one product with the logistic-regression coefficients (split per block)
  plus the intercept, then the sigmoid (binary) or the one-vs-rest
  normalisation of scikit-learn's ``OneVsRestClassifier.predict_proba``.

A request with one text (most of them), or with up to ``SMALL_BATCH`` texts
taken one at a time, follows a leaner path to the same numbers, since
numpy's per-call overhead dominates on one short text: a
handful of numpy calls per block, the rest Python ints and floats (a binary
head's logit is one float; ``explain`` builds no array at all). Word n-grams
become a Python set of term keys (word ids and their products) whose columns
come from a per-process term cache; character n-grams one sort of the words'
cached columns, each occurrence weighted by the step it adds to its column's
sublinear tf (``_TF_STEPS``), so no run-length pass is needed; and an
L2-normalised mean embedding is the direction of the plain sum of word
vectors, ``(sum @ W) / |sum|``. Each sparse block keeps
``[weight^2 | weight * W]`` in one array so a text gathers its rows in one
``take`` and sums them in one product. No per-term dicts are built in the
gunicorn master (see :class:`_SharedTerms`); what one text needs is cached per
worker, bounded like the other caches.

Feature sets covered: ``mean``, ``sif``, ``meanmax``, ``dense``, ``hybrid``,
``hybrid-pos`` with ``LogisticRegression`` or ``OneVsRestClassifier`` of it.
Everything else (multi-label models, SVM, MLP, fastText) keeps the generic path.

The compiled path is checked against the model on probe texts when it is
built, as one batch and text by text; if the two disagree it is dropped, so a change elsewhere can make
serving slower but never different::

    model, manifest = ModelRegistry(store).load("sentiment")
    predictor = Predictor(model)
    predictor.explain(["a gripping, beautifully shot film"])

Nothing here imports gensim or scikit-learn training code at request time.
"""

from __future__ import annotations

import logging
import math
import re
from itertools import islice, repeat
from operator import add, mul

import numpy as np

from vecclf.training.embed import DocumentEmbedder
from vecclf.training.tokens import TOKEN_PATTERN, Tokenizer, normalize

log = logging.getLogger(__name__)

PROBE_TEXTS = [
    "a gripping, beautifully shot film that I loved",
    "dull, boring and far too long; the worst plot of the year",
    "",
    "   ",
    "zzqx unknownish-words only!!",
    "The the the . , ! café naïve don't",
    "Released in 1999, it cost $4.5m -- 3x its budget (24/7 hype); 10/10?!",
    "ΣΊΣΥΦΟΣ İstanbul 日本語のテキスト emoji 🎉 ﬁne ｆｕｌｌ width",
    "What is the capital of France ?",
    "Tab\tseparated\nlines   and  spaces",
    " ".join(["a long, long text: the film is good and bad and fine and dull"] * 60),
]
TOLERANCE = 1e-5
# Per process, each cleared when full: tokens -> vector rows, and per word n-gram block words -> ids and
# terms -> columns (ROW_CACHE_SIZE each, ~100 bytes an entry), and per character n-gram block words -> their
# columns (WORD_CACHE_SIZE, ~250 bytes an entry): about 20 MB per worker at most for a hybrid model.
ROW_CACHE_SIZE = 50_000
WORD_CACHE_SIZE = 20_000
# Up to this many texts, one text at a time is cheaper than the whole-batch arithmetic (default SST-2 model,
# benchmarks/request_path.py: 2 texts ~35 vs ~80 us a text, 8 texts ~35 vs ~42; from about 16 the batch wins).
SMALL_BATCH = 12
# One text's sums are dot products with ones and a table of sublinear-tf steps this long (~300 kB, built at
# import, so in the gunicorn master); a text with more terms than this takes the general arithmetic.
_RUN = 8192
_ONES = np.ones(_RUN)
_ONES32 = np.ones(_RUN, dtype=np.float32)
_STEPS = np.arange(_RUN)


def _log_tf_steps(n: int) -> np.ndarray:
    """Return ``(n, 2)``: what the j-th occurrence of a term adds to ``tf^2`` and ``tf``, with ``tf = 1 + ln count``."""
    tf = 1.0 + np.log(np.arange(1, n + 1, dtype=np.float64))
    before = np.concatenate([[0.0], tf[:-1]])
    return np.column_stack([tf * tf - before * before, tf - before])


_TF_STEPS = _log_tf_steps(_RUN)

# The token pattern's first two alternatives only match where "n't" follows: in a text without it, the rest of
# the pattern alone finds the same tokens, faster (no word start tries, and backtracks through, the first).
_CONTRACTION = r"\w+(?=n't\b)|n't\b|"
_FULL_RE = re.compile(TOKEN_PATTERN)
_PLAIN_RE = re.compile(TOKEN_PATTERN[len(_CONTRACTION):]) if TOKEN_PATTERN.startswith(_CONTRACTION) else None


def _tokenize(tokenizer, texts: list[str]) -> list[list[str]]:
    """Return ``tokenizer.many(texts)``."""
    if _PLAIN_RE is None or type(tokenizer) is not Tokenizer:
        return tokenizer.many(texts)
    full, plain = _FULL_RE.findall, _PLAIN_RE.findall
    return [full(t) if "n't" in t else plain(t) for t in map(normalize, texts, repeat(tokenizer.lowercase))]


class _Unsupported(Exception):
    """The model has a part the compiled path does not reproduce."""


class Predictor:
    """Predict with a fitted :class:`~vecclf.training.model.TextModel`, compiled where possible.

    Attributes:
        compiled: True when the fast path is in use.
        dim: width of the document embedding the ``embed`` endpoint returns.
    """

    def __init__(self, model):
        self.model = model
        self.classes = [str(c) for c in model.classes_]
        self.multilabel = bool(getattr(model, "multilabel_", False))
        self._embedder: DocumentEmbedder | None = None
        try:
            self._embedder = model.embedder()
        except Exception:  # a model without pooled vectors still predicts through the generic path
            self._embedder = None
        self.dim = int(self._embedder.n_features_out_) if self._embedder is not None else 0
        self._row_cache: dict[str, int] = {}
        self._pool = None  # compiled embedder for /embed, or None
        self._blocks = None  # compiled features + head, or None
        self.compiled = False
        try:
            self._compile()
        except Exception as exc:  # anything unusual: keep the generic, always-correct path
            log.info("fast inference path unavailable (%s: %s); using the model pipeline", type(exc).__name__, exc)
            self._pool = self._blocks = None
        self.compiled = self._blocks is not None

    # ------------------------------------------------------------ compile
    def _compile(self) -> None:
        from sklearn.pipeline import Pipeline

        emb = self._embedder
        if emb is not None:
            # Build the store's array word index now: in a preloading gunicorn master, so every worker shares it.
            emb._open().warm()
            try:
                self._pool = _DenseSource.of(emb, self)
            except _Unsupported:
                self._pool = None
            if self._pool is not None and not _agrees(emb.transform(PROBE_TEXTS), self.embed(PROBE_TEXTS)):
                log.warning("compiled embedding disagrees with the model; using the embedder")
                self._pool = None
        pipe = self.model.pipeline_
        if self.multilabel or not isinstance(pipe, Pipeline):
            return
        coef, intercept, link = _linear_head(pipe.named_steps["clf"], len(self.classes))
        blocks = _feature_blocks(pipe.named_steps["features"], self)
        widths = [b.width for b in blocks]
        if sum(widths) != coef.shape[1]:
            raise _Unsupported(f"feature widths {widths} do not add up to the classifier's {coef.shape[1]} columns")
        bias = intercept.copy()
        start = 0
        for block, width in zip(blocks, widths):
            bias += block.bind(coef[:, start : start + width].T)
            start += width
        self._blocks, self._bias, self._link = blocks, bias, link
        # One text sums Python floats when the head has one output column (binary), small arrays otherwise.
        self._bias1 = float(bias[0]) if len(bias) == 1 else bias
        expected = self.model.predict_proba(PROBE_TEXTS)
        # Both paths: the batch one, and the one-text one single-text and small requests take.
        alone = np.array([self._one(text) for text in PROBE_TEXTS])
        if not (_agrees(expected, self._batch_proba(PROBE_TEXTS)) and _agrees(expected, alone)):
            log.warning("compiled model disagrees with the pipeline on the probe texts; using the pipeline")
            self._blocks = None

    # ------------------------------------------------------------ words
    def rows(self, store, tokens: list[str]) -> np.ndarray:
        """Return the vector row of each token (-1 if none) through the store's shared index."""
        return np.asarray(self.row_list(store, tokens), dtype=np.int64)

    def row_list(self, store, tokens: list[str]) -> list[int]:
        """Return the vector row of each token (-1 if none), as a list."""
        return _cached(self._row_cache, tokens, lambda words: store.vocab_index.rows_of(words).tolist(),
                       ROW_CACHE_SIZE)

    # ------------------------------------------------------------ public
    def embed(self, texts: list[str]) -> np.ndarray:
        """Return the (n, dim) float32 document embeddings of ``texts``."""
        if self._embedder is None:
            raise ValueError("this model has no document embedder")
        if self._pool is not None:
            return self._pool(_Batch(texts)).astype(np.float32, copy=False)
        return self._embedder.transform(texts)

    def _one(self, text: str) -> list[float]:
        """Return the scores of one text, as floats: each block's one-text path, the link in Python arithmetic."""
        batch = _Batch([text])
        z = self._bias1
        for block in self._blocks:
            z = z + block.logits1(batch)
        if self._link == "sigmoid":
            p = _sigmoid1(z)
            return [1.0 - p, p]
        z = z.tolist() if isinstance(z, np.ndarray) else [z]
        if self._link == "ovr":
            p = [_sigmoid1(x) for x in z]
            total = sum(p)
            return [x / total for x in p] if total != 0 else p
        top = max(z)
        p = [math.exp(x - top) for x in z]
        total = sum(p)
        return [x / total for x in p]

    def _proba(self, texts: list[str]) -> np.ndarray:
        if len(texts) <= SMALL_BATCH:
            return np.array([self._one(text) for text in texts])
        return self._batch_proba(texts)

    def _batch_proba(self, texts: list[str]) -> np.ndarray:
        """Return the scores of ``texts`` with each block's whole-batch arithmetic."""
        batch = _Batch(texts)
        logits = np.zeros((len(texts), len(self._bias)), dtype=np.float64)
        for block in self._blocks:
            block.add(batch, logits)
        logits += self._bias
        if self._link == "sigmoid":
            p = _sigmoid(logits[:, 0])
            return np.column_stack([1.0 - p, p])
        if self._link == "ovr":
            # Each class's own sigmoid, rows rescaled to sum to one (OneVsRestClassifier.predict_proba).
            p = _sigmoid(logits)
            sums = p.sum(axis=1, keepdims=True)
            np.divide(p, sums, out=p, where=sums != 0)
            return p
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        return logits

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Return the (n, n_classes) scores in ``classes`` order."""
        if not texts:
            return np.zeros((0, len(self.classes)))
        if self._blocks is not None:
            return self._proba(texts)
        return self.model.predict_proba(texts)

    def explain(self, texts: list[str]) -> list[dict]:
        """Return one ``{"label", "confidence", "scores"[, "labels"]}`` dict per text, like ``TextModel.explain``."""
        if self._blocks is None:
            return self.model.explain(texts)
        classes = self.classes
        if len(texts) <= SMALL_BATCH:  # most requests: no arrays at all
            rows = [self._one(text) for text in texts]
            top = [row.index(max(row)) for row in rows]  # the first of equal maxima, as np.argmax
        else:
            proba = self._batch_proba(texts)
            rows, top = proba.tolist(), np.argmax(proba, axis=1).tolist()
        return [{"label": classes[best], "confidence": row[best], "scores": dict(zip(classes, row))}
                for row, best in zip(rows, top)]


def _sigmoid1(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= -700 else 0.0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(-x) overflows to inf for very negative x: the result is 0, as wanted
        return 1.0 / (1.0 + np.exp(-x))


def _agrees(expected, got) -> bool:
    expected, got = np.asarray(expected, dtype=np.float64), np.asarray(got, dtype=np.float64)
    return expected.shape == got.shape and bool(np.allclose(expected, got, rtol=TOLERANCE, atol=TOLERANCE))


def _cached(cache: dict, keys, learn, size: int) -> list:
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


def _linear_head(clf, n_classes: int):
    """Return ``(coef (n_out, F), intercept (n_out,), link)`` of a logistic regression or its one-vs-rest."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    if type(clf) is LogisticRegression:
        coef = np.asarray(clf.coef_, dtype=np.float64)
        intercept = np.asarray(clf.intercept_, dtype=np.float64).ravel()
        if coef.shape[0] == 1 and n_classes == 2:
            return coef, intercept, "sigmoid"
        # predict_proba: one-vs-rest sigmoids for liblinear or multi_class="ovr", else the softmax.
        ovr = clf.solver == "liblinear" or getattr(clf, "multi_class", None) == "ovr"
        return coef, intercept, "ovr" if ovr else "softmax"
    if type(clf) is OneVsRestClassifier:
        estimators = clf.estimators_
        if getattr(clf, "multilabel_", False) or len(estimators) != n_classes or n_classes < 3:
            raise _Unsupported("one-vs-rest shape the compiled path does not cover")
        for e in estimators:
            if type(e) is not LogisticRegression or np.asarray(e.coef_).shape[0] != 1:
                raise _Unsupported(f"one-vs-rest of {type(e).__name__}")
        coef = np.vstack([np.asarray(e.coef_, dtype=np.float64) for e in estimators])
        intercept = np.concatenate([np.asarray(e.intercept_, dtype=np.float64).ravel() for e in estimators])
        return coef, intercept, "ovr"
    raise _Unsupported(f"classifier {type(clf).__name__}")


# ---------------------------------------------------------------- batches
class _Batch:
    """One call's texts and what several blocks derive from them, computed once."""

    __slots__ = ("texts", "_tokens", "_rows")

    def __init__(self, texts: list[str]):
        self.texts = texts
        self._tokens: dict = {}
        self._rows: dict = {}

    def tokens(self, tokenizer) -> list[list[str]]:
        """Return each text's tokens under ``tokenizer`` (one tokenizer run per casing)."""
        key = tokenizer.lowercase
        docs = self._tokens.get(key)
        if docs is None:
            docs = self._tokens[key] = _tokenize(tokenizer, self.texts)
        return docs

    def rows(self, store, predictor) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(rows, offsets)``: every token's vector row (-1 if none), documents end to end."""
        got = self._rows.get(id(store))
        if got is None:
            docs = self.tokens(store.tokenizer)
            counts = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
            offsets = np.zeros(len(docs) + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            flat = docs[0] if len(docs) == 1 else [t for d in docs for t in d]
            got = self._rows[id(store)] = (predictor.rows(store, flat), offsets)
        return got


# ---------------------------------------------------------------- feature blocks
def _feature_blocks(features, predictor) -> list:
    """Return the compiled blocks of a features transformer, in column order."""
    from sklearn.pipeline import FeatureUnion, Pipeline

    from vecclf.training.features import CharNgrams, DenseScale, NBNgrams

    if isinstance(features, FeatureUnion):
        if features.transformer_weights:
            raise _Unsupported("weighted feature union")
        blocks = []
        for _, part in features.transformer_list:
            if part == "drop":
                continue
            blocks.extend(_feature_blocks(part, predictor))
        return blocks
    if type(features) is NBNgrams:
        return [_WordNgrams(features)]
    if type(features) is CharNgrams:
        return [_CharNgrams(features)]
    if isinstance(features, Pipeline) and len(features.steps) == 2 and type(features.steps[1][1]) is DenseScale:
        return [_ScaledDense(_DenseSource.of(features.steps[0][1], predictor), features.steps[1][1])]
    raise _Unsupported(f"features {type(features).__name__}")


class _SparseBlock:
    """Rows of ``tf * weight[col]``, L2-normalised, times the classifier's weights."""

    width = 0

    def __init__(self, column_weight: np.ndarray):
        self._colw = np.asarray(column_weight, dtype=np.float64)
        self.width = len(self._colw)

    def bind(self, W: np.ndarray) -> np.ndarray:
        """Fold the column weights into ``W`` (width, n_out); return the bias this block adds (none)."""
        # One array [weight^2 | weight * W] so a single text gathers its columns' numbers in one call; its last
        # row, all zeros, is where a one-text term without a column points.
        self._M = np.zeros((self.width + 1, 1 + W.shape[1]), dtype=np.float64)
        np.multiply(self._colw, self._colw, out=self._M[:-1, 0])
        np.multiply(self._colw[:, None], W, out=self._M[:-1, 1:])
        self._W, self._sq = self._M[:-1, 1:], self._M[:-1, 0]
        self._scalar = W.shape[1] == 1
        return np.zeros(W.shape[1])

    def entries(self, batch: _Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(doc, col, tf)``: each document's distinct columns and term frequencies."""
        raise NotImplementedError

    def logits1(self, batch: _Batch):
        """Return what a one-text batch adds to the logits: a float for a one-column head, else an array (or 0.0)."""
        raise NotImplementedError

    def _scaled(self, sq: float, w):
        """Return ``w / sqrt(sq)``, the row's products with the weights over its L2 norm (0.0 for an empty row)."""
        return w / math.sqrt(sq) if sq > 0 else 0.0

    def _distinct_sum(self, cols: list[int]):
        """Return the logits of one text whose distinct columns are ``cols``, each with term frequency one."""
        k = len(cols)
        rows = self._M.take(cols, 0)
        sums = np.dot(_ONES[:k], rows) if k <= _RUN else np.add.reduce(rows, 0)
        if self._scalar:
            sq, w = sums.tolist()
            return self._scaled(sq, w)
        return self._scaled(float(sums[0]), sums[1:])

    def add(self, batch: _Batch, logits: np.ndarray) -> None:
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


def _distinct(doc: np.ndarray, col: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the distinct ``(doc, col)`` pairs, sorted by document, and how often each occurs."""
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


class _SharedTerms:
    """Strings -> positions through an array index that forked workers share, plus a small per-process cache.

    A dict built in the gunicorn master is shared too, but every lookup increments the reference count
    of the int it returns, so each worker ends up with its own copy of every page of ints it touched
    (tens of MB for a large n-gram vocabulary). The arrays of a
    :class:`~vecclf.training.vectors.vocabindex.VocabIndex` are only ever read; the cache holds the worker's
    own ints.
    """

    def __init__(self, packed: str, cache_size: int, shift: int = 0, absent: int = -1):
        from vecclf.training.vectors.vocabindex import VocabIndex

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
        return _cached(self._cache, keys, self._learn, self._cache_size)

    def _learn(self, keys: list[str]) -> list[int]:
        shift, absent = self._shift, self._absent
        return [v + shift if v >= 0 else absent for v in self.find(keys).tolist()]


class _WordNgrams(_SparseBlock):
    """``NBNgrams``: binary word 1-2 grams weighted by NB ratios.

    Every word that occurs in a term gets an id; a bigram is the pair of its
    words' ids, found by binary search in a sorted array, so a batch's n-grams
    are looked up with a few array operations instead of a string per bigram.
    """

    def __init__(self, nb):
        from vecclf.training.features import BOS, EOS, unpack_terms
        from vecclf.training.tokens import Tokenizer

        super().__init__(nb.ratios_)
        if int(nb.max_ngram) > 2:
            raise _Unsupported("word n-grams longer than two words")
        terms = unpack_terms(nb.terms_)
        if len(terms) != self.width:
            raise _Unsupported("NB vocabulary and ratios differ in length")
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
        self._words = _SharedTerms("\n".join(words), ROW_CACHE_SIZE, shift=1, absent=n + 1)
        self._term_cache: dict[int, int] = {}  # per process: term key -> row of _M (width if none), for one text
        if self._words.size != len(words):
            raise _Unsupported("a word n-gram term holds a line break")

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
        return self._distinct_sum(_cached(self._term_cache, keys, self._term_columns, ROW_CACHE_SIZE))

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
        doc, col, _ = _distinct(np.concatenate(owners), np.concatenate(cols), self.width)
        return doc, col, np.ones(len(col))


class _CharNgrams(_SparseBlock):
    """``CharNgrams``: character n-grams inside word boundaries, sublinear tf times idf."""

    def __init__(self, chars):
        super().__init__(chars.idf_)
        self._terms = _SharedTerms(chars.terms_, 0)
        if self._terms.size != self.width:
            raise _Unsupported("character vocabulary and idf differ in length")
        vectorizer = chars._vectorizer({"": 0})  # only its analyzer is used: no vocabulary needed
        self._analyze = vectorizer.build_analyzer()
        self._preprocess = vectorizer.build_preprocessor()
        self._max_chars = getattr(chars, "max_chars", None)
        # Per process: word -> its n-gram columns, sorted, as the bytes of int64s (joining bytes is cheaper than
        # concatenating arrays, and a bytes object is smaller than an array).
        self._word_cols: dict[str, bytes] = {}

    def _columns(self, words: list[str]) -> list[bytes]:
        """Return the sorted n-gram columns of each word (int64 bytes), learning the ones not seen before."""
        return _cached(self._word_cols, words, self._learn, WORD_CACHE_SIZE)

    def _learn(self, words: list[str]) -> list[bytes]:
        # char_wb n-grams never cross whitespace, so a text's grams are its words' grams; lowercasing is
        # idempotent, so analysing a preprocessed word gives the grams it has inside the whole text.
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
        if n > _RUN:
            return self._runs(merged)
        # The j-th occurrence of a column (j = 0, 1, ..., counted from its first place in the sorted array) adds
        # _TF_STEPS[j] to its [tf^2, tf]: the steps of tf = 1 + ln(count) add up to the sublinear tf of the text.
        j = _STEPS[:n] - merged.searchsorted(merged)
        # Row 0: sum of tf^2 weight^2 (the squared norm); row 1: sum of tf weight W.
        sums = _TF_STEPS.take(j, 0).T @ self._M.take(merged, 0)
        if self._scalar:
            (sq, _), (_, w) = sums.tolist()
            return self._scaled(sq, w)
        return self._scaled(float(sums[0, 0]), sums[1, 1:])

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
        return self._scaled(float(np.dot(tf * tf, part[:, 0])), float(w[0]) if self._scalar else w)

    def entries(self, batch):
        preprocess = self._preprocess
        texts = [t[: self._max_chars] for t in batch.texts] if self._max_chars else batch.texts
        per_doc = [preprocess(t).split() for t in texts]
        counts = np.fromiter(map(len, per_doc), dtype=np.int64, count=len(per_doc))
        codes: dict[str, int] = {}
        occurrences = np.fromiter((codes.setdefault(w, len(codes)) for d in per_doc for w in d), dtype=np.int64,
                                  count=int(counts.sum()))
        grams = self._columns(list(codes))
        if not grams:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0)
        lengths = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams)) // 8
        table = np.frombuffer(b"".join(grams), dtype=np.int64)
        starts = np.cumsum(lengths) - lengths
        # Every occurrence of a word contributes that word's grams to its document.
        spans = lengths[occurrences]
        total = int(spans.sum())
        ends = np.cumsum(spans)
        index = np.arange(total, dtype=np.int64) + np.repeat(starts[occurrences] - (ends - spans), spans)
        doc = np.repeat(np.repeat(np.arange(len(per_doc)), counts), spans)
        doc, col, tf = _distinct(doc, table[index], self.width)
        tf = tf.astype(np.float64)
        np.log(tf, out=tf)
        tf += 1.0
        return doc, col, tf


class _ScaledDense:
    """A dense block standardised by ``DenseScale``, the standardisation folded into the weights."""

    def __init__(self, source, scale):
        self._source = source
        self._scale = scale
        self.width = int(scale.n_features_in_)
        if source.width != self.width:
            raise _Unsupported("dense block width differs from its scaler's")

    def bind(self, W: np.ndarray) -> np.ndarray:
        mean = np.asarray(self._scale.mean_, dtype=np.float64)
        scale = np.asarray(self._scale.scale_, dtype=np.float64)
        self._W = np.ascontiguousarray(W / scale[:, None])
        self._scalar = W.shape[1] == 1
        self._w1 = np.ascontiguousarray(self._W[:, 0])  # the one column of a binary head
        self._pooled = self._source.direction_of()
        return -(mean / scale) @ W

    def logits1(self, batch: _Batch):
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

    def add(self, batch: _Batch, logits: np.ndarray) -> None:
        """Add the block's share of every text's logits (the batch arithmetic; one text takes ``logits1``)."""
        logits += self._source(batch) @ self._W


# ---------------------------------------------------------------- dense sources
class _DenseSource:
    """A callable ``batch -> (n, width)`` array reproducing a dense transformer's output."""

    width = 0

    def one(self, batch: _Batch) -> np.ndarray:
        """Return the (width,) row of a one-text batch."""
        return self(batch)[0]

    def direction_of(self) -> "_Pooled | None":
        """Return the mean-pooling source whose L2-normalised output this is, if it is one."""
        return None

    @staticmethod
    def of(step, predictor) -> "_DenseSource":
        """Return the compiled form of ``step`` or raise :class:`_Unsupported`."""
        from sklearn.pipeline import FeatureUnion, Pipeline
        from sklearn.preprocessing import Normalizer

        from vecclf.training.features import FirstWords

        if type(step) is DocumentEmbedder:
            return _Pooled(step, predictor)
        if type(step) is FirstWords:
            return _FirstWords(step, predictor)
        if isinstance(step, Pipeline) and len(step.steps) == 2 and type(step.steps[1][1]) is Normalizer:
            if step.steps[1][1].norm != "l2":
                raise _Unsupported(f"{step.steps[1][1].norm} normalizer")
            return _Normalized(_DenseSource.of(step.steps[0][1], predictor))
        if isinstance(step, Pipeline) and len(step.steps) == 1:
            return _DenseSource.of(step.steps[0][1], predictor)
        if isinstance(step, FeatureUnion) and not step.transformer_weights:
            return _Joined([_DenseSource.of(part, predictor) for _, part in step.transformer_list])
        raise _Unsupported(f"dense step {type(step).__name__}")


class _Pooled(_DenseSource):
    """``DocumentEmbedder``: mean, SIF or meanmax pooling over the batch's word rows."""

    def __init__(self, emb: DocumentEmbedder, predictor):
        self._emb = emb
        self._predictor = predictor
        self._store = store = emb._open()
        self.width = int(emb.n_features_out_)
        self._matrix = np.asarray(store.vectors).view(np.ndarray)  # plain view: fancy indexing a memmap is slower
        # Stores with fastText subwords build OOV vectors from n-grams: the embedder does that itself.
        self._own = (emb.pooling in ("mean", "meanmax", "sif") and emb.empty == "zeros"
                     and not (emb.oov == "subword" and store.ngrams is not None))
        # take() gathers rows in one call but copies a non-contiguous array whole first: only on a contiguous
        # float32 matrix, row by row (C order) or through its C-ordered transpose (a Fortran-ordered .npy).
        matrix = self._matrix
        self._by_row = matrix if matrix.dtype == np.float32 and matrix.flags.c_contiguous else None
        self._by_col = matrix.T if matrix.dtype == np.float32 and matrix.T.flags.c_contiguous else None

    def sum_of(self, batch: _Batch) -> tuple[np.ndarray | None, int]:
        """Return the float32 sum of a one-text batch's word vectors (None if it has none), and their number."""
        rows = self._predictor.row_list(self._store, batch.tokens(self._store.tokenizer)[0])
        if -1 in rows:
            rows = [r for r in rows if r >= 0]
        k = len(rows)
        if not k:
            return None, 0
        if k <= _RUN:
            if self._by_row is not None:
                return np.dot(_ONES32[:k], self._by_row.take(rows, 0)), k
            if self._by_col is not None:
                return np.dot(self._by_col.take(rows, 1), _ONES32[:k]), k
        return self._matrix[rows].astype(np.float32, copy=False).sum(axis=0), k

    def direction_of(self):
        return self if self._own and self._emb.pooling == "mean" and self._emb.normalize else None

    def one(self, batch: _Batch) -> np.ndarray:
        if not self._own or self._emb.pooling != "mean":
            return self(batch)[0]
        out, count = self.sum_of(batch)
        if out is None:
            return np.zeros(self.width, dtype=np.float32)
        out /= count
        if self._emb.normalize:
            _l2(out)
        return out

    def __call__(self, batch: _Batch) -> np.ndarray:
        emb = self._emb
        if not self._own:
            return emb.transform(batch.texts)
        rows, offsets = batch.rows(self._store, self._predictor)
        n = len(offsets) - 1
        mean = np.zeros((n, self._store.dim), dtype=np.float32)
        maxed = np.zeros_like(mean) if emb.pooling == "meanmax" else None
        known = rows >= 0
        if n == 1:
            rows = rows[known]
            if len(rows):
                table = self._matrix[rows].astype(np.float32, copy=False)
                if emb.pooling == "sif":
                    weight = emb._weights(self._store, rows)
                    mean[0] = (weight @ table) / weight.sum(dtype=np.float64)
                else:
                    mean[0] = table.sum(axis=0) / len(rows)
                if maxed is not None:
                    maxed[0] = table.max(axis=0)
        elif known.any():
            doc = np.repeat(np.arange(n), np.diff(offsets))[known]
            rows = rows[known]
            table = self._matrix[rows].astype(np.float32, copy=False)
            counts = np.bincount(doc, minlength=n)
            starts = np.zeros(n, dtype=np.int64)
            np.cumsum(counts[:-1], out=starts[1:])
            nonempty = np.flatnonzero(counts)
            if emb.pooling == "sif":
                weight = emb._weights(self._store, rows)
                total = np.bincount(doc, weights=weight, minlength=n)
                sums = np.add.reduceat(table * weight[:, None], starts[nonempty], axis=0)
            else:
                total = counts
                sums = np.add.reduceat(table, starts[nonempty], axis=0)
            mean[nonempty] = sums / total[nonempty, None]
            if maxed is not None:
                maxed[nonempty] = np.maximum.reduceat(table, starts[nonempty], axis=0)
        out = mean if maxed is None else np.hstack([mean, maxed])
        if emb.pooling == "sif" and emb.component_.size:
            out -= np.outer(out @ emb.component_, emb.component_)
        if emb.normalize:
            _l2_rows(out)
        return out


class _FirstWords(_DenseSource):
    """``FirstWords``: the vectors of each text's first ``k`` tokens, zeros where missing."""

    def __init__(self, step, predictor):
        self._k = int(step.k)
        self._store = step._open()
        self._predictor = predictor
        self._dim = int(step.dim_)
        self.width = self._k * self._dim
        self._matrix = np.asarray(self._store.vectors).view(np.ndarray)

    def one(self, batch: _Batch) -> np.ndarray:
        dim = self._dim
        out = np.zeros(self.width, dtype=np.float32)
        tokens = batch.tokens(self._store.tokenizer)[0][: self._k]
        for j, row in enumerate(self._predictor.row_list(self._store, tokens)):
            if row >= 0:
                out[j * dim : (j + 1) * dim] = self._matrix[row]
        return out

    def __call__(self, batch: _Batch) -> np.ndarray:
        rows, offsets = batch.rows(self._store, self._predictor)
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


class _Normalized(_DenseSource):
    """``Normalizer()`` after a dense source: rows scaled to unit L2 norm."""

    def __init__(self, inner: _DenseSource):
        self._inner = inner
        self.width = inner.width

    def __call__(self, batch: _Batch) -> np.ndarray:
        return _l2_rows(np.array(self._inner(batch), dtype=np.float32))

    def one(self, batch: _Batch) -> np.ndarray:
        return _l2(np.array(self._inner.one(batch), dtype=np.float32))

    def direction_of(self):
        inner = self._inner
        # The L2 norm of a mean is that of the sum (zero stays zero): only mean pooling, whatever it does after.
        return inner if type(inner) is _Pooled and inner._own and inner._emb.pooling == "mean" else None


class _Joined(_DenseSource):
    """A ``FeatureUnion`` of dense sources: their columns side by side."""

    def __init__(self, parts: list):
        self._parts = parts
        self.width = sum(p.width for p in parts)

    def __call__(self, batch: _Batch) -> np.ndarray:
        return np.hstack([p(batch) for p in self._parts])

    def one(self, batch: _Batch) -> np.ndarray:
        return np.concatenate([p.one(batch) for p in self._parts])


def _l2(x: np.ndarray) -> np.ndarray:
    """Scale the vector ``x`` to unit L2 norm in place (a zero vector stays zero); return ``x``."""
    norm = np.sqrt(np.dot(x, x))
    if norm > 0:
        x /= norm
    return x


def _l2_rows(X: np.ndarray) -> np.ndarray:
    """Scale the rows of ``X`` to unit L2 norm in place (zero rows stay zero); return ``X``."""
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))[:, None]
    np.divide(X, norms, out=X, where=norms > 0)
    return X
