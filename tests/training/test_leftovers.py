"""Leftovers of killed writers: named by host and pid, removed by the next write or `vecclf store gc`."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from vecclf.training import leftovers
from vecclf.training.leftovers import HOST, collect

DAY = 24 * 3600


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _make(path, age=0.0, folder=True):
    if folder:
        path.mkdir(parents=True)
        (path / "model.skops").write_bytes(b"x" * 1000)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("v9\n")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def _cases(store):
    dead, live = _dead_pid(), os.getpid()
    model, vectors = store / "demo", store / "vectors"
    return [
        # (path, age, folder, removed?)
        (model / f".v2.tmp-{HOST}-{dead}-abc123", 0, True, True),
        (model / f".current.tmp-{HOST}-{dead}-x1", 0, False, True),
        (vectors / f".glove.tmp-{HOST}-{dead}-old", 0, True, True),
        (vectors / "glove" / f".verified.json.tmp-{HOST}-{dead}-k2", 0, False, True),
        (model / f".v3.tmp-{HOST}-{live}-abc123", 2 * DAY, True, False),  # a live writer is never disturbed
        (model / f".v4.tmp-otherhost-{dead}-abc123", 2 * DAY, True, True),  # another host's, too old to be alive
        (model / f".v5.tmp-otherhost-{dead}-abc123", 60, True, False),
        (model / ".v6.k2j4h5_x", 2 * DAY, True, True),  # before temporaries carried a pid: by age only
        (model / ".v7.k2j4h5_x", 60, True, False),
        (model / ".history.json.ab12cd34", 2 * DAY, False, True),
        (vectors / ".glove.old.4242", 2 * DAY, True, True),
        (store / ".datasets", 2 * DAY, True, False),  # not a temporary: never touched
        (model / ".notes.settings", 2 * DAY, False, False),
        (store / f".x.tmp-{HOST}-{dead}-abc", 0, True, True),
        (vectors / "glove" / ".verified.json", 2 * DAY, False, False),
    ]


def test_collect_removes_dead_writers_leftovers_only(store_dir):
    """Dead pids on this host go at once, unknown writers after max_age, live writers and other files stay."""
    cases = _cases(store_dir)
    for path, age, folder, _ in cases:
        _make(path, age, folder)
    result = collect(store_dir)
    for path, _, _, removed in cases:
        assert path.exists() is not removed, path.name
    assert sorted(item["path"] for item in result["removed"]) == sorted(
        str(p.relative_to(store_dir)) for p, _, _, gone in cases if gone)
    assert all(item["bytes"] >= 0 and item["reason"] for item in result["removed"])
    assert {item["path"] for item in result["kept"]} >= {f"demo/.v3.tmp-{HOST}-{os.getpid()}-abc123"}


def test_store_gc_command_and_dry_run(store_dir, cli):
    """`vecclf store gc --dry-run` lists without removing; without it, removes and counts the bytes."""
    litter = _make(store_dir / "demo" / f".v2.tmp-{HOST}-{_dead_pid()}-abc", 0)
    code, out, _ = cli("store", "gc", "--dry-run", "--store", store_dir)
    assert code == 0 and json.loads(out)["removed"][0]["path"] == f"demo/{litter.name}" and litter.exists()
    code, out, _ = cli("store", "gc", "--store", store_dir)
    assert code == 0 and json.loads(out)["bytes"] >= 1000 and not litter.exists()
    old = _make(store_dir / "demo" / ".v6.k2j4h5_x", 3600)
    code, out, _ = cli("store", "gc", "--max-age", "60", "--store", store_dir)
    assert code == 0 and not old.exists()


KILLED_TRAIN = """
import os, sys, time
from pathlib import Path
import vecclf.training.bundle as bundle
from vecclf.training.train import train
store, data, marker = sys.argv[1:]
real = bundle._write_synced
def stall(path, text):
    real(path, text)
    Path(marker).write_text(str(path))
    time.sleep(600)  # killed here, with the version half-written in its temp folder
bundle._write_synced = stall
train(store=store, name="demo", data=data, vectors="tiny", features="mean", seed=0)
"""

KILLED_IMPORT = """
import sys, time
from pathlib import Path
from vecclf.training.vectors import writer
from vecclf.training.vectors.importers import import_vectors
src, store, marker = sys.argv[1:]
def stall(self, words):
    Path(marker).write_text(str(self.tmp))
    time.sleep(600)
writer.StoreWriter.write_vocab = stall
import_vectors(src, store, "big")
"""


def _run_until_marker(script, args, marker):
    proc = subprocess.Popen([sys.executable, "-c", script, *map(str, args), str(marker)])
    deadline = time.monotonic() + 120
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the writer never reached the point where it is killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_a_killed_trains_litter_is_gone_after_the_next_train(trained, sentiment_csv, tmp_path):
    """SIGKILL mid-write leaves a temp version folder; the next train removes it (and writes v2, not v3)."""
    from vecclf.training.train import train

    store, _ = trained
    _run_until_marker(KILLED_TRAIN, [store, sentiment_csv], tmp_path / "marker")
    litter = [p for p in (store / "demo").iterdir() if p.name.startswith(".")]
    assert len(litter) == 1 and litter[0].name.startswith(".v2.tmp-")
    report = train(store=str(store), name="demo", data=str(sentiment_csv), vectors="tiny", features="mean", seed=0)
    assert report["version"] == "v2"
    assert [p.name for p in (store / "demo").iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_a_killed_imports_litter_is_gone_after_the_next_import(tiny_vectors, tmp_path):
    """A killed import's temp store folder is removed by the next import into the same store."""
    from tests.conftest import make_vectors, write_glove
    from vecclf.training.vectors.importers import import_vectors

    store, _, _ = tiny_vectors
    words, vecs = make_vectors()
    src = write_glove(tmp_path / "big.txt", words, vecs)
    _run_until_marker(KILLED_IMPORT, [src, store], tmp_path / "marker")
    assert [p.name for p in (store / "vectors").iterdir() if p.name.startswith(".big.tmp-")]
    import_vectors(src, store, "other")
    assert sorted(p.name for p in (store / "vectors").iterdir()) == ["other", "tiny"]


def test_a_failed_cleanup_never_stops_a_write(store_dir, monkeypatch, caplog):
    """Cleaning up is best effort: an error is logged and the write goes on."""
    def broken(store, max_age=leftovers.MAX_AGE, dry_run=False):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(leftovers, "collect", broken)
    leftovers.collect_quietly(store_dir)
    assert "cannot clean up" in caplog.text
