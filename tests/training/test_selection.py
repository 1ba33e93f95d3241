"""`--features auto`: selection by cross-validation on training data only."""

import numpy as np
import pytest

from tests.conftest import make_corpus
from vecclf.training import selection
from vecclf.training.selection import choose_config, folds_for


@pytest.fixture
def corpus():
    return make_corpus(90)


def test_fixed_features_skip_the_search(tiny_vectors, corpus):
    """A named feature set is used as given, with C defaulting to 1."""
    store, _, _ = tiny_vectors
    config, report = choose_config(*corpus, vectors="tiny", store=str(store), features="mean")
    assert (config["features"], config["C"], report["mode"]) == ("mean", 1.0, "fixed")


def test_auto_scores_every_candidate_and_picks_the_best(tiny_vectors, corpus):
    """auto scores every (features, C) pair on the first fold and chooses the best of those that ran every fold."""
    store, _, _ = tiny_vectors
    config, report = choose_config(*corpus, vectors="tiny", store=str(store))
    scored = report["candidates"]
    assert len(scored) == sum(len(grid) for _, grid in selection.CANDIDATES)
    assert all("cv_accuracy" in s for s in scored)
    finalists = [s for s in scored if not s.get("pruned")]
    assert all("folds" not in s for s in finalists) and len(finalists) >= selection.KEEP_AT_LEAST
    chosen = next(s for s in scored if s["features"] == config["features"] and s["C"] == config["C"])
    assert chosen["cv_accuracy"] == max(s["cv_accuracy"] for s in finalists)
    assert report["folds"] == 5 and report["rows"] == 90


def test_successive_halving_keeps_the_better_half_each_fold(tiny_vectors, corpus):
    """After each fold but the last only the better half go on; pruned settings say how many folds they ran."""
    store, _, _ = tiny_vectors
    _, report = choose_config(*corpus, vectors="tiny", store=str(store))
    ran = sorted((s.get("folds", report["folds"]) for s in report["candidates"]), reverse=True)
    # 10 settings, 5 folds: 10 -> 5 -> 3 -> 2 -> 2 settings per fold.
    assert [sum(r > k for r in ran) for k in range(report["folds"])] == [10, 5, 3, 2, 2]
    assert all(s.get("pruned") for s in report["candidates"] if s.get("folds"))


def test_parallel_search_chooses_as_the_serial_one(tiny_vectors, corpus):
    """jobs=2 (fits in two processes) reports the same scores and choice as jobs=1."""
    store, _, _ = tiny_vectors
    one = choose_config(*corpus, vectors="tiny", store=str(store), jobs=1)
    two = choose_config(*corpus, vectors="tiny", store=str(store), jobs=2)
    strip = [{k: v for k, v in s.items() if k != "seconds"} for s in one[1]["candidates"]]
    assert one[0] == two[0]
    assert strip == [{k: v for k, v in s.items() if k != "seconds"} for s in two[1]["candidates"]]


def test_budget_skips_later_candidates(tiny_vectors, corpus):
    """Once the budget is spent, remaining candidates are skipped and reported as such."""
    store, _, _ = tiny_vectors
    config, report = choose_config(*corpus, vectors="tiny", store=str(store), budget=0.0)
    skipped = [s for s in report["candidates"] if s.get("skipped") == "budget"]
    assert skipped and all(s["features"] != selection.CANDIDATES[0][0] for s in skipped)
    assert config["features"] == selection.CANDIDATES[0][0]


@pytest.fixture
def slow_fits(monkeypatch):
    """Make the search's clock advance 10 s per classifier built, whatever the machine does."""
    from vecclf.training import classifiers

    now = [0.0]
    real = classifiers.build_classifier

    def build(*args, **kwargs):
        now[0] += 10.0
        return real(*args, **kwargs)

    monkeypatch.setattr(classifiers, "build_classifier", build)
    monkeypatch.setattr(selection.time, "monotonic", lambda: now[0])
    return now


# 10 s per classifier fit: fold 1 takes 30 s for dense (3 C), 40 for hybrid (4), 30 for hybrid-pos (3); then
# 5, 3, 2 and 2 settings on folds 2-5 (50, 30, 20 and 20 s).
@pytest.mark.parametrize("budget, candidates_run, folds_run", [(0.0, 1, 1), (45.0, 1, 1), (75.0, 2, 1),
                                                               (210.0, 3, 4), (10_000.0, 3, 5)])
def test_budget_is_checked_candidate_by_candidate_and_fold_by_fold(tiny_vectors, corpus, slow_fits, budget,
                                                                    candidates_run, folds_run):
    """A candidate (first fold) or fold starts only if the last one's time is left; entries say how many folds ran."""
    store, _, _ = tiny_vectors
    config, report = choose_config(*corpus, vectors="tiny", store=str(store), budget=budget)
    names = [f for f, _ in selection.CANDIDATES]
    ran = [s for s in report["candidates"] if "cv_accuracy" in s]
    assert sorted({s["features"] for s in ran}, key=names.index) == names[:candidates_run]
    assert all(s.get("skipped") == "budget" for s in report["candidates"] if s["features"] not in names[:candidates_run])
    assert max(s.get("folds", report["folds"]) for s in ran) == folds_run
    assert all(("folds" in s) == (s.get("folds", report["folds"]) < report["folds"]) for s in ran)
    assert config["features"] in names[:candidates_run]
    assert report["seconds"] <= max(budget, 30.0)


def test_a_search_with_time_left_scores_every_fold(tiny_vectors, corpus, slow_fits):
    """With enough budget nothing is skipped and the settings kept to the end ran every fold."""
    store, _, _ = tiny_vectors
    _, report = choose_config(*corpus, vectors="tiny", store=str(store), budget=10_000.0)
    assert all("cv_accuracy" in s for s in report["candidates"])
    assert all("folds" not in s for s in report["candidates"] if not s.get("pruned"))


def test_large_sets_are_searched_on_a_stratified_sample(tiny_vectors, corpus, monkeypatch):
    """Above MAX_SELECTION_ROWS the search uses a sample (3 folds), and says so."""
    store, _, _ = tiny_vectors
    monkeypatch.setattr(selection, "MAX_SELECTION_ROWS", 40)
    monkeypatch.setattr(selection, "FEW_FOLDS_ABOVE", 30)
    _, report = choose_config(*corpus, vectors="tiny", store=str(store))
    assert (report["rows"], report["of_rows"], report["folds"]) == (40, 90, 3)


def test_too_few_rows_per_class_falls_back(tiny_vectors):
    """With a class of one row there is no CV; the default candidate is used and the note says why."""
    store, _, _ = tiny_vectors
    config, report = choose_config(["good film", "bad film", "great"], ["pos", "neg", "pos"], vectors="tiny",
                                   store=str(store))
    assert (config["features"], config["C"]) == selection.FALLBACK
    assert report["folds"] == 0 and "too few" in report["note"]


@pytest.mark.parametrize(
    "labels, k, expected",
    [
        (["a"] * 10 + ["b"] * 3, 5, 3),
        (["a"] * 10 + ["b"] * 4 + ["c"], 5, 4),
        (["a"] * 10 + ["b"], 5, None),
        (["a", "b", "c"], 5, None),
    ],
)
def test_folds_never_exceed_the_smallest_splittable_class(labels, k, expected):
    """Folds are capped by the smallest class with two or more rows; fewer than two such classes means no CV."""
    folds = folds_for(labels, False, 0, k)
    assert (None if folds is None else len(folds)) == expected


def test_singleton_classes_stay_in_every_training_fold():
    """A class with one row is never tested on, but every fold trains on it."""
    labels = ["a"] * 6 + ["b"] * 6 + ["c"]
    folds = folds_for(labels, False, 0, 3)
    for train, test in folds:
        assert 12 in train and 12 not in test
        assert sorted(np.concatenate([train, test])) == list(range(13))


def test_the_dense_candidate_is_not_searched_on_many_rows(tiny_vectors, corpus, monkeypatch):
    """Above DENSE_UP_TO rows the dense settings are reported skipped for the rows and never chosen."""
    store, _, _ = tiny_vectors
    monkeypatch.setattr(selection, "DENSE_UP_TO", 50)
    config, report = choose_config(*corpus, vectors="tiny", store=str(store))
    dense = [s for s in report["candidates"] if s["features"] == "dense"]
    assert dense and all(s == {"features": "dense", "C": s["C"], "skipped": "rows"} for s in dense)
    assert config["features"] != "dense"
    assert all("cv_accuracy" in s for s in report["candidates"] if s["features"] != "dense")


@pytest.fixture
def built(monkeypatch):
    """Record the keyword arguments of every classifier built."""
    from vecclf.training import classifiers

    calls = []
    real = classifiers.build_classifier

    def build(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(classifiers, "build_classifier", build)
    return calls


@pytest.mark.parametrize("budget, first_fold_order", [
    # No budget: the first fold's ten settings in one batch, costliest (largest C) first.
    (None, [100.0, 30.0, 30.0, 10.0, 10.0, 3.0, 3.0, 1.0, 1.0, 0.3]),
    # A budget: candidate by candidate (cheapest candidate first), each its own batch.
    (10_000.0, [3.0, 1.0, 0.3, 30.0, 10.0, 3.0, 1.0, 100.0, 30.0, 10.0]),
])
def test_first_fold_fits_costliest_first(tiny_vectors, corpus, built, budget, first_fold_order):
    """Fits start costliest first, so no process is left with a long one at the end; scores do not depend on it."""
    store, _, _ = tiny_vectors
    _, report = choose_config(*corpus, vectors="tiny", store=str(store), budget=budget)
    assert [kw["C"] for kw in built[:10]] == first_fold_order
    plain = choose_config(*corpus, vectors="tiny", store=str(store))[1]
    assert [s["cv_accuracy"] for s in report["candidates"]] == [s["cv_accuracy"] for s in plain["candidates"]]


def test_search_fits_stop_earlier_than_the_model(tiny_vectors, corpus, built):
    """The search's logistic regressions stop at SEARCH_TOL; the chosen model is fitted at scikit-learn's 1e-4."""
    from vecclf.training.model import TextModel

    store, _, _ = tiny_vectors
    config, _ = choose_config(*corpus, vectors="tiny", store=str(store))
    assert built and all(kw["tol"] == selection.SEARCH_TOL for kw in built)
    model = TextModel(**config).fit(*corpus)
    assert selection.SEARCH_TOL > 1e-4 and model.pipeline_.named_steps["clf"].tol == 1e-4
