"""Fine-tuned encoders (vecclf encoders finetune): the folder written, its use by name, and the refusals."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.conftest import write_csv
from vecclf.training import encoder as enc
from vecclf.training import encoder_tune
from vecclf.training.errors import BundleError, DataError, NotFoundError, VecclfError


@pytest.fixture
def tuned(tiny_vectors, sentiment_csv, tiny_encoder):
    """Fine-tune the tiny encoder on the synthetic reviews as 'reviews'; return (store, manifest)."""
    store, _, _ = tiny_vectors
    manifest = encoder_tune.finetune_encoder(str(store), "reviews", str(sentiment_csv), source=str(tiny_encoder),
                                             epochs=2, threads=1)
    return store, manifest


def test_finetune_writes_a_safetensors_encoder_folder(tuned, tiny_encoder):
    """The new folder is a sentence-transformer folder: new weights as safetensors only, the source's tokenizer."""
    store, manifest = tuned
    folder = store / "encoders" / "reviews"
    assert manifest["path"] == str(folder)
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert "model.safetensors" in files and "tokenizer.json" in files and "1_Pooling/config.json" in files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".pkl"))]
    assert (folder / "tokenizer.json").read_bytes() == (tiny_encoder / "tokenizer.json").read_bytes()
    assert json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"] == encoder_tune.MAX_LENGTH
    assert manifest["labels"] == ["neg", "pos"] and manifest["epochs"] == 2 and len(manifest["epoch_loss"]) == 2
    assert manifest["data"]["rows"] == 120
    assert manifest["source"]["sha256"] == enc.describe(str(tiny_encoder))["sha256"] != manifest["sha256"]
    assert not [p for p in (store / "encoders").iterdir() if p.name.startswith(".")]  # no temp folder left
    assert folder.stat().st_mode & 0o777 == 0o755 and (folder / "model.safetensors").stat().st_mode & 0o777 == 0o644


def test_tuned_weights_differ_from_the_source(tuned, tiny_encoder):
    """Fine-tuning changes what the encoder computes."""
    store, _ = tuned
    texts = ["good film", "bad film", "the plot was dull"]
    before = enc.load(str(tiny_encoder)).encode(texts, memo=False)
    after = enc.load("reviews", store=str(store)).encode(texts, memo=False)
    assert before.shape == after.shape
    assert np.abs(before - after).max() > 1e-4


def test_training_lowers_the_loss(tiny_vectors, sentiment_csv, tiny_encoder, monkeypatch):
    """The head and encoder learn the labels: the loss falls from epoch to epoch (at a rate a tiny model needs)."""
    store, _, _ = tiny_vectors
    monkeypatch.setattr(encoder_tune, "LEARNING_RATE", 3e-3)
    manifest = encoder_tune.finetune_encoder(str(store), "fast", str(sentiment_csv), source=str(tiny_encoder),
                                             epochs=6, threads=1)
    losses = manifest["epoch_loss"]
    assert all(b < a for a, b in zip(losses, losses[1:])) and losses[-1] < 0.85 * losses[0], losses


def test_train_and_serve_with_a_tuned_encoder_by_name(cli, tuned, sentiment_csv):
    """`train --encoder NAME` finds the tuned encoder in the store; the bundle names it; predict loads it."""
    store, manifest = tuned
    code, out, err = cli("--store", store, "train", "--name", "m", "--data", sentiment_csv, "--vectors", "tiny",
                         "--features", "hybrid", "--encoder", "reviews")
    assert code == 0, err
    saved = json.loads((store / "m" / "v1" / "manifest.json").read_text())
    recorded = saved["encoder"]
    assert recorded["name"] == "reviews" and recorded["sha256"] == manifest["sha256"]
    assert recorded["tuned_from"]["sha256"] == manifest["source"]["sha256"]
    assert recorded["tuned_on"] == {"path": str(sentiment_csv.resolve()), "sha256": manifest["data"]["sha256"],
                                    "rows": 120}
    # Scored on a hold-out of the very file the encoder learnt from: said, in the output and the manifest.
    assert "fine-tuned on" in json.loads(out)["evaluation_warning"] and "optimistic" in saved["evaluation_warning"]
    code, out, err = cli("--store", store, "predict", "--name", "m", "Great wonderful film.", "Awful boring film.")
    assert code == 0, err
    assert [json.loads(line)["label"] for line in out.splitlines()] == ["pos", "neg"]
    code, out, _ = cli("--store", store, "encoders", "list")
    assert [e["name"] for e in json.loads(out)["encoders"]] == ["reviews"]
    code, out, _ = cli("--store", store, "models", "list")
    assert "encoders" not in out  # the encoders folder is not a model


def test_an_encoder_in_use_is_not_replaced(tuned, sentiment_csv, tiny_encoder):
    """--force replaces an encoder no model uses; one that a model version names is kept, and the version loads."""
    from vecclf.training.registry import ModelRegistry
    from vecclf.training.train import train

    store, first = tuned
    with pytest.raises(VecclfError, match="already exists"):
        encoder_tune.finetune_encoder(str(store), "reviews", str(sentiment_csv), source=str(tiny_encoder), epochs=1)
    again = encoder_tune.finetune_encoder(str(store), "reviews", str(sentiment_csv), source=str(tiny_encoder),
                                          epochs=1, seed=3, force=True, threads=1)
    assert again["sha256"] != first["sha256"]
    version = train(store=str(store), name="m", data=str(sentiment_csv), vectors="tiny", features="hybrid",
                    encoder="reviews")["version"]
    with pytest.raises(VecclfError, match="used by m/v1"):
        encoder_tune.finetune_encoder(str(store), "reviews", str(sentiment_csv), source=str(tiny_encoder), epochs=1,
                                      seed=4, force=True)
    assert enc.describe("reviews", str(store))["sha256"] == again["sha256"]
    ModelRegistry(store).load("m", version)


def test_a_changed_encoder_is_refused_by_models_trained_on_the_old(tuned, sentiment_csv):
    """Weights changed behind vecclf's back: the model trained on the old ones refuses to load."""
    from vecclf.training.registry import ModelRegistry
    from vecclf.training.train import train

    store, _ = tuned
    version = train(store=str(store), name="m", data=str(sentiment_csv), vectors="tiny", features="hybrid",
                    encoder="reviews")["version"]
    weights = store / "encoders" / "reviews" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="differs"):
        ModelRegistry(store).load("m", version)


def test_a_failed_run_leaves_nothing(tiny_vectors, sentiment_csv, tiny_encoder, monkeypatch):
    """An error after training (here: copying the tokenizer) removes the half-written folder."""
    store, _, _ = tiny_vectors

    def broken(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(encoder_tune, "_copy_support_files", broken)
    with pytest.raises(OSError):
        encoder_tune.finetune_encoder(str(store), "half", str(sentiment_csv), source=str(tiny_encoder), epochs=1)
    assert list((store / "encoders").iterdir()) == []
    with pytest.raises(NotFoundError):
        from vecclf.training.train import train

        train(store=str(store), name="m", data=str(sentiment_csv), vectors="tiny", encoder="half")


def test_refusals(cli, tiny_vectors, sentiment_csv, tiny_encoder, tmp_path):
    """Bad settings and data that cannot fine-tune fail with one clear line and write nothing."""
    store, _, _ = tiny_vectors
    single = write_csv(tmp_path / "one.csv", [{"text": "good film", "label": "pos"}] * 5)
    multi = write_csv(tmp_path / "multi.csv", [{"text": f"film {i}", "label": "pos|neg" if i % 2 else "neg"}
                                               for i in range(10)])
    base = ("--store", store, "encoders", "finetune", "--from", tiny_encoder)
    cases = [
        (("--name", "x", "--data", sentiment_csv, "--epochs", "0"), "--epochs"),
        (("--name", "x", "--data", sentiment_csv, "--max-length", "4"), "--max-length"),
        (("--name", "../x", "--data", sentiment_csv), "encoder name"),
        (("--name", "x", "--data", single), "single class"),
        (("--name", "x", "--data", tmp_path / "missing.csv"), "missing.csv"),
    ]
    for argv, message in cases:
        code, out, err = cli(*base, *argv)
        assert code != 0 and message in err, (argv, err)
        assert out == ""
    code, _, err = cli("--store", store, "encoders", "finetune", "--name", "x", "--data", sentiment_csv,
                       "--from", tmp_path / "nowhere")
    assert code == 3 and "no such folder" in err
    with pytest.raises(DataError, match="one label a row"):
        encoder_tune.finetune_encoder(str(store), "x", str(multi), source=str(tiny_encoder), epochs=1)
    assert not (store / "encoders" / "x").exists()
    code, _, err = cli("--store", store, "train", "--name", "encoders", "--data", sentiment_csv, "--vectors", "tiny")
    assert code != 0 and "reserved" in err


def test_no_warning_when_the_test_file_is_unseen(cli, tuned, tmp_path):
    """A --test file other than the encoder's training file is scored without the warning."""
    from tests.conftest import make_corpus

    store, _ = tuned
    texts, labels = make_corpus(40, seed=7)
    test = write_csv(tmp_path / "test.csv", [{"text": t, "label": y} for t, y in zip(texts, labels)])
    code, out, err = cli("--store", store, "train", "--name", "m", "--data", tmp_path / "train.csv", "--test", test,
                         "--vectors", "tiny", "--features", "hybrid", "--encoder", "reviews")
    assert code == 0, err
    assert "evaluation_warning" not in json.loads(out)


def test_retrain_config_takes_a_tuned_encoders_name(tmp_path):
    """[training] encoder = "NAME" stays a name unless a folder of that name sits beside the config."""
    from vecclf.training.retrain_config import _encoder

    assert _encoder("reviews", tmp_path) == "reviews"
    (tmp_path / "reviews").mkdir()
    assert _encoder("reviews", tmp_path) == str((tmp_path / "reviews").resolve())
    assert _encoder("minilm", tmp_path) == "minilm"


def test_train_tune_encoder_tunes_on_the_training_rows_and_reuses(cli, tiny_vectors, sentiment_csv, tiny_encoder,
                                                                  monkeypatch):
    """--tune-encoder tunes on the rows the model trains on (never the hold-out), keeps it as <model>-<digest>."""
    from tests.conftest import make_corpus

    store, _, _ = tiny_vectors
    tuned_on: list[str] = []
    real = encoder_tune.tune_rows

    def spy(folder, origin, root, name, texts, labels, data, **kw):
        tuned_on.extend(texts)
        return real(folder, origin, root, name, texts, labels, data, **kw)

    monkeypatch.setattr(encoder_tune, "tune_rows", spy)
    argv = ("--store", store, "train", "--name", "m", "--data", sentiment_csv, "--vectors", "tiny", "--features",
            "hybrid", "--encoder", tiny_encoder, "--tune-encoder", "--test-size", "0.25")
    code, out, err = cli(*argv)
    assert code == 0, err
    first = json.loads(out)
    names = [p.name for p in (store / "encoders").iterdir()]
    assert len(names) == 1 and names[0].startswith("m-")
    recorded = json.loads((store / "m" / "v1" / "manifest.json").read_text())["encoder"]
    assert recorded["name"] == names[0] and recorded["tuned_on"]["rows"] == first["n_train"] == 90
    assert len(tuned_on) == 90 and len(set(make_corpus()[0]) - set(tuned_on)) >= 20  # the hold-out: not tuned on
    assert recorded["tuned_on"]["sha256"] is not None  # the file it came from: a later --encoder NAME run warns
    code, out, err = cli(*argv, progress="lines")
    assert code == 0 and "reused" in err
    assert [p.name for p in (store / "encoders").iterdir()] == names


def test_cv_tunes_inside_every_fold(tiny_vectors, sentiment_csv, tiny_encoder, monkeypatch):
    """With --cv every outer fold's encoder is tuned on that fold's training rows only; temp folders go."""
    from vecclf.training.train import train

    store, _, _ = tiny_vectors
    tuned_on: list[set] = []
    real = encoder_tune.tune_rows

    def spy(folder, origin, root, name, texts, labels, data, **kw):
        tuned_on.append((set(texts), root))
        return real(folder, origin, root, name, texts, labels, data, **kw)

    monkeypatch.setattr(encoder_tune, "tune_rows", spy)
    report = train(store=str(store), name="m", data=str(sentiment_csv), vectors="tiny", features="hybrid",
                   encoder=str(tiny_encoder), tune_encoder=True, cv=3, seed=0, jobs=1)
    from tests.conftest import make_corpus

    texts, _ = make_corpus()
    folds, final = tuned_on[:3], tuned_on[3]
    assert len(tuned_on) == 4 and final[0] == set(texts)
    for seen, root in folds:
        held_out = set(texts) - seen
        assert 30 <= len(held_out) <= 50 and not root.exists()  # a third held out; its temp folder removed
    assert len(report["metrics"]["fold_choices"]) == 3


def test_tune_encoder_needs_an_encoder(cli, tiny_vectors, sentiment_csv):
    store, _, _ = tiny_vectors
    code, _, err = cli("--store", store, "train", "--name", "m", "--data", sentiment_csv, "--vectors", "tiny",
                       "--tune-encoder")
    assert code == 2 and "--tune-encoder needs --encoder" in err


def test_list_remove_and_the_nightly_cleanup(cli, tuned, sentiment_csv, tiny_encoder):
    """list says who uses an encoder; remove refuses a used one; remove_unused takes old unused <model>-<digest>s."""
    import os
    import time

    from vecclf.training.train import train

    store, _ = tuned
    train(store=str(store), name="m", data=str(sentiment_csv), vectors="tiny", features="hybrid", encoder="reviews")
    code, out, _ = cli("--store", store, "encoders", "list")
    assert {e["name"]: e["used_by"] for e in json.loads(out)["encoders"]} == {"reviews": ["m/v1"]}
    code, _, err = cli("--store", store, "encoders", "remove", "reviews")
    assert code == 1 and "used by m/v1" in err and (store / "encoders" / "reviews").is_dir()
    code, _, err = cli("--store", store, "encoders", "remove", "nothing-here")
    assert code == 3
    root = store / "encoders"
    old, young, other = root / "m-0123456789ab", root / "m-ba9876543210", root / "m-custom"
    for folder in (old, young, other):
        shutil.copytree(root / "reviews", folder)
        with open(folder / encoder_tune.MANIFEST, "a") as fh:  # another encoder: another sha256
            fh.write(f"\n{folder.name}\n")
    day_ago = time.time() - 2 * 86400
    for folder in (old, other):
        os.utime(folder, (day_ago, day_ago))
    assert encoder_tune.remove_unused(str(store), "m") == ["m-0123456789ab"]
    assert not old.exists() and young.is_dir() and other.is_dir()
    code, out, _ = cli("--store", store, "encoders", "remove", "m-custom")
    assert code == 0 and json.loads(out) == {"removed": "m-custom"} and not other.exists()


def test_a_name_taken_while_tuning_is_kept(tiny_vectors, sentiment_csv, tiny_encoder, monkeypatch):
    """Another run publishing the same name first wins: this run's encoder is dropped, theirs stays intact."""
    store, _, _ = tiny_vectors
    theirs = store / "encoders" / "reviews"
    real = encoder_tune._copy_support_files

    def meanwhile(source, out, max_length):
        real(source, out, max_length)
        if not theirs.exists():
            shutil.copytree(out, theirs)
            (theirs / "marker").write_text("theirs")

    monkeypatch.setattr(encoder_tune, "_copy_support_files", meanwhile)
    with pytest.raises(encoder_tune.Taken):
        encoder_tune.finetune_encoder(str(store), "reviews", str(sentiment_csv), source=str(tiny_encoder), epochs=1)
    assert (theirs / "marker").read_text() == "theirs"
    assert [p.name for p in (store / "encoders").iterdir()] == ["reviews"]  # no temp folder left


def test_an_encoder_used_by_its_path_counts_as_used(tuned, sentiment_csv):
    """A version that names the tuned encoder by its folder still protects it from remove."""
    from vecclf.training.train import train

    store, manifest = tuned
    train(store=str(store), name="m", data=str(sentiment_csv), vectors="tiny", features="hybrid",
          encoder=manifest["path"])
    assert encoder_tune.versions_using(str(store), "reviews") == ["m/v1"]
    with pytest.raises(VecclfError, match="used by m/v1"):
        encoder_tune.remove_encoder(str(store), "reviews")


@pytest.mark.parametrize("name", ["minilm", "none", "auto"])
def test_names_that_encoder_reads_otherwise_are_refused(tiny_vectors, sentiment_csv, tiny_encoder, name):
    store, _, _ = tiny_vectors
    with pytest.raises(DataError, match="taken by --encoder"):
        encoder_tune.finetune_encoder(str(store), name, str(sentiment_csv), source=str(tiny_encoder))
