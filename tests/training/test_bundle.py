"""Bundles: identical round trip, integrity checks, no pickle, atomic writes."""

import json
import zipfile

import numpy as np
import pytest

from tests.conftest import make_corpus, make_vectors, write_glove
from vecclf.training import bundle as bundle_mod
from vecclf.training.bundle import COMPLETE, MODEL_FILE, load_bundle, read_manifest
from vecclf.training.errors import BundleError, NotFoundError
from vecclf.training.model import TextModel
from vecclf.training.registry import ModelRegistry

TEXTS = ["A great and wonderful film!", "Awful, boring plot.", "zzz unknown words only", ""]


@pytest.mark.parametrize("features, classifier", [("mean", "logreg"), ("meanmax", "svm"), ("hybrid", "logreg"),
                                                  ("sif", "mlp")])
def test_round_trip_gives_identical_probabilities(features, classifier, tiny_vectors):
    """A model saved and reloaded predicts exactly the probabilities of the in-memory trained model."""
    store, _, _ = tiny_vectors
    texts, labels = make_corpus(80)
    model = TextModel(vectors="tiny", store=str(store), features=features, classifier=classifier).fit(texts, labels)
    before = model.predict_proba(TEXTS)
    reg = ModelRegistry(store)
    version, current = reg.save("rt", model, {"vectors": {"name": "tiny", "sha256": model.embedder().vectors_sha256_}})
    loaded, manifest = reg.load("rt")
    assert (version, current, manifest["version"]) == ("v1", True, "v1")
    np.testing.assert_array_equal(loaded.predict_proba(TEXTS), before)
    assert list(loaded.classes_) == list(model.classes_)


def test_train_report_matches_reloaded_model(trained, sentiment_csv):
    """The model train() saved predicts exactly what train()'s in-memory model scored."""
    from vecclf.training.data import read_dataset
    from vecclf.training.evaluate import evaluate_model

    store, report = trained
    model, manifest = ModelRegistry(store).load("demo")
    assert manifest["metrics"] == report["metrics"]
    ds = read_dataset(sentiment_csv)
    assert evaluate_model(model, ds)["n"] == len(ds)


def test_manifest_has_provenance(trained):
    """The manifest records labels, metrics, data fingerprint, vectors sha256, config, libraries and time."""
    store, _ = trained
    m = read_manifest(store / "demo" / "v1")
    vectors = json.loads((store / "vectors" / "tiny" / "manifest.json").read_text())
    assert m["labels"] == ["neg", "pos"]
    assert m["vectors"]["name"] == "tiny" and m["vectors"]["sha256"] == vectors["sha256"]
    assert len(m["data"]["sha256"]) == 64 and m["data"]["encoding"] == "utf-8"
    assert {"scikit-learn", "numpy", "skops", "vecclf"} <= set(m["libraries"])
    assert m["config"]["features"] == "mean" and "created_at" in m and m["model_sha256"]


def test_bundle_holds_no_pickle(trained):
    """No file in a bundle, nor any member of the skops archive, is a pickle; arrays load with allow_pickle=False."""
    store, _ = trained
    folder = store / "demo" / "v1"
    assert sorted(p.name for p in folder.iterdir()) == [COMPLETE, "manifest.json", MODEL_FILE]
    for path in folder.iterdir():
        assert not path.read_bytes().startswith(b"\x80"), path
    with zipfile.ZipFile(folder / MODEL_FILE) as zf:
        for member in zf.namelist():
            data = zf.read(member)
            assert not data.startswith(b"\x80"), member
            assert not member.endswith((".pkl", ".pickle")), member
            if member.endswith(".npy"):
                import io

                np.load(io.BytesIO(data), allow_pickle=False)


def test_incomplete_bundle_is_refused(trained):
    """A version folder without the COMPLETE marker is neither listed nor loaded."""
    store, _ = trained
    (store / "demo" / "v1" / COMPLETE).unlink()
    with pytest.raises(BundleError, match="incomplete bundle"):
        load_bundle(store / "demo" / "v1", store)
    assert ModelRegistry(store).versions("demo") == []


def test_tampered_model_file_is_refused(trained):
    """Changing one byte of model.skops makes loading fail on the sha256 check."""
    store, _ = trained
    path = store / "demo" / "v1" / MODEL_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="does not match its recorded sha256"):
        ModelRegistry(store).load("demo")


def test_changed_vectors_are_refused(trained, tmp_path):
    """Re-importing different vectors under the same name makes the bundle refuse to load, saying why."""
    from vecclf.training.vectors.importers import import_vectors

    store, _ = trained
    words, vecs = make_vectors(seed=9)
    import_vectors(write_glove(tmp_path / "new.txt", words, vecs), store, "tiny", force=True)
    with pytest.raises(BundleError, match="trained on vectors 'tiny' with sha256 .*retrain or restore the vectors"):
        ModelRegistry(store).load("demo")


def test_missing_vectors_are_not_found(trained):
    """A bundle whose vector store was removed says the store is missing."""
    import shutil

    store, _ = trained
    shutil.rmtree(store / "vectors" / "tiny")
    with pytest.raises(NotFoundError, match="no vector store"):
        ModelRegistry(store).load("demo")


def test_untrusted_type_in_model_file_is_refused(trained, monkeypatch):
    """A model file that needs a type outside the trusted list is refused before anything is built."""
    store, _ = trained
    monkeypatch.setattr(bundle_mod, "TRUSTED_TYPES", [t for t in bundle_mod.TRUSTED_TYPES if "DenseScale" not in t])
    with pytest.raises(BundleError, match="untrusted types"):
        ModelRegistry(store).load("demo")


@pytest.mark.parametrize("fail_at", [MODEL_FILE, "manifest.json", COMPLETE])
def test_crash_mid_write_leaves_no_loadable_version(fail_at, tiny_vectors, sentiment_csv, monkeypatch):
    """An error while writing any file of a bundle leaves no version folder and no temp folder behind."""
    from vecclf.training.train import train

    store, _, _ = tiny_vectors
    if fail_at == MODEL_FILE:
        import skops.io

        def crash(*a, **k):
            raise OSError("disk full")

        monkeypatch.setattr(skops.io, "dump", crash)
    else:
        real = bundle_mod._write_synced

        def crash(path, text):
            if path.name == fail_at:
                raise OSError("disk full")
            real(path, text)

        monkeypatch.setattr(bundle_mod, "_write_synced", crash)
    with pytest.raises(Exception, match="disk full"):
        train(store=str(store), name="demo", data=str(sentiment_csv), vectors="tiny", features="mean")
    reg = ModelRegistry(store)
    assert reg.versions("demo") == [] and reg.current("demo") is None
    assert [p.name for p in (store / "demo").iterdir()] == []


def test_killed_writer_temp_folder_is_ignored(trained):
    """A temp folder left by a killed process is never listed, loaded, or mistaken for a version."""
    store, _ = trained
    (store / "demo" / ".v2.abc123").mkdir()
    reg = ModelRegistry(store)
    assert reg.versions("demo") == ["v1"]
    with pytest.raises(NotFoundError):
        reg.load("demo", ".v2.abc123")


def test_versions_are_immutable(trained):
    """Writing a bundle over an existing version fails instead of replacing it."""
    store, _ = trained
    model, manifest = ModelRegistry(store).load("demo")
    with pytest.raises(OSError):
        bundle_mod.write_bundle(store / "demo", "v1", model, manifest)
    assert ModelRegistry(store).versions("demo") == ["v1"]


def test_bundle_reads_the_store_it_is_loaded_from(tiny_vectors, sentiment_csv, tmp_path):
    """Every store-backed part of a model (embedders, first-word vectors) follows the store it is loaded from."""
    import shutil

    from vecclf.training.embed import StoreBacked
    from vecclf.training.train import train as train_model

    store, _, _ = tiny_vectors
    train_model(store=str(store), name="pos", data=str(sentiment_csv), vectors="tiny", features="hybrid-pos", C=3.0)
    texts = ["A great film.", "Awful and boring."]
    before = ModelRegistry(store).load("pos")[0].predict_proba(texts)
    moved = tmp_path / "moved"
    shutil.copytree(store, moved)
    shutil.rmtree(store)
    model, _ = ModelRegistry(moved).load("pos")
    parts = []
    stack = [model]
    while stack:
        obj = stack.pop()
        if isinstance(obj, StoreBacked):
            parts.append(obj)
        elif hasattr(obj, "__dict__"):
            stack.extend(v for v in vars(obj).values() if hasattr(v, "__dict__") or isinstance(v, list))
        elif isinstance(obj, list):
            stack.extend(v[1] if isinstance(v, tuple) else v for v in obj)
    assert {type(p).__name__ for p in parts} == {"DocumentEmbedder", "FirstWords"}
    assert all(str(moved) in p.store for p in parts)
    np.testing.assert_array_equal(model.predict_proba(texts), before)


def _as_written_before_0_2(model_file, prefix="training."):
    """Rewrite a bundle's skops schema with the class locations an older vecclf used (``prefix``: its package)."""
    import io

    old = {module: legacy for (legacy, _), module in bundle_mod.LEGACY_MODULES.items() if legacy.startswith(prefix)}
    with zipfile.ZipFile(model_file) as archive:
        members = {info.filename: (info, archive.read(info.filename)) for info in archive.infolist()}
    schema = members["schema.json"][1].decode()
    for module, legacy in old.items():
        schema = schema.replace(f'"{module}"', f'"{legacy}"')
    assert f'"{prefix}features"' in schema
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, (info, body) in members.items():
            archive.writestr(info, schema.encode() if name == "schema.json" else body)
    model_file.write_bytes(out.getvalue())


@pytest.mark.parametrize("prefix", ["training.", "vecclf.training."])
def test_bundles_written_before_the_rename_still_load(tiny_vectors, prefix):
    """A bundle naming training.* (0.1) or vecclf.training.features (early 0.2) classes loads, predicting the same."""
    store, _, _ = tiny_vectors
    texts, labels = make_corpus(80)
    model = TextModel(vectors="tiny", store=str(store), features="hybrid-pos").fit(texts, labels)
    reg = ModelRegistry(store)
    reg.save("old", model, {"vectors": {"name": "tiny", "sha256": model.embedder().vectors_sha256_}})
    bundle = store / "old" / "v1"
    _as_written_before_0_2(bundle / MODEL_FILE, prefix)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["model_sha256"] = bundle_mod.sha256_file(bundle / MODEL_FILE)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    loaded, _ = load_bundle(bundle, store)
    np.testing.assert_array_equal(loaded.predict_proba(TEXTS), model.predict_proba(TEXTS))


def test_legacy_names_other_than_vecclf_classes_are_not_trusted(tiny_vectors):
    """The migration moves only vecclf's own old class names: any other module stays untrusted."""
    import io

    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("schema.json", json.dumps({"__module__": "training.evil", "__class__": "TextModel",
                                                    "content": {"__module__": "os", "__class__": "system"}}))
    assert bundle_mod.migrate_legacy_types(data.getvalue()) == data.getvalue()
