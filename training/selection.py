"""``--features auto``: choose the feature set and regularisation by cross-validation.

Only the training data is used (at most ``MAX_SELECTION_ROWS`` of it, a
stratified sample, with 3 folds above ``FEW_FOLDS_ABOVE`` rows). Every
label-dependent statistic (NB ratios, idf, vocabularies, SIF component,
standardisation) is fitted inside each fold. The winner is refitted on all
the training data by the caller; the choice and every score go into the
bundle manifest.

What keeps it cheap:

- **Shared work.** The blocks' label-free work (tokens, each text's word and
  character n-grams, pooled vectors) is done once for all the rows
  (:class:`~vecclf.training.features.shared.SharedBlocks`); a fold fits only
  what it learns from its training rows (document frequencies, NB ratios,
  idf, scaling). Each fold fits each distinct feature block once and every
  candidate that contains it reuses the matrices (``hybrid-pos`` extends
  ``hybrid``: both use the same character n-grams and mean embedding), as do
  all C values of a candidate. The final fit reuses the work too
  (``TextModel.fit(..., shared=)``).
- **Successive halving over folds.** Every (feature set, C) setting is
  scored on the first fold; after each fold but the last, only the better
  half (at least :data:`KEEP_AT_LEAST`) by mean accuracy so far go on to
  the next fold, and the blocks only pruned settings use are not built
  again. The winner is the best mean over the folds of the settings that
  ran them all; ties go to the earlier candidate and the smaller C.
  Pruned settings are reported with the folds they ran (``pruned``).
- **Parallel fits.** ``jobs`` lanes fit the classifiers of a fold side by
  side, costliest first: this process and ``jobs - 1`` worker processes,
  started with the search (:mod:`vecclf.training.lanes`; one liblinear fit
  at a time per process, so every fit reproduces); ``jobs`` threads build
  the blocks of a fold. The search's fits stop at :data:`SEARCH_TOL`.

``budget`` (seconds) is a wall-clock bound on the search: on the first
fold, a candidate starts only if the time the last candidate took is left
(the first candidate always runs, so even a budget of 0 chooses among
measured settings); a later fold starts only if the time the last fold took
is left. The folds finished decide; entries scored on fewer folds than the
search has say how many (``folds``), and candidates never started say
``skipped``. Only the first fold of a costlier candidate can overrun it.

The candidates (found on MR/SST-2/TREC cross-validation and kept few on
purpose, so the defaults generalise rather than fit those sets):

- ``dense`` — mean + SIF embeddings: nothing to learn per word, wins when
  there are only a few hundred labels (searched up to :data:`DENSE_UP_TO`
  rows; above, reported as ``skipped: "rows"``);
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
from vecclf.training.lanes import Lanes
from vecclf.training.outofcore import OUT_OF_CORE_ROWS

DEFAULT_C = 1.0
# Cheapest first, so a tight budget still yields a sensible model.
CANDIDATES = [
    ("dense", [0.3, 1.0, 3.0]),
    ("hybrid", [1.0, 3.0, 10.0, 30.0]),
    ("hybrid-pos", [10.0, 30.0, 100.0]),
]
# With a sentence encoder's block beside every candidate (``--encoder``) the best C is lower: the encoder's
# embedding already separates the classes, the n-grams refine (SST-2, TREC: C 1-3 beside 3-30 without).
ENCODER_CANDIDATES = [
    ("dense", [0.3, 1.0, 3.0]),
    ("hybrid", [0.3, 1.0, 3.0, 10.0]),
    ("hybrid-pos", [1.0, 3.0, 10.0]),
]
# Without any cross-validation (fewer than two rows in some class) this is used.
FALLBACK = ("hybrid", 10.0)
MAX_FOLDS = 5
# Large sets: fewer folds (each is already large) and a stratified sample for the search, so `auto` stays
# within minutes; the chosen configuration is then fitted on all the rows.
# 5,000: SST-2 (6,920 rows) and TREC (5,452) are searched on 3 folds, and MR (9,596 a fold) already was.
FEW_FOLDS_ABOVE = 5000
FOLDS_WHEN_LARGE = 3
# The dense candidate wins only with a few hundred labels (SST-2 and TREC learning curves: up to 500 rows,
# never from 1,000); above this many rows it is not searched.
DENSE_UP_TO = 2000
MAX_SELECTION_ROWS = 12000
# Successive halving keeps at least this many settings for the next fold.
KEEP_AT_LEAST = 2
# The search's logistic regressions stop at this tolerance (the final fit at scikit-learn's 1e-4): a score
# needs the held-out predictions, not the last digits of the optimum. On the 3 folds of MR, SST-2 and TREC
# all 63 (feature set, C, fold) accuracies were the same at 1e-2 as at 1e-4, in 25-45 % less time.
# Not measured with a sentence encoder's block: searches with one keep 1e-4.
SEARCH_TOL = 1e-2


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
                  class_weight=None, seed=0, budget=None, multilabel=False, jobs=1, encoder=None, shared=None):
    """Return ``(TextModel params, selection report)`` for the training data.

    ``encoder`` (a sentence encoder's name or folder) puts its block beside every candidate's. ``shared``
    (a :class:`~vecclf.training.features.shared.SharedBlocks` of ``texts``) keeps the blocks' label-free work
    for the final fit (``TextModel.fit(..., shared=)``); without it the search makes its own.
    """
    base = {"vectors": vectors, "store": store, "classifier": classifier, "class_weight": class_weight, "seed": seed}
    if encoder is not None:  # models without one keep the config (and manifest) they always had
        base["encoder"] = encoder
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
    candidates = ENCODER_CANDIDATES if encoder is not None else CANDIDATES
    settings = [(feats, c) for feats, grid in candidates for c in ([C] if C is not None else grid)]
    too_many_rows = {s for s in settings if s[0] == "dense" and len(texts) > DENSE_UP_TO}
    # A set the final fit will take out of core is searched with that solver (SGD): the C chosen is the C of the
    # fit that uses it, and the search costs a fraction of liblinear's at large C.
    sgd = classifier == "logreg" and not multilabel and n_rows >= OUT_OF_CORE_ROWS
    if shared is None or not shared.covers(texts):
        from vecclf.training.features.shared import SharedBlocks

        shared = SharedBlocks(texts)
    search = _Search(shared, labels, {**base, "sgd": sgd}, multilabel, max(1, int(jobs or 1)))
    accs: dict[tuple, list[float]] = {s: [] for s in settings}
    seconds: dict[tuple, float] = {s: 0.0 for s in settings}
    alive = [s for s in settings if s not in too_many_rows]
    pruned: set[tuple] = set()
    deadline = Deadline(budget, started)
    for k, (tr, te) in enumerate(folds):
        if k:
            if not deadline.allows(deadline.fold_seconds):
                break
            # Successive halving: the better half (at least KEEP_AT_LEAST) by mean accuracy so far go on.
            keep = max(KEEP_AT_LEAST, -(-len(alive) // 2))
            ranked = sorted(alive, key=lambda s: (-np.mean(accs[s]), settings.index(s)))
            pruned.update(ranked[keep:])
            alive = [s for s in alive if s in ranked[:keep]]
        fold_started = time.monotonic()
        search.start_fold(tr, te)
        if k == 0 and deadline.at is not None:
            # Candidate by candidate, while the budget allows the time the last one took (the first always runs);
            # without a budget, every setting in one batch of fits.
            ran = []
            for feats in dict.fromkeys(f for f, _ in alive):
                if ran and not deadline.allows(deadline.group_seconds):
                    continue
                group_started = time.monotonic()
                group = [s for s in alive if s[0] == feats]
                search.score(group, accs, seconds)
                ran.extend(group)
                deadline.group_seconds = time.monotonic() - group_started
            alive = ran
        else:
            search.score(alive, accs, seconds)
        deadline.fold_seconds = time.monotonic() - fold_started
        # The next folds score about half as many settings each: a rough guess of the time left.
        left = sum(deadline.fold_seconds * 0.6 ** j for j in range(1, len(folds) - k))
        progress.step(f"auto: fold {k + 1} of {len(folds)} done in {deadline.fold_seconds:.0f} s"
                      + (f" (about {left:.0f} s left)" if k < len(folds) - 1 else "") + ": "
                      + ", ".join(f"{f} C={c}: {np.mean(accs[(f, c)]):.4f}" for f, c in alive))
    scores = []
    for s in settings:
        feats, c = s
        if not accs[s]:
            scores.append({"features": feats, "C": c, "skipped": "rows" if s in too_many_rows else "budget"})
            continue
        entry = {"features": feats, "C": c, "cv_accuracy": round(float(np.mean(accs[s])), 5),
                 "seconds": round(seconds[s], 2)}
        if len(accs[s]) < len(folds):
            entry["folds"] = len(accs[s])
        if s in pruned:
            entry["pruned"] = True
        scores.append(entry)
    finalists = [s for s in settings if accs[s] and s not in pruned]
    best = max(finalists, key=lambda s: float(np.mean(accs[s])))  # max keeps the first of equals
    chosen = {"features": best[0], "C": best[1]}
    report = {"mode": "auto", "folds": len(folds), "metric": "accuracy", "rows": len(texts), "of_rows": n_rows,
              "chosen": chosen, "candidates": scores, "search": "successive halving over folds",
              "solver": "sgd" if sgd else classifier,
              "seconds": round(time.monotonic() - started, 2), "budget": budget}
    return {**base, **chosen}, report


class Deadline:
    """When the search must end, and how long the last fold and the last candidate (on the first fold) took."""

    def __init__(self, budget: float | None, started: float):
        self.at = None if budget is None else started + budget
        self.fold_seconds = 0.0
        self.group_seconds = 0.0

    def allows(self, seconds: float) -> bool:
        """Return whether ``seconds`` of work started now would end before the deadline."""
        return self.at is None or time.monotonic() + seconds <= self.at


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


class _Search:
    """One search's shared state: the target, and per fold the fitted blocks every candidate reuses."""

    def __init__(self, shared, labels, base, multilabel, jobs):
        from sklearn.preprocessing import MultiLabelBinarizer

        from vecclf.training.vectors.store import open_store

        self.shared, self.base, self.multilabel, self.jobs = shared, base, multilabel, jobs
        self.lowercase = open_store(base["store"], base["vectors"]).lowercase
        if multilabel:
            self.target = MultiLabelBinarizer().fit_transform(labels)
            self.n_classes = self.target.shape[1]
        else:
            self.target = np.asarray([str(v) for v in labels], dtype=object)
            self.n_classes = len(np.unique(self.target))
        # liblinear fits in this process and jobs - 1 workers, which start now, while the first fold's blocks are
        # built (SGD fits run in threads: its random state is the estimator's).
        self.lanes = Lanes(1 if base.get("sgd") else jobs)

    def start_fold(self, tr, te) -> None:
        """Score the next settings on fold ``(tr, te)``; the previous fold's blocks are dropped."""
        self.tr, self.te = tr, te
        self.blocks: dict = {}

    def score(self, settings, accs: dict, seconds: dict) -> None:
        """Append each setting's accuracy on the current fold to ``accs[setting]``; add its time to ``seconds``."""
        if not settings:
            return
        tr, te = self.tr, self.te
        started = time.monotonic()
        matrices = self._matrices(list(dict.fromkeys(f for f, _ in settings)))
        built = time.monotonic() - started
        # Costliest first (by the time on the folds before, else larger C first: more passes), so no process
        # or thread is left with a long fit at the end; the results go back in the settings' order.
        order = sorted(settings, key=lambda s: (-seconds[s], -s[1], settings.index(s)))

        def fit(s):
            return _fit_one(*matrices[s[0]], self.target[tr], self.target[te], s[1], self.base, self.multilabel,
                            self.n_classes)

        if self.jobs > 1 and len(settings) > 1 and self.base.get("sgd"):
            # SGD keeps its random state in the estimator: threads reproduce, and share the matrices.
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(self.jobs) as pool:
                done = list(pool.map(fit, order))
        else:
            # This process and worker processes, one fit at a time each (see vecclf.training.lanes).
            done = self.lanes.map(_fit_one, [(*matrices[f], self.target[tr], self.target[te], c, self.base,
                                              self.multilabel, self.n_classes) for f, c in order])
        for s, (acc, took) in zip(order, done):
            accs[s].append(acc)
            seconds[s] += took + built / len(settings)

    def _matrices(self, feature_sets) -> dict:
        """Return ``{feature set: (train matrix, test matrix)}`` with each distinct block fitted once a fold."""
        from concurrent.futures import ThreadPoolExecutor

        from sklearn.pipeline import FeatureUnion

        from vecclf.training.features import build_features

        tr, te = self.tr, self.te
        layouts, todo = {}, {}
        for feats in feature_sets:
            union = build_features(feats, self.base["vectors"], self.base["store"], self.lowercase,
                                   encoder=self.base.get("encoder"))
            parts = union.transformer_list if isinstance(union, FeatureUnion) else [(feats, union)]
            layouts[feats] = [_block_key(name, block) for name, block in parts]
            for (name, block), key in zip(parts, layouts[feats]):
                if key not in self.blocks:
                    todo.setdefault(key, block)

        def fit(block):
            return self.shared.fold(block, tr, te, self.target[tr])

        with ThreadPoolExecutor(self.jobs) as pool:
            self.blocks.update(zip(todo, pool.map(fit, todo.values())))
        fitted = self.blocks
        return {feats: (_hstack([fitted[k][0] for k in keys]), _hstack([fitted[k][1] for k in keys]))
                for feats, keys in layouts.items()}


def _fit_one(Xtr, Xte, ytr, yte, c, base, multilabel, n_classes):
    """Return (test accuracy, seconds) of the classifier with regularisation ``c`` fitted on one fold."""
    from vecclf.training.classifiers import build_classifier, quiet_convergence

    t0 = time.monotonic()
    if base.get("sgd"):
        from vecclf.training.outofcore import sgd_classifier

        clf = sgd_classifier(c, Xtr.shape[0], base["class_weight"], base["seed"])
    else:
        clf = build_classifier(base["classifier"], C=c, seed=base["seed"], class_weight=base["class_weight"],
                               multilabel=multilabel, n_classes=n_classes,
                               tol=None if base.get("encoder") else SEARCH_TOL)
    with quiet_convergence():
        clf.fit(Xtr, ytr)
    pred = clf.predict(Xte)
    acc = float(np.mean(np.all(pred == yte, axis=1) if multilabel else pred == yte))
    return acc, time.monotonic() - t0


def _block_key(name: str, block) -> str:
    """Return what identifies a feature block: its name in the union, its class and every parameter."""
    params = block.get_params(deep=True)
    shown = sorted((k, repr(v)) for k, v in params.items() if not hasattr(v, "get_params"))
    return f"{name}:{type(block).__name__}:{shown}"


def _hstack(parts):
    """Join blocks side by side as ``FeatureUnion`` does (sparse CSR if any block is sparse)."""
    import scipy.sparse as sp

    from vecclf.training.features.sparse import hstack_blocks

    if len(parts) == 1:
        return parts[0]
    if any(sp.issparse(p) for p in parts):
        return hstack_blocks(parts)
    return np.hstack(parts)
