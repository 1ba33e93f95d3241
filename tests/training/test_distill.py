"""`vecclf vectors distill`: a normal vector store from a sentence transformer (a tiny one made here)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import NEGATIVE, POSITIVE, make_corpus, need_module
from vecclf.training.vectors.store import open_store

pytestmark = pytest.mark.slow  # each test distils (model2vec runs the transformer on every word)


@pytest.fixture(autouse=True)
def _model2vec():
    need_module("model2vec")
    need_module("skeletoken")


def test_distill_round_trip(cli, store_dir, tiny_encoder):
    """The distilled store opens like any other: words, vectors of --dims columns, its source in the manifest."""
    status, out, err = cli("vectors", "distill", "--store", store_dir, "--name", "d", "--from", tiny_encoder,
                           "--dims", "8")
    assert status == 0, err
    manifest = json.loads(out)
    assert manifest["source_format"] == "distilled" and manifest["dim"] == 8 and manifest["lowercase"] is True
    assert manifest["distilled"]["encoder"]["name"] == str(tiny_encoder)
    store = open_store(store_dir, "d")
    assert "good" in store and "##s" not in store and "[CLS]" not in store
    vector = store.lookup("good")
    assert vector.shape == (8,) and np.isfinite(vector).all() and np.abs(vector).sum() > 0
    status, out, err = cli("vectors", "verify", "--store", store_dir, "d")
    assert status == 0, err


def test_vocabulary_from_a_store_keeps_its_order(store_dir, tiny_vectors, tiny_encoder):
    """--vocabulary NAME distils that store's words, in its (frequency) order, whole hyphenated words too."""
    from vecclf.training.vectors.distill import distill_vectors

    store, words, _ = tiny_vectors
    distill_vectors(store, "d", source=str(tiny_encoder), vocabulary=["tiny"], dims=4, limit=20)
    distilled = open_store(store, "d")
    assert distilled.words == [w.lower() for w in words[:20]]


def test_vocabulary_from_a_corpus(tmp_path, store_dir, tiny_encoder):
    """--vocabulary FILE distils the corpus's words as vecclf tokenizes them, most frequent first."""
    from vecclf.training.vectors.distill import distill_vectors

    texts, _ = make_corpus(60)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(texts) + "\n", "utf-8")
    distill_vectors(store_dir, "d", source=str(tiny_encoder), vocabulary=[str(corpus)], dims=4, min_count=2)
    words = open_store(store_dir, "d").words
    assert set(words) <= {w.lower() for t in texts for w in t.replace(".", " ").split()}
    assert any(w in words for w in POSITIVE) and any(w in words for w in NEGATIVE)
    assert "." not in words


def test_distilled_store_trains_and_serves_without_torch(tmp_path, store_dir, tiny_encoder, sentiment_csv):
    """A model on distilled vectors loads and predicts in a process that never imports torch."""
    import subprocess
    import sys

    from vecclf.training.train import train
    from vecclf.training.vectors.distill import distill_vectors

    distill_vectors(store_dir, "d", source=str(tiny_encoder), dims=8)
    report = train(store=str(store_dir), name="m", data=str(sentiment_csv), vectors="d", features="hybrid", seed=0)
    assert report["metrics"]["accuracy"] > 0.8
    code = ("import sys; from vecclf.training.registry import ModelRegistry; "
            "from vecclf.training.inference import Predictor; "
            f"m, _ = ModelRegistry({str(store_dir)!r}).load('m'); print(Predictor(m).explain(['good'])[0]['label'], "
            "'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["pos", "False"]


@pytest.mark.parametrize("argv, code, message", [
    (["--dims", "1"], 2, "--dims must be at least 2"),
    (["--limit", "0"], 2, "--limit must be at least 1"),
    (["--from", "{missing}"], 4, "no such folder"),
    (["--vocabulary", "no-such-store"], 3, "no-such-store"),
])
def test_refusals(cli, store_dir, tiny_encoder, tmp_path, argv, code, message):
    """Bad distill flags exit with one line, the documented code, and leave no store behind."""
    argv = [a.format(missing=tmp_path / "nope") for a in argv]
    status, out, err = cli("vectors", "distill", "--store", store_dir, "--name", "d", "--from", tiny_encoder, *argv)
    assert status == code and message in err and "Traceback" not in err, err
    assert not (store_dir / "vectors" / "d").exists()
