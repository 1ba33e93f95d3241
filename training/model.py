"""A trained text classifier: features + estimator + label set, with a predict API.

:class:`TextModel` is what a bundle holds and what the service calls. It
hides the single-label / multi-label difference: ``predict`` returns one dict
per text with the top ``label``, its ``confidence``, every label's ``scores``,
and for multi-label models the ``labels`` whose score passes ``threshold``.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
from joblib import parallel_config
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.utils.validation import check_is_fitted

from vecclf.training import progress
from vecclf.training.classifiers import build_classifier, quiet_convergence
from vecclf.training.outofcore import OUT_OF_CORE_ROWS, fit_out_of_core
from vecclf.training.tables import release_arrow_memory
from vecclf.training.embed import DocumentEmbedder, as_text_list
from vecclf.training.errors import DataError
from vecclf.training.features import build_features


# Texts per predict_proba step.
PREDICT_CHUNK = 8192


class TextModel(ClassifierMixin, BaseEstimator):
    """Features and classifier fitted together on raw texts.

    Parameters:
        vectors: vector store name or folder.
        store: model store folder (None: ``./models``).
        features: a feature set of :mod:`vecclf.training.features`.
        classifier: ``logreg``, ``svm``, ``mlp``, or ``fasttext`` (fastText's own supervised model,
            started from the store's vectors; ignores ``features``, ``C``, ``dense_weight`` and ``class_weight``).
        C: inverse regularisation strength.
        dense_weight: weight of the dense block in ``hybrid`` features.
        class_weight: None or ``"balanced"``.
        seed: random seed.
        threshold: score a label needs to be predicted in multi-label mode.
        n_jobs: threads for fitting (feature blocks side by side, one-vs-rest classes).
        encoder: None, or a sentence encoder (``minilm`` or a folder) whose embedding is one more block
            (:mod:`vecclf.training.features.encoded`).

    Above :data:`~vecclf.training.outofcore.OUT_OF_CORE_ROWS` single-label rows, logistic regression is
    fitted out of core (:mod:`vecclf.training.outofcore`): the same objective, in bounded memory.
    """

    def __init__(self, vectors="glove-6b-50d", store=None, features="mean", classifier="logreg", C=1.0,
                 dense_weight=1.0, class_weight=None, seed=0, threshold=0.5, n_jobs=1, encoder=None):
        self.vectors = vectors
        self.store = store
        self.features = features
        self.classifier = classifier
        self.C = C
        self.dense_weight = dense_weight
        self.class_weight = class_weight
        self.seed = seed
        self.threshold = threshold
        self.n_jobs = n_jobs
        self.encoder = encoder

    def _lowercase(self) -> bool:
        from vecclf.training.embed import store_dir
        from vecclf.training.vectors.store import open_store

        return open_store(store_dir(self.store), self.vectors).lowercase

    def fit(self, X, y, shared=None):
        """Fit on texts ``X`` and labels ``y`` (strings, or tuples of strings for multi-label).

        ``shared``: a :class:`~vecclf.training.features.shared.SharedBlocks` of ``X`` (the search's), whose
        label-free work the blocks then reuse; the fitted model is the same.
        """
        texts = as_text_list(X)
        y = list(y)
        if len(texts) != len(y):
            raise DataError(f"{len(texts)} texts but {len(y)} labels")
        self.multilabel_ = bool(y) and isinstance(y[0], (tuple, list))
        if self.multilabel_:
            self.binarizer_ = MultiLabelBinarizer()
            target = self.binarizer_.fit_transform(y)
            self.classes_ = np.asarray(self.binarizer_.classes_, dtype=object)
        else:
            target = np.asarray([str(v) for v in y], dtype=object)
            self.classes_ = np.unique(target)
        if len(self.classes_) < 2:
            raise DataError(f"need at least two classes to train, got {list(self.classes_)}")
        if self.classifier == "fasttext":
            # fastText tokenizes, embeds and classifies in one native model: no separate features step.
            from vecclf.training.fasttext_backend import FastTextClassifier

            self.pipeline_ = FastTextClassifier(vectors=self.vectors, store=self.store, seed=self.seed)
            self.pipeline_.fit(texts, y if self.multilabel_ else target)
            return self
        features = build_features(self.features, self.vectors, self.store, self._lowercase(), self.dense_weight,
                                  encoder=getattr(self, "encoder", None))
        jobs = _jobs(getattr(self, "n_jobs", 1))
        if self.classifier == "logreg" and not self.multilabel_ and len(texts) >= OUT_OF_CORE_ROWS:
            progress.step(f"fitting the {self.features} feature blocks on {len(texts):,} rows")
            with _blocks_in_threads(features, jobs):
                features.fit(texts, target)
            release_arrow_memory()  # the blocks' token arrays, freed but kept by pyarrow's pool
            # Chunks are built side by side in threads; each chunk's blocks one after another.
            clf = fit_out_of_core(features, texts, target, C=self.C, class_weight=self.class_weight, seed=self.seed,
                                  jobs=jobs, report=progress.step)
            self.pipeline_ = Pipeline([("features", features), ("clf", clf)])
            return self
        clf = build_classifier(self.classifier, C=self.C, seed=self.seed, class_weight=self.class_weight,
                               multilabel=self.multilabel_, n_classes=len(self.classes_))
        self.pipeline_ = Pipeline([("features", features), ("clf", clf)])
        if shared is not None and shared.covers(texts):
            with quiet_convergence():
                clf.fit(_fit_blocks(features, shared, target, jobs), target)
        else:
            with quiet_convergence(), _blocks_in_threads(features, jobs):
                self.pipeline_.fit(texts, target)
        _drop_pruned_terms(self.pipeline_)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Return an (n_texts, n_classes) matrix of scores in ``classes_`` order."""
        check_is_fitted(self, "pipeline_")
        texts = as_text_list(X)
        if not texts:
            return np.zeros((0, len(self.classes_)))
        # The estimator's column order is its own classes_, which equals ours (both sorted). Chunks of texts
        # keep the feature matrix of a large batch small.
        return np.vstack([np.asarray(self.pipeline_.predict_proba(texts[a : a + PREDICT_CHUNK]), dtype=np.float64)
                          for a in range(0, len(texts), PREDICT_CHUNK)])

    def predict(self, X):
        """Return the top label per text (tuples of labels for multi-label models)."""
        proba = self.predict_proba(X)
        if self.multilabel_:
            return [self._labels_over(row) for row in proba]
        return self.classes_[np.argmax(proba, axis=1)] if len(proba) else np.asarray([], dtype=object)

    def _labels_over(self, row) -> tuple:
        chosen = tuple(self.classes_[i] for i in np.flatnonzero(row >= self.threshold))
        return chosen or (self.classes_[int(np.argmax(row))],)

    def explain(self, X) -> list[dict]:
        """Return one ``{"label", "confidence", "scores"[, "labels"]}`` dict per text."""
        rows = self.predict_proba(X).tolist()
        labels_over = (lambda row: [str(c) for c in self._labels_over(np.asarray(row))]) if self.multilabel_ else None
        return explanations([str(c) for c in self.classes_], rows, labels_over)

    def embedder(self) -> DocumentEmbedder:
        """Return the fitted document embedder inside the features."""
        check_is_fitted(self, "pipeline_")
        if not isinstance(self.pipeline_, Pipeline):
            raise DataError("this model has no document embedder: fastText's own classifier embeds texts internally")
        stack = [self.pipeline_.named_steps["features"]] if hasattr(self.pipeline_, "named_steps") else []
        while stack:  # depth first, in pipeline order: the first pooled embedding of the features
            step = stack.pop(0)
            if isinstance(step, DocumentEmbedder):
                return step
            if isinstance(step, Pipeline):
                stack[:0] = [sub for _, sub in step.steps]
            elif hasattr(step, "transformer_list"):
                stack[:0] = [sub for _, sub in step.transformer_list]
        raise DataError("this model has no document embedder")


def _fit_blocks(features, shared, target, jobs: int):
    """Fit the blocks of ``features`` on all of ``shared``'s texts, ``jobs`` side by side; return their matrix."""
    from concurrent.futures import ThreadPoolExecutor

    from vecclf.training.features.sparse import hstack_blocks

    blocks = [part for _, part in features.transformer_list] if hasattr(features, "transformer_list") else [features]
    rows, none = np.arange(len(shared.texts)), np.zeros(0, dtype=np.int64)
    with ThreadPoolExecutor(max(1, min(jobs, len(blocks)))) as pool:
        parts = list(pool.map(lambda block: shared.fold(block, rows, none, target)[0], blocks))
    return parts[0] if len(parts) == 1 else hstack_blocks(parts)


@contextlib.contextmanager
def _blocks_in_threads(features, jobs: int):
    """Fit a FeatureUnion's blocks in ``jobs`` threads; afterwards it transforms serially again.

    A fitted union must not keep ``n_jobs``: its transform would then start joblib worker processes and send
    them every block (vocabularies included) on each call, when predicting or serving.
    """
    if not hasattr(features, "n_jobs") or jobs <= 1:
        yield
        return
    features.set_params(n_jobs=jobs)
    try:
        with parallel_config(backend="threading"):
            yield
    finally:
        features.set_params(n_jobs=None)


def _jobs(n_jobs) -> int:
    """Return the thread count ``n_jobs`` asks for (None or 0: every core; negative: all but ``-n_jobs - 1``)."""
    cores = os.cpu_count() or 1
    if not n_jobs:
        return cores
    return max(1, cores + 1 + n_jobs) if n_jobs < 0 else int(n_jobs)


def explanations(classes: list[str], rows: list[list[float]], labels_over=None) -> list[dict]:
    """Return the ``{"label", "confidence", "scores"[, "labels"]}`` dict of each row of class scores.

    ``label`` is the first of equal maxima (as ``np.argmax``); ``labels_over(row)``, for multi-label
    models, gives the ``labels`` entry. The one place predictions are put into words, for the
    pipeline and the compiled predictor alike.
    """
    out = []
    for row in rows:
        best = row.index(max(row))
        item = {"label": classes[best], "confidence": row[best], "scores": dict(zip(classes, row))}
        if labels_over is not None:
            item["labels"] = labels_over(row)
        out.append(item)
    return out


def _drop_pruned_terms(estimator) -> None:
    """Delete the vectorizers' ``stop_words_`` (every pruned n-gram): unused at predict time, often most of the file."""
    from sklearn.feature_extraction.text import CountVectorizer

    stack = [estimator]
    while stack:
        obj = stack.pop()
        if isinstance(obj, CountVectorizer) and hasattr(obj, "stop_words_"):
            del obj.stop_words_
        elif isinstance(obj, Pipeline):
            stack.extend(step for _, step in obj.steps)
        elif hasattr(obj, "transformer_list"):
            stack.extend(step for _, step in obj.transformer_list)
