"""fastText's own supervised classifier as a backend: training, probabilities, bundles, CLI, service."""

import io
import json
import sys
import zipfile

import numpy as np
import pytest

from tests.conftest import make_corpus, need_module, write_csv
from vecclf.training.bundle import MODEL_FILE
from vecclf.training.errors import DataError, VecclfError
from vecclf.training.fasttext_backend import FastTextClassifier, ngram_buckets
from vecclf.training.model import TextModel
from vecclf.training.registry import ModelRegistry

need_module("fasttext")

PROBES = ["A great and wonderful film!", "an awful, boring plot", "", "zzqx unknown words", "café naïve don't\tok"]


@pytest.fixture(scope="module")
def corpus():
    """Return 200 varied synthetic reviews (varied enough that fastText never meets its NaN edge case)."""
    return make_corpus(200, seed=3)


@pytest.fixture
def fitted(tiny_vectors, corpus):
    """Return a TextModel with the fastText backend fitted on the synthetic reviews, and its store."""
    store, _, _ = tiny_vectors
    texts, labels = corpus
    return TextModel(vectors="tiny", store=str(store), classifier="fasttext").fit(texts, labels), store


def test_learns_the_synthetic_sentiment(fitted):
    """The fastText backend separates clearly positive from clearly negative texts."""
    model, _ = fitted
    texts, labels = make_corpus(60, seed=9)
    assert np.mean(model.predict(texts) == np.asarray(labels)) >= 0.9
    assert list(model.predict(["great wonderful excellent", "awful terrible worst"])) == ["pos", "neg"]


def test_probabilities_sum_to_one_in_classes_order(fitted):
    """Rows are probabilities that sum to 1, in classes_ order (sorted), for any text, empty included."""
    model, _ = fitted
    proba = model.predict_proba(PROBES)
    assert list(model.classes_) == ["neg", "pos"]
    assert proba.shape == (len(PROBES), 2)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert proba[0, 1] > 0.5 and proba[1, 0] > 0.5
    assert model.predict_proba([]).shape == (0, 2)


def test_labels_with_spaces_and_prefix_like_names(tiny_vectors, corpus):
    """Labels are passed to fastText as indices, so spaces or '__label__' in a label name do not matter."""
    store, _, _ = tiny_vectors
    texts, labels = corpus
    names = {"pos": "very good", "neg": "__label__bad"}
    model = TextModel(vectors="tiny", store=str(store), classifier="fasttext").fit(texts, [names[l] for l in labels])
    assert list(model.classes_) == ["__label__bad", "very good"]
    assert list(model.predict(["great wonderful excellent"])) == ["very good"]


def test_registry_round_trip_gives_identical_probabilities(fitted):
    """Saved and reloaded through the registry, the model gives the same probabilities."""
    model, store = fitted
    registry = ModelRegistry(store)
    registry.save("ft", model, {"vectors": _vectors_meta(store)})
    loaded, _ = registry.load("ft")
    assert getattr(loaded.pipeline_, "_ft", None) is None  # rebuilt lazily from the bytes
    np.testing.assert_array_equal(loaded.predict_proba(PROBES), model.predict_proba(PROBES))


def test_bundle_is_one_skops_file_without_pickle(fitted):
    """The fastText model lives as a uint8 array inside model.skops; no member of the archive is a pickle."""
    model, store = fitted
    registry = ModelRegistry(store)
    registry.save("ft", model, {"vectors": _vectors_meta(store)})
    folder = store / "ft" / "v1"
    assert sorted(p.name for p in folder.iterdir()) == ["COMPLETE", "manifest.json", MODEL_FILE]
    with zipfile.ZipFile(folder / MODEL_FILE) as zf:
        arrays = []
        for member in zf.namelist():
            data = zf.read(member)
            assert not data.startswith(b"\x80") and not member.endswith((".pkl", ".pickle")), member
            if member.endswith(".npy"):
                arrays.append(np.load(io.BytesIO(data), allow_pickle=False))
    assert any(a.dtype == np.uint8 and a.size == model.pipeline_.model_bytes_.size for a in arrays)


def test_reproducible_with_one_thread(tiny_vectors, corpus):
    """Two fits with the same seed and thread=1 give byte-identical fastText models."""
    store, _, _ = tiny_vectors
    texts, labels = corpus
    a = FastTextClassifier(vectors="tiny", store=str(store), seed=5, thread=1).fit(texts, labels)
    b = FastTextClassifier(vectors="tiny", store=str(store), seed=5, thread=1).fit(texts, labels)
    np.testing.assert_array_equal(a.model_bytes_, b.model_bytes_)


def test_pretrained_vectors_restricted_to_training_words(tiny_vectors):
    """Only the store words that occur in the training texts are handed to fastText."""
    store, words, _ = tiny_vectors
    texts = ["good film", "bad film", "good plot", "bad plot unknownword"] * 5
    clf = FastTextClassifier(vectors="tiny", store=str(store)).fit(texts, ["p", "n", "p", "n"] * 5)
    assert clf.n_pretrained_ == 4 < len(words)
    assert clf.dim_ == 16


def test_ngram_buckets_fit_the_data():
    """Buckets are a power of two at least the number of distinct word n-grams, within fastText's bounds."""
    assert ngram_buckets(["a b c"], 1) == 0
    assert ngram_buckets(["a b c"], 2) == 1024
    lines = [f"w{i} w{i + 1}" for i in range(3000)]
    assert ngram_buckets(lines, 2) == 8192  # 6000 distinct bigrams with the end-of-line token


def test_multilabel_trains_one_vs_all(tiny_vectors, corpus):
    """Tuples of labels train fastText's one-vs-all loss: independent per-label probabilities."""
    store, _, _ = tiny_vectors
    texts, labels = corpus
    tags = [(l, "review") if i % 3 else (l,) for i, l in enumerate(labels)]
    model = TextModel(vectors="tiny", store=str(store), classifier="fasttext").fit(texts, tags)
    assert list(model.classes_) == ["neg", "pos", "review"]
    proba = model.predict_proba(["great wonderful excellent"])
    assert proba.shape == (1, 3) and np.all((proba >= 0) & (proba <= 1))
    assert "pos" in model.predict(["great wonderful excellent"])[0]


def test_training_nan_becomes_a_data_error(tiny_vectors):
    """fastText's 'Encountered NaN' (here: a too-high learning rate on one repeated word) is a DataError saying so."""
    store, _, _ = tiny_vectors
    with pytest.raises(DataError, match="fastText training failed.*NaN.*diverged.*lr=5.0"):
        FastTextClassifier(vectors="tiny", store=str(store), lr=5.0).fit(["good"] * 500, ["p", "n"] * 250)


def test_training_is_immune_to_dirty_heap(tiny_vectors, corpus):
    """NaN bytes left on the heap by earlier work do not reach fastText's uninitialised n-gram rows."""
    import ctypes

    store, _, _ = tiny_vectors
    texts, labels = corpus
    buffers = [ctypes.create_string_buffer(b"\xff" * 60000) for _ in range(50)]
    del buffers
    clf = FastTextClassifier(vectors="tiny", store=str(store), bucket=1024).fit(texts, labels)
    assert np.isfinite(clf.predict_proba(texts[:5])).all()


@pytest.mark.parametrize("step", ["fit", "predict"])
def test_missing_package_says_how_to_install(step, fitted, monkeypatch):
    """Without the fasttext module, fitting or loading a fastText model names the extra to install."""
    model, store = fitted
    if step == "predict":
        registry = ModelRegistry(store)
        registry.save("ft", model, {"vectors": _vectors_meta(store)})
        model, _ = registry.load("ft")
    monkeypatch.setitem(sys.modules, "fasttext", None)
    with pytest.raises(VecclfError, match=r"pip install 'vecclf\[fasttext\]'"):
        if step == "fit":
            model.fit(["good film", "bad film"] * 5, ["p", "n"] * 5)
        else:
            model.predict_proba(["good film"])


def test_embedder_is_a_clear_data_error(fitted):
    """A fastText model has no document embedder; asking for one is a DataError, not an AttributeError."""
    model, _ = fitted
    with pytest.raises(DataError, match="no document embedder"):
        model.embedder()


def test_cli_train_predict_end_to_end(cli, tiny_vectors, tmp_path, corpus):
    """`vecclf train --classifier fasttext` trains, evaluates and saves; `predict` serves the saved model."""
    store, _, _ = tiny_vectors
    texts, labels = corpus
    data = write_csv(tmp_path / "train.csv", [{"text": t, "label": l} for t, l in zip(texts, labels)])
    code, out, err = cli("train", "--store", store, "--name", "ftm", "--data", data, "--vectors", "tiny",
                         "--classifier", "fasttext")
    assert code == 0, err
    report = json.loads(out)
    assert report["config"]["classifier"] == "fasttext" and report["selection"]["mode"] == "fixed"
    assert report["metrics"]["accuracy"] >= 0.9
    manifest = json.loads((store / "ftm" / "v1" / "manifest.json").read_text())
    assert "tiny" in json.dumps(manifest["vectors"]) and str(tmp_path) not in json.dumps(manifest["config"])
    code, out, err = cli("predict", "--store", store, "--name", "ftm", "great wonderful excellent")
    assert code == 0, err
    assert json.loads(out.splitlines()[0])["label"] == "pos"


def test_service_predicts_and_refuses_embed(fitted, tmp_path):
    """The service predicts with a fastText model through the generic path; /embed is a 400, not a 500."""
    from vecclf.service import create_app
    from vecclf.service.config import Config

    model, store = fitted
    ModelRegistry(store).save("ft", model, {"vectors": _vectors_meta(store)})
    config = Config(store=str(store), poll_interval=0, runtime_dir=str(tmp_path / "run"))
    app = create_app(config)
    try:
        client = app.test_client()
        r = client.post("/v1/models/ft/predict", json={"texts": ["great wonderful excellent"]})
        assert r.status_code == 200 and r.json["predictions"][0]["label"] == "pos"
        np.testing.assert_allclose(sum(r.json["predictions"][0]["scores"].values()), 1.0)
        r = client.post("/v1/models/ft/embed", json={"texts": ["good"]})
        assert r.status_code == 400 and r.json["error"]["code"] == "embedding_unavailable"
    finally:
        app.extensions["vecclf.models"].stop()


def _vectors_meta(store):
    from vecclf.training.vectors.store import open_store

    vstore = open_store(store, "tiny")
    return {"name": vstore.name, "sha256": vstore.sha256}
