"""``--features auto``: choose the feature set and regularisation by cross-validation.

Only the training data is used (at most ``MAX_SELECTION_ROWS`` of it, a
stratified sample, with 3 folds above ``FEW_FOLDS_ABOVE`` rows). Each candidate feature set is fitted once
per fold (every label-dependent statistic — NB ratios, idf, vocabularies,
SIF component, standardisation — inside the fold), then scored for each C of
its grid; the best mean accuracy wins, ties going to the earlier candidate
and the smaller C. The winner is refitted on all the training data by the
caller. The choice and every score go into the bundle manifest.

``budget`` (seconds) is a wall-clock bound on the search, checked before
every fold and every C's classifier fit, inside candidates too: a fold
starts only if the time left is at least what the last finished fold took,
a classifier fit only if it is at least what the last fit took (except a
fold's first C: its features are fitted already). What was finished is
used: a setting scored on fewer folds is compared by the mean over the
folds it has, and its entry says how many. The first fold of the first
(cheapest) candidate always runs, so even a budget of 0 chooses among
measured settings. Only a fold that costs more than the one before it (the
first fold of a costlier candidate), with its first C, can overrun the budget.

The candidates (found on MR/SST-2/TREC cross-validation and kept few on
purpose, so the defaults generalise rather than fit those sets):

- ``dense`` — mean + SIF embeddings: nothing to learn per word, wins when
  there are only a few hundred labels;
- ``hybrid`` — NB word n-grams + character n-grams + mean embedding: wins on
  sentiment and most tasks with thousands of labels;
- ``hybrid-pos`` — ``hybrid`` plus sentence-start features: wins where the
  first words decide the class (question types, intents).
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np

from vecclf.training import progress

DEFAULT_C = 1.0
# Cheapest first, so a tight budget still yields a sensible model.
CANDIDATES = [
    ("dense", [0.3, 1.0, 3.0]),
    ("hybrid", [1.0, 3.0, 10.0, 30.0]),
    ("hybrid-pos", [10.0, 30.0, 100.0]),
]
# Without any cross-validation (fewer than two rows in some class) this is used.
FALLBACK = ("hybrid", 10.0)
MAX_FOLDS = 5
# Large sets: fewer folds (each is already large) and a stratified sample for the search, so `auto` stays
# within minutes; the chosen configuration is then fitted on all the rows.
FEW_FOLDS_ABOVE = 8000
FOLDS_WHEN_LARGE = 3
MAX_SELECTION_ROWS = 12000


def folds_for(labels, multilabel: bool, seed: int, k: int = MAX_FOLDS):
    """Return CV folds: stratified for single-label data, at most ``k``, None if CV is impossible."""
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(labels)
    if multilabel:
        return list(KFold(n_splits=min(k, n), shuffle=True, random_state=seed).split(np.zeros(n))) if n >= 4 else None
    counts = Counter(labels)
    # Rows of a class too rare to split (one row) always stay on the training side of every fold,
    # so a few-label set with one singleton class still gets cross-validated.
    rare = np.asarray([counts[lab] < 2 for lab in labels])
    common = np.flatnonzero(~rare)
    common_counts = [c for c in counts.values() if c >= 2]
    if len(common_counts) < 2:
        return None
    k = min(k, min(common_counts))
    if k < 2:
        return None
    sub_labels = [labels[i] for i in common]
    always = np.flatnonzero(rare)
    return [(np.sort(np.concatenate([common[tr], always])), common[te])
            for tr, te in StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(common, sub_labels)]


def choose_config(texts, labels, *, vectors, store, features="auto", classifier="logreg", C=None,
                  class_weight=None, seed=0, budget=None, multilabel=False):
    """Return ``(TextModel params, selection report)`` for the training data."""
    base = {"vectors": vectors, "store": store, "classifier": classifier, "class_weight": class_weight, "seed": seed}
    if features != "auto":
        config = {**base, "features": features, "C": C if C is not None else DEFAULT_C}
        return config, {"mode": "fixed", "features": features, "C": config["C"]}
    started = time.monotonic()
    n_rows = len(texts)
    if n_rows > MAX_SELECTION_ROWS:
        texts, labels = _sample(texts, labels, MAX_SELECTION_ROWS, multilabel, seed)
    folds = folds_for(labels, multilabel, seed, FOLDS_WHEN_LARGE if len(texts) > FEW_FOLDS_ABOVE else MAX_FOLDS)
    if folds is None:
        feats, c = FALLBACK
        config = {**base, "features": feats, "C": C if C is not None else c}
        return config, {"mode": "auto", "folds": 0, "chosen": {"features": feats, "C": config["C"]},
                        "note": "too few rows per class to cross-validate; used the default candidate"}
    deadline = Deadline(budget, started)
    scores: list[dict] = []
    for i, (feats, grid) in enumerate(CANDIDATES):
        grid = [C] if C is not None else grid
        t0 = time.monotonic()
        fold_accs = _score_candidate(texts, labels, folds, feats, grid, base, multilabel, deadline, must_run=i == 0)
        seconds = round(time.monotonic() - t0, 2)
        for c, accs in zip(grid, fold_accs):
            if not accs:
                scores.append({"features": feats, "C": c, "skipped": "budget"})
                continue
            entry = {"features": feats, "C": c, "cv_accuracy": round(float(np.mean(accs)), 5), "seconds": seconds}
            if len(accs) < len(folds):
                entry["folds"] = len(accs)  # the budget ran out during this candidate
            scores.append(entry)
        done = [f"C={c}: {np.mean(a):.4f}" + (f" ({len(a)}/{len(folds)} folds)" if len(a) < len(folds) else "")
                for c, a in zip(grid, fold_accs) if a]
        progress.step(f"auto: {feats} " + (", ".join(done) if done else "skipped (budget spent)")
                      + (f" in {seconds:.1f} s" if done else ""))
    scored = [s for s in scores if "cv_accuracy" in s]
    best = max(scored, key=lambda s: s["cv_accuracy"])  # max keeps the first of equals
    chosen = {"features": best["features"], "C": best["C"]}
    report = {"mode": "auto", "folds": len(folds), "metric": "accuracy", "rows": len(texts), "of_rows": n_rows,
              "chosen": chosen, "candidates": scores,
              "seconds": round(time.monotonic() - started, 2), "budget": budget}
    return {**base, **chosen}, report


def _sample(texts, labels, size: int, multilabel: bool, seed: int):
    """Return a (stratified, for single-label data) random sample of ``size`` rows."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(texts))
    strat = None
    if not multilabel and min(Counter(labels).values()) >= 2:
        strat = labels
    keep, _ = train_test_split(idx, train_size=size, random_state=seed, stratify=strat)
    keep = np.sort(keep)
    return [texts[i] for i in keep], [labels[i] for i in keep]


class Deadline:
    """When the search must end, and how long the last fold and the last classifier fit took."""

    def __init__(self, budget: float | None, started: float):
        self.at = None if budget is None else started + budget
        self.fold_seconds = 0.0
        self.fit_seconds = 0.0

    def allows(self, seconds: float) -> bool:
        """Return whether ``seconds`` of work started now would end before the deadline."""
        return self.at is None or time.monotonic() + seconds <= self.at


def _score_candidate(texts, labels, folds, feats, grid, base, multilabel, deadline: Deadline | None = None,
                     must_run=False) -> list[list[float]]:
    """Return the fold accuracies of feature set ``feats`` for each C in ``grid``, as far as ``deadline`` allows.

    Folds run in order and, within a fold, C by C; each starts only if
    ``deadline`` allows the time its predecessor took, except a fold's first C
    (the whole first fold runs when ``must_run``). A C's list is shorter than
    ``folds`` when time ran out.
    """
    from sklearn.base import clone
    from sklearn.preprocessing import MultiLabelBinarizer

    from vecclf.training.classifiers import build_classifier, quiet_convergence
    from vecclf.training.features import build_features
    from vecclf.training.vectors.store import open_store

    deadline = deadline or Deadline(None, 0.0)

    lowercase = open_store(base["store"], base["vectors"]).lowercase
    if multilabel:
        target = MultiLabelBinarizer().fit_transform(labels)
        n_classes = target.shape[1]
    else:
        target = np.asarray([str(v) for v in labels], dtype=object)
        n_classes = len(np.unique(target))
    accs: list[list[float]] = [[] for _ in grid]
    with progress.bar(len(folds) * len(grid), f"auto: scoring {feats} on {len(folds)} folds", unit="fits") as bar:
        for k, (tr, te) in enumerate(folds):
            forced = must_run and k == 0
            if not (forced or deadline.allows(deadline.fold_seconds)):
                break
            fold_started = time.monotonic()
            transformer = build_features(feats, base["vectors"], base["store"], lowercase)
            Xtr = transformer.fit_transform([texts[i] for i in tr], target[tr])
            Xte = transformer.transform([texts[i] for i in te])
            for j, c in enumerate(grid):
                if j > 0 and not (forced or deadline.allows(deadline.fit_seconds)):
                    break  # (the first C always runs: the fold's features are fitted already)
                fit_started = time.monotonic()
                clf = build_classifier(base["classifier"], C=c, seed=base["seed"], class_weight=base["class_weight"],
                                       multilabel=multilabel, n_classes=n_classes)
                with quiet_convergence():
                    clf = clone(clf).fit(Xtr, target[tr])
                pred = clf.predict(Xte)
                accs[j].append(float(np.mean(np.all(pred == target[te], axis=1) if multilabel else pred == target[te])))
                deadline.fit_seconds = time.monotonic() - fit_started
                bar.update(1)
            deadline.fold_seconds = time.monotonic() - fold_started
    return accs
