"""Lanes: fits side by side in this process and in worker processes, results in the tasks' order."""

import operator

import pytest

from vecclf.training.lanes import Lanes


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_results_come_back_in_the_tasks_order(jobs):
    """Whichever lane runs a task, map returns what a plain loop returns."""
    tasks = [(i, i + 1) for i in range(9)]
    assert Lanes(jobs).map(operator.mul, tasks) == [a * b for a, b in tasks]


def test_the_callers_arguments_are_never_changed():
    """This process's lane works on shallow copies, as a worker works on pickled ones."""
    tasks = [({"n": i}, {"added": i}) for i in range(6)]
    assert Lanes(2).map(dict.update, tasks) == [None] * 6
    assert [t[0] for t in tasks] == [{"n": i} for i in range(6)]


def test_an_error_in_any_lane_reaches_the_caller():
    """A task that raises, in this process or a worker, raises from map."""
    with pytest.raises(ZeroDivisionError):
        Lanes(2).map(operator.truediv, [(1, 1), (1, 0), (2, 1), (3, 0)])
