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
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import write_section  # noqa: E402
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


# ---------------------------------------------------------------- helpers
def run(cmd: list[str], env: dict | None = None, timeout: float = 3600) -> tuple[float, str]:
    """Run a process; return (wall seconds, stdout). Raise with its stderr if it fails."""
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd`` under /usr/bin/time -v; return (wall seconds, peak RSS in MiB)."""
    t = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed:\n{proc.stderr[-2000:]}")
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return elapsed, kb / 1024


def median(xs) -> float:
    return float(statistics.median(xs))


def log(msg: str) -> None:
    print(f"[speed] {msg}", file=sys.stderr, flush=True)


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


# ---------------------------------------------------------------- c. 3M words
def write_synthetic(path: Path, n_words: int, dim: int, real_words: list[str]) -> int:
    """Write an n_words x dim word2vec binary file (real words first); return the matrix bytes as float16."""
    import numpy as np

    rng = np.random.default_rng(0)
    with open(path, "wb") as fh:
        fh.write(f"{n_words} {dim}\n".encode())
        step = 100_000
        for start in range(0, n_words, step):
            stop = min(start + step, n_words)
            vecs = (rng.standard_normal((stop - start, dim), dtype=np.float32) * 0.3).astype("<f4")
            rows = vecs.tobytes()
            width = 4 * dim
            words = [real_words[i] if i < len(real_words) else f"syn{i}" for i in range(start, stop)]
            fh.write(b"".join(w.encode() + b" " + rows[k * width : (k + 1) * width] + b"\n" for k, w in enumerate(words)))
    return n_words * dim * 2


PSS_CHILD = r"""
import gc, json, os, sys, time
import numpy as np
store_dir, name, workers, mode, docs_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
from vecclf.training.pooling import pool
from vecclf.training.vectors.store import open_store

def pss(pid):
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024

texts = open(docs_file, encoding="utf-8").read().split("\n")[:5000]
vs = open_store(store_dir, name)
t = time.perf_counter()
if mode == "dict":
    index = vs.index
else:
    vs.warm()
build = time.perf_counter() - t
matrix = vs.vectors.view(np.ndarray)

def embed(batch):
    if mode == "array":
        return pool(vs, batch)
    # What a dict-based server does: tokenize, dict look-ups, mean of the rows.
    out = np.zeros((len(batch), vs.dim), dtype=np.float32)
    for i, doc in enumerate(vs.tokenizer.many(batch)):
        rows = [index[t] for t in doc if t in index]
        if rows:
            out[i] = np.asarray(matrix[rows], dtype=np.float32).mean(axis=0)
    return out

embed(texts[:50])  # warm up in the master, as the service does before forking
gc.collect()
gc.freeze()
r, w = os.pipe()
kids = []
for k in range(workers):
    pid = os.fork()
    if pid == 0:
        os.close(r)
        for start in range(0, len(texts), 50):  # requests of 50 texts
            embed(texts[start : start + 50])
        os.write(w, b"x")
        time.sleep(600)
        os._exit(0)
    kids.append(pid)
os.close(w)
for _ in kids:
    os.read(r, 1)
total = pss(os.getpid()) + sum(pss(k) for k in kids)
print(json.dumps({"build": build, "parent": pss(os.getpid()), "workers": [pss(k) for k in kids], "total": total}))
for k in kids:
    os.kill(k, 9)
    os.waitpid(k, 0)
"""


def bench_large(p: dict, work: Path, n_words: int, dim: int, with_gensim: bool, serve: bool) -> dict:
    from vecclf.training.vectors.store import open_store

    src = work / f"synthetic-{n_words}x{dim}.bin"
    real = open_store(p["store"], "glove-6b-50d").words
    t = time.perf_counter()
    matrix_bytes = write_synthetic(src, n_words, dim, real)
    log(f"large: wrote {src} ({src.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t:.0f}s")
    res: dict = {"n_words": n_words, "dim": dim, "matrix_mb": matrix_bytes / 2**20}
    try:
        res["import_s"], res["import_rss_mb"] = peak_rss_mb(
            [*VECCLF, "vectors", "import", str(src), "--name", "big", "--dtype", "float16", "--store", str(p["store"]), "--force"])
        log(f"large: import {res['import_s']:.0f}s peak RSS {res['import_rss_mb']:.0f} MiB")
        if with_gensim:
            res["gensim_load_s"], res["gensim_rss_mb"] = peak_rss_mb([PY, "-c", GENSIM_LOOKUP, str(src), "the", "bin"])
            log(f"large: gensim load {res['gensim_load_s']:.0f}s peak RSS {res['gensim_rss_mb']:.0f} MiB")
    finally:
        src.unlink(missing_ok=True)
    code = ("import time; t=time.perf_counter(); from vecclf.training.vectors.store import open_store; "
            f"vs=open_store({str(p['store'])!r}, 'big'); a=time.perf_counter(); vs.lookup('movie'); b=time.perf_counter(); "
            "vs.warm(); c=time.perf_counter(); vs.rows(['movie']); d=time.perf_counter(); "
            "print(a-t, b-a, c-b, d-c, vs.vocab_index.nbytes())")
    _, out = run([PY, "-c", code])
    res["open_s"], res["first_lookup_s"], res["index_s"], res["indexed_lookup_s"], idx_bytes = map(float, out.split())
    res["index_mb"] = idx_bytes / 2**20
    _, out = run([PY, "-c", "import time; t=time.perf_counter(); from vecclf.training.vectors.store import open_store; "
                  f"vs=open_store({str(p['store'])!r}, 'big'); vs.index; print(time.perf_counter()-t)"])
    res["dict_s"] = float(out)
    for mode in ("array", "dict"):
        for workers in (1, 4):
            _, out = run([PY, "-c", PSS_CHILD, str(p["store"]), "big", str(workers), mode, str(p["mr"])])
            res[f"pss_{mode}_{workers}"] = json.loads(out)
            log(f"large: PSS {mode} x{workers}: {res[f'pss_{mode}_{workers}']}")
    try:
        if serve and (ROOT / "service").is_dir():
            res["serve"] = _serve_start(p, work)
    finally:
        shutil.rmtree(p["store"] / "vectors" / "big", ignore_errors=True)  # 1.7 GiB: never leave it behind
    return res


def _serve_start(p: dict, work: Path) -> dict:
    """Train a tiny model on the 3M store, start gunicorn (2 workers) and time until /readyz answers 200."""
    store = work / "serve-store"
    shutil.rmtree(store, ignore_errors=True)
    (store / "vectors").mkdir(parents=True)
    os.symlink(p["store"] / "vectors" / "big", store / "vectors" / "big")
    run([*VECCLF, "train", "--store", str(store), "--name", "sst", "--data", str(p["stsa.binary.train"]),
         "--test", str(p["stsa.binary.test"]), "--vectors", "big", "--features", "mean"])
    port = 18000 + os.getpid() % 1000
    env = {**os.environ, "VECCLF_STORE": str(store), "VECCLF_PORT": str(port), "VECCLF_WORKERS": "2",
           "VECCLF_HOST": "127.0.0.1"}
    t = time.perf_counter()
    proc = subprocess.Popen([*VECCLF, "serve"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ready = None
    try:
        while time.perf_counter() - t < 300 and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        ready = time.perf_counter() - t
                        break
            except OSError:
                time.sleep(0.1)
        pids: list[int] = []
        until = time.perf_counter() + 20
        while time.perf_counter() < until:  # /readyz may answer before the last worker has forked
            pids = [int(x) for x in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()]
            if len(pids) >= 2:
                break
            time.sleep(0.2)
        time.sleep(1)
        pss = 0.0
        for pid in [proc.pid, *pids]:
            try:
                with open(f"/proc/{pid}/smaps_rollup") as fh:
                    pss += next(int(l.split()[1]) for l in fh if l.startswith("Pss:")) / 1024
            except OSError:
                pass
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(store, ignore_errors=True)
    log(f"large: gunicorn ready after {ready}s, PSS {pss:.0f} MiB")
    return {"ready_s": ready, "pss_mb": pss, "workers": len(pids)}


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
