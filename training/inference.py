"""Fast inference for served models: the same numbers as ``TextModel``, less overhead per call.

``TextModel.explain`` goes through the scikit-learn pipeline: input checks,
``np.unique`` and a sparse matrix per call, then the estimator's own checks.
That is fine for batch jobs but costs ~2 ms for a one-text request. A
:class:`Predictor` compiles the common case — pooled word vectors, standardised,
then logistic regression — into one gather, one pooling step and one small
matrix product, and keeps the generic path for everything else (hybrid
features, SVM, MLP, multi-label, fastText subwords).

The compiled path is checked against the model on probe texts when it is
built; if the two disagree it is dropped, so a change elsewhere can make
serving slower but never different::

    model, manifest = ModelRegistry(store).load("sentiment")
    predictor = Predictor(model)
    predictor.explain(["a gripping, beautifully shot film"])

Nothing here imports gensim or scikit-learn training code.
"""

from __future__ import annotations

import logging
from itertools import repeat

import numpy as np

from training.embed import DocumentEmbedder

log = logging.getLogger(__name__)

PROBE_TEXTS = [
    "a gripping, beautifully shot film that I loved",
    "dull, boring and far too long; the worst plot of the year",
    "",
    "zzqx unknownish-words only!!",
    "The the the . , ! café naïve don't",
]
TOLERANCE = 1e-5


class Predictor:
    """Predict with a fitted :class:`~training.model.TextModel`, compiled where possible.

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
        self._pool = None
        self._head = None
        self.compiled = False
        try:
            self._compile()
        except Exception as exc:  # anything unusual: keep the generic, always-correct path
            log.info("fast inference path unavailable (%s: %s); using the model pipeline", type(exc).__name__, exc)
            self._pool = self._head = None
        self.compiled = self._head is not None

    # ------------------------------------------------------------ compile
    def _compile(self) -> None:
        emb = self._embedder
        if emb is None:
            return
        store = emb._open()
        # A plain ndarray view of the mmap: fancy indexing on np.memmap is several times slower.
        self._matrix = np.asarray(store.vectors).view(np.ndarray)
        self._index = store.index
        self._tokenize = store.tokenizer.many
        self._store = store
        if emb.pooling in ("mean", "meanmax") and (emb.oov != "subword" or store.ngrams is None) and emb.empty == "zeros":
            self._pool = self._fast_pool
            if not self._agrees(emb.transform(PROBE_TEXTS), self._fast_pool(PROBE_TEXTS)):
                self._pool = None
        head = self._linear_head()
        if head is not None:
            self._head = head
            if not self._agrees(self.model.predict_proba(PROBE_TEXTS), self._proba(PROBE_TEXTS)):
                self._head = None

    @staticmethod
    def _agrees(expected, got) -> bool:
        expected, got = np.asarray(expected, dtype=np.float64), np.asarray(got, dtype=np.float64)
        return expected.shape == got.shape and bool(np.allclose(expected, got, rtol=TOLERANCE, atol=TOLERANCE))

    def _linear_head(self):
        """Return ``(W, b, binary)`` folding standardisation into logistic regression, or None."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline

        from training.features import DenseScale

        if self.multilabel:
            return None
        pipe = self.model.pipeline_
        features, clf = pipe.named_steps["features"], pipe.named_steps["clf"]
        if type(clf) is not LogisticRegression or not isinstance(features, Pipeline):
            return None
        steps = [s for _, s in features.steps]
        if len(steps) != 2 or steps[0] is not self._embedder or type(steps[1]) is not DenseScale:
            return None
        scale = steps[1]
        coef = np.asarray(clf.coef_, dtype=np.float64)
        W = (coef / scale.scale_).T
        b = np.asarray(clf.intercept_, dtype=np.float64) - (scale.mean_ / scale.scale_) @ coef.T
        return W, b, coef.shape[0] == 1 and len(self.classes) == 2

    # ------------------------------------------------------------ pooling
    def _fast_pool(self, texts: list[str]) -> np.ndarray:
        emb, get = self._embedder, self._index.get
        docs = self._tokenize(texts)
        n, dim = len(texts), self._matrix.shape[1]
        mean = np.zeros((n, dim), dtype=np.float32)
        maxed = np.zeros((n, dim), dtype=np.float32) if emb.pooling == "meanmax" else None
        if n == 1:
            rows = [r for r in map(get, docs[0], repeat(-1)) if r >= 0]
            if rows:
                table = np.asarray(self._matrix[rows], dtype=np.float32)
                mean[0] = table.mean(axis=0, dtype=np.float32)
                if maxed is not None:
                    maxed[0] = table.max(axis=0)
        else:
            per_doc = [[r for r in map(get, d, repeat(-1)) if r >= 0] for d in docs]
            counts = np.fromiter(map(len, per_doc), dtype=np.int64, count=n)
            flat = [r for rows in per_doc for r in rows]
            if flat:
                table = np.asarray(self._matrix[flat], dtype=np.float32)
                nonempty = np.flatnonzero(counts)
                starts = np.zeros(n, dtype=np.int64)
                np.cumsum(counts[:-1], out=starts[1:])
                sums = np.add.reduceat(table, starts[nonempty], axis=0)
                mean[nonempty] = sums / counts[nonempty, None].astype(np.float32)
                if maxed is not None:
                    maxed[nonempty] = np.maximum.reduceat(table, starts[nonempty], axis=0)
        out = mean if maxed is None else np.hstack([mean, maxed])
        if emb.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            np.divide(out, norms, out=out, where=norms > 0)
        return out

    # ------------------------------------------------------------ public
    def embed(self, texts: list[str]) -> np.ndarray:
        """Return the (n, dim) float32 document embeddings of ``texts``."""
        if self._embedder is None:
            raise ValueError("this model has no document embedder")
        if self._pool is not None:
            return self._pool(texts)
        return self._embedder.transform(texts)

    def _proba(self, texts: list[str]) -> np.ndarray:
        W, b, binary = self._head
        logits = self.embed(texts).astype(np.float64) @ W + b
        if binary:
            p = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.column_stack([1.0 - p, p])
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        return logits

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Return the (n, n_classes) scores in ``classes`` order."""
        if not texts:
            return np.zeros((0, len(self.classes)))
        if self._head is not None:
            return self._proba(texts)
        return self.model.predict_proba(texts)

    def explain(self, texts: list[str]) -> list[dict]:
        """Return one ``{"label", "confidence", "scores"[, "labels"]}`` dict per text, like ``TextModel.explain``."""
        if self._head is None:
            return self.model.explain(texts)
        proba = self.predict_proba(texts)
        classes = self.classes
        top = np.argmax(proba, axis=1).tolist()
        out = []
        for row, best in zip(proba.tolist(), top):
            out.append({"label": classes[best], "confidence": row[best], "scores": dict(zip(classes, row))})
        return out
