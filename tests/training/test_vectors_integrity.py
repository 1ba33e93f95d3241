"""Vector stores are checked against the sha256 computed at import, once per file version."""

import json
import os
import random
import stat

import numpy as np
import pytest

from vecclf.training.errors import BundleError
from vecclf.training.registry import ModelRegistry
from vecclf.training.vectors import integrity
from vecclf.training.vectors.store import open_store


def _negate_in_place(folder):
    """Rewrite vectors.npy's values negated, same shape and header, in the same file (what the attack did)."""
    path = folder / "vectors.npy"
    matrix = np.load(path, mmap_mode="r")
    offset, data = matrix.offset, (-np.asarray(matrix)).tobytes(order="A")
    del matrix
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


def _shuffle_vocab(folder):
    words = (folder / "vocab.txt").read_text("utf-8").split("\n")[:-1]
    random.Random(0).shuffle(words)
    (folder / "vocab.txt").write_text("\n".join(words) + "\n", "utf-8")


def _truncate_vocab_line(folder):
    with open(folder / "vocab.txt", "r+b") as fh:
        fh.seek(0)
        fh.write(b"Good")  # same size, one word changed


TAMPERING = [_negate_in_place, _shuffle_vocab, _truncate_vocab_line]


@pytest.fixture
def fresh_memory(monkeypatch):
    """Forget what this process verified, as a new process would."""
    monkeypatch.setattr(integrity, "_MEMO", {})


@pytest.mark.parametrize("tamper", TAMPERING, ids=[t.__name__ for t in TAMPERING])
def test_changed_store_files_are_refused_by_every_user(trained, tamper, cli):
    """Negated values or an edited vocabulary: loading a model, training and `vectors verify` all refuse (exit 4)."""
    store, _ = trained
    folder = store / "vectors" / "tiny"
    ModelRegistry(store).load("demo")  # opened and trusted in this process before the change
    tamper(folder)
    with pytest.raises(BundleError, match="do not match the sha256 recorded at import"):
        ModelRegistry(store).load("demo")
    with pytest.raises(BundleError):
        open_store(store, "tiny")
    code, out, err = cli("vectors", "verify", "tiny", "--store", store)
    assert code == 4 and out == "" and err.count("\n") == 1 and "tiny" in err and "sha256" in err
    code, _, err = cli("predict", "--name", "demo", "--store", store, "good film")
    assert code == 4 and "sha256" in err


@pytest.mark.parametrize("promote", [False, True], ids=["same version", "new version promoted"])
def test_negated_vectors_are_refused_by_the_service(trained, promote):
    """Vectors negated in place under a running service: withdrawn at the next check, never flipped; back once fixed."""
    from vecclf.service import create_app
    from vecclf.service.config import Config

    store, _ = trained
    registry = ModelRegistry(store)
    app = create_app(Config(store=str(store), poll_interval=0))
    client = app.test_client()
    assert client.post("/v1/models/demo/predict", json={"texts": ["good"]}).json["predictions"][0]["label"] == "pos"
    if promote:
        registry.promote("demo", registry.save("demo", *registry.load("demo"))[0])
    _negate_in_place(store / "vectors" / "tiny")
    report = app.extensions["vecclf.models"].refresh()
    assert "do not match the sha256 recorded at import" in report["refused"]["demo"]["error"]
    r = client.post("/v1/models/demo/predict", json={"texts": ["good"]})
    assert r.status_code == 503 and r.json["error"]["code"] == "model_unavailable"
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "sha256" in ready.json["models"]["demo"]["refused"]["error"]
    _negate_in_place(store / "vectors" / "tiny")  # put the values back: the next check serves the model again
    app.extensions["vecclf.models"].refresh()
    assert client.post("/v1/models/demo/predict", json={"texts": ["good"]}).json["predictions"][0]["label"] == "pos"
    assert client.get("/readyz").json["status"] == "ready"


def test_a_store_replaced_by_rename_keeps_the_served_version(trained, tmp_path):
    """A re-import (--force) leaves the served version's mapped files intact: it keeps serving."""
    from tests.conftest import make_vectors, write_glove
    from vecclf.service import create_app
    from vecclf.service.config import Config
    from vecclf.training.vectors.importers import import_vectors

    store, _ = trained
    app = create_app(Config(store=str(store), poll_interval=0))
    words, vecs = make_vectors(seed=3)
    import_vectors(write_glove(tmp_path / "again.txt", words, vecs), store, "tiny", force=True)
    assert app.extensions["vecclf.models"].refresh()["unchanged"] == {"demo": "v1"}
    assert app.test_client().post("/v1/models/demo/predict", json={"texts": ["good"]}).status_code == 200


def test_each_file_version_is_hashed_once(tiny_vectors, monkeypatch, fresh_memory):
    """After import no open hashes; a new process trusts .verified.json; any write to a file means one new hash."""
    store, _, _ = tiny_vectors
    folder = store / "vectors" / "tiny"
    hashed = []
    real = integrity.sha256_files
    monkeypatch.setattr(integrity, "sha256_files", lambda paths: hashed.append(paths) or real(paths))
    for _ in range(3):
        open_store(store, "tiny")
    assert hashed == [] and json.loads((folder / integrity.VERIFIED).read_text())["sha256"]
    st = os.stat(folder / "vocab.txt")
    os.utime(folder / "vocab.txt", ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime, but ctime moves
    open_store(store, "tiny")
    open_store(store, "tiny")
    assert len(hashed) == 1


def test_a_store_without_a_cached_result_is_hashed_then_cached(tiny_vectors, monkeypatch, fresh_memory):
    """A store imported before verification existed (no .verified.json) is hashed on first open, then trusted."""
    store, _, _ = tiny_vectors
    (store / "vectors" / "tiny" / integrity.VERIFIED).unlink()
    hashed = []
    real = integrity.sha256_files
    monkeypatch.setattr(integrity, "sha256_files", lambda paths: hashed.append(paths) or real(paths))
    open_store(store, "tiny")
    monkeypatch.setattr(integrity, "_MEMO", {})
    open_store(store, "tiny")
    assert len(hashed) == 1


def test_a_read_only_store_is_verified_without_writing(tiny_vectors, fresh_memory, monkeypatch):
    """When the cache cannot be written the check still passes, kept in memory."""
    store, _, _ = tiny_vectors
    folder = store / "vectors" / "tiny"
    (folder / integrity.VERIFIED).unlink()

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(integrity.tempfile, "mkstemp", refuse)
    assert open_store(store, "tiny").verify()["sha256"]
    assert not (folder / integrity.VERIFIED).exists() and not [p for p in folder.iterdir() if p.name.startswith(".v")]


def test_store_files_are_read_only(tiny_vectors):
    """Imported files are left read-only: they are replaced by rename, never rewritten in place."""
    store, _, _ = tiny_vectors
    for name in ("vectors.npy", "vocab.txt"):
        assert stat.S_IMODE(os.stat(store / "vectors" / "tiny" / name).st_mode) == 0o444


def test_a_reimport_never_touches_mapped_files(tiny_vectors, tmp_path):
    """A store replaced with --force leaves the old files intact for whoever still maps them."""
    from tests.conftest import make_vectors, write_glove
    from vecclf.training.vectors.importers import import_vectors

    store, words, vecs = tiny_vectors
    old = open_store(store, "tiny")
    before = np.array(old.vectors[:5])
    new_words, new_vecs = make_vectors(seed=9)
    import_vectors(write_glove(tmp_path / "new.txt", new_words, new_vecs), store, "tiny", force=True)
    np.testing.assert_array_equal(old.vectors[:5], before)  # the old mapping still reads the old values
    assert not np.allclose(open_store(store, "tiny").vectors[:5], before)


def test_verify_command_hashes_and_reports(tiny_vectors, cli):
    """`vecclf vectors verify` hashes every file and prints what it checked."""
    store, _, _ = tiny_vectors
    code, out, err = cli("vectors", "verify", "tiny", "--store", store)
    result = json.loads(out)
    assert code == 0 and result["ok"] is True and result["files"] == ["vectors.npy", "vocab.txt"]
    assert result["sha256"] == json.loads((store / "vectors" / "tiny" / "manifest.json").read_text())["sha256"]
    assert result["bytes"] == sum((store / "vectors" / "tiny" / f).stat().st_size for f in result["files"])


def test_a_failed_check_is_not_hashed_again(tiny_vectors, monkeypatch, fresh_memory):
    """Asking again about files that already failed raises at once; fixed files are hashed once more."""
    store, _, _ = tiny_vectors
    folder = store / "vectors" / "tiny"
    _negate_in_place(folder)
    hashed = []
    real = integrity.sha256_files
    monkeypatch.setattr(integrity, "sha256_files", lambda paths: hashed.append(paths) or real(paths))
    for _ in range(3):
        with pytest.raises(BundleError):
            open_store(store, "tiny")
    assert len(hashed) == 1
    _negate_in_place(folder)
    open_store(store, "tiny")
    assert len(hashed) == 2
