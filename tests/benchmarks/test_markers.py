"""The benchmark scripts rewrite only their own marker section of docs/benchmarks.md."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str):
    """Import a benchmark script as a module without running it."""
    sys.path.insert(0, str(BENCHMARKS))  # learning_curve imports its helpers from accuracy
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


accuracy = load("accuracy")
learning_curve = load("learning_curve")

OTHERS = (
    "# Benchmarks\n\nintro\n\n"
    "<!-- serve:start -->\nserve table\n<!-- serve:end -->\n\n"
    "<!-- speed:start -->\nspeed table\n<!-- speed:end -->\n"
)


@pytest.mark.parametrize(
    ("doc", "name"),
    [
        (OTHERS, "accuracy"),
        (OTHERS + "\n<!-- accuracy:start -->\nold numbers\n<!-- accuracy:end -->\n\ntrailer\n", "accuracy"),
        (OTHERS.replace("<!-- speed:start", "<!-- accuracy:start -->\nold\n<!-- accuracy:end -->\n\n<!-- speed:start"),
         "accuracy"),
        (OTHERS, "learning-curve"),
        ("", "learning-curve"),
    ],
)
def test_replace_section_keeps_everything_else(doc, name):
    """The named section holds the new body once; every other byte of the page is unchanged."""
    out = accuracy.replace_section(doc, name, "NEW BODY\n")
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    assert out.count(start) == 1 and out.count(end) == 1
    head, rest = out.split(start)
    body, tail = rest.split(end)
    assert body == "\nNEW BODY\n"
    if start in doc:
        old_head, old_rest = doc.split(start)
        assert (head, tail) == (old_head, old_rest.split(end)[1])
    else:
        assert head.rstrip("\n") == doc.rstrip("\n")
    for other in ("serve table", "speed table"):
        assert out.count(other) == doc.count(other)
    assert accuracy.replace_section(out, name, "NEW BODY\n") == out


def test_write_section_creates_the_page_and_both_scripts_share_it(tmp_path):
    """Each script's section lands in the same page without disturbing the other's."""
    page = tmp_path / "benchmarks.md"
    accuracy.write_section(accuracy.SECTION, "accuracy table", page)
    learning_curve.write_section(learning_curve.SECTION, "curve table", page)
    accuracy.write_section(accuracy.SECTION, "accuracy table v2", page)
    text = page.read_text("utf-8")
    assert text.startswith("# Benchmarks\n")
    assert "accuracy table v2" in text and "accuracy table\n" not in text
    assert "<!-- learning-curve:start -->\ncurve table\n<!-- learning-curve:end -->" in text


def test_accuracy_table_marks_missing_fasttext_and_published_rows():
    """Without fastText its row says n/a with the reason; published rows are marked as not measured."""
    run = {"accuracy": 80.0, "seconds": 1.0, "chosen": "hybrid C=3"}
    results = {t: {"vecclf": [run], "tfidf": [{"accuracy": 78.0, "seconds": 0.1}],
                   "mean": [{"accuracy": 70.0, "seconds": 0.1}]} for t in accuracy.TASKS}
    text = accuracy.render(results, fasttext_why="the module is missing", command="python benchmarks/accuracy.py",
                           started="2026-01-01", note="test", quick=False)
    ft_row = next(line for line in text.splitlines() if line.startswith("| fastText"))
    assert ft_row.count("n/a") == 3
    assert "n/a because the module is missing" in text
    assert text.count("*published, not measured here:*") == len(accuracy.PUBLISHED)
    assert "MR 80.0 meets ≥ 79.4" in text and "SST-2 80.0 **misses** ≥ 82.3" in text


def test_modes_table_compares_the_accuracy_mode_with_cnn_static():
    """A run of the modes only: their rows, CNN-static as the published reference, a verdict per task."""
    def runs(acc):
        return [{"accuracy": acc, "seconds": 1.0, "chosen": "hybrid C=1"}]

    results = {"SST-2": {"vecclf": runs(83.0), "encoder": runs(85.5), "distilled": runs(76.0)},
               "TREC": {"vecclf": runs(90.0), "encoder": runs(93.0), "distilled": runs(72.0)}}
    text = accuracy.render(results, fasttext_why=None, command="python benchmarks/accuracy.py --methods ...",
                           started="2026-01-01", note="test", quick=False, distill_seconds=17.0)
    assert text.startswith("## Accuracy of the modes")
    assert not any(line.startswith(("| fastText", "| TF-IDF")) for line in text.splitlines())
    assert "SST-2 85.5 **<** 86.8" in text and "TREC 93.0 ≥ 92.8" in text
    assert "MR, CR, SUBJ, MPQA: no data here, not measured" in text
    assert "17 s to distil" in text


def test_missing_data_dir_fails_with_a_message(tmp_path):
    """An absent data folder stops the script with a message naming the folder and --data-dir."""
    with pytest.raises(SystemExit, match="--data-dir"):
        accuracy.find_data_dir(tmp_path / "absent")


def test_quickstart_table_reports_medians_cpu_and_both_models():
    """The quickstart benchmark's table gives each variant's median time, CPU time, progress lines and accuracies."""
    bench = load("quickstart")
    models = {"sentiment": {"accuracy": 0.758, "features": "hybrid", "C": 3.0},
              "topics": {"accuracy": 0.987, "features": "hybrid", "C": 30.0}}
    runs = {"default": [{"seconds": s, "cpu": c, "progress_lines": 14, "models": models}
                        for s, c in ((90.0, 60.0), (70.0, 58.0), (120.0, 61.0))]}
    row = bench.table(runs).splitlines()[-1]
    assert row.startswith("| default (`vecclf quickstart`) | **90 s** (runs: 90, 70, 120 s) | 60 s | 14 |")
    assert "75.8 % (hybrid, C=3)" in row and "98.7 % (hybrid, C=30)" in row


@pytest.mark.parametrize(("values", "expected"), [
    ([73.6, 75.1, 76.8, 73.6, 78.7], "75.6 (mean of 5 draws, standard error 1.0; 3 of 5 draws at or above 75), "
                                     "meets it by less than its standard error."),
    ([78.0, 79.0, 80.0], "79.0 (mean of 3 draws, standard error 0.6; 3 of 3 draws at or above 75), meets it."),
    ([74.0, 74.6], "74.3 (mean of 2 draws, standard error 0.3; 0 of 2 draws at or above 75), **misses** it."),
    ([76.0], "76.0, meets it."),
])
def test_issue_15_line_says_how_sure_it_is(values, expected):
    """The target line gives the mean, its standard error and the draws at or above 75, not the verdict alone."""
    assert learning_curve.target_15(values) == ("Target (issue 15): the accuracy mode with 200 labels on SST-2 at "
                                                "least 75 %: " + expected)
