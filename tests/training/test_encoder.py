"""The sentence-encoder block (--encoder): training, serving, bundles that name but never hold the encoder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import make_corpus, need_module, write_tiny_encoder
from vecclf.training import encoder as enc
from vecclf.training.errors import BundleError, NotFoundError


@pytest.fixture
def encoded_model(tiny_vectors, sentiment_csv, tiny_encoder):
    """Train 'enc' (hybrid features + the tiny encoder) on the synthetic reviews; return (store, report)."""
    from vecclf.training.train import train

    store, _, _ = tiny_vectors
    report = train(store=str(store), name="enc", data=str(sentiment_csv), vectors="tiny", features="hybrid",
                   encoder=str(tiny_encoder), seed=0)
    return store, report


def test_encoder_matches_sentence_transformers(tiny_encoder):
    """The encoder gives sentence-transformers' own vectors (mean pooling over the mask, L2 norm)."""
    st = need_module("sentence_transformers")
    texts = ["the good film", "", "bad , awful !", " ".join(["the movie is fine"] * 30)]
    ours = enc.load(str(tiny_encoder)).encode(texts)
    theirs = st.SentenceTransformer(str(tiny_encoder), device="cpu").encode(texts)
    assert ours.dtype == np.float32 and ours.shape == (4, 16)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_batch_and_one_text_agree(tiny_encoder):
    """A text's vector does not depend on the batch it is padded with."""
    runtime = enc.load(str(tiny_encoder))
    texts = ["good", "the plot was really very dull and boring and the actor was poor"]
    together = runtime._run(texts)
    alone = np.vstack([runtime._run([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_fingerprint_follows_the_weights(tmp_path, tiny_encoder):
    """Other weights give another sha256; the same files give the same one."""
    words = ["good", "bad", "film"]
    a = write_tiny_encoder(tmp_path / "a", words, seed=1)
    b = write_tiny_encoder(tmp_path / "b", words, seed=1)
    c = write_tiny_encoder(tmp_path / "c", words, seed=2)
    assert enc.describe(str(a))["sha256"] == enc.describe(str(b))["sha256"]
    assert enc.describe(str(a))["sha256"] != enc.describe(str(c))["sha256"]
    assert enc.describe(str(a))["dim"] == 16


@pytest.mark.parametrize("spec, expected", [(None, None), ("none", None), ("", None), ("/some/folder", "/some/folder")])
def test_resolve(spec, expected):
    """--encoder none is no encoder; a folder stays a folder."""
    assert enc.resolve(spec) == expected


def test_auto_is_minilm_only_when_installed():
    """--encoder auto takes the packaged MiniLM where it and the libraries are installed, else none."""
    assert enc.resolve("auto") == ("minilm" if enc.installed("minilm") else None)


def test_encoder_block_weighs_twice_the_others(tiny_vectors, tiny_encoder):
    """Beside the pooled GloVe block (RMS row norm 1), the encoder's block has RMS row norm ENCODER_WEIGHT, 2."""
    from vecclf.training.features import build_features
    from vecclf.training.features.encoded import ENCODER_WEIGHT

    store, _, _ = tiny_vectors
    texts, labels = make_corpus(60, seed=1)
    union = build_features("dense", "tiny", str(store), encoder=str(tiny_encoder))
    union.fit(texts, labels)
    blocks = dict(union.transformer_list)
    assert list(blocks) == ["dense", "encoder"]

    def rms(block):
        return float(np.sqrt(np.mean(np.sum(np.square(block.transform(texts)), axis=1))))

    assert ENCODER_WEIGHT == 2.0
    assert rms(blocks["dense"]) == pytest.approx(1.0, rel=1e-3)
    assert rms(blocks["encoder"]) == pytest.approx(ENCODER_WEIGHT, rel=1e-3)


def test_train_records_the_encoder_not_its_weights(encoded_model, tiny_encoder):
    """The manifest names the encoder and its sha256; model.skops holds none of its weights."""
    store, report = encoded_model
    bundle = store / "enc" / report["version"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["encoder"]["name"] == str(tiny_encoder)
    assert manifest["encoder"]["sha256"] == enc.describe(str(tiny_encoder))["sha256"]
    assert manifest["config"]["encoder"] == str(tiny_encoder)
    weights = (tiny_encoder / "model.safetensors").read_bytes()
    skops = (bundle / "model.skops").read_bytes()
    assert weights[-4096:] not in skops
    assert b"torch" not in skops and b"safetensors" not in skops


def test_bundle_round_trip_serves_the_same(encoded_model):
    """The loaded model predicts as trained, and the compiled predictor reproduces it (no fallback)."""
    from vecclf.training.features.encoded import encoders_of
    from vecclf.training.inference import Predictor
    from vecclf.training.registry import ModelRegistry

    store, report = encoded_model
    model, _ = ModelRegistry(store).load("enc", report["version"])
    assert len(encoders_of(model)) == 1
    texts, labels = make_corpus(40, seed=3)
    proba = model.predict_proba(texts)
    predictor = Predictor(model)
    assert predictor.compiled, predictor.fallback
    np.testing.assert_allclose(predictor.predict_proba(texts), proba, atol=1e-5)  # the batch arithmetic
    np.testing.assert_allclose(predictor.predict_proba(texts[:3]), proba[:3], atol=1e-5)  # one text at a time
    assert np.mean(model.predict(texts) == np.asarray(labels)) > 0.8


def test_load_refuses_a_missing_encoder(encoded_model, tiny_encoder):
    """A bundle whose encoder is gone is refused with one line naming it."""
    from vecclf.training.registry import ModelRegistry

    store, report = encoded_model
    shutil.rmtree(tiny_encoder)
    with pytest.raises(enc.EncoderMissing, match="trained with encoder .*tiny-encoder.*no such folder"):
        ModelRegistry(store).load("enc", report["version"])


def test_load_refuses_a_different_encoder(encoded_model, tiny_encoder):
    """A bundle whose encoder's files changed is refused: other weights would give other predictions."""
    from vecclf.training.registry import ModelRegistry

    store, report = encoded_model
    shutil.rmtree(tiny_encoder)
    write_tiny_encoder(tiny_encoder, ["good", "bad"], seed=5)
    with pytest.raises(BundleError, match="installed one differs"):
        ModelRegistry(store).load("enc", report["version"])


def test_train_refuses_a_missing_encoder(tiny_vectors, sentiment_csv, tmp_path):
    """--encoder naming nothing fails before any work, as not found."""
    from vecclf.training.train import train

    store, _, _ = tiny_vectors
    with pytest.raises(NotFoundError, match="no such folder"):
        train(store=str(store), name="x", data=str(sentiment_csv), vectors="tiny", encoder=str(tmp_path / "nope"))


@pytest.mark.parametrize("argv, code, message", [
    (["--encoder", "{missing}"], 3, "no such folder"),
    (["--encoder", "{encoder}", "--classifier", "fasttext"], 2, "does not go with --classifier fasttext"),
])
def test_cli_refusals(cli, tiny_vectors, sentiment_csv, tiny_encoder, tmp_path, argv, code, message):
    """Bad --encoder uses exit with one line and the documented code."""
    store, _, _ = tiny_vectors
    argv = [a.format(missing=tmp_path / "nope", encoder=tiny_encoder) for a in argv]
    status, out, err = cli("train", "--store", store, "--name", "m", "--data", sentiment_csv, "--vectors", "tiny", *argv)
    assert status == code and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_train_with_encoder_and_auto(cli, tiny_vectors, sentiment_csv, tiny_encoder):
    """`vecclf train --encoder FOLDER` with --features auto puts the encoder beside every candidate."""
    store, _, _ = tiny_vectors
    status, out, err = cli("train", "--store", store, "--name", "m", "--data", sentiment_csv, "--vectors", "tiny",
                           "--encoder", tiny_encoder, "--jobs", "1")
    assert status == 0, err
    report = json.loads(out)
    assert report["config"]["encoder"] == str(tiny_encoder)
    assert report["selection"]["mode"] == "auto" and report["metrics"]["accuracy"] > 0.8


def test_models_without_an_encoder_never_import_torch(trained):
    """Loading and serving a default model imports none of the encoder's libraries."""
    store, report = trained
    code = ("import sys; from vecclf.training.registry import ModelRegistry; "
            "from vecclf.training.inference import Predictor; "
            f"m, _ = ModelRegistry({str(store)!r}).load('demo'); p = Predictor(m); p.explain(['good film']); "
            "print(sorted(n for n in ('torch', 'transformers', 'tokenizers') if n in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
