"""Today's request path against an older commit's, in one process, interleaved loop by loop.

The two-package layout before the single ``vecclf`` import name (``training``
and ``service`` at the top level, up to 9bf6213) can be imported beside
today's ``vecclf.*`` in the same interpreter. So this script checks out the
old commit into a temporary git worktree, puts it on ``sys.path``, trains the
same model with each version's own code (GloVe 6B 50d, ``hybrid``, C=3, seed 0,
the SST-2 training sentences) into its own store, builds both apps, and times
the same calls on real SST-2 test sentences: ``GET /healthz`` and single-text
predict as WSGI calls, ``Predictor.explain`` and the whole-batch arithmetic
per text for 2 to 64 texts. Each round times old then new, or new then old
(alternating), and the table gives the medians and the median of the
per-round ratios, so a busy machine moves both sides alike. Writes the
``versus-old`` section of docs/benchmarks.md::

    python benchmarks/versus_old.py                 # ~3 minutes; --old COMMIT to compare with another
    python benchmarks/versus_old.py --no-write
    python benchmarks/versus_old.py --instructions  # + instruction counts under callgrind (~20-30 minutes)

Seconds move with whatever else the machine runs; instructions do not.
``--instructions`` also counts, under ``valgrind --tool=callgrind``, the
instructions of ``Predictor.explain([text])`` and of a 32-text batch's
arithmetic with each version: one child process per version and workload
loads the model and makes its calls, and the count of a run with no calls is
subtracted, so loading and start-up cancel out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import publish  # noqa: E402
from request_path import environ  # noqa: E402
from serve import SST, glove_store, labelled_csv, sentences, texts_for_load  # noqa: E402

URL = "/v1/models/{}/predict"
NAME = "sst"


def old_checkout(commit: str, folder: Path) -> Path:
    """Check ``commit`` out into ``folder`` (a detached git worktree of this repository); return it."""
    if not (folder / "training").is_dir():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(folder), commit], check=True)
    return folder


def train_old(old: Path, store: Path, data: Path) -> None:
    """Train the model with the old commit's own CLI (its packages on the path, not installed)."""
    if (store / NAME).is_dir():
        return
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from training.cli import main; "
            "sys.exit(main(sys.argv[2:]))")
    args = ["--store", str(store), "train", "--name", NAME, "--data", str(data), "--features", "hybrid", "--C", "3",
            "--seed", "0", "--promote"]
    subprocess.run([sys.executable, "-c", code, str(old), *args], check=True, capture_output=True)


def train_new(store: Path, data: Path, vectors: str) -> None:
    from vecclf.training.train import train

    if not (store / NAME).is_dir():
        train(store=str(store), name=NAME, data=str(data), vectors=vectors, features="hybrid", C=3.0, seed=0,
              promote=True)


def quiet_access_log() -> None:
    for handler in logging.getLogger("vecclf.access").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))


def build_apps(old: Path, old_store: Path, new_store: Path):
    """Return (old app, new app): the old one first, then prometheus' default registry emptied for the new one."""
    sys.path.insert(0, str(old))
    from service import create_app as old_create  # the old commit's top-level package
    from service.config import Config as OldConfig

    old_app = old_create(OldConfig(store=str(old_store), poll_interval=0, models=(NAME,)))
    import prometheus_client

    for collector in list(prometheus_client.REGISTRY._collector_to_names):
        prometheus_client.REGISTRY.unregister(collector)
    from vecclf.service import create_app
    from vecclf.service.config import Config

    new_app = create_app(Config(store=str(new_store), poll_interval=0, models=(NAME,)))
    quiet_access_log()
    return old_app, new_app


def timed(call, items: list, n: int) -> float:
    """Return the mean µs of ``call(item)`` over ``n`` items (cycling)."""
    started = time.perf_counter()
    for i in range(n):
        call(items[i % len(items)])
    return (time.perf_counter() - started) / n * 1e6


def side_by_side(old_call, new_call, items: list, n: int, rounds: int, per: int = 1) -> tuple[float, float, float]:
    """Return (old µs, new µs, median new/old ratio) over ``rounds`` alternating rounds; ``per`` divides each."""
    timed(old_call, items, min(n, 200))
    timed(new_call, items, min(n, 200))
    olds, news = [], []
    for r in range(rounds):
        if r % 2 == 0:
            olds.append(timed(old_call, items, n) / per)
            news.append(timed(new_call, items, n) / per)
        else:
            news.append(timed(new_call, items, n) / per)
            olds.append(timed(old_call, items, n) / per)
    ratios = [b / a for a, b in zip(olds, news)]
    return statistics.median(olds), statistics.median(news), statistics.median(ratios)


INSTRUCTION_CALLS = {"explain": 1000, "batch32": 40}  # calls per child run (batch32: 40 batches of 32 texts)


def child(version: str, old: Path, store: Path, workload: str, calls: int) -> None:
    """Load the model with ``version``'s own code and make ``calls`` calls of ``workload`` (run under callgrind)."""
    if version == "old":
        sys.path.insert(0, str(old))
        from training.inference import Predictor  # the old commit's top-level package
        from training.registry import ModelRegistry
    else:
        from vecclf.training.inference import Predictor
        from vecclf.training.registry import ModelRegistry
    model, _ = ModelRegistry(str(store)).load(NAME)
    predictor = Predictor(model)
    texts = texts_for_load()
    for i in range(200):  # the same warm-up in every run, so caches are equally full before the counted calls
        predictor.explain([texts[i % len(texts)]])
    for i in range(calls):
        if workload == "explain":
            predictor.explain([texts[(200 + i) % len(texts)]])
        else:
            start = (32 * i) % (len(texts) - 32)
            predictor._batch_proba(texts[start : start + 32])


def instructions(version: str, old: Path, store: Path, workload: str, calls: int) -> int:
    """Return the instructions callgrind counts for one child run."""
    args = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
            "--child", version, str(old), str(store), workload, str(calls)]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    for line in done.stderr.splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1])
    raise RuntimeError(f"no instruction count from callgrind: {done.stderr[-500:]}")


def instruction_rows(old: Path, old_store: Path, new_store: Path) -> list[str]:
    """Return table rows: instructions per call of each workload, old and new, from runs with and without calls."""
    import concurrent.futures

    jobs = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for version, store in (("old", old_store), ("new", new_store)):
            for workload, calls in INSTRUCTION_CALLS.items():
                for n in (0, calls):
                    jobs[version, workload, n] = pool.submit(instructions, version, old, store, workload, n)
    count = {key: job.result() for key, job in jobs.items()}
    rows = []
    for workload, calls in INSTRUCTION_CALLS.items():
        per = {v: (count[v, workload, calls] - count[v, workload, 0]) / calls for v in ("old", "new")}
        label = "`Predictor.explain([text])`" if workload == "explain" else "32-text batch arithmetic, per text"
        scale = 1 if workload == "explain" else 32
        rows.append(f"| {label} | {per['old'] / scale:,.0f} | {per['new'] / scale:,.0f} | "
                    f"{per['new'] / per['old']:.2f}× |")
    return rows


def load_average() -> float:
    return os.getloadavg()[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", default="9bf6213", help="the older commit (two-package layout)")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "vecclf-bench-versus-old"))
    parser.add_argument("--loops", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument("--instructions", action="store_true",
                        help="also count instructions per call under valgrind's callgrind (load-independent)")
    parser.add_argument("--child", nargs=5, metavar=("VERSION", "OLD", "STORE", "WORKLOAD", "CALLS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        version, old, store, workload, calls = args.child
        child(version, Path(old), Path(store), workload, int(calls))
        return 0

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    print(f"preparing {work} (old checkout, two stores, two models)...", file=sys.stderr)
    old = old_checkout(args.old, work / "old")
    old_store, new_store = work / "old-store", work / "new-store"
    vectors = glove_store(new_store)
    glove_store(old_store)
    data = labelled_csv(work / "sst-train.csv", lambda: sentences(SST))
    train_old(old, old_store, data)
    train_new(new_store, data, vectors)
    load_start = load_average()
    old_app, new_app = build_apps(old, old_store, new_store)
    old_model = old_app.extensions["vecclf.models"].get(NAME).predictor
    new_model = new_app.extensions["vecclf.models"].get(NAME).predictor
    texts = texts_for_load()
    bodies = [json.dumps({"texts": [t]}).encode() for t in texts]
    url = URL.format(NAME)

    def wsgi(app, env):
        b"".join(app(env, lambda status, headers, exc_info=None: None))

    n, rounds = args.loops, args.rounds
    rows = [
        ("`GET /healthz`", side_by_side(lambda _: wsgi(old_app.wsgi_app, environ("GET", "/healthz")),
                                        lambda _: wsgi(new_app.wsgi_app, environ("GET", "/healthz")), [None], n, rounds)),
        ("single-text predict, as served", side_by_side(lambda b: wsgi(old_app.wsgi_app, environ("POST", url, b)),
                                                        lambda b: wsgi(new_app.wsgi_app, environ("POST", url, b)),
                                                        bodies, n, rounds)),
        ("`Predictor.explain([text])`", side_by_side(lambda t: old_model.explain([t]), lambda t: new_model.explain([t]),
                                                     texts, n, rounds)),
    ]
    for k in (2, 8, 32, 64):
        groups = [texts[i : i + k] for i in range(0, len(texts) - k, k)]
        rows.append((f"{k}-text batch arithmetic, per text",
                     side_by_side(old_model._batch_proba, new_model._batch_proba, groups, max(50, n // k), rounds, k)))
    lines = [
        f"## Today's request path against {args.old}",
        "",
        f"`python benchmarks/versus_old.py` on {dt.date.today().isoformat()}: commit {args.old} (the two-package "
        f"layout) against the working tree, in one process; the same model trained by each version's own code "
        f"(GloVe 6B 50d, `hybrid`, C=3, seed 0, SST-2's training sentences), real SST-2 test sentences, "
        f"{rounds} alternating rounds of {n:,} calls (batches: {n:,} / k); Python {platform.python_version()}, "
        f"1-minute load average {load_start:.1f} at the start, {load_average():.1f} at the end.",
        "",
        "| call | old µs | new µs | new / old (median of rounds) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} | {a:.1f} | {b:.1f} | {r:.2f}× |" for name, (a, b, r) in rows]
    if args.instructions:
        counts = ", ".join(f"{k}: {v:,}" for k, v in INSTRUCTION_CALLS.items())
        lines += ["", f"Instructions per call under `valgrind --tool=callgrind` (the same model files; a child process "
                  f"per version and workload, calls counted with and without them ({counts}), the difference divided "
                  f"by the calls; independent of the machine's load):", "",
                  "| call | old instructions | new instructions | new / old |", "|---|---|---|---|",
                  *instruction_rows(old, old_store, new_store)]
    publish("versus-old", "\n".join(lines) + "\n", write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
