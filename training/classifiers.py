"""Classifiers on top of the features: logistic regression, linear SVM, small MLP.

All give class probabilities (the SVM through Platt-style calibration), take
``class_weight="balanced"`` for imbalanced data where the estimator supports
it, and are seeded for reproducible results. Multi-label targets wrap the
estimator in one-vs-rest, one binary model per label.
"""

from __future__ import annotations

import contextlib
import logging
import warnings

from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.multiclass import OneVsRestClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import LinearSVC

log = logging.getLogger(__name__)

CLASSIFIERS = ("logreg", "svm", "mlp")


def build_classifier(name: str = "logreg", *, C: float = 1.0, seed: int = 0, class_weight: str | None = None,
                     multilabel: bool = False, n_classes: int = 2, tol: float | None = None):
    """Return an unfitted classifier ``name`` with regularisation ``C``.

    ``tol``: the logistic regression's stopping tolerance (None: scikit-learn's, 1e-4); the others ignore it.
    """
    if name == "logreg":
        # liblinear's dual solver is 3-5x faster than the primal ones on wide sparse+dense features
        # (more columns than rows); it is binary, so more classes go one-vs-rest.
        # 200 passes: at large C the dual solver can crawl for thousands of passes without changing
        # a prediction (TREC: same accuracy at 100 and 2000 passes, half the time).
        est = LogisticRegression(C=C, max_iter=200, class_weight=class_weight, random_state=seed,
                                 solver="liblinear", dual=True, tol=1e-4 if tol is None else tol)
        if n_classes > 2 and not multilabel:
            return OneVsRestClassifier(est)
    elif name == "svm":
        est = CalibratedClassifierCV(
            LinearSVC(C=C, class_weight=class_weight, random_state=seed, max_iter=5000), cv=3, method="sigmoid"
        )
    elif name == "mlp":
        # sklearn's MLP has no class_weight; alpha is its L2 penalty, the inverse of C.
        est = MLPClassifier(
            hidden_layer_sizes=(128,), alpha=1.0 / (C * 100), max_iter=300, early_stopping=True, random_state=seed
        )
    else:
        raise ValueError(f"unknown classifier {name!r}; choose one of {', '.join(CLASSIFIERS)}")
    return OneVsRestClassifier(est) if multilabel else est


@contextlib.contextmanager
def quiet_convergence():
    """Log, rather than warn, when a solver stops at its iteration cap (expected at large C)."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        yield
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            log.debug("solver stopped at its iteration cap: %s", w.message)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def linear_head(clf, n_classes: int):
    """Return ``(coef (n_out, F), intercept (n_out,), link)`` of a fitted logistic regression (or its one-vs-rest,
    or log-loss SGD: :mod:`vecclf.training.outofcore`).

    This is the classifier's serving kernel: the predictor folds each feature block's slice of ``coef``
    into the block and applies ``link`` (``sigmoid`` for a binary head, ``ovr`` for one-vs-rest sigmoids
    rescaled to sum to one, ``softmax`` otherwise), as ``predict_proba`` does.

    Raises:
        Unsupported: the classifier is not a (one-vs-rest) logistic regression of the shape covered.
    """
    import numpy as np

    from vecclf.training.kernels import Unsupported

    if type(clf) is LogisticRegression:
        coef = np.asarray(clf.coef_, dtype=np.float64)
        intercept = np.asarray(clf.intercept_, dtype=np.float64).ravel()
        if coef.shape[0] == 1 and n_classes == 2:
            return coef, intercept, "sigmoid"
        # predict_proba: one-vs-rest sigmoids for liblinear or multi_class="ovr", else the softmax.
        ovr = clf.solver == "liblinear" or getattr(clf, "multi_class", None) == "ovr"
        return coef, intercept, "ovr" if ovr else "softmax"
    if type(clf) is SGDClassifier:
        if clf.loss != "log_loss":
            raise Unsupported(f"SGD with {clf.loss} loss")
        coef = np.asarray(clf.coef_, dtype=np.float64)
        intercept = np.asarray(clf.intercept_, dtype=np.float64).ravel()
        # predict_proba: a sigmoid for two classes, one-vs-rest sigmoids rescaled to sum to one for more.
        return coef, intercept, "sigmoid" if coef.shape[0] == 1 and n_classes == 2 else "ovr"
    if type(clf) is OneVsRestClassifier:
        estimators = clf.estimators_
        if getattr(clf, "multilabel_", False) or len(estimators) != n_classes or n_classes < 3:
            raise Unsupported("one-vs-rest shape the compiled path does not cover")
        for e in estimators:
            if type(e) is not LogisticRegression or np.asarray(e.coef_).shape[0] != 1:
                raise Unsupported(f"one-vs-rest of {type(e).__name__}")
        coef = np.vstack([np.asarray(e.coef_, dtype=np.float64) for e in estimators])
        intercept = np.concatenate([np.asarray(e.intercept_, dtype=np.float64).ravel() for e in estimators])
        return coef, intercept, "ovr"
    raise Unsupported(f"classifier {type(clf).__name__}")
