"""Fit classifiers side by side, every fit reproducible: in this process and in ``jobs - 1`` worker processes.

liblinear draws from one random generator per process, seeded at the start
of each fit, so fits reproduce only one at a time per process: two threads of
one process would interleave their draws. :class:`Lanes` runs fits in lanes,
one fit at a time each: this process (which would otherwise only wait for
the workers) and ``jobs - 1`` loky worker processes, every lane taking the
next fit in the given order when it finishes one. The workers start, and
import scikit-learn (seconds of CPU each), as soon as the lanes are made, so
that happens while this process does other work; this process has it
imported already, so one lane fewer to start than ``jobs`` worker processes.
"""

from __future__ import annotations

import copy
import threading


class Lanes:
    """``jobs`` lanes for :meth:`map`: this process and ``jobs - 1`` worker processes, started now."""

    def __init__(self, jobs: int, executor=None):
        """``executor``: the workers' (``concurrent.futures``-like, ``jobs - 1`` workers); default loky's."""
        self.jobs = max(1, int(jobs))
        self._executor = executor
        if self.jobs > 1 and executor is None:
            import warnings

            from joblib.externals.loky import get_reusable_executor

            with warnings.catch_warnings():
                # Lanes of another size before: loky waits for that executor's last tasks, then resizes it.
                warnings.filterwarnings("ignore", "Trying to resize an executor with running jobs", UserWarning)
                self._executor = get_reusable_executor(max_workers=self.jobs - 1)
        if self.jobs > 1:
            self._started = [self._executor.submit(_imports) for _ in range(self.jobs - 1)]
        else:
            self._executor = None

    def map(self, fn, tasks: list[tuple]) -> list:
        """Return ``[fn(*task) for task in tasks]``, the tasks taken in order by whichever lane is free.

        ``fn`` must be a module-level function (the workers import it by name).
        """
        if self._executor is None or len(tasks) < 2:
            return [fn(*task) for task in tasks]
        results: list = [None] * len(tasks)
        errors: list[BaseException] = []
        lock = threading.Lock()
        todo = iter(range(len(tasks)))

        def take() -> int | None:
            with lock:
                return None if errors else next(todo, None)

        drained = threading.Event()  # this process's lane found no fit left

        def lane(run, ready=None) -> None:
            try:
                # A worker lane takes a fit only once its worker has started: one still starting (seconds, more
                # on a busy machine) would hold a fit that this process's lane could do meanwhile.
                while ready is not None and not ready.done():
                    if drained.wait(0.02):
                        return
                if ready is not None:
                    ready.result()
                while (i := take()) is not None:
                    results[i] = run(i)
            except BaseException as exc:  # noqa: BLE001  (re-raised below, in the caller's thread)
                with lock:
                    errors.append(exc)

        remote = [threading.Thread(target=lane, args=(lambda i: self._executor.submit(fn, *tasks[i]).result(), ready),
                                   daemon=True) for ready in self._started]
        for thread in remote:
            thread.start()
        # Shallow copies here: a fit may cache flags on its arguments (scipy's sorted-indices flag on a sparse
        # matrix) while a worker's task holding the same objects is being pickled.
        lane(lambda i: fn(*map(copy.copy, tasks[i])))
        drained.set()
        for thread in remote:
            thread.join()
        if errors:
            raise errors[0]
        return results


def _imports() -> None:
    import vecclf.training.classifiers  # noqa: F401  (scikit-learn's estimators)
