"""Opening a vector store: memory-mapped lookups, neighbours, listing, integrity checks."""

import json

import numpy as np
import pytest

from vecclf.training.errors import BundleError, NotFoundError
from vecclf.training.vectors.store import VectorStore, check_name, list_stores, open_store, store_path


def test_lookup_returns_float32_rows_and_none_for_unknown(tiny_vectors):
    """Known words give their row as float32; unknown words give None."""
    store, words, vecs = tiny_vectors
    vs = open_store(store, "tiny")
    np.testing.assert_allclose(vs.lookup("good"), vecs[words.index("good")], atol=1e-6)
    assert vs.lookup("good").dtype == np.float32
    assert vs.lookup("nope") is None
    assert "good" in vs and len(vs) == len(words)


def test_similar_ranks_by_cosine(tiny_vectors):
    """Neighbours come sorted by cosine, exclude the word itself, and match a numpy reference."""
    store, words, vecs = tiny_vectors
    vs = open_store(store, "tiny")
    result = vs.similar("good", top=5)
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    cos = unit @ unit[words.index("good")]
    cos[words.index("good")] = -np.inf
    expected = [words[i] for i in np.argsort(-cos)[:5]]
    assert [w for w, _ in result] == expected
    assert [s for _, s in result] == sorted((s for _, s in result), reverse=True)
    assert vs.similar("nope") is None


def test_list_stores_ignores_temp_folders(tiny_vectors):
    """Listing shows complete stores only, never hidden temp folders."""
    store, _, _ = tiny_vectors
    (store / "vectors" / ".half.abc").mkdir()
    assert [m["name"] for m in list_stores(store)] == ["tiny"]


def test_open_store_is_cached_until_replaced(tiny_vectors, tmp_path):
    """The same store opens once per process; a re-import is picked up."""
    from tests.conftest import make_vectors, write_glove
    from vecclf.training.vectors.importers import import_vectors

    store, _, _ = tiny_vectors
    first = open_store(store, "tiny")
    assert open_store(store, "tiny") is first
    words, vecs = make_vectors(seed=5)
    import_vectors(write_glove(tmp_path / "other.txt", words, vecs), store, "tiny", force=True)
    assert open_store(store, "tiny").sha256 != first.sha256


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".hidden", "", "x" * 101, "a b"])
def test_invalid_names_are_refused(name, store_dir):
    """Names that are not one safe path component are refused."""
    with pytest.raises(NotFoundError, match="invalid"):
        check_name(name)
    with pytest.raises(NotFoundError):
        store_path(store_dir, name)


def _drop_vectors(folder):
    (folder / "vectors.npy").unlink()


def _reshape_manifest(folder):
    m = json.loads((folder / "manifest.json").read_text())
    m["size"] += 1
    (folder / "manifest.json").write_text(json.dumps(m))


def _garble_manifest(folder):
    (folder / "manifest.json").write_text("{not json")


DAMAGE = [
    (_drop_vectors, "vectors.npy is missing"),
    (_reshape_manifest, "manifest says"),
    (_garble_manifest, "unreadable vector manifest"),
]


@pytest.mark.parametrize("damage, message", DAMAGE, ids=[d.__name__ for d, _ in DAMAGE])
def test_damaged_store_is_refused(damage, message, tiny_vectors):
    """A store whose files disagree with the manifest raises BundleError naming the problem."""
    store, _, _ = tiny_vectors
    folder = store / "vectors" / "tiny"
    damage(folder)
    with pytest.raises(BundleError, match=message):
        VectorStore(folder)


def test_missing_store_is_not_found(store_dir):
    """Opening a name that was never imported says how to get one."""
    with pytest.raises(NotFoundError, match="vecclf vectors import"):
        open_store(store_dir, "absent")


def _set_hyphens(store, name, rule):
    path = store / "vectors" / name / "manifest.json"
    manifest = json.loads(path.read_text())
    if rule is None:
        manifest.pop("hyphens", None)
    else:
        manifest["hyphens"] = rule
    path.write_text(json.dumps(manifest))


def test_new_stores_keep_known_compounds_and_old_ones_split(tiny_vectors):
    """Stores record their hyphen rule: new imports keep 'well-acted' whole; a manifest without the key splits."""
    store, _, _ = tiny_vectors
    vs = open_store(store, "tiny")
    assert vs.hyphens == "known" and vs.tokenizer("a well-acted film") == ["a", "well-acted", "film"]
    _set_hyphens(store, "tiny", None)
    old = open_store(store, "tiny")
    assert old.hyphens == "split" and old.tokenizer("a well-acted film") == ["a", "well", "-", "acted", "film"]
    _set_hyphens(store, "tiny", "sometimes")
    with pytest.raises(BundleError, match="hyphen rule"):
        open_store(store, "tiny")


@pytest.mark.parametrize("features", ["mean", "hybrid-pos"])
def test_a_model_keeps_the_rule_it_was_trained_with(tiny_vectors, features):
    """A model fitted on a splitting store still splits after the store's manifest says 'known' (and vice versa)."""
    from tests.conftest import make_corpus
    from vecclf.training.bundle import point_at_store
    from vecclf.training.inference import Predictor
    from vecclf.training.model import TextModel

    store, _, _ = tiny_vectors
    texts, labels = make_corpus(80)
    probe = ["a well-acted film", "one-note -- dull", "well-acted"]
    fitted = {}
    for before, after in (("split", "known"), ("known", "split")):
        _set_hyphens(store, "tiny", before)
        model = TextModel(vectors="tiny", store=str(store), features=features).fit(texts, labels)
        fitted[before] = expected = model.predict_proba(probe)
        _set_hyphens(store, "tiny", after)
        point_at_store(model, store, store / "vectors" / "tiny")  # reopened: the store now says `after`
        np.testing.assert_allclose(model.predict_proba(probe), expected, rtol=0, atol=1e-6)
        predictor = Predictor(model)
        assert predictor.compiled
        np.testing.assert_allclose(predictor.predict_proba(probe), expected, rtol=0, atol=1e-5)
    assert not np.allclose(fitted["split"], fitted["known"])  # the rules do tokenize these texts differently
