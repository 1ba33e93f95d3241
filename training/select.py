"""``--features auto``: choose the feature set and regularisation by cross-validation.

Only the training data is used: each candidate is scored by stratified K-fold
CV on it, and the best mean accuracy wins (ties go to the earlier, simpler
candidate). ``budget`` (seconds) bounds the search: candidates that would
start after it has run out are skipped, and the report says so. The choice
and every candidate's CV score go into the bundle manifest.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_C = 1.0
# Ordered cheapest first, so a tight budget still yields a sensible model.
CANDIDATES = [
    {"features": "meanmax", "C": 1.0},
    {"features": "hybrid", "C": 1.0, "dense_weight": 1.0},
    {"features": "hybrid", "C": 4.0, "dense_weight": 1.0},
    {"features": "hybrid", "C": 1.0, "dense_weight": 0.3},
]


def _folds(labels, multilabel: bool, seed: int, k: int = 3):
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(labels)
    if not multilabel:
        smallest = min(Counter(labels).values())
        if smallest >= k:
            return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(n), labels))
    return list(KFold(n_splits=min(k, n), shuffle=True, random_state=seed).split(np.zeros(n)))


def choose_config(texts, labels, *, vectors, store, features="auto", classifier="logreg", C=None,
                  class_weight=None, seed=0, budget=None, multilabel=False):
    """Return ``(TextModel params, selection report)`` for the training data."""
    from training.model import TextModel

    base = {"vectors": vectors, "store": store, "classifier": classifier, "class_weight": class_weight, "seed": seed}
    if features != "auto":
        config = {**base, "features": features, "C": C if C is not None else DEFAULT_C}
        return config, {"mode": "fixed", "features": features, "C": config["C"]}
    started = time.monotonic()
    folds = _folds(labels, multilabel, seed)
    scores = []
    for cand in CANDIDATES:
        if C is not None:
            cand = {**cand, "C": C}
        elapsed = time.monotonic() - started
        if budget is not None and scores and elapsed >= budget:
            scores.append({**cand, "skipped": "budget"})
            continue
        accs = []
        for tr, te in folds:
            model = TextModel(**base, **cand).fit([texts[i] for i in tr], [labels[i] for i in tr])
            pred = model.predict([texts[i] for i in te])
            truth = [labels[i] for i in te]
            accs.append(float(np.mean([p == t for p, t in zip(pred, truth)])))
        scores.append({**cand, "cv_accuracy": float(np.mean(accs)), "seconds": round(time.monotonic() - started - elapsed, 2)})
        log.info("auto: %s -> %.4f", cand, scores[-1]["cv_accuracy"])
    scored = [s for s in scores if "cv_accuracy" in s]
    best = max(scored, key=lambda s: s["cv_accuracy"])  # max keeps the first of equals
    chosen = {k: v for k, v in best.items() if k not in ("cv_accuracy", "seconds")}
    report = {"mode": "auto", "folds": len(folds), "chosen": chosen, "candidates": scores,
              "seconds": round(time.monotonic() - started, 2), "budget": budget}
    return {**base, **chosen}, report
