"""Load-test the HTTP service on loopback and write the results to docs/benchmarks.md.

Starts the real server (``vecclf serve``, gunicorn with vecclf.service.serve's settings)
on GloVe 6B 50d and a sentiment model trained on SST-2 with the defaults users
get (``--features auto``: dense, hybrid or hybrid-pos, chosen by cross-validation),
then measures, in one run and with the same gunicorn settings:

- ``/healthz`` and single-text predict requests/s, alternating for a few rounds, their median ratio, p50/p99;
- single-text predict with the review queue sampling on (``VECCLF_REVIEW_SAMPLE``) against a server
  without it, alternating for the same rounds, their median ratio, and the rows the queue received
  against the number the rate predicts;
- 100-text batch predict texts/s;
- failed requests under load while a new version is promoted mid-run;
- total PSS (master + workers, from /proc/<pid>/smaps_rollup) with 1 and 4 workers.

The load generator is a few Python processes sending requests over loopback
sockets; every phase is bounded in time and the script stops by itself.
Reproduce with::

    python benchmarks/serve.py            # ~2 minutes; --seconds/--rounds/--promotion-seconds to change
    python benchmarks/serve.py --encoder  # the accuracy mode's price beside the default (serve_modes.py)
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import re
import signal
import statistics
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import write_section  # noqa: E402
DOC = ROOT / "docs" / "benchmarks.md"
SST = ROOT.parent / "shared" / "data" / "sentences" / "stsa.binary.train"
SST_TEST = ROOT.parent / "shared" / "data" / "sentences" / "stsa.binary.test"


# ---------------------------------------------------------------- setup
def sentences(path: Path, limit: int | None = None) -> list[tuple[str, str]]:
    """Return (label, text) pairs of a `<label> <text>` file."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            label, _, text = line.strip().partition(" ")
            if text:
                out.append(("pos" if label == "1" else "neg", text))
    return out[:limit] if limit else out


def glove_store(store: Path) -> str:
    """Create ``store`` if needed with GloVe 6B 50d installed in it; return the vectors' name."""
    from vecclf.training.vectors.default import DEFAULT_NAME, install_default
    from vecclf.training.vectors.store import list_stores

    store.mkdir(parents=True, exist_ok=True)
    if DEFAULT_NAME not in {m["name"] for m in list_stores(store)}:
        install_default(str(store))
    return DEFAULT_NAME


def labelled_csv(path: Path, rows) -> Path:
    """Write ``(label, text)`` rows to ``path`` as a text,label CSV unless it exists (``rows`` may be a function)."""
    if not path.exists():
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            writer.writerows((t, lab) for lab, t in (rows() if callable(rows) else rows))
    return path


def prepare_store(store: Path) -> tuple[str, str]:
    """Install GloVe, train sentiment as users get it (``--features auto``) and an unpromoted candidate.

    Returns (current version, candidate version). The candidate reuses the
    features ``auto`` chose, with another seed and C, so it is a different model
    of the same kind without a second cross-validated search.
    """
    from vecclf.training.registry import ModelRegistry
    from vecclf.training.train import train

    glove = glove_store(store)

    def rows():
        if SST.exists():
            return sentences(SST)
        from vecclf.training.quickstart import sentiment_rows

        return [(r["label"], r["text"]) for r in sentiment_rows()]

    data = labelled_csv(store / "sst-train.csv", rows)
    reg = ModelRegistry(store)
    if "sentiment" not in reg.models() or reg.manifest("sentiment").get("selection", {}).get("mode") != "auto":
        # A store from an older run holds a fixed-feature model: train what `vecclf train` gives now.
        train(store=str(store), name="sentiment", data=str(data), vectors=glove, features="auto",
              test_size=0.2, seed=0, promote=True)
    current = reg.current("sentiment")
    config = reg.manifest("sentiment")["config"]
    report = train(store=str(store), name="sentiment", data=str(data), vectors=glove,
                   features=config["features"], test_size=0.2, seed=int(time.time()) % 1000, C=config["C"] / 2,
                   promote=False)
    return current, report["version"]


def texts_for_load() -> list[str]:
    """Return real review sentences to send."""
    if SST_TEST.exists():
        return [t for _, t in sentences(SST_TEST, 2000)]
    return ["a gripping, beautifully shot film", "dull and far too long", "the plot is thin but the actors are great"]


# ---------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(store: Path, workers: int, log_path: Path, env_extra: dict | None = None) -> tuple[subprocess.Popen, int]:
    """Start `vecclf serve` (with ``env_extra`` VECCLF_* settings) and wait until /readyz answers 200."""
    port = free_port()
    env = {**os.environ, "VECCLF_LOG_LEVEL": "INFO", "VECCLF_POLL_INTERVAL": "1"}
    for key in ("PROMETHEUS_MULTIPROC_DIR", "VECCLF_RUNTIME_DIR", "VECCLF_REVIEW_SAMPLE", "VECCLF_REVIEW_BELOW",
                "VECCLF_DATABASE_URL"):
        env.pop(key, None)
    env.update(env_extra or {})
    vecclf = Path(sys.executable).with_name("vecclf")
    cmd = [str(vecclf)] if vecclf.exists() else [sys.executable, "-m", "vecclf.training.cli"]
    log = open(log_path, "ab")
    proc = subprocess.Popen(cmd + ["serve", "--store", str(store), "--host", "127.0.0.1", "--port", str(port),
                                   "--workers", str(workers)], env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early; see {log_path}")
        try:
            if request(port, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"server not ready after 120 s; see {log_path}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def server_pids(pid: int) -> list[int]:
    """Return ``pid`` and its children (the gunicorn master and its workers)."""
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return pids


def pss_kib(pid: int) -> int:
    """Return the total PSS (KiB) of ``pid`` and its children."""
    total = 0
    for p in server_pids(pid):
        try:
            m = re.search(r"^Pss:\s+(\d+) kB", Path(f"/proc/{p}/smaps_rollup").read_text(), re.M)
            total += int(m.group(1)) if m else 0
        except OSError:
            pass
    return total


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system) ``pid`` and its children have used so far.

    What a server spends per request, unlike its throughput, hardly depends on what else the machine runs.
    """
    ticks = 0
    for p in server_pids(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- load
def http_post(path: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode() + data


def request(port: int, payload: bytes) -> tuple[int, bytes]:
    """Send one request on a new connection; return (status, raw response)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(payload)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    raw = b"".join(chunks)
    return int(raw[9:12]), raw


def _client(port: int, payloads: list[bytes], seconds: float, out) -> None:
    latencies, failures, versions, i = [], 0, {}, 0
    end = time.perf_counter() + seconds
    while (now := time.perf_counter()) < end:
        payload = payloads[i % len(payloads)]
        i += 1
        try:
            status, raw = request(port, payload)
        except OSError:
            failures += 1
            continue
        latencies.append(time.perf_counter() - now)
        if status != 200:
            failures += 1
        m = re.search(rb'"version":"(v\d+)"', raw)
        if m:
            versions[m.group(1).decode()] = versions.get(m.group(1).decode(), 0) + 1
    out.put((latencies, failures, versions))


def load(port: int, payloads: list[bytes], seconds: float, clients: int, during=None) -> dict:
    """Run ``clients`` processes for ``seconds``; call ``during()`` halfway; return rps, latencies, failures."""
    queue = mp.Queue()
    procs = [mp.Process(target=_client, args=(port, payloads[k::clients] or payloads, seconds, queue))
             for k in range(clients)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    if during is not None:
        time.sleep(seconds / 2)
        during()
    results = [queue.get(timeout=seconds + 60) for _ in procs]
    for p in procs:
        p.join()
    elapsed = max(time.perf_counter() - started, seconds)
    lat = sorted(x for r in results for x in r[0])
    versions: dict[str, int] = {}
    for r in results:
        for v, n in r[2].items():
            versions[v] = versions.get(v, 0) + n
    ok = len(lat) - 0
    pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan"))
    return {"requests": ok, "failures": sum(r[1] for r in results), "rps": ok / elapsed, "p50_ms": pct(0.50),
            "p99_ms": pct(0.99), "versions": versions}


def review_rounds(store: Path, workers: int, log_path: Path, off: tuple, single: list[bytes], args) -> dict:
    """Alternate single-text predict between the server ``off`` (process, port) and one sampling for review.

    Returns the median ratios of throughput and of server CPU per request (on / off), and the rows the
    review queue holds after the sampling server stopped against the number the rate predicts.
    """
    from vecclf.training.feedback import FeedbackStore

    db = store / "review-bench.db"
    for leftover in store.glob("review-bench.db*"):
        leftover.unlink()
    url = f"sqlite:///{db}"
    proc, port_on = start_server(store, workers, log_path, {
        "VECCLF_REVIEW_SAMPLE": str(args.review_sample), "VECCLF_REVIEW_BELOW": "1", "VECCLF_DATABASE_URL": url})

    def measured(server, port):
        before = cpu_seconds(server.pid)
        result = load(port, single, args.seconds, args.clients)
        result["cpu_us"] = (cpu_seconds(server.pid) - before) / max(1, result["requests"]) * 1e6
        return result

    try:
        warm = load(port_on, single, 2, args.clients)  # warm-up (its samples are counted too)
        rounds = []
        for k in range(max(1, args.rounds)):  # off on, on off, ...: a drift of the machine weighs on both alike
            if k % 2 == 0:
                plain = measured(off[0], off[1])
                rounds.append((plain, measured(proc, port_on)))
            else:
                sampled = measured(proc, port_on)
                rounds.append((measured(off[0], off[1]), sampled))
    finally:
        stop_server(proc)  # each worker writes the samples it still holds as it stops
    with FeedbackStore(url) as fs:
        stored = fs.queued_count("sentiment")
    answered = sum(r["requests"] - r["failures"] for r in [warm] + [on for _, on in rounds])
    ratios = [on["rps"] / o["rps"] for o, on in rounds]
    cpu = [on["cpu_us"] / o["cpu_us"] for o, on in rounds]
    middle = sorted(range(len(rounds)), key=ratios.__getitem__)[len(rounds) // 2]
    return {"ratios": ratios, "ratio": ratios[middle], "off_rps": rounds[middle][0]["rps"],
            "on_rps": rounds[middle][1]["rps"], "cpu_ratios": cpu, "cpu_ratio": statistics.median(cpu),
            "cpu_off": statistics.median(o["cpu_us"] for o, _ in rounds),
            "cpu_on": statistics.median(on["cpu_us"] for _, on in rounds), "stored": stored, "answered": answered}


# ---------------------------------------------------------------- report
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default=os.path.join(tempfile.gettempdir(), "vecclf-bench-serve"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4, help="load generator processes")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each throughput phase")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating /healthz and single-predict phases; the ratio reported is their median")
    parser.add_argument("--promotion-seconds", type=float, default=30.0)
    parser.add_argument("--review-sample", type=float, default=0.1,
                        help="VECCLF_REVIEW_SAMPLE of the server compared with one without sampling")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument("--encoder", action="store_true",
                        help="instead: the default model against the accuracy mode (--encoder minilm) in one server "
                             "(benchmarks/serve_modes.py; needs vecclf[encoder])")
    args = parser.parse_args(argv)
    if args.encoder:
        import serve_modes

        return serve_modes.run(args)

    load_at_start = os.getloadavg()[0]
    store = Path(args.store)
    log_path = store / "server.log"
    print(f"preparing {store} (GloVe 6B 50d, sentiment on SST-2, --features auto)...", file=sys.stderr)
    current, candidate = prepare_store(store)
    from vecclf.service.config import Config
    from vecclf.training.registry import ModelRegistry

    reg = ModelRegistry(store)
    config = reg.manifest("sentiment")["config"]
    texts = texts_for_load()
    single = [http_post("/v1/models/sentiment/predict", {"texts": [t]}) for t in texts[:500]]
    batches = [http_post("/v1/models/sentiment/predict", {"texts": [texts[(k + j) % len(texts)] for j in range(100)]})
               for k in range(0, 1000, 100)]
    health = [b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"]

    proc, port = start_server(store, args.workers, log_path)
    try:
        load(port, single, 2, args.clients)  # warm-up
        # Side by side: /healthz and single-text predict alternate, so a burst of other work on the
        # machine hits both; the reported figures are the medians over the rounds.
        rounds = []
        for _ in range(max(1, args.rounds)):
            rounds.append((load(port, health, args.seconds, args.clients), load(port, single, args.seconds, args.clients)))
        review = review_rounds(store, args.workers, log_path, (proc, port), single, args)
        batch = load(port, batches, args.seconds, args.clients)
        promo = load(port, single, args.promotion_seconds, args.clients,
                     during=lambda: reg.promote("sentiment", candidate))
    finally:
        stop_server(proc)
        reg.promote("sentiment", current)  # leave the store as found for the next run
    pss = {}
    for n in (1, 4):
        proc, port = start_server(store, n, log_path)
        try:
            load(port, single + batches, 4, 2)  # touch the vectors and code paths in every worker
            time.sleep(0.5)
            pss[n] = pss_kib(proc.pid)
        finally:
            stop_server(proc)

    paths = re.findall(r"serving model sentiment version \S+ .*?(compiled|pipeline) path", log_path.read_text("utf-8", "replace"))
    path = paths[-1] if paths else "unknown"
    ratios = [o["rps"] / h["rps"] for h, o in rounds]
    # The median round (by ratio) gives the rates shown, so the two rates and their ratio agree.
    middle = sorted(range(len(rounds)), key=ratios.__getitem__)[len(rounds) // 2]
    ratio = ratios[middle]
    hz = {"rps": rounds[middle][0]["rps"]}
    one = {key: statistics.median(o[key] for _, o in rounds) for key in ("p50_ms", "p99_ms")}
    one["rps"] = rounds[middle][1]["rps"]
    one["failures"] = sum(o["failures"] for _, o in rounds)
    texts_per_s = batch["rps"] * 100
    pss_ratio = pss[4] / pss[1]
    rows = [
        ("`/healthz` requests/s", f"{hz['rps']:,.0f}", ""),
        ("single-text predict requests/s", f"{one['rps']:,.0f}", ""),
        ("predict / healthz throughput", f"{ratio:.0%} (rounds: {', '.join(f'{r:.0%}' for r in ratios)})", "≥ 80%"),
        ("single-text predict p50 / p99 latency", f"{one['p50_ms']:.1f} / {one['p99_ms']:.1f} ms",
         f"p99 ≤ 5 × p50 (is {one['p99_ms'] / one['p50_ms']:.1f}×)"),
        (f"single-text predict requests/s, review queue sampling at {args.review_sample:g} / off",
         f"{review['ratio']:.0%} (rounds: {', '.join(f'{r:.0%}' for r in review['ratios'])}; "
         f"{review['on_rps']:,.0f} / {review['off_rps']:,.0f} requests/s)", "no measurable cost"),
        (f"server CPU per single-text predict, sampling at {args.review_sample:g} / off",
         f"{review['cpu_ratio']:.2f}× (rounds: {', '.join(f'{r:.2f}' for r in review['cpu_ratios'])}; "
         f"{review['cpu_on']:.0f} / {review['cpu_off']:.0f} µs)", "no measurable cost"),
        ("review queue rows stored / expected at that rate",
         f"{review['stored']:,} / {review['answered'] * args.review_sample:,.0f} "
         f"({review['stored'] / max(1.0, review['answered'] * args.review_sample):.0%})",
         f"the configured rate ({review['answered']:,} predictions answered)"),
        ("100-text batch predict texts/s", f"{texts_per_s:,.0f}",
         f"≥ 20,000 ({batch['failures'] + one['failures']} failed single/batch requests)"),
        (f"failed requests in {args.promotion_seconds:.0f} s of load, promotion at half time",
         f"{promo['failures']} of {promo['requests'] + promo['failures']:,}",
         f"0 (versions answered: {', '.join(f'{v}: {n:,}' for v, n in sorted(promo['versions'].items()))})"),
        ("total PSS, 1 worker / 4 workers", f"{pss[1] / 1024:.0f} / {pss[4] / 1024:.0f} MiB", f"4 ≤ 1.5 × 1 (is {pss_ratio:.2f}×)"),
    ]
    load_avg = os.getloadavg()[0]
    table = "\n".join([
        "## HTTP service",
        "",
        f"`python benchmarks/serve.py` on {dt.date.today().isoformat()}: gunicorn `--workers {args.workers}` "
        f"(vecclf's threaded worker, {Config().threads} threads each, preload; `service/worker.py`), "
        f"{args.clients} load-generator processes on the same {os.cpu_count()}-core machine over loopback, "
        f"GloVe 6B 50d + the model `vecclf train` makes by default on SST-2 (`auto` chose `{config['features']}`, "
        f"C={config['C']:g}, logistic regression; served on the {path} path), Python {platform.python_version()}; "
        f"{args.seconds:g} s per throughput phase, /healthz and single-text predict alternating for {len(rounds)} "
        f"rounds (rates of the median round by ratio, latencies the medians over rounds); with the review queue "
        f"on, a second server (`VECCLF_REVIEW_SAMPLE={args.review_sample:g}`, `VECCLF_REVIEW_BELOW=1`, SQLite) "
        f"takes single-text predict in turn with the first for {args.rounds} rounds (off-on, on-off, ...; server CPU "
        f"per request from /proc, master and workers); 1-minute load "
        f"average {load_at_start:.1f} at the start, {load_avg:.1f} at the end.",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
    ])
    print(table)
    if not args.no_write:
        write_section("serve", table)
        print(f"wrote {DOC.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
