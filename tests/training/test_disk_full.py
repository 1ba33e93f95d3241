"""A full disk: one error line naming the path and the free space, exit 6, and nothing half-visible."""

import errno
import shutil
import subprocess

import pytest

from tests.conftest import make_vectors, unavailable, write_glove
from vecclf.training import registry as registry_mod
from vecclf.training.errors import StorageError
from vecclf.training.registry import ModelRegistry


@pytest.fixture
def small_disk(tmp_path):
    """Mount a 2 MiB tmpfs (a real full disk, not a simulation); unmount it afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs for the full-disk tests ({done.stderr.strip()}); they need root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(disk, leave=0):
    """Fill the disk until only about ``leave`` bytes are free."""
    with open(disk / "filler", "wb") as fh:
        try:
            while shutil.disk_usage(disk).free > leave:
                fh.write(b"\0" * min(65536, max(4096, shutil.disk_usage(disk).free - leave)))
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def _visible(root):
    """Return every entry under ``root`` except the filler."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name != "filler")


def _one_storage_line(code, out, err, path_part):
    assert code == 6 and out == ""
    assert err.count("\n") == 1 and err.startswith("vecclf: error: cannot write ")
    assert path_part in err and "No space left on device" in err and " free on its file system" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_import_onto_a_full_disk(small_disk, tmp_path, cli):
    """An import larger than the disk: exit 6 naming the store and the free space, no temp folder left."""
    import numpy as np

    words = [f"w{i}" for i in range(20000)]
    src = write_glove(tmp_path / "big.txt", words, np.ones((len(words), 50), dtype=np.float32))
    store = small_disk / "models"
    code, out, err = cli("vectors", "import", src, "--name", "big", "--store", store)
    _one_storage_line(code, out, err, str(store / "vectors"))
    assert _visible(store) == ["vectors"]


@pytest.mark.slow
def test_default_vectors_onto_a_full_disk(small_disk, cli):
    """`vecclf vectors default` on a disk without room: exit 6, nothing left."""
    store = small_disk / "models"
    code, out, err = cli("vectors", "default", "--store", store)
    _one_storage_line(code, out, err, str(store / "vectors"))
    assert _visible(store) == ["vectors"]


@pytest.mark.slow
def test_train_promote_onto_a_full_disk(small_disk, tmp_path, sentiment_csv, cli):
    """`train --promote` with the disk full: exit 6, no new version (not even hidden), current unchanged."""
    store = small_disk / "models"
    words, vecs = make_vectors()
    assert cli("vectors", "import", write_glove(tmp_path / "tiny.txt", words, vecs), "--name", "tiny",
               "--store", store)[0] == 0
    args = ["train", "--name", "demo", "--data", sentiment_csv, "--vectors", "tiny", "--features", "mean", "--store", store]
    assert cli(*args)[0] == 0
    before = _visible(store)
    _fill(small_disk)
    code, out, err = cli(*args, "--promote")
    _one_storage_line(code, out, err, str(store / "demo"))
    assert _visible(store) == before and ModelRegistry(store).current("demo") == "v1"


def test_promotion_that_cannot_be_written_takes_the_new_version_back(trained, monkeypatch):
    """The bundle fits but the pointer does not: the version is removed again, the old one stays current."""
    from vecclf.training.train import train

    store, _ = trained

    def full(*files):
        raise StorageError(f"cannot write {files[0][0]}: No space left on device (0 bytes free on its file system)")

    monkeypatch.setattr(registry_mod, "_atomic_write", full)
    with pytest.raises(StorageError, match="No space left"):
        train(store=str(store), name="demo", data=str(next(store.parent.glob("*.csv"))), vectors="tiny",
              features="mean", promote=True)
    assert ModelRegistry(store).versions("demo") == ["v1"] and ModelRegistry(store).current("demo") == "v1"
    assert [p.name for p in (store / "demo").iterdir() if p.name.startswith(".")] == []


def test_a_full_disk_mid_import_is_not_a_read_error(tiny_vectors, tmp_path, monkeypatch):
    """ENOSPC while writing the matrix is a StorageError (exit 6), not the input's fault (exit 2)."""
    import os

    from vecclf.training.vectors import importers

    store, words, vecs = tiny_vectors

    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(StorageError, match="vectors.npy: No space left on device"):
        importers.import_vectors(write_glove(tmp_path / "x.txt", words, vecs), store, "x")
    assert sorted(p.name for p in (store / "vectors").iterdir()) == ["tiny"]
