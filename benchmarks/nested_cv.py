"""What nested ``--cv`` changes: the old protocol and the nested one, side by side on MR samples.

``vecclf train --cv K`` used to choose the features and C once, on every
row, then cross-validate that choice (so each fold's score included rows
that had helped choose); it now runs the search inside each fold (issue 15).
This script runs both on the same rows and folds in one process, through
``vecclf.training.train.cross_validate``: the old protocol is that function
with the choice made on all the rows handed to every fold, the nested one
is what ``train`` calls. Each run is a stratified sample of MR of the given
size (the sample and the folds drawn with the run's seed), ``--features
auto``, GloVe 6B 50d, one job; the two protocols take turns going first.
Times include every search and the K fold fits (not the final fit, which
both share). Writes the ``nested-cv`` section of docs/benchmarks.md::

    python benchmarks/nested_cv.py              # sizes 300 and 2,000, seeds 0-4: ~15 minutes on 2 cores
    python benchmarks/nested_cv.py --sizes 300 --seeds 2 --no-write
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import VECTORS, code_version, ensure_vectors, find_data_dir, load_average, machine_note  # noqa: E402
from accuracy import read_sentences, stratified_sample  # noqa: E402
from docs_section import publish  # noqa: E402

SECTION = "nested-cv"


def measure(ds, *, vstore, store: str, k: int, seed: int, nested_first: bool = False) -> dict:
    """Return both protocols' accuracy (%), seconds and choices on Dataset ``ds`` with ``k`` folds."""
    from vecclf.training.train import choose_training, cross_validate

    def choose(part):
        return choose_training(part, vstore=vstore, store=store, seed=seed, jobs=1)

    def old():
        config, selection = choose(ds)
        metrics = cross_validate(ds, lambda part: (config, selection), k, seed)
        return metrics, selection["chosen"]

    def nested():
        return cross_validate(ds, choose, k, seed), None

    out = {}
    for name, run in (("nested", nested), ("old", old)) if nested_first else (("old", old), ("nested", nested)):
        started = time.monotonic()
        metrics, chosen = run()
        out[name] = {"accuracy": 100 * metrics["accuracy"], "seconds": time.monotonic() - started,
                     "choices": metrics["fold_choices"]}
        if chosen is not None:
            out["chosen"] = chosen
    return out


def render(results: dict, *, k: int, command: str, note: str, code: str) -> str:
    """Return the markdown section for ``results`` ({rows: [measure() results]})."""
    med = statistics.median
    lines = ["## Nested cross-validation (`train --cv`)", "",
             f"`{command}` on {dt.date.today().isoformat()}, vecclf at {code}: {note}.", "",
             f"MR samples, {k}-fold CV, `--features auto`, GloVe 6B 50d, one job. *Old*: the feature set and C "
             "chosen once on every row, then cross-validated (what `--cv` did before issue 15); *nested*: the "
             "search inside each fold (what it does now). Medians over the runs (one sample and fold split per "
             "seed); both protocols on the same rows and folds in the same process.", "",
             "| rows | runs | old accuracy | nested accuracy | nested − old (range) | old time | nested time | "
             "time ratio | folds choosing otherwise |",
             "|---|---|---|---|---|---|---|---|---|"]
    for rows, runs in results.items():
        diffs = [r["nested"]["accuracy"] - r["old"]["accuracy"] for r in runs]
        other = sum(c != r["chosen"] for r in runs for c in r["nested"]["choices"])
        total = sum(len(r["nested"]["choices"]) for r in runs)
        lines.append(
            f"| {rows:,} | {len(runs)} | {med(r['old']['accuracy'] for r in runs):.2f} % "
            f"| {med(r['nested']['accuracy'] for r in runs):.2f} % "
            f"| {med(diffs):+.2f} ({min(diffs):+.2f} to {max(diffs):+.2f}) "
            f"| {med(r['old']['seconds'] for r in runs):.1f} s | {med(r['nested']['seconds'] for r in runs):.1f} s "
            f"| {med(r['nested']['seconds'] / r['old']['seconds'] for r in runs):.1f}x | {other} of {total} |")
    lines += ["", "*Folds choosing otherwise*: outer folds whose own search chose another feature set or C than "
              "the search on all the rows. The old figure scored that one choice on rows it was chosen on; "
              f"nested `--cv {k}` runs {k + 1} searches instead of one."]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 2000], help="rows per MR sample")
    parser.add_argument("--seeds", type=int, default=5, help="runs per size (seeds 0..N-1)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--store", default=os.path.join(tempfile.gettempdir(), "vecclf-bench-nested-cv"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-write", action="store_true")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    from vecclf.training.data import Dataset
    from vecclf.training.vectors.store import open_store

    load_at_start = load_average()
    store = Path(args.store)
    store.mkdir(parents=True, exist_ok=True)
    ensure_vectors(store)
    vstore = open_store(str(store), VECTORS)
    texts, labels = read_sentences(find_data_dir(args.data_dir) / "rt-polarity.all", "latin-1")
    results: dict = {}
    for size in args.sizes:
        for seed in range(args.seeds):
            idx = stratified_sample(labels, size, seed)
            ds = Dataset("MR", [texts[i] for i in idx], [labels[i] for i in idx], "latin-1", "txt", False, 0,
                         [int(i) + 1 for i in idx])
            r = measure(ds, vstore=vstore, store=str(store), k=args.folds, seed=seed, nested_first=seed % 2 == 1)
            results.setdefault(size, []).append(r)
            print(f"{size} rows seed {seed}: old {r['old']['accuracy']:.2f} % in {r['old']['seconds']:.1f} s, "
                  f"nested {r['nested']['accuracy']:.2f} % in {r['nested']['seconds']:.1f} s", file=sys.stderr,
                  flush=True)
    command = "python benchmarks/nested_cv.py" + (f" {' '.join(argv)}" if argv else "")
    table = render(results, k=args.folds, command=command, note=machine_note(load_at_start), code=code_version())
    publish(SECTION, table, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
