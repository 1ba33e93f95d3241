"""Speed and memory of vecclf against gensim (and fastText), side by side in one run.

Writes the table between the ``speed`` markers of docs/benchmarks.md. Every
timing is a whole process, started by this script, and the peers run
alternately with ours in the same loop, so machine load hits both alike;
each figure is the median over ``--repeats`` runs.

    python benchmarks/speed.py                 # embed, lookup, 3M-word set, training; writes the docs
    python benchmarks/speed.py --quick         # embed and lookup only, no docs update
    python benchmarks/speed.py --skip embed,embed-csv,lookup,large --no-docs   # only d. (training), printed

Targets (from the performance issue):

a. ``vecclf embed`` on MR x ~200k docs vs gensim ``get_mean_vector`` per doc: ours/peer <= 0.1
b. ``vecclf vectors lookup`` vs gensim ``load_word2vec_format`` of GloVe text: ours/peer <= 0.02
c. 3M x 300 float16 import peak RSS <= 1.5 x matrix; start in seconds; PSS of 1 and 4 workers
d. ``vecclf train`` time (mean, auto) next to fastText supervised on SST-2
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import write_section  # noqa: E402
from processes import log, median, run  # noqa: E402
SENTENCES = ROOT.parent / "shared" / "data" / "sentences"
PY = sys.executable
VECCLF = [PY, "-m", "vecclf.training.cli"]
HEAVY = ("sklearn", "gensim", "pandas", "scipy", "pyarrow", "torch")

GENSIM_EMBED = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from gensim.models import KeyedVectors
from vecclf.training.data import read_dataset
from vecclf.training.tokens import Tokenizer
t1 = time.perf_counter()
kv = KeyedVectors.load(sys.argv[1], mmap="r")
t2 = time.perf_counter()
texts = read_dataset(sys.argv[2], text_column="text", label_column=None, require_labels=False).texts
t3 = time.perf_counter()
docs = Tokenizer(lowercase=True).many(texts)
t4 = time.perf_counter()
out = np.zeros((len(docs), kv.vector_size), dtype=np.float32)
for i, doc in enumerate(docs):
    try:
        out[i] = kv.get_mean_vector(doc, pre_normalize=False, ignore_missing=True)
    except ValueError:  # no word of the document has a vector
        pass
t5 = time.perf_counter()
np.save(sys.argv[3], out)
t6 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "read": t3 - t2, "tokenize": t4 - t3, "mean": t5 - t4, "save": t6 - t5}))
"""

GENSIM_LOOKUP = r"""
import sys, warnings
warnings.simplefilter("ignore")
from gensim.models import KeyedVectors
kv = KeyedVectors.load_word2vec_format(sys.argv[1], binary=sys.argv[3] == "bin", no_header=sys.argv[3] == "glove")
print(kv[sys.argv[2]][:3])
"""

LOOKUP_IMPORTS = r"""
import sys
from vecclf.training.cli import main
import io, contextlib
with contextlib.redirect_stdout(io.StringIO()):
    main(["vectors", "lookup", "--store", sys.argv[1], sys.argv[2], "the"])
print(",".join(sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[3].split(",")))))
"""

FASTTEXT_TRAIN = r"""
import sys, time
import fasttext
threads = {"thread": int(sys.argv[3])} if int(sys.argv[3]) else {}  # 0: fastText's default (12)
m = fasttext.train_supervised(sys.argv[1], epoch=25, lr=0.5, wordNgrams=2, verbose=0, seed=0, **threads)
n, p, r = m.test(sys.argv[2])
print(p)
"""


# ---------------------------------------------------------------- setup
def setup(work: Path, n_docs: int) -> dict:
    """Install the default vectors, write the MR x n input, GloVe text and gensim .kv copies."""
    import numpy as np

    store = work / "models"
    if not (store / "vectors" / "glove-6b-50d" / "manifest.json").exists():
        run([*VECCLF, "vectors", "default", "--store", str(store)])
    paths = {"store": store, "mr": work / "mr.txt", "glove": work / "glove.6B.50d.txt", "kv": work / "glove.kv"}
    raw = (SENTENCES / "rt-polarity.all").read_bytes().decode("latin-1")
    texts = [line.split(" ", 1)[1] for line in raw.split("\n") if line.strip()]
    paths["mr"].write_text("\n".join(texts[i % len(texts)] for i in range(n_docs)) + "\n", encoding="utf-8")
    paths["mr_csv"] = work / "mr.csv"
    with open(paths["mr_csv"], "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["text"])
        out.writerows([texts[i % len(texts)]] for i in range(n_docs))
    from vecclf.training.vectors.store import open_store

    vs = open_store(store, "glove-6b-50d")
    if not paths["glove"].exists() or not paths["kv"].exists():
        from gensim.models import KeyedVectors

        kv = KeyedVectors(vector_size=vs.dim, count=0, dtype=np.float32)
        kv.add_vectors(vs.words, np.asarray(vs.vectors, dtype=np.float32))
        kv.save(str(paths["kv"]))
        kv.save_word2vec_format(str(paths["glove"]), binary=False, write_header=False)
    for name in ("stsa.binary.train", "stsa.binary.test"):
        out = work / f"{name}.ft"
        lines = (SENTENCES / name).read_text("utf-8").split("\n")
        out.write_text("".join(f"__label__{l.split(' ', 1)[0]} {l.split(' ', 1)[1]}\n" for l in lines if l.strip()), "utf-8")
        paths[name] = out
    return paths


# ---------------------------------------------------------------- a. embed
def bench_embed(p: dict, repeats: int, source: str = "mr") -> dict:
    """Embed the MR sentences of ``p[source]`` (one a line, or a CSV's text column) with vecclf and gensim."""
    import numpy as np

    ours_out, peer_out = p["mr"].with_suffix(".ours.npy"), p["mr"].with_suffix(".gensim.npy")
    ours, peer, parts = [], [], []
    for _ in range(repeats):
        t, _ = run([*VECCLF, "embed", "--store", str(p["store"]), "--vectors", "glove-6b-50d", "--input",
                    str(p[source]), "--output", str(ours_out)])
        ours.append(t)
        t, out = run([PY, "-c", GENSIM_EMBED, str(p["kv"]), str(p[source]), str(peer_out)])
        peer.append(t)
        parts.append(json.loads(out.strip().splitlines()[-1]))
        log(f"embed: ours {ours[-1]:.2f}s gensim {peer[-1]:.2f}s {parts[-1]}")
    a, b = np.load(ours_out), np.load(peer_out)
    in_process = _pool_in_process(p)
    return {"ours": median(ours), "peer": median(peer), "n": len(a), "max_abs_diff": float(np.abs(a - b).max()),
            "peer_parts": {k: median([x[k] for x in parts]) for k in parts[0]}, "ours_parts": in_process}


def _pool_in_process(p: dict) -> dict:
    """Time our tokenize + look-up + pool alone (in this process, warm), for the breakdown."""
    from vecclf.training.data import read_dataset
    from vecclf.training.pooling import pool
    from vecclf.training.vectors.store import open_store

    texts = read_dataset(str(p["mr"]), text_column="text", label_column=None, require_labels=False).texts
    vs = open_store(p["store"], "glove-6b-50d")
    t = time.perf_counter()
    vs.warm()
    warm = time.perf_counter() - t
    times = []
    for _ in range(3):
        t = time.perf_counter()
        pool(vs, texts)
        times.append(time.perf_counter() - t)
    return {"index": warm, "pool": median(times)}


# ---------------------------------------------------------------- b. lookup
def bench_lookup(p: dict, repeats: int) -> dict:
    ours, peer = [], []
    for _ in range(repeats):
        t, out = run([*VECCLF, "vectors", "lookup", "--store", str(p["store"]), "glove-6b-50d", "the"])
        ours.append(t)
        t, _ = run([PY, "-c", GENSIM_LOOKUP, str(p["glove"]), "the", "glove"])
        peer.append(t)
        log(f"lookup: ours {ours[-1]:.3f}s gensim {peer[-1]:.2f}s")
    _, heavy = run([PY, "-c", LOOKUP_IMPORTS, str(p["store"]), "glove-6b-50d", ",".join(HEAVY)])
    t, _ = run([PY, "-c", "pass"])
    return {"ours": median(ours), "peer": median(peer), "heavy": heavy.strip() or "none", "python": t}


# ---------------------------------------------------------------- d. training
def bench_train(p: dict, repeats: int, ft_threads: int = 2) -> dict:
    """Train on SST-2 with --features mean, --features auto and fastText, in turn in each of ``repeats`` rounds."""
    # fastText ships with the project (fasttext-numpy2-wheel, the --classifier fasttext backend); FASTTEXT_PYTHON
    # picks another interpreter's build.
    ft_python = Path(os.environ.get("FASTTEXT_PYTHON") or sys.executable)
    has_ft = ft_python.exists() and subprocess.run([str(ft_python), "-c", "import fasttext"],
                                                   capture_output=True).returncode == 0
    runs: dict = {"mean": [], "auto": [], "fasttext": []}
    accuracy: dict = {}
    loads = [os.getloadavg()[0]]
    for r in range(repeats):
        for features in ("mean", "auto"):
            t, out = run([*VECCLF, "train", "--store", str(p["store"]), "--name", f"speed-{features}", "--data",
                          str(p["stsa.binary.train"]), "--test", str(p["stsa.binary.test"]), "--features", features])
            runs[features].append(t)
            accuracy[features] = json.loads(out.strip().splitlines()[-1])["metrics"]["accuracy"]
        if has_ft:
            t, out = run([str(ft_python), "-c", FASTTEXT_TRAIN, str(p["stsa.binary.train"]),
                          str(p["stsa.binary.test"]), str(ft_threads)])
            runs["fasttext"].append(t)
            accuracy["fasttext"] = float(out.strip().splitlines()[-1])
        loads.append(os.getloadavg()[0])
        log(f"train round {r + 1}: mean {runs['mean'][-1]:.1f}s auto {runs['auto'][-1]:.1f}s"
            + (f" fasttext {runs['fasttext'][-1]:.1f}s" if has_ft else "") + f" (load {loads[-1]:.1f})")
    res: dict = {f: {"s": median(runs[f]), "runs": runs[f], "accuracy": accuracy[f]} for f in ("mean", "auto")}
    res["loads"] = loads
    if has_ft:
        res["fasttext"] = {"s": median(runs["fasttext"]), "runs": runs["fasttext"], "accuracy": accuracy["fasttext"],
                           "python": str(ft_python), "threads": ft_threads or 12}
        # The ratio of each round's pair (same load), then their median.
        res["auto"]["ratio"] = median([a / f for a, f in zip(runs["auto"], runs["fasttext"])])
        res["mean"]["ratio"] = median([a / f for a, f in zip(runs["mean"], runs["fasttext"])])
    return res


# ---------------------------------------------------------------- report
def _shown(argv: list[str]) -> list[str]:
    """Return the command-line flags that change results (not where raw JSON goes)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--json":
            skip = True
        elif not a.startswith("--json="):
            out.append(a)
    return out


def table(res: dict, argv: list[str], repeats: int) -> str:
    load = os.getloadavg()[0]
    lines = [
        "## Speed and memory against gensim",
        "",
        f"`{' '.join(['python', 'benchmarks/speed.py', *_shown(argv)])}` on {dt.date.today()}: "
        f"medians of {repeats} runs, each a whole process, ours and the peer alternating; "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; 1-minute load average at the end {load:.1f}.",
        "",
        "| measure | vecclf | peer | ours ÷ peer | target |",
        "|---|---|---|---|---|",
    ]
    if "embed" in res:
        e = res["embed"]
        lines.append(f"| a. embed {e['n']:,} MR sentences, end to end (process start → `.npy` written) | "
                     f"{e['ours']:.2f} s | {e['peer']:.2f} s (gensim `get_mean_vector` per doc) | "
                     f"**{e['ours'] / e['peer']:.3f}** ({e['peer'] / e['ours']:.1f}× faster; outputs "
                     + ("identical" if e["max_abs_diff"] == 0 else f"within {e['max_abs_diff']:.1e}") + ") | ≤ 0.1 |")
        if "embed_csv" in res:
            c = res["embed_csv"]
            lines.append(f"| a″. the same sentences from a CSV (`text` column), end to end | {c['ours']:.2f} s | "
                         f"{c['peer']:.2f} s (gensim loop; same CSV reader) | **{c['ours'] / c['peer']:.3f}** "
                         f"({c['peer'] / c['ours']:.1f}× faster) | ≤ 0.1 |")
        pp = e["peer_parts"]
        lines.append(f"| a′. the pooling step alone (tokenize + look up + mean, warm, in process) | "
                     f"{e['ours_parts']['pool']:.2f} s | {pp['tokenize'] + pp['mean']:.2f} s (tokenize {pp['tokenize']:.2f} + "
                     f"`get_mean_vector` loop {pp['mean']:.2f}) | {e['ours_parts']['pool'] / (pp['tokenize'] + pp['mean']):.3f} | |")
    if "lookup" in res:
        lk = res["lookup"]
        lines.append(f"| b. open `glove-6b-50d` + look up a word (`vecclf vectors lookup`, whole process) | "
                     f"{lk['ours'] * 1000:.0f} ms | {lk['peer']:.1f} s (`load_word2vec_format`, GloVe text) | "
                     f"**{lk['ours'] / lk['peer']:.4f}** ({lk['peer'] / lk['ours']:.0f}× faster) | ≤ 0.02 |")
    if "large" in res:
        g = res["large"]
        lines.append(f"| c. import {g['n_words'] / 1e6:.0f}M × {g['dim']} word2vec binary as float16: peak RSS | "
                     f"{g['import_rss_mb']:,.0f} MiB ({g['import_rss_mb'] / g['matrix_mb']:.2f} × the {g['matrix_mb']:,.0f} MiB matrix), "
                     f"{g['import_s']:.0f} s | "
                     + (f"{g['gensim_rss_mb']:,.0f} MiB, {g['gensim_load_s']:.0f} s (gensim `load_word2vec_format`, float32) | "
                        f"{g['import_rss_mb'] / g['gensim_rss_mb']:.2f} | ≤ 1.5 × matrix |" if "gensim_rss_mb" in g else "| | ≤ 1.5 × matrix |"))
        lines.append(f"| c. 3M store: imports + open / first lookup (byte scan) / build the word index | "
                     f"{g['open_s'] * 1000:.0f} ms / {g['first_lookup_s'] * 1000:.0f} ms / {g['index_s']:.2f} s "
                     f"({g['index_mb']:.0f} MiB of arrays) | {g['dict_s']:.2f} s to build the Python dict (`store.index`) | "
                     f"{g['index_s'] / g['dict_s']:.2f} | seconds |")
        for mode, what in (("array", "array index (`store.warm()`)"), ("dict", "Python dict (`store.index`)")):
            one, four = g[f"pss_{mode}_1"]["total"], g[f"pss_{mode}_4"]["total"]
            lines.append(f"| c. total PSS, master + 1 / + 4 forked workers, {what} built before fork, 5,000 texts embedded per worker | "
                         f"{one:,.0f} / {four:,.0f} MiB ({four / one:.2f}×) | | | shared |")
        if g.get("serve"):
            s = g["serve"]
            lines.append(f"| c. `vecclf serve` (gunicorn, {s['workers']} workers, preload) on the 3M store: start → `/readyz` 200; total PSS | "
                         f"{s['ready_s']:.1f} s; {s['pss_mb']:,.0f} MiB | | | seconds |")
    if "train" in res:
        t = res["train"]
        ft = t.get("fasttext")
        for features in ("mean", "auto"):
            x = t[features]
            peer = (f"{ft['s']:.1f} s, accuracy {ft['accuracy']:.3f} (fastText supervised, 25 epochs, bigrams, "
                    f"{ft['threads']} threads)" if ft else "no working fastText")
            ratio = f"{x['ratio']:.2f}" if ft else ""
            lines.append(f"| d. `vecclf train --features {features}` on SST-2 (6,920 train / 1,821 test), whole process | "
                         f"{x['s']:.1f} s, accuracy {x['accuracy']:.3f} | {peer} | {ratio} | report |")
    if "train" in res:
        t = res["train"]
        lines += ["", f"d.: {len(t['auto']['runs'])} rounds, each `--features mean`, `--features auto` and fastText in "
                  "turn (one process each); a ratio is the median of the rounds' own ratios; 1-minute load average "
                  f"{min(t['loads']):.1f}-{max(t['loads']):.1f} over the rounds."]
    lines += ["", "Details, what each figure includes, and how the fast paths work: [performance.md](performance.md)."]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "vecclf-bench-speed"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--large-words", type=int, default=3_000_000)
    parser.add_argument("--large-dim", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="embed and lookup only; do not touch the docs")
    parser.add_argument("--skip", default="", help="comma list of sections to skip: embed,embed-csv,lookup,large,train,serve,gensim-large")
    parser.add_argument("--json", default=None, help="also write the raw results here")
    parser.add_argument("--fasttext-threads", type=int, default=2,
                        help="fastText's training threads for d. (default 2, the cores here; 0: fastText's own 12)")
    parser.add_argument("--no-docs", action="store_true",
                        help="print the table only (a run of some sections must not replace the others' rows)")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    if args.quick:
        skip |= {"large", "train"}
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    paths = setup(work, args.docs)
    res: dict = {}
    if "embed" not in skip:
        res["embed"] = bench_embed(paths, args.repeats)
    if "embed-csv" not in skip:
        res["embed_csv"] = bench_embed(paths, args.repeats, "mr_csv")
    if "lookup" not in skip:
        res["lookup"] = bench_lookup(paths, args.repeats)
    if "large" not in skip:
        from speed_large import bench_large

        res["large"] = bench_large(paths, work, args.large_words, args.large_dim, "gensim-large" not in skip, "serve" not in skip)
    if "train" not in skip:
        res["train"] = bench_train(paths, args.repeats, args.fasttext_threads)
    text = table(res, argv, args.repeats)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=str), "utf-8")
    if not args.quick and not args.no_docs:
        write_section("speed", text)
    gc.collect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
