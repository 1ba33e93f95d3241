"""The price of the accuracy mode when serving: ``python benchmarks/serve.py --encoder``.

One gunicorn server (vecclf's settings) serves two models trained on SST-2's
training rows (each scored on SST-2's test set): ``sentiment-default``, what
``vecclf train`` makes by default, and
``sentiment-encoder``, the same data with ``--encoder minilm`` (hybrid
features, C=3: what ``auto`` chooses in the accuracy mode on SST-2). In one
run, side by side:

- single-text predict, alternating between the two models for a few rounds:
  requests/s, p50/p99 latency and server CPU per request (from /proc, master
  and workers), medians over the rounds;
- 20-text batch predict from 2 clients (a 100-text request to the accuracy mode can outlast the load
  generator's 10 s socket timeout on a loaded 2-core machine): texts/s and server CPU per text;
- total PSS with 1 worker, a server of each model alone.

Every text sent is a real SST-2 test sentence; the encoder keeps no memo when
serving, so each request pays its own encoding.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from serve import (
    SST, SST_TEST, cpu_seconds, glove_store, http_post, labelled_csv, load, pss_kib, sentences, start_server, stop_server,
)

SECTION = "serve-encoder"
# Not "sentiment": benchmarks/serve.py trains that one in the same store without --test (its metrics are a
# hold-out of the training rows) and promotes new versions of it while it measures.
FAST, ACCURATE = "sentiment-default", "sentiment-encoder"
BATCH = 20


def prepare(store: Path) -> dict:
    """Train the two models if the store lacks them; return their manifests' configs and test accuracies."""
    from vecclf.training.registry import ModelRegistry
    from vecclf.training.train import train

    glove = glove_store(store)
    data = labelled_csv(store / "sst-train.csv", lambda: sentences(SST))
    test = labelled_csv(store / "sst-test.csv", lambda: sentences(SST_TEST))
    reg = ModelRegistry(store)
    if FAST not in reg.models():
        train(store=str(store), name=FAST, data=str(data), test=str(test), vectors=glove, features="auto",
              seed=0, promote=True)
    if ACCURATE not in reg.models():
        train(store=str(store), name=ACCURATE, data=str(data), test=str(test), vectors=glove,
              features="hybrid", C=3.0, encoder="minilm", seed=0, promote=True)
    return {m: reg.manifest(m) for m in (FAST, ACCURATE)}


def measured(proc, port: int, payloads: list[bytes], seconds: float, clients: int, texts_each: int = 1) -> dict:
    """Load the server; return the load figures and the server CPU per text (µs)."""
    before = cpu_seconds(proc.pid)
    result = load(port, payloads, seconds, clients)
    result["cpu_us"] = (cpu_seconds(proc.pid) - before) / max(1, result["requests"] * texts_each) * 1e6
    return result


def run(args) -> int:
    """Measure both models in one server; print the table and write the ``serve-encoder`` section."""
    from docs_section import publish

    load_at_start = os.getloadavg()[0]
    store = Path(args.store)
    log_path = store / "server-encoder.log"
    print(f"preparing {store} ({FAST} and {ACCURATE} on SST-2)...", file=sys.stderr)
    manifests = prepare(store)
    texts = [t for _, t in sentences(SST_TEST)]
    single = {m: [http_post(f"/v1/models/{m}/predict", {"texts": [t]}) for t in texts[:500]] for m in manifests}
    batches = {m: [http_post(f"/v1/models/{m}/predict", {"texts": texts[k : k + BATCH]})
                   for k in range(0, 50 * BATCH, BATCH)] for m in manifests}
    env = {"VECCLF_MODELS": f"{FAST},{ACCURATE}"}
    proc, port = start_server(store, args.workers, log_path, env)
    try:
        for m in manifests:
            load(port, single[m], 2, args.clients)  # warm-up
        rounds = []
        for k in range(max(1, args.rounds)):  # fast-accurate, accurate-fast, ...: drifts weigh on both alike
            order = (FAST, ACCURATE) if k % 2 == 0 else (ACCURATE, FAST)
            got = {m: measured(proc, port, single[m], args.seconds, args.clients) for m in order}
            rounds.append(got)
        batch = {m: measured(proc, port, batches[m], max(args.seconds, 10.0), 2, BATCH) for m in manifests}
    finally:
        stop_server(proc)
    pss = {}
    for m in manifests:
        proc, port = start_server(store, 1, log_path, {"VECCLF_MODELS": m})
        try:
            load(port, single[m] + batches[m], 4, 2)
            time.sleep(0.5)
            pss[m] = pss_kib(proc.pid)
        finally:
            stop_server(proc)

    def med(model: str, key: str) -> float:
        return statistics.median(r[model][key] for r in rounds)

    acc = {m: 100 * manifests[m]["metrics"]["accuracy"] for m in manifests}
    rows = [("SST-2 test accuracy (trained on its training rows)", *(f"{acc[m]:.1f} %" for m in (FAST, ACCURATE))),
            ("single-text predict requests/s", *(f"{med(m, 'rps'):,.0f}" for m in (FAST, ACCURATE))),
            ("single-text predict p50 / p99 latency",
             *(f"{med(m, 'p50_ms'):.1f} / {med(m, 'p99_ms'):.1f} ms" for m in (FAST, ACCURATE))),
            ("server CPU per single-text predict", *(f"{med(m, 'cpu_us') / 1000:.2f} ms" for m in (FAST, ACCURATE))),
            (f"{BATCH}-text batch predict texts/s (2 clients)",
             *(f"{batch[m]['rps'] * BATCH:,.0f}" for m in (FAST, ACCURATE))),
            (f"server CPU per text in {BATCH}-text batches",
             *(f"{batch[m]['cpu_us'] / 1000:.2f} ms" if batch[m]["requests"] else "n/a (none answered)"
               for m in (FAST, ACCURATE))),
            ("total PSS, 1 worker, the model alone", *(f"{pss[m] / 1024:.0f} MiB" for m in (FAST, ACCURATE))),
            ("failed requests", *(str(sum(r[m]["failures"] for r in rounds) + batch[m]["failures"])
                                  for m in (FAST, ACCURATE)))]
    fast_cfg = manifests[FAST]["config"]
    slower = med(ACCURATE, "cpu_us") / med(FAST, "cpu_us")
    table = "\n".join([
        "## Serving the accuracy mode (`--encoder minilm`)",
        "",
        f"`python benchmarks/serve.py --encoder` on {dt.date.today().isoformat()}: one gunicorn server "
        f"(`--workers {args.workers}`, vecclf's settings) serving both models, {args.clients} load-generator "
        f"processes on the same {os.cpu_count()}-core machine over loopback, SST-2 test sentences; single-text "
        f"predict alternating between the models for {len(rounds)} rounds of {args.seconds:g} s (medians over the "
        f"rounds), then {BATCH}-text batches from 2 clients; server CPU from /proc (master and workers); Python "
        f"{platform.python_version()}, torch one thread per worker; 1-minute load average {load_at_start:.1f} at "
        f"the start, {os.getloadavg()[0]:.1f} at the end (a shared machine: CPU per request is the steadier "
        "figure, requests/s an upper bound on the price).",
        "",
        f"| measure | default (`auto` chose {fast_cfg['features']}, C={fast_cfg['C']:g}) "
        "| accuracy mode (hybrid + all-MiniLM-L6-v2, C=3) |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        f"The accuracy mode costs {slower:.0f}× the server CPU of the default per single-text request: the "
        "transformer's forward pass dominates, the other blocks are the default's.",
    ])
    publish(SECTION, table, write=not args.no_write)
    return 0
