"""In-process cost of the service's request path, without sockets: where a single-text predict spends its time.

Builds the app (``service.create_app``) over the store ``benchmarks/serve.py``
prepares (GloVe 6B 50d + the default ``auto`` model on SST-2) and times, on
real SST-2 test sentences, in one process and side by side:

- one ``GET /healthz`` and one single-text ``POST .../predict`` as WSGI calls
  (the predict fast path, then the same request through Flask's own view);
- single-text predict through the fast path with the review queue sampling
  (``--review-sample``, a writer thread storing to SQLite in the background)
  against the same app without it, alternating loop by loop;
- the review sampler alone: ``offer`` per single-text answer at that rate, and
  the writer's CPU per stored row;
- the model alone: ``Predictor.explain([text])``;
- texts per request 2..64: one text at a time (what requests of up to
  ``SMALL_BATCH`` texts take) against the whole-batch arithmetic, µs a text.

Every figure is the median of ``--repeats`` timed loops. Access lines go to
/dev/null (their cost is still paid). Writes the ``request-path`` section of
docs/benchmarks.md::

    python benchmarks/request_path.py            # ~1 minute once the serve store exists
    python benchmarks/request_path.py --no-write # print only
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import write_section  # noqa: E402
from serve import prepare_store, texts_for_load  # noqa: E402

URL = "/v1/models/sentiment/predict"


def environ(method: str, path: str, body: bytes = b"") -> dict:
    """Return a WSGI environ as gunicorn would build it for a loopback request."""
    return {"REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "", "SERVER_NAME": "x",
            "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.multithread": False,
            "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0), "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_TYPE": "application/json" if body else "", "CONTENT_LENGTH": str(len(body)) if body else ""}


def per_call_us(call, items: list, loops: int, repeats: int, clock=time.perf_counter) -> float:
    """Return the median over ``repeats`` of the mean µs of ``call(item)`` over ``loops`` items, timed by ``clock``."""
    for item in items[:200]:  # warm the per-process caches
        call(item)
    runs = []
    for _ in range(repeats):
        started = clock()
        for i in range(loops):
            call(items[i % len(items)])
        runs.append((clock() - started) / loops * 1e6)
    return statistics.median(runs)


def side_by_side(call_a, call_b, items: list, loops: int, repeats: int) -> tuple[float, float]:
    """Return the median CPU µs (the process's, background threads included) of ``call_a`` and ``call_b``.

    Half-length loops alternate A B B A; CPU time rather than wall time, so what other processes do on a
    shared machine hardly moves the comparison.
    """
    a, b = [], []
    for k in range(2 * repeats):  # A B B A ...: a drift of the machine weighs on both alike
        first, second = (call_a, a), (call_b, b)
        for call, runs in (first, second) if k % 2 == 0 else (second, first):
            runs.append(per_call_us(call, items, loops // 2, 1, time.process_time))
    return statistics.median(a), statistics.median(b)


def sampler_cost(store, served, texts: list[str], rate: float, n: int) -> tuple[float, float]:
    """Return the CPU µs of ``ReviewSampler.offer`` per single-text answer, and of writing one sampled row."""
    from vecclf.service.review import ReviewSampler

    sampler = ReviewSampler(store, rate, 1.0, capacity=n + 1, interval=3600)  # nothing written while offering
    answers = [[{"label": "pos", "confidence": 0.6, "scores": {"pos": 0.6, "neg": 0.4}}]] * len(texts)
    started = time.process_time()
    for i in range(n):
        sampler.offer(served, [texts[i % len(texts)]], answers[i % len(texts)], "0123456789abcdef")
    offer = (time.process_time() - started) / n * 1e6
    started = time.process_time()
    written = sampler.drain()
    write = (time.process_time() - started) / max(1, written) * 1e6
    sampler.stop()
    return offer, write


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default=os.path.join(tempfile.gettempdir(), "vecclf-bench-serve"))
    parser.add_argument("--loops", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--review-sample", type=float, default=0.1, help="VECCLF_REVIEW_SAMPLE of the sampling app")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)

    store = Path(args.store)
    print(f"preparing {store} (as benchmarks/serve.py does)...", file=sys.stderr)
    prepare_store(store)
    from vecclf.service import create_app
    from vecclf.service.config import Config
    from vecclf.training.inference import SMALL_BATCH

    app = create_app(Config(store=str(store), poll_interval=0, models=("sentiment",)))
    review_db = tempfile.mkdtemp(prefix="vecclf-review-bench-")
    sampling = create_app(Config(store=str(store), poll_interval=0, models=("sentiment",), review_sample=args.review_sample,
                                 database_url=f"sqlite:///{review_db}/review.db"))
    for handler in logging.getLogger("vecclf.access").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))
    served = app.extensions["vecclf.models"].get("sentiment")
    predictor = served.predictor
    texts = texts_for_load()
    bodies = [json.dumps({"texts": [t]}).encode() for t in texts]

    def wsgi(wsgi_app, env):
        b"".join(wsgi_app(env, lambda status, headers, exc_info=None: None))

    flask_view = app.wsgi_app.wsgi_app  # the Flask app behind the fast path
    loops, repeats = args.loops, args.repeats
    healthz = per_call_us(lambda _: wsgi(app.wsgi_app, environ("GET", "/healthz")), [None], loops, repeats)
    fast = per_call_us(lambda b: wsgi(app.wsgi_app, environ("POST", URL, b)), bodies, loops, repeats)
    view = per_call_us(lambda b: wsgi(flask_view, environ("POST", URL, b)), bodies, loops, repeats)
    model = per_call_us(lambda t: predictor.explain([t]), texts, loops, repeats)
    plain, sampled = side_by_side(lambda b: wsgi(app.wsgi_app, environ("POST", URL, b)),
                                  lambda b: wsgi(sampling.wsgi_app, environ("POST", URL, b)), bodies, loops, repeats)
    sampling.extensions["vecclf.review"].stop()
    stored = sampling.extensions["vecclf.feedback"].queued_count("sentiment")
    offer_us, write_us = sampler_cost(sampling.extensions["vecclf.feedback"], served, texts, args.review_sample,
                                      loops * repeats)

    rows = [
        ("`GET /healthz` (all Flask)", f"{healthz:.0f} µs"),
        ("single-text predict, fast path (as served)", f"{fast:.0f} µs ({fast / healthz:.2f} × `/healthz`)"),
        ("single-text predict through Flask's view", f"{view:.0f} µs ({view / healthz:.2f} × `/healthz`)"),
        (f"single-text predict, fast path, review queue sampling at {args.review_sample:g} / off "
         "(process CPU time, writer thread included; alternating loops)",
         f"{sampled:.0f} / {plain:.0f} µs ({sampled / plain:.2f}×; {stored:,} texts queued)"),
        (f"the review sampler alone per single-text answer at {args.review_sample:g}: `offer` + rate × the "
         "writer's CPU per stored row",
         f"{offer_us:.2f} + {args.review_sample:g} × {write_us:.1f} = "
         f"{offer_us + args.review_sample * write_us:.2f} µs ({(offer_us + args.review_sample * write_us) / fast:.1%} "
         "of the fast path)"),
        ("the model alone: `Predictor.explain([text])`", f"{model:.0f} µs"),
    ]
    sizes = []
    for k in (2, 4, 8, 16, 24, 32, 64):
        groups = [texts[i : i + k] for i in range(0, len(texts) - k, k)]
        one = per_call_us(lambda g: [predictor._one(t) for t in g], groups, max(50, loops // k), repeats) / k
        batch = per_call_us(predictor._batch_proba, groups, max(50, loops // k), repeats) / k
        sizes.append((k, one, batch))

    load = os.getloadavg()[0]
    table = "\n".join([
        "## The request path, in process",
        "",
        f"`python benchmarks/request_path.py` on {dt.date.today().isoformat()}: WSGI calls without sockets on the "
        f"`benchmarks/serve.py` store (GloVe 6B 50d, default SST-2 model, `{served.version}`), real SST-2 test "
        f"sentences; medians of {repeats} loops of {loops:,} calls; Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, 1-minute load average at the end {load:.1f}. What each step costs is explained "
        "in [performance.md](performance.md#the-request-path-of-single-text-predict).",
        "",
        "| call | time per call |",
        "|---|---|",
        *[f"| {a} | {b} |" for a, b in rows],
        "",
        f"Texts per request: µs a text, one at a time (requests of up to {SMALL_BATCH} texts) against the "
        "whole-batch arithmetic (larger requests).",
        "",
        "| texts | one at a time | batch arithmetic |",
        "|---|---|---|",
        *[f"| {k} | {one:.1f} | {batch:.1f} |" for k, one, batch in sizes],
    ])
    print(table)
    if not args.no_write:
        write_section("request-path", table)
        print("wrote docs/benchmarks.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
