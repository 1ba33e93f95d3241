"""benchmarks/soak.py: its open-loop load keeps the schedule, and its report states failures and drift."""

from __future__ import annotations

import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.benchmarks.test_markers import load

soak = load("soak")


def sample(due: float, ms: float, status: int = 200, version: str = "v1") -> object:
    return soak.Sample(due, "predict", ms / 1000, status, version)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([1.0], 0.99, 1.0), (list(range(1, 101)), 0.99, 99), (list(range(1, 101)), 0.5, 50), ([3, 1, 2], 0.5, 2)],
)
def test_percentile_is_nearest_rank(values, q, expected):
    """The quantile is an observed value (nearest rank), whatever the order of the input."""
    assert soak.percentile([float(v) for v in values], q) == expected


def test_percentile_of_nothing_is_nan():
    """No latencies give nan, not an error."""
    assert math.isnan(soak.percentile([], 0.99))


def test_buckets_split_by_due_time_and_count_failures():
    """Each bucket holds the requests due in it: failures by kind, versions answered, median PSS, promotions."""
    samples = [sample(1, 2), sample(2, 4, 503, ""), sample(3, 1000, 0, ""), sample(61, 3, version="v2")]
    pss = [(0.0, 100 * 1024), (30.0, 300 * 1024), (50.0, 200 * 1024), (65.0, 210 * 1024)]
    rows = soak.buckets(samples, pss, 60.0, [{"at": 30.0, "version": "v2", "rc": 0}])
    assert [r["requests"] for r in rows] == [3, 1]
    assert (rows[0]["non_2xx"], rows[0]["conn_errors"]) == (1, 1)
    assert rows[0]["versions"] == {"v1": 1} and rows[1]["versions"] == {"v2": 1}
    assert rows[0]["p99_ms"] == 4.0  # a connection error has no latency to rank
    assert rows[0]["pss_mib"] == 200 and rows[1]["pss_mib"] == 210
    assert rows[0]["promoted"] == ["v2"] and rows[1]["promoted"] == []


@pytest.mark.parametrize(
    ("values", "expected"),
    [([10, 10, 10, 10, 10, 10], 1.0), ([10, 10, 12, 13, 20, 20], 2.0), ([10, 99, 99, 99, 99, 10], 1.0),
     ([5.0], 1.0), ([10, math.nan, 20], 2.0)],
)
def test_drift_compares_the_last_third_with_the_first(values, expected):
    """Drift is the median of the last third over the median of the first third; nan buckets are skipped."""
    assert soak.drift([float(v) for v in values]) == pytest.approx(expected)


@pytest.mark.parametrize(("values", "expected"), [([300, 500, 510, 520], 520 / 510), ([300, math.nan, 300], 1.0)])
def test_second_half_compares_the_last_bucket_with_the_middle_one(values, expected):
    """A step at the start does not count; what grows after half time does."""
    assert soak.second_half([float(v) for v in values]) == pytest.approx(expected)


def rows_of(p99s, pss, failures=0):
    return [{"requests": 100, "non_2xx": failures if i == 0 else 0, "conn_errors": 0, "p99_ms": p, "pss_mib": m}
            for i, (p, m) in enumerate(zip(p99s, pss))]


@pytest.mark.parametrize(
    ("rows", "promotions", "restarted", "unmet"),
    [
        (rows_of([5, 5, 5], [300, 300, 300]), [{"rc": 0}], 0, []),
        (rows_of([5, 5, 5], [300, 300, 300], failures=1), [{"rc": 0}], 0, ["failed requests"]),
        (rows_of([5, 5, 5], [300, 300, 300]), [{"rc": 0}, {"rc": 5}], 0, ["failed promotions"]),
        (rows_of([5, 5, 5], [300, 300, 300]), [], 1, ["workers restarted"]),
        (rows_of([5, 6, 9], [300, 310, 400]), [], 0, ["p99 drift", "PSS drift", "PSS drift over the second half"]),
    ],
)
def test_verdict_names_each_unmet_target(rows, promotions, restarted, unmet):
    """A failed request, a failed promotion, a restarted worker, a growing p99 or PSS each fail their own line."""
    checks = soak.verdict(rows, promotions, restarted)
    assert [m.split(" (")[0].split(":")[0] for m, _, _, ok in checks if not ok] == unmet


def test_render_shows_the_verdict_and_a_row_per_bucket():
    """The section has the verdict table, then a row per bucket with its promotions."""
    rows = soak.buckets([sample(1, 2), sample(70, 3, version="v2")], [(1.0, 2048)], 60.0,
                        [{"at": 30.0, "version": "v2", "rc": 0}])
    text = soak.render(rows, soak.verdict(rows, [{"rc": 0}], 0), {"closed": 5, "408": 2}, 60.0, "intro")
    assert text.startswith("## Soak")
    assert "| failed requests (non-2xx / connection errors) | 0 / 0 of 2 | 0 | yes |" in text
    assert "| 1 | 1 | 2.0 | 2.0 | 2 | 0 | 0 | v1: 1 | 2 | v2 |" in text
    assert "| 2 | 1 | 3.0 | 3.0 | 3 | 0 | 0 | v2: 1 | nan | - |" in text


class _Slow(BaseHTTPRequestHandler):
    """Answer 200 at once, except that request 5 to arrive stalls for 0.5 s."""

    count = 0
    lock = threading.Lock()

    def do_GET(self):  # noqa: N802  (http.server's name)
        with _Slow.lock:
            _Slow.count += 1
            stall = _Slow.count == 5
        if stall:
            threading.Event().wait(0.5)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_fixed_rate_sends_on_schedule_and_counts_latency_from_the_due_time():
    """At 40 requests/s for 1 s: 40 answers, due every 25 ms; a stalled answer shows its whole stall."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        mix = [("healthz", b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")]
        samples = soak.fixed_rate(server.server_address[1], mix, 40.0, 1.0, threads=8)
    finally:
        server.shutdown()
        server.server_close()
    assert len(samples) == 40 and {s.status for s in samples} == {200}
    assert [s.due for s in samples] == pytest.approx([k / 40 for k in range(40)])
    assert max(s.latency for s in samples) >= 0.5
