"""benchmarks/finetune.py renders its measurements, and its summary says what they show."""

from __future__ import annotations

import pytest

from tests.benchmarks.test_markers import load

finetune = load("finetune")
BUILD = {"seconds": 2.0, "cpu_seconds": 1.5}


def results(glove: dict, tuned: dict) -> dict:
    """Return results of one task with GloVe and fine-tuned accuracies per label count."""
    cell = lambda acc: {"accuracy": acc, "seconds": 1.0, "chosen": "dense C=1"}  # noqa: E731
    return {"SST-2": {"n_train": 6920, "n_test": 1821, "corpus_words": 224048, "sets": {
        "glove": {"build": BUILD, "cells": {s: cell(a) for s, a in glove.items()}},
        "glove-ft": {"build": BUILD, "cells": {s: cell(a) for s, a in tuned.items()}}}}}


@pytest.mark.parametrize(
    ("glove", "tuned", "said"),
    [
        ({"100": 60.0, "all": 80.0}, {"100": 62.0, "all": 80.2},
         "on SST-2 it gains 2.0 at 100 labels, changes nothing (+0.2) at all labels"),
        ({"1000": 75.0}, {"1000": 73.0}, "on SST-2 it loses 2.0 at 1,000 labels"),
    ],
)
def test_summary_states_gains_and_losses(glove, tuned, said):
    """The summary names each task's change in points, and a change under half a point as none."""
    text = " ".join(finetune.summary(results(glove, tuned)))
    assert said in text


def test_render_marks_the_best_and_states_the_build_time():
    """Each column's best accuracy is bold; the build column gives CPU and wall seconds."""
    text = finetune.render(results({"100": 60.0}, {"100": 62.0}), command="nice python benchmarks/finetune.py",
                           started="2026-12-01", note="2 cores", code="commit abc", quick=False)
    assert "| GloVe 6B 50d, pretrained | 60.0 | 1.5 (2.0) |" in text
    assert "| **62.0** |" in text
    assert text.startswith("## Fine-tuning word vectors on in-domain text")


def test_one_line_joins_an_article():
    """A multi-line article becomes one corpus line."""
    assert finetune.one_line("Title\n\nFirst  para.\r\nSecond.") == "Title First para. Second."
