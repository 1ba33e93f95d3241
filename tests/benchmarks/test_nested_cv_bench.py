"""benchmarks/nested_cv.py measures both --cv protocols on the same folds and renders their medians."""

from __future__ import annotations

from tests.benchmarks.test_markers import load
from tests.conftest import make_corpus
from vecclf.training.data import Dataset

nested_cv = load("nested_cv")


def test_measure_runs_both_protocols_on_the_same_folds(tiny_vectors):
    """The old protocol hands every fold the all-rows choice; the nested one makes a choice per fold."""
    from vecclf.training.vectors.store import open_store

    store, _, _ = tiny_vectors
    texts, labels = make_corpus(60)
    ds = Dataset("d", texts, labels, "utf-8", "txt", False, 0, list(range(60)))
    r = nested_cv.measure(ds, vstore=open_store(str(store), "tiny"), store=str(store), k=3, seed=0)
    assert r["old"]["choices"] == [r["chosen"]] * 3
    assert len(r["nested"]["choices"]) == 3 and all(set(c) == {"features", "C"} for c in r["nested"]["choices"])
    assert 0 <= r["nested"]["accuracy"] <= 100 and r["old"]["seconds"] > 0


def test_render_gives_medians_ratios_and_changed_choices():
    """Each size's row: median accuracies, the median difference with its range, times, ratio, folds that differ."""
    def run(old, new, old_s, new_s, choices):
        return {"old": {"accuracy": old, "seconds": old_s, "choices": []},
                "nested": {"accuracy": new, "seconds": new_s, "choices": choices}, "chosen": {"features": "dense", "C": 3.0}}

    same, other = {"features": "dense", "C": 3.0}, {"features": "hybrid", "C": 10.0}
    results = {300: [run(70.0, 68.0, 7.0, 21.0, [same, other]), run(69.0, 70.0, 8.0, 24.0, [same, same]),
                     run(68.0, 67.5, 6.0, 21.0, [other, other])]}
    text = nested_cv.render(results, k=2, command="python benchmarks/nested_cv.py", note="2 cores", code="commit abc")
    row = text.splitlines()[-3]
    assert row == "| 300 | 3 | 69.00 % | 68.00 % | -0.50 (-2.00 to +1.00) | 7.0 s | 21.0 s | 3.0x | 3 of 6 |"
    assert "runs 3 searches instead of one" in text
