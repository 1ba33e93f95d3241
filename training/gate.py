"""The retrain gate: score the candidate and the current version on one holdout, then decide.

Both versions predict the same held-out rows, so their scores differ only by
the models, not by the luck of two splits. The current version may not know
a label that appears in the new data: its rows count as wrong for it (it
could not have answered them), and the labels are the union of both.

The candidate is promoted only if every rule holds:

- its ``metric`` (accuracy or macro-F1) is at least ``min_score``;
- it is at most ``max_regression`` below the current version's ``metric``;
- it passes the behavioural checks of ``vecclf check`` (when ``checks``).
"""

from __future__ import annotations

import numpy as np

from vecclf.training.data import Dataset
from vecclf.training.evaluate import metrics


def predictions(model, texts: list[str]) -> tuple[list, list[float]]:
    """Return what ``model.predict`` returns for ``texts`` (as a list) and the top score of each, in one pass."""
    proba = model.predict_proba(texts)
    if not len(proba):
        return [], []
    top = np.argmax(proba, axis=1)
    if model.multilabel_:
        preds = [model._labels_over(row) for row in proba]
    else:
        preds = [model.classes_[i] for i in top]
    return [p if isinstance(p, tuple) else str(p) for p in preds], [float(proba[i, j]) for i, j in enumerate(top)]


def score(model, holdout: Dataset) -> tuple[dict, list, list[float]]:
    """Return ``(metrics, predictions, confidences)`` of ``model`` on ``holdout``, over the union of labels."""
    preds, confidence = predictions(model, holdout.texts)
    truth = list(holdout.labels)
    classes = sorted({str(c) for c in model.classes_} | set(holdout.classes()))
    multilabel = holdout.multilabel or bool(model.multilabel_)
    if multilabel:
        truth = [t if isinstance(t, tuple) else (t,) for t in truth]
        preds = [p if isinstance(p, tuple) else (p,) for p in preds]
    return metrics(truth, preds, classes, multilabel), preds, confidence


def summary(m: dict) -> dict:
    """Return the headline numbers of a metrics dict (no confusion matrix)."""
    return {k: v for k, v in m.items() if k != "confusion_matrix"}


def decide(gate, candidate: dict, current: dict | None, checks: dict | None) -> tuple[bool, str, list[str]]:
    """Apply the gate; return ``(passed, reason, failures)`` with one sentence per rule in ``reason``.

    ``candidate`` is ``{"version", "metrics"}``; ``current`` the same, ``{"version", "error"}`` when it could not
    be loaded, or None when the model has no current version; ``checks`` a ``check_model`` report or None.
    """
    name = gate.metric
    value = candidate["metrics"][name]
    passes: list[str] = []
    failures: list[str] = []
    if value >= gate.min_score:
        passes.append(f"{name} {value:.4f} >= min_score {gate.min_score:g}")
    else:
        failures.append(f"{name} {value:.4f} is below min_score {gate.min_score:g}")
    if current is None:
        passes.append("no current version to compare with")
    elif "error" in current:
        passes.append(f"current version {current['version']} cannot be scored ({current['error']})")
    else:
        before = current["metrics"][name]
        drop = before - value
        if drop <= gate.max_regression + 1e-12:
            passes.append(f"{name} {value:.4f} vs current {current['version']} {before:.4f} on the same holdout "
                          f"(within max_regression {gate.max_regression:g})")
        else:
            failures.append(f"{name} {value:.4f} is {drop:.4f} below current {current['version']}'s {before:.4f} "
                            f"on the same holdout (max_regression {gate.max_regression:g})")
    if checks is not None:
        failed = [c for c in checks["checks"] if not c["passed"]]
        if failed:
            failures.append("behavioural checks failed: " + "; ".join(
                f"{c['name']} ({len(c['failures'])} of {c['cases']} cases wrong)" for c in failed))
        else:
            passes.append(f"behavioural checks passed ({', '.join(c['name'] for c in checks['checks'])})")
    if failures:
        return False, "kept the current version: " + "; ".join(failures), failures
    return True, "promoted: " + "; ".join(passes), failures
