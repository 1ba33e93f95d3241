"""Training at scale: vecclf's default ``train``, fastText and TF-IDF + logistic regression on the same rows.

Rows are generated from the shared sentence data (MR and SST-2, deduplicated):
a fixed 3,000 of those sentences are set aside for the test set and never
appear in a training row; every row is one, two or three sentences of the
same label joined (6:3:1), drawn at random. The test set is 5,000 rows made
the same way from the held-out sentences, the same for every size.

For each size, in one run and on the same files, each method trains in a
fresh process and is measured from process start to the accuracy on the test
set: wall time, and peak RSS of the process with all its children (sampled
every 0.1 s, and at least the kernel's own peak for the process):

- ``vecclf train --data train.csv --test test.csv`` with every default
  (``--features auto``: the search, then the fit, the evaluation and the bundle);
- fastText supervised (``wordNgrams=2, epoch=25, thread=2``, its defaults
  otherwise) from ``fasttext-numpy2-wheel``, the CSV converted to its format
  in the same process;
- ``TfidfVectorizer(ngram_range=(1, 2))`` + ``LogisticRegression(max_iter=1000)``.

Writes the table between the ``train-scale`` markers of docs/benchmarks.md and
the plot docs/train_scale.png.

    nice python benchmarks/train_scale.py                        # 10k, 100k, 200k and 1M rows; writes the docs
    nice python benchmarks/train_scale.py --rows 10000 200000    # a subset; writes the docs too
    nice python benchmarks/train_scale.py --rows 10000 --no-docs # prints only
    nice python benchmarks/train_scale.py --rows 1000000 --methods vecclf --json big.json   # then --combine a.json big.json
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data" / "sentences"
PLOT = ROOT / "docs" / "train_scale.png"
SECTION = "train-scale"
SIZES = (10_000, 100_000, 200_000, 1_000_000)
TEST_SENTENCES, TEST_ROWS = 3000, 5000
SOURCES = [("rt-polarity.all", "latin-1"), ("stsa.binary.train", "utf-8"), ("stsa.binary.dev", "utf-8"),
           ("stsa.binary.test", "utf-8")]
METHODS = ("vecclf", "fasttext", "tfidf")
NAMES = {"vecclf": "vecclf train (defaults)", "fasttext": "fastText (bigrams, 25 epochs, 2 threads)",
         "tfidf": "TF-IDF 1-2 grams + LR"}

FASTTEXT = r"""
import csv, sys, tempfile, os
import fasttext
def convert(src, dst):
    with open(src, newline="", encoding="utf-8") as fh, open(dst, "w", encoding="utf-8") as out:
        rows = csv.reader(fh)
        next(rows)
        for text, label in rows:
            out.write(f"__label__{label} {' '.join(text.lower().split())}\n")
folder = tempfile.mkdtemp()
train, test = os.path.join(folder, "train.txt"), os.path.join(folder, "test.txt")
convert(sys.argv[1], train)
convert(sys.argv[2], test)
model = fasttext.train_supervised(train, wordNgrams=2, epoch=25, thread=2, seed=0, verbose=0)
print(model.test(test)[1])
"""

TFIDF = r"""
import sys
import numpy as np
import pyarrow.csv as pv
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
def read(path):
    table = pv.read_csv(path)
    return table.column("text").to_pylist(), np.asarray(table.column("label").to_pylist())
texts, labels = read(sys.argv[1])
test_texts, test_labels = read(sys.argv[2])
model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression(max_iter=1000)).fit(texts, labels)
print(float(np.mean(model.predict(test_texts) == test_labels)))
"""


# ---------------------------------------------------------------- data
def sentences(folder: Path) -> list[tuple[str, str]]:
    """Return the distinct (text, label) sentences of MR and SST-2 (labels ``negative``/``positive``)."""
    seen, out = set(), []
    for name, encoding in SOURCES:
        with open(folder / name, encoding=encoding, newline="") as fh:
            for line in fh:
                label, _, text = line.strip().partition(" ")
                text = " ".join(text.split())
                key = "".join(text.lower().split())
                if text and key not in seen:
                    seen.add(key)
                    out.append((text, "positive" if label == "1" else "negative"))
    return out


def write_rows(path: Path, pool: list[tuple[str, str]], n: int, seed: int) -> None:
    """Write ``n`` rows of one to three same-label sentences of ``pool`` as a CSV with text and label columns."""
    rng = random.Random(seed)
    by_label: dict[str, list[str]] = {}
    for text, label in pool:
        by_label.setdefault(label, []).append(text)
    labels = sorted(by_label)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["text", "label"])
        for _ in range(n):
            label = rng.choice(labels)
            parts = rng.choices((1, 2, 3), weights=(6, 3, 1))[0]
            out.writerow([" ".join(rng.choice(by_label[label]) for _ in range(parts)), label])


def make_data(work: Path, sizes, data_dir: Path) -> dict:
    """Write test.csv and train-<n>.csv under ``work``; return their paths."""
    pool = sentences(data_dir)
    random.Random(0).shuffle(pool)
    test_pool, train_pool = pool[:TEST_SENTENCES], pool[TEST_SENTENCES:]
    paths = {"test": work / "test.csv"}
    write_rows(paths["test"], test_pool, TEST_ROWS, seed=1)
    for n in sizes:
        paths[n] = work / f"train-{n}.csv"
        write_rows(paths[n], train_pool, n, seed=2)
    return {"paths": paths, "train_sentences": len(train_pool), "test_sentences": len(test_pool)}


# ---------------------------------------------------------------- measuring
def _tree_rss(pid: int) -> int:
    """Return the summed RSS in bytes of ``pid`` and its descendants (0 if gone)."""
    total, todo = 0, [pid]
    page = os.sysconf("SC_PAGE_SIZE")
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * page
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


def measure(cmd: list[str], timeout: float) -> dict:
    """Run ``cmd``; return wall seconds, peak RSS (MiB) of its process tree and its stdout."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    peak = [0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError(f"{cmd[:4]} took more than {timeout:.0f} s") from None
    seconds = time.perf_counter() - started
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{err[-2000:]}")
    return {"seconds": seconds, "rss_mib": peak[0] / 2**20, "stdout": out}


def run_method(method: str, train: Path, test: Path, store: Path, timeout: float) -> dict:
    """Train ``method`` on ``train``; return its seconds, peak RSS and test accuracy."""
    if method == "vecclf":
        cmd = [sys.executable, "-m", "vecclf.training.cli", "--store", str(store), "train", "--name",
               f"scale-{train.stem}", "--data", str(train), "--test", str(test)]
        got = measure(cmd, timeout)
        report = json.loads(got["stdout"])
        got["accuracy"] = report["metrics"]["accuracy"]
        got["selection"] = report["selection"].get("chosen")
    else:
        got = measure([sys.executable, "-c", FASTTEXT if method == "fasttext" else TFIDF, str(train), str(test)],
                      timeout)
        got["accuracy"] = float(got["stdout"].strip().splitlines()[-1])
    got.pop("stdout")
    return got


def load_average() -> float:
    return os.getloadavg()[0]


# ---------------------------------------------------------------- output
def table(results: dict, meta: dict) -> str:
    """Return the Markdown section for ``results`` ({rows: {method: measurement}})."""
    how = (f"`nice python benchmarks/train_scale.py --rows {' '.join(str(n) for n in results)}`"
           if "runs" not in meta else
           "runs of `nice python benchmarks/train_scale.py`, partly at the same time: " + "; ".join(f"`{r}" for r in meta["runs"])
           + ", joined with `--combine`")
    lines = [
        "## Training at scale",
        "",
        f"{how} on {meta['date']}"
        + (f", vecclf at commit {meta['commit']}" if "runs" not in meta else "")
        + f": {meta['cores']} cores shared with other jobs, Python {meta['python']}; "
        f"1-minute load average {meta['load_start']:.1f} at the start, {meta['load_end']:.1f} at the end. "
        "Each run is one process from start to the test accuracy, on the same files; the machine was shared, "
        "so read the ratios, not the absolute seconds.",
        "",
        f"Rows: one to three same-label MR/SST-2 sentences joined (6:3:1), drawn from {meta['train_sentences']:,} "
        f"distinct sentences; test: {TEST_ROWS:,} rows made from {meta['test_sentences']:,} other sentences. "
        "Peak RSS: the process and its children, sampled every 0.1 s.",
        "",
        "![training at scale](train_scale.png)",
        "",
        "| rows | method | wall time | peak RSS | accuracy | vecclf ÷ fastText (time / RSS) | vecclf's choice |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, by_method in results.items():
        ft = by_method.get("fasttext")
        for method in METHODS:
            m = by_method.get(method)
            if m is None:
                continue
            ratio, choice = "", ""
            if method == "vecclf":
                if ft:
                    ratio = f"{m['seconds'] / ft['seconds']:.2f} / {m['rss_mib'] / ft['rss_mib']:.2f}"
                chosen = m.get("selection") or {}
                choice = f"{chosen.get('features')} C={chosen.get('C')}" if chosen else ""
            lines.append(f"| {n:,} | {NAMES[method]} | {m['seconds']:.1f} s | {m['rss_mib']:,.0f} MiB | "
                         f"{100 * m['accuracy']:.1f} | {ratio} | {choice} |")
    lines += ["", *targets(results)]
    return "\n".join(lines)


def targets(results: dict) -> list[str]:
    """Return the issue-16 targets as sentences, for the sizes measured."""
    out = []
    at = results.get(200_000, {})
    if "vecclf" in at and "fasttext" in at:
        v, f = at["vecclf"], at["fasttext"]
        out.append(f"Targets at 200,000 rows: time {v['seconds'] / f['seconds']:.2f}× fastText's (≤ 1.5), "
                   f"peak RSS {v['rss_mib'] / f['rss_mib']:.2f}× (≤ 1.5), accuracy "
                   f"{100 * (v['accuracy'] - f['accuracy']):+.1f} points against fastText's (≥ −0.5).")
    big = results.get(1_000_000, {}).get("vecclf")
    small = results.get(200_000, {}).get("vecclf")
    if big:
        line = f"At 1,000,000 rows: peak RSS {big['rss_mib']:,.0f} MiB (≤ 2,048)"
        if small:
            line += (f"; time {big['seconds'] / small['seconds']:.1f}× that of 200,000 rows "
                     f"(5× the rows), RSS {big['rss_mib'] / small['rss_mib']:.2f}×")
        out.append(line + ".")
    return out


def plot(results: dict, path: Path) -> None:
    """Draw wall time, peak RSS and accuracy against rows for each method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    sizes = list(results)
    for method in METHODS:
        xs = [n for n in sizes if method in results[n]]
        if not xs:
            continue
        for ax, key, scale in zip(axes, ("seconds", "rss_mib", "accuracy"), (1, 1, 100)):
            ax.plot(xs, [results[n][method][key] * scale for n in xs], marker="o", label=NAMES[method])
    for ax, title in zip(axes, ("wall time (s)", "peak RSS (MiB)", "test accuracy (%)")):
        ax.set_xscale("log")
        ax.set_xlabel("training rows")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
    axes[0].set_yscale("log")
    axes[1].axhline(2048, color="grey", linestyle=":", linewidth=1)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--peers-up-to", type=int, default=None,
                        help="run fastText and TF-IDF only up to this many rows (vecclf on every size)")
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    parser.add_argument("--timeout", type=float, default=7200, help="seconds one run may take")
    parser.add_argument("--no-docs", action="store_true", help="print the table only")
    parser.add_argument("--json", default=None, help="also write the raw results here")
    parser.add_argument("--combine", nargs="+", default=None, metavar="JSON",
                        help="write the docs from the --json files of earlier runs (e.g. 1M rows run on its own)")
    args = parser.parse_args(argv)
    if args.combine:
        return combine([Path(p) for p in args.combine], not args.no_docs)
    meta = {"date": dt.date.today().isoformat(), "cores": os.cpu_count(), "python": sys.version.split()[0],
            "load_start": load_average(),
            "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                     cwd=ROOT).stdout.strip()}
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="vecclf-scale-") as tmp:
        work = Path(tmp)
        data = make_data(work, args.rows, Path(args.data_dir))
        meta.update(train_sentences=data["train_sentences"], test_sentences=data["test_sentences"])
        store = work / "store"
        subprocess.run([sys.executable, "-m", "vecclf.training.cli", "--store", str(store), "vectors", "default"],
                       check=True, capture_output=True)
        for n in args.rows:
            results[n] = {}
            for method in args.methods:
                if method != "vecclf" and args.peers_up_to is not None and n > args.peers_up_to:
                    continue
                print(f"[train_scale] {n:,} rows: {method} (load {load_average():.1f})", file=sys.stderr, flush=True)
                results[n][method] = run_method(method, data["paths"][n], data["paths"]["test"], store, args.timeout)
                print(f"[train_scale]   {json.dumps(results[n][method])}", file=sys.stderr, flush=True)
                if args.json:  # after every run, so a long run stopped early keeps what it measured
                    meta.update(load_end=load_average(), rows=[r for r in args.rows if r in results])
                    Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=2), "utf-8")
    meta["load_end"] = load_average()
    meta["rows"] = list(args.rows)
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=2), "utf-8")
    text = table(results, meta)
    print(text)
    if not args.no_docs:
        plot(results, PLOT)
        write_section(SECTION, text)
    return 0


def combine(paths: list[Path], docs: bool) -> int:
    """Merge the results of several ``--json`` runs (later files win for the same rows and method); write the docs."""
    results: dict = {}
    metas = []
    for path in paths:
        saved = json.loads(path.read_text("utf-8"))
        metas.append(saved["meta"])
        for rows, by_method in saved["results"].items():
            results.setdefault(int(rows), {}).update(by_method)
    results = dict(sorted(results.items()))
    meta = {**metas[0], "load_start": min(m["load_start"] for m in metas),
            "load_end": max(m["load_end"] for m in metas)}
    meta["runs"] = [f"--rows {' '.join(map(str, m.get('rows', [])))}` at commit {m['commit']} (load "
                    f"{m['load_start']:.1f} → {m['load_end']:.1f})" for m in metas]
    meta["commit"] = " and ".join(dict.fromkeys(m["commit"] for m in metas))
    text = table(results, meta)
    print(text)
    if docs:
        plot(results, PLOT)
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
