"""The review queue's sampler: a sample of uncertain live texts, written to the database off the request path.

Opt-in: only with ``VECCLF_REVIEW_SAMPLE`` above 0 is a :class:`ReviewSampler`
built, and only then does the service store any text it was asked to classify.
Predict (the Flask view and the fast path) then offers every answered text;
one whose top confidence is below ``VECCLF_REVIEW_BELOW`` is kept with
probability ``VECCLF_REVIEW_SAMPLE`` and put on a bounded in-memory queue.
A daemon thread per worker drains that queue into the database once a second,
in batches, so the request never waits for a write; when the queue is full or
the database fails, samples are dropped and counted
(``vecclf_review_dropped_total``), never retried on the request path.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
from collections import Counter

from flask import Flask

from vecclf.service import metrics

log = logging.getLogger("vecclf.service")

CAPACITY = 10_000  # samples a worker holds before dropping: ~10 s of a saturated worker at rate 1
BATCH = 500  # rows per insert
INTERVAL = 1.0  # seconds between drains
LOG_EVERY = 60.0  # seconds between two log lines about failed writes


class ReviewSampler:
    """Keep a random sample of uncertain predictions and store it in batches from a thread of each worker."""

    def __init__(self, store, rate: float, below: float, *, chance=random.random, capacity: int = CAPACITY,
                 interval: float = INTERVAL):
        self.store = store
        self.rate = rate
        self.below = below
        self._chance = chance
        self._capacity = capacity
        self._interval = interval
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._queue: queue.Queue | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._logged_at = 0.0

    def offer(self, served, texts: list[str], predictions: list[dict], request_id: str) -> None:
        """Consider the answered ``texts`` for review; returns at once."""
        below, rate, chance = self.below, self.rate, self._chance
        for text, prediction in zip(texts, predictions):
            confidence = prediction["confidence"]
            if confidence < below and chance() < rate:
                self._put({"model": served.name, "version": served.version, "text": text,
                           "predicted": prediction.get("labels", prediction["label"]), "confidence": confidence,
                           "request_id": request_id})

    def _put(self, item: dict) -> None:
        q = self._queue if self._pid == os.getpid() else self._start()
        try:
            q.put_nowait(item)
        except queue.Full:
            metrics.count_review_dropped(item["model"], 1)

    def _start(self) -> queue.Queue:
        """Start this process's queue and writer (a forked worker starts its own)."""
        with self._lock:
            if self._pid != os.getpid():
                self._queue = queue.Queue(self._capacity)
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._run, name="vecclf-review-writer", daemon=True)
                self._pid = os.getpid()
                self._thread.start()
        return self._queue

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.drain()
        self.drain()

    def drain(self) -> int:
        """Write every queued sample now; return how many were stored."""
        q, stored = self._queue, 0
        while q is not None:
            batch = []
            try:
                while len(batch) < BATCH:
                    batch.append(q.get_nowait())
            except queue.Empty:
                pass
            if not batch:
                break
            counts = Counter(item["model"] for item in batch)
            try:
                self.store.enqueue(batch)
            except Exception as exc:  # the database is down or refuses: drop, count, log now and then
                for model, n in counts.items():
                    metrics.count_review_dropped(model, n)
                if time.monotonic() - self._logged_at > LOG_EVERY:
                    self._logged_at = time.monotonic()
                    log.error("review queue: dropped %d sampled texts: %s", len(batch), exc)
                continue
            stored += len(batch)
            for model, n in counts.items():
                metrics.count_review_stored(model, n)
        return stored

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is queued and stop this process's writer."""
        self._stop.set()
        thread = self._thread
        if thread is not None and self._pid == os.getpid():
            thread.join(timeout)
        self._thread = None


def init_app(app: Flask, store) -> None:
    """Build the sampler when ``VECCLF_REVIEW_SAMPLE`` is above 0 (else predict never calls one)."""
    config = app.config["VECCLF"]
    if config.review_sample > 0:
        app.extensions["vecclf.review"] = ReviewSampler(store, config.review_sample, config.review_below)
