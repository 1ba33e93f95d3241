"""benchmarks/accuracy.py's MR protocol is what `vecclf train --cv` runs: selection inside each fold."""

from __future__ import annotations

import numpy as np

from tests.benchmarks.test_markers import accuracy
from tests.conftest import make_corpus, write_csv
from vecclf.training.train import train


def noisy_corpus(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Return the synthetic reviews with a fifth of the labels flipped, so folds score and choose differently."""
    texts, labels = make_corpus(n, seed)
    flip = np.random.default_rng(seed).random(n) < 0.2
    return texts, [("neg" if lab == "pos" else "pos") if f else lab for lab, f in zip(labels, flip)]


def test_mr_protocol_and_train_cv_agree(tiny_vectors, tmp_path):
    """On the same rows the benchmark's k-fold protocol and `train --cv k` give the same choices and fold accuracies."""
    store, _, _ = tiny_vectors
    texts, labels = noisy_corpus(90)
    (tmp_path / "mr.txt").write_text("".join(f"{lab} {t}\n" for t, lab in zip(texts, labels)), encoding="latin-1")
    task = accuracy.Task("toy", "mr.txt", None, "latin-1", folds=3)
    bench = [accuracy.run_method("vecclf", tr, te, store=store, vectors="tiny")
             for tr, te in accuracy.splits(task, tmp_path, quick=False)]
    data = write_csv(tmp_path / "mr.csv", [{"text": t, "label": lab} for t, lab in zip(texts, labels)])
    m = train(store=str(store), name="m", data=str(data), vectors="tiny", cv=3, seed=0)["metrics"]
    assert [f"{c['features']} C={c['C']:g}" for c in m["fold_choices"]] == [b["chosen"] for b in bench]
    assert np.allclose([100 * a for a in m["fold_accuracy"]], [b["accuracy"] for b in bench])
    assert 50 < 100 * m["accuracy"] < 100  # labels the search can get wrong: the comparison means something
