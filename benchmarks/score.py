"""Batch scoring throughput: `vecclf score` on Dask with 1 and 2 workers against one `vecclf predict` process.

Generates a CSV of 1,000,000 review-like rows (halves of SST-2 sentences
joined at random, so every row is new text in the real vocabulary), trains the
model `vecclf train` makes by default on SST-2 (GloVe 6B 50d, ``--features
auto``) once, then times whole processes on the same file, in rotating order
for a few rounds:

- ``vecclf predict --name sentiment --input rows.csv`` (one process, JSON lines to /dev/null);
- ``vecclf score --model sentiment --input rows.csv --output DIR --workers 1``;
- ``vecclf score ... --workers 2``.

Each time runs from process start to exit (start-up, cluster, model loads,
reading and writing included); texts/s is rows over the median time.
Results go to docs/benchmarks.md. Reproduce with::

    python benchmarks/score.py              # ~10 minutes on 2 quiet cores; --rows/--rounds to change
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import publish  # noqa: E402

SENTENCES = ROOT.parent / "shared" / "data" / "sentences"
MODEL = "sentiment"


def sentences(name: str) -> list[tuple[str, str]]:
    """Return (label, text) pairs of a `<label> <text>` file of the shared SST-2 data."""
    path = SENTENCES / name
    if not path.is_file():
        raise SystemExit(f"{path} is missing: the benchmark needs ../shared/data/sentences")
    out = []
    for line in path.read_text("utf-8", errors="replace").splitlines():
        label, _, text = line.strip().partition(" ")
        if text:
            out.append(("pos" if label == "1" else "neg", text))
    return out


def prepare(store: Path) -> str:
    """Install GloVe 6B 50d and train `sentiment` on SST-2 with the defaults, once; return its version."""
    from vecclf.training.registry import ModelRegistry
    from vecclf.training.train import train
    from vecclf.training.vectors.default import DEFAULT_NAME, install_default
    from vecclf.training.vectors.store import list_stores

    store.mkdir(parents=True, exist_ok=True)
    if DEFAULT_NAME not in {m["name"] for m in list_stores(store)}:
        install_default(str(store))
    reg = ModelRegistry(store)
    if MODEL not in reg.models():
        data = store / "sst-train.csv"
        with open(data, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            writer.writerows((t, lab) for lab, t in sentences("stsa.binary.train"))
        train(store=str(store), name=MODEL, data=str(data), vectors=DEFAULT_NAME, features="auto", test_size=0.2,
              seed=0, promote=True)
    return reg.current(MODEL)


def generate(path: Path, rows: int, seed: int = 0) -> None:
    """Write ``rows`` new review-like texts: the first half of one SST-2 sentence and the second of another."""
    if path.exists() and path.with_suffix(".rows").exists() and path.with_suffix(".rows").read_text() == str(rows):
        return
    texts = [t.split() for _, t in sentences("stsa.binary.train") + sentences("stsa.binary.test")]
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text"])
        for i in range(rows):
            a, b = rng.choice(texts), rng.choice(texts)
            writer.writerow([i, " ".join(a[: len(a) // 2] + b[len(b) // 2 :])])
    path.with_suffix(".rows").write_text(str(rows))


def timed(command: list[str], store: Path) -> tuple[float, float]:
    """Run ``command`` to completion with its output discarded; return (wall-clock, CPU) seconds.

    CPU is user + system time of the whole process tree (Dask's nanny and worker processes are waited
    for by their parents, so they count): the cost of the work whatever else the machine is doing.
    """
    env = {**os.environ, "VECCLF_STORE": str(store), "VECCLF_LOG_LEVEL": "WARNING"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}): {result.stderr[-2000:]}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default=os.path.join(tempfile.gettempdir(), "vecclf-bench-score"))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="timings of each command (medians are reported)")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)

    store = Path(args.store)
    version = prepare(store)
    data = store / f"rows-{args.rows}.csv"
    generate(data, args.rows)
    vecclf = str(Path(sys.executable).with_name("vecclf"))
    output = store / "scored"
    commands = {
        "predict": [vecclf, "predict", "--name", MODEL, "--input", str(data)],
        "score-1": [vecclf, "score", "--model", MODEL, "--input", str(data), "--output", str(output), "--workers", "1"],
        "score-2": [vecclf, "score", "--model", MODEL, "--input", str(data), "--output", str(output), "--workers", "2"],
    }
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    load_start = os.getloadavg()[0]
    for round_ in range(args.rounds):
        order = list(commands)[round_ % 3 :] + list(commands)[: round_ % 3]  # each command goes first once
        for name in order:
            shutil.rmtree(output, ignore_errors=True)
            wall, used = timed(commands[name], store)
            seconds[name].append(wall)
            cpu[name].append(used)
            print(f"round {round_ + 1} {name}: {wall:.1f} s, {used:.1f} CPU s", file=sys.stderr)
    summary = json.loads((output / "_vecclf_score.json").read_text())
    partitions = summary["inputs"][data.name]["partitions"]
    median = {name: statistics.median(values) for name, values in seconds.items()}
    rate = {name: args.rows / s for name, s in median.items()}
    per_cpu = {name: args.rows / statistics.median(values) for name, values in cpu.items()}
    load_end = os.getloadavg()[0]
    from vecclf.training.registry import ModelRegistry

    config = ModelRegistry(store).manifest(MODEL)["config"]
    names = {"predict": "`vecclf predict --input` (one process, JSON lines)",
             "score-1": "`vecclf score --workers 1` (Dask LocalCluster)",
             "score-2": "`vecclf score --workers 2` (Dask LocalCluster)"}
    table = "\n".join([
        "## Batch scoring on Dask",
        "",
        f"`python benchmarks/score.py` on {dt.date.today().isoformat()}: {args.rows:,} generated review rows "
        f"(CSV, {data.stat().st_size / 2**20:.0f} MiB, {partitions} partitions of 8 MB), the model `vecclf train` "
        f"makes by default on SST-2 ({version}: `auto` chose `{config['features']}`, C={config['C']:g}) on GloVe 6B "
        f"50d; whole processes from start to exit (start-up, cluster, model loads, reading and writing included), "
        f"{f'medians of {args.rounds} rounds in rotating order' if args.rounds > 1 else 'one round'}; "
        f"CPU is user + system time of the process tree; "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; 1-minute load average {load_start:.1f} at the "
        f"start, {load_end:.1f} at the end.",
        "",
        "| command | seconds | texts/s | vs `vecclf predict` | CPU seconds | texts per CPU second |",
        "|---|---|---|---|---|---|",
        *[f"| {names[n]} | {median[n]:.1f} | {rate[n]:,.0f} | {rate[n] / rate['predict']:.2f}× | "
          f"{statistics.median(cpu[n]):.1f} | {per_cpu[n]:,.0f} |" for n in commands],
        "",
        f"2 workers / 1 worker, texts/s: **{rate['score-2'] / rate['score-1']:.2f}×**. Rounds (wall s): "
        + "; ".join(f"{n} {', '.join(f'{v:.1f}' for v in values)}" for n, values in seconds.items()) + ".",
    ])
    publish("score", table, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
