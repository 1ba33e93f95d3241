"""The retrain gate's rules, and scoring a version on a holdout whose labels it may not know."""

import pytest

from vecclf.training.data import Dataset
from vecclf.training.gate import decide, score
from vecclf.training.retrain_config import GateConfig

CHECKS_OK = {"passed": True, "checks": [{"name": "invariance", "cases": 9, "failures": [], "passed": True}]}
CHECKS_BAD = {"passed": False, "checks": [{"name": "suite", "cases": 4, "failures": [{}, {}], "passed": False}]}


def m(acc, f1=None):
    return {"metrics": {"accuracy": acc, "macro_f1": acc if f1 is None else f1}}


@pytest.mark.parametrize("gate,candidate,current,checks,passed,words", [
    (GateConfig(min_score=0.7), m(0.8), {"version": "v1", **m(0.805)}, CHECKS_OK, True,
     ["accuracy 0.8000 >= min_score 0.7", "within max_regression 0.01", "behavioural checks passed (invariance)"]),
    (GateConfig(min_score=0.7), m(0.6), {"version": "v1", **m(0.5)}, None, False, ["0.6000 is below min_score 0.7"]),
    (GateConfig(), m(0.8), {"version": "v1", **m(0.85)}, None, False,
     ["accuracy 0.8000 is 0.0500 below current v1's 0.8500 on the same holdout (max_regression 0.01)"]),
    (GateConfig(max_regression=0.1), m(0.8), {"version": "v1", **m(0.85)}, None, True, ["within max_regression 0.1"]),
    (GateConfig(metric="macro_f1", min_score=0.7), m(0.9, f1=0.6), None, None, False, ["macro_f1 0.6000 is below"]),
    (GateConfig(), m(0.9), None, CHECKS_BAD, False, ["behavioural checks failed: suite (2 of 4 cases wrong)"]),
    (GateConfig(), m(0.9), None, None, True, ["no current version to compare with"]),
    (GateConfig(), m(0.9), {"version": "v3", "error": "vectors changed"}, None, True,
     ["current version v3 cannot be scored (vectors changed)"]),
])
def test_gate_rules(gate, candidate, current, checks, passed, words):
    """Every rule must hold to promote; the reason names each rule that failed, or every rule that held."""
    ok, reason, failures = decide(gate, candidate, current, checks)
    assert ok is passed and (failures == []) is passed
    assert reason.startswith("promoted: " if passed else "kept the current version: ")
    for w in words:
        assert w in reason


def test_a_label_the_version_never_learnt_counts_as_wrong(trained):
    """Scoring on rows with a new label uses the union of labels; those rows are wrong for the old version."""
    from vecclf.training.registry import ModelRegistry

    store, _ = trained
    model, _ = ModelRegistry(store).load("demo")
    holdout = Dataset("h", ["a great film", "an awful film", "so so"], ["pos", "neg", "meh"], None, "csv", rows=[1, 2, 3])
    metrics, preds, confidence = score(model, holdout)
    assert metrics["confusion_matrix"]["labels"] == ["meh", "neg", "pos"]
    assert metrics["per_class"]["meh"]["recall"] == 0.0 and preds[2] in ("pos", "neg")
    assert metrics["n"] == 3 and len(confidence) == 3 and all(0.5 <= c <= 1 for c in confidence)
