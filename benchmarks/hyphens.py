"""The hyphen question, settled by measurement: in-vocabulary hyphenated compounds kept whole, or split.

GloVe 6B has whole entries for thousands of hyphenated compounds (``well-acted``,
``one-note``, ``--``) that a tokenizer splitting every hyphen never looks up.
This script trains the same models on the same splits with the two rules a
vector store can record (``"hyphens": "split"`` or ``"known"``; see
vecclf.training.tokens), side by side in one run: the default GloVe store is
installed once and a second store of it differs only in that manifest key.
Feature sets: plain ``mean`` (C=1, where only the vectors count) and the
``hybrid``/``hybrid-pos`` sets ``auto`` chooses on these tasks (C=3 and
C=30); the word and character n-gram blocks split hyphens under both rules.
SST-2 and TREC on their train/test splits, MR by 5-fold stratified CV
(shuffled, seed 0). Writes the ``hyphens`` section of docs/benchmarks.md::

    python benchmarks/hyphens.py            # ~25 minutes on 2 cores
    python benchmarks/hyphens.py --no-write
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import ensure_vectors, find_data_dir, read_sentences  # noqa: E402
from docs_section import write_section  # noqa: E402

SETS = [("mean", 1.0), ("hybrid", 3.0), ("hybrid-pos", 30.0)]
RULES = ("split", "known")


def store_with_rule(store: Path, rule: str) -> str:
    """Return the folder of a copy of the default store whose manifest records hyphen rule ``rule``."""
    source = Path(ensure_vectors(store))
    target = store / "vectors" / f"glove-hyphens-{rule}"
    if not target.is_dir():
        shutil.copytree(source, target)
        manifest = json.loads((target / "manifest.json").read_text())
        manifest.update(name=target.name, hyphens=rule)
        (target / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return str(target)


def accuracy(train, test, *, store: Path, vectors: str, features: str, C: float) -> float:
    from vecclf.training.model import TextModel

    model = TextModel(vectors=vectors, store=str(store), features=features, C=C, seed=0).fit(*train)
    return float(np.mean(model.predict(test[0]) == np.asarray(test[1], dtype=object)))


def tasks(data: Path):
    """Yield (task, [(train, test), ...]) on the fixed splits."""
    from sklearn.model_selection import StratifiedKFold

    yield "SST-2", [(read_sentences(data / "stsa.binary.train", "utf-8"), read_sentences(data / "stsa.binary.test", "utf-8"))]
    yield "TREC", [(read_sentences(data / "TREC.train.all", "latin-1"), read_sentences(data / "TREC.test.all", "latin-1"))]
    texts, labels = read_sentences(data / "rt-polarity.all", "latin-1")
    X, y = np.asarray(texts, dtype=object), np.asarray(labels)
    folds = StratifiedKFold(5, shuffle=True, random_state=0).split(X, y)
    yield "MR (5-fold)", [((list(X[a]), list(y[a])), (list(X[b]), list(y[b]))) for a, b in folds]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default=os.path.join(tempfile.gettempdir(), "vecclf-bench-hyphens"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    store = Path(args.store)
    store.mkdir(parents=True, exist_ok=True)
    data = find_data_dir(args.data_dir)
    vectors = {rule: store_with_rule(store, rule) for rule in RULES}
    results: dict = {}
    for task, splits in tasks(data):
        for features, C in SETS:
            for rule in RULES:
                scores = [accuracy(tr, te, store=store, vectors=vectors[rule], features=features, C=C) for tr, te in splits]
                results[(task, features, rule)] = 100 * float(np.mean(scores))
                print(f"{task:12s} {features:10s} {rule:6s} {results[(task, features, rule)]:.2f}", flush=True)
    names = [t for t, _ in tasks(data)]
    lines = ["## Hyphenated compounds: kept whole or split", "",
             f"`python benchmarks/hyphens.py` on {dt.date.today().isoformat()}: the same models on the same splits "
             "with the default GloVe store's two hyphen rules (vector lookups only; n-gram blocks split under both). "
             f"1-minute load average at the end {os.getloadavg()[0]:.1f}.", "",
             "| features | rule | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for features, C in SETS:
        for rule in RULES:
            cells = [f"{results[(t, features, rule)]:.2f}" for t in names]
            lines.append(f"| {features} (C={C:g}) | {rule} | " + " | ".join(cells) + " |")
    wins = sum(results[(t, f, 'known')] >= results[(t, f, 'split')] for t in names for f, _ in SETS)
    lines += ["", f"Keeping known compounds whole is at least as accurate in {wins} of {len(names) * len(SETS)} "
              "cells; new stores record `\"hyphens\": \"known\"`, stores made before keep splitting, and every "
              "model keeps the rule it was trained with."]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section("hyphens", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
