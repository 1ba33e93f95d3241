"""Part c of benchmarks/speed.py: a 3M x 300 word2vec store (import peak RSS, open, index, PSS, serve start).

Split from speed.py so each script stays short; ``python benchmarks/speed.py`` runs it (``--skip large`` leaves
it out).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from processes import ROOT, log, peak_rss_mb, run
from speed import GENSIM_LOOKUP, PY, VECCLF


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
