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


class _Workers:
    """An executor whose one worker has started (``ready``) or is still starting; it runs what it is sent."""

    def __init__(self, ready: bool):
        from concurrent.futures import Future

        self.ready, self.ran, self._start = ready, [], Future()
        if ready:
            self._start.set_result(None)

    def submit(self, fn, *args):
        from concurrent.futures import Future

        if not self.ran and fn.__name__ == "_imports":  # the lanes' start-up task
            self.ran.append("start")
            return self._start
        done = Future()
        self.ran.append(args)
        done.set_result(fn(*args))
        return done


def test_a_worker_still_starting_takes_no_task():
    """While its worker starts, a worker lane takes nothing: this process's lane does every task, without waiting."""
    workers = _Workers(ready=False)
    assert Lanes(2, executor=workers).map(operator.add, [(i, 1) for i in range(5)]) == [1, 2, 3, 4, 5]
    assert workers.ran == ["start"]


def test_a_started_worker_takes_tasks():
    """Once its worker has started, a worker lane takes tasks beside this process's lane."""
    import time

    def slow_add(a, b):
        time.sleep(0.05)  # long enough for the other lane to take a task
        return a + b

    workers = _Workers(ready=True)
    assert Lanes(2, executor=workers).map(slow_add, [(i, 1) for i in range(6)]) == [1, 2, 3, 4, 5, 6]
    assert len(workers.ran) > 1
