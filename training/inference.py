"""Fast inference for served models: the same numbers as ``TextModel``, less overhead per call.

``TextModel.predict_proba`` goes through the scikit-learn pipeline: input
checks, a vectorizer and a sparse matrix per block, a ``FeatureUnion``
hstack, then the estimator's own checks. That is fine for batch jobs but
costs 1-2 ms for a one-text request. A :class:`Predictor` composes the
*kernels* of the model's parts instead, each defined beside the part it
mirrors (see :mod:`vecclf.training.kernels` for the contract):

- each feature block's ``compile`` (:func:`vecclf.training.features.compile_features`:
  NB word n-grams, character n-grams, standardised pooled embeddings, first
  words), in column order;
- the classifier's :func:`~vecclf.training.classifiers.linear_head`, whose
  weights each block folds into its own arithmetic (``bind``), plus the
  link: the sigmoid (binary) or the one-vs-rest normalisation of
  ``OneVsRestClassifier.predict_proba`` or the softmax.

A request with one text (most of them), or with up to :data:`SMALL_BATCH`
texts taken one at a time, follows each kernel's one-text path (numpy's
per-call overhead dominates on one short text, so those paths use a handful
of numpy calls and Python floats); larger requests take each kernel's batch
arithmetic. Every text is tokenized once per call; word rows come from the
store's shared array index behind a per-worker cache.

Feature sets covered: ``mean``, ``sif``, ``meanmax``, ``dense``, ``hybrid``,
``hybrid-pos`` with ``LogisticRegression`` or ``OneVsRestClassifier`` of it.
Everything else (multi-label models, SVM, MLP, fastText) keeps the pipeline.

The compiled path is checked against the model on probe texts when it is
built, as one batch and text by text; if the two disagree it is dropped (and
:attr:`Predictor.fallback` says why), so a change elsewhere can make serving
slower but never different::

    model, manifest = ModelRegistry(store).load("sentiment")
    predictor = Predictor(model)
    predictor.explain(["a gripping, beautifully shot film"])

Nothing here imports gensim or scikit-learn training code at request time.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from vecclf.training.kernels import Batch, Context, Unsupported
from vecclf.training.model import explanations

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
# Up to this many texts, one text at a time is cheaper than the whole-batch arithmetic (default SST-2 model,
# benchmarks/request_path.py: 2 texts ~35 vs ~80 us a text, 8 texts ~35 vs ~42; from about 16 the batch wins).
SMALL_BATCH = 12


class _Disagrees(Unsupported):
    """The compiled path was built but gives other numbers than the pipeline: a bug to hear about."""


class Predictor:
    """Predict with a fitted :class:`~vecclf.training.model.TextModel`, compiled where possible.

    Attributes:
        compiled: True when the compiled path is in use.
        fallback: why the compiled path is not in use (None when it is).
        dim: width of the document embedding the ``embed`` endpoint returns.
    """

    def __init__(self, model):
        self.model = model
        self.classes = [str(c) for c in model.classes_]
        self.multilabel = bool(getattr(model, "multilabel_", False))
        self._context = Context()
        try:
            self._embedder = model.embedder()
        except Exception:  # a model without pooled vectors still predicts through the generic path
            self._embedder = None
        self.dim = int(self._embedder.n_features_out_) if self._embedder is not None else 0
        self._pool = self._compile_embedding()
        self._kernels = None
        self.fallback = None
        try:
            self._compile()
        except Exception as exc:  # anything unusual: keep the generic, always-correct path
            self.fallback = f"{type(exc).__name__}: {exc}"
            level = logging.WARNING if isinstance(exc, _Disagrees) else logging.INFO
            log.log(level, "fast inference path unavailable (%s); using the model pipeline", self.fallback)
            self._kernels = None
        self.compiled = self._kernels is not None

    # ------------------------------------------------------------ compile
    def _compile_embedding(self):
        """Return the embedder's kernel for ``embed``, or None when it is missing or disagrees with the embedder."""
        emb = self._embedder
        if emb is None:
            return None
        try:
            kernel = emb.compile(self._context)
        except Unsupported:
            return None
        if not _agrees(emb.transform(PROBE_TEXTS), kernel(Batch(PROBE_TEXTS))):
            log.warning("compiled embedding disagrees with the model; using the embedder")
            return None
        return kernel

    def _compile(self) -> None:
        from sklearn.pipeline import Pipeline

        from vecclf.training.classifiers import linear_head
        from vecclf.training.features import compile_features

        pipe = self.model.pipeline_
        if self.multilabel:
            raise Unsupported("multi-label model")
        if not isinstance(pipe, Pipeline):
            raise Unsupported(f"model of {type(pipe).__name__}")
        coef, intercept, link = linear_head(pipe.named_steps["clf"], len(self.classes))
        kernels = compile_features(pipe.named_steps["features"], self._context)
        widths = [k.width for k in kernels]
        if sum(widths) != coef.shape[1]:
            raise Unsupported(f"feature widths {widths} do not add up to the classifier's {coef.shape[1]} columns")
        bias = intercept.copy()
        start = 0
        for kernel, width in zip(kernels, widths):
            bias += kernel.bind(coef[:, start : start + width].T)
            start += width
        self._kernels, self._bias, self._link = kernels, bias, link
        # One text sums Python floats when the head has one output column (binary), small arrays otherwise.
        self._bias1 = float(bias[0]) if len(bias) == 1 else bias
        expected = self.model.predict_proba(PROBE_TEXTS)
        # Both paths: the batch one, and the one-text one single-text and small requests take.
        alone = np.array([self._one(text) for text in PROBE_TEXTS])
        if not _agrees(expected, self._batch_proba(PROBE_TEXTS)):
            raise _Disagrees("the compiled batch arithmetic disagrees with the pipeline on the probe texts")
        if not _agrees(expected, alone):
            raise _Disagrees("the compiled one-text arithmetic disagrees with the pipeline on the probe texts")

    # ------------------------------------------------------------ arithmetic
    def _one(self, text: str) -> list[float]:
        """Return the scores of one text, as floats: each kernel's one-text path, the link in Python arithmetic."""
        batch = Batch([text])
        z = self._bias1
        for kernel in self._kernels:
            z = z + kernel.logits1(batch)
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

    def _batch_proba(self, texts: list[str]) -> np.ndarray:
        """Return the scores of ``texts`` with each kernel's whole-batch arithmetic."""
        batch = Batch(texts)
        logits = np.zeros((len(texts), len(self._bias)), dtype=np.float64)
        for kernel in self._kernels:
            kernel.add(batch, logits)
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

    # ------------------------------------------------------------ public
    def embed(self, texts: list[str]) -> np.ndarray:
        """Return the (n, dim) float32 document embeddings of ``texts``."""
        if self._embedder is None:
            raise ValueError("this model has no document embedder")
        if self._pool is not None:
            return self._pool(Batch(texts)).astype(np.float32, copy=False)
        return self._embedder.transform(texts)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Return the (n, n_classes) scores in ``classes`` order."""
        if not texts:
            return np.zeros((0, len(self.classes)))
        if self._kernels is None:
            return self.model.predict_proba(texts)
        if len(texts) <= SMALL_BATCH:
            return np.array([self._one(text) for text in texts])
        return self._batch_proba(texts)

    def explain(self, texts: list[str]) -> list[dict]:
        """Return one ``{"label", "confidence", "scores"[, "labels"]}`` dict per text, like ``TextModel.explain``."""
        if self._kernels is None:
            return self.model.explain(texts)
        if len(texts) <= SMALL_BATCH:  # most requests: no arrays at all
            rows = [self._one(text) for text in texts]
        else:
            rows = self._batch_proba(texts).tolist()
        return explanations(self.classes, rows)


def _sigmoid1(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= -700 else 0.0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(-x) overflows to inf for very negative x: the result is 0, as wanted
        return 1.0 / (1.0 + np.exp(-x))


def _agrees(expected, got) -> bool:
    expected, got = np.asarray(expected, dtype=np.float64), np.asarray(got, dtype=np.float64)
    return expected.shape == got.shape and bool(np.allclose(expected, got, rtol=TOLERANCE, atol=TOLERANCE))
