"""DocumentEmbedder: pooling against numpy references, OOV/empty policies, sklearn contract."""

import copy

import numpy as np
import pytest
from sklearn.base import clone

from vecclf.training.embed import DocumentEmbedder
from vecclf.training.errors import DataError
from vecclf.training.tokens import Tokenizer

DOCS = [
    "Good film, great story!",
    "The plot was awful and boring.",
    "w1 w2 w3 w4 unknownword",
    "good good good bad",
]


def _embedder(store, **kw):
    return DocumentEmbedder(vectors="tiny", store=str(store), **kw)


def _reference_mean(words, vecs, texts):
    index = {w: i for i, w in enumerate(words)}
    tok = Tokenizer(lowercase=True)
    out = []
    for text in texts:
        rows = [index[t] for t in tok(text) if t in index]
        out.append(vecs[rows].mean(axis=0) if rows else np.zeros(vecs.shape[1]))
    return np.asarray(out)


def test_mean_equals_numpy_reference(tiny_vectors):
    """Mean pooling equals a plain per-document numpy mean of the known words' vectors."""
    store, words, vecs = tiny_vectors
    got = _embedder(store).fit_transform(DOCS)
    assert got.dtype == np.float32 and got.shape == (len(DOCS), vecs.shape[1])
    np.testing.assert_allclose(got, _reference_mean(words, vecs, DOCS), atol=1e-5)


def test_meanmax_is_mean_then_elementwise_max(tiny_vectors):
    """meanmax concatenates the mean and the per-dimension max of the known words."""
    store, words, vecs = tiny_vectors
    got = _embedder(store, pooling="meanmax").fit_transform(DOCS)
    dim = vecs.shape[1]
    assert got.shape == (len(DOCS), 2 * dim)
    np.testing.assert_allclose(got[:, :dim], _reference_mean(words, vecs, DOCS), atol=1e-5)
    rows = [words.index(w) for w in ("the", "plot", "was", "awful", "and", "boring", ".")]
    np.testing.assert_allclose(got[1, dim:], vecs[rows].max(axis=0), atol=1e-6)


def test_tfidf_weights_rare_words_up(tiny_vectors):
    """tfidf pooling is a weighted mean: one-word documents give that word's vector, rarer words weigh more."""
    store, words, vecs = tiny_vectors
    emb = _embedder(store, pooling="tfidf").fit(["good bad", "good awful", "good dull"])
    one = emb.transform(["bad"])[0]
    np.testing.assert_allclose(one, vecs[words.index("bad")], atol=1e-5)
    mixed = emb.transform(["good bad"])[0]
    good, bad = vecs[words.index("good")], vecs[words.index("bad")]
    # "bad" is in one training document, "good" in all three: the mix leans towards "bad".
    assert np.linalg.norm(mixed - bad) < np.linalg.norm(mixed - good)


def test_sif_removes_the_common_component(tiny_vectors):
    """sif output has the documented shape and no projection on the removed component."""
    store, _, vecs = tiny_vectors
    emb = _embedder(store, pooling="sif").fit(DOCS)
    out = emb.transform(DOCS)
    assert out.shape == (len(DOCS), vecs.shape[1]) and np.isfinite(out).all()
    assert emb.component_.shape == (vecs.shape[1],)
    np.testing.assert_allclose(out @ emb.component_, 0, atol=1e-4)


@pytest.mark.parametrize("pooling", ["mean", "sif", "tfidf", "meanmax"])
def test_empty_document_zeros(pooling, tiny_vectors):
    """With empty='zeros' a document without known words embeds as the zero vector."""
    store, _, _ = tiny_vectors
    out = _embedder(store, pooling=pooling).fit(DOCS).transform(["qqq zzz", ""])
    assert not out.any()


def test_empty_document_error_names_the_text(tiny_vectors):
    """With empty='error' a document without known words raises DataError naming it."""
    store, _, _ = tiny_vectors
    emb = _embedder(store, empty="error").fit(DOCS[:2])
    with pytest.raises(DataError, match=r"text 1 has no word with a vector \('qqq zzz'\)"):
        emb.transform(["good", "qqq zzz"])


def test_oov_words_are_ignored_in_the_mean(tiny_vectors):
    """Unknown words do not dilute the mean of the known ones."""
    store, _, _ = tiny_vectors
    emb = _embedder(store).fit(DOCS)
    np.testing.assert_allclose(emb.transform(["good unknownword"]), emb.transform(["good"]), atol=1e-6)


def test_subword_policy_builds_oov_vectors(vector_files, store_dir):
    """On a fastText store, oov='subword' uses n-gram vectors for unknown words; oov='ignore' drops them."""
    from tests.conftest import gensim_reading
    from vecclf.training.vectors.importers import import_vectors

    import_vectors(vector_files["fasttext-bin"], store_dir, "ft")
    ref = gensim_reading("fasttext-bin", vector_files["fasttext-bin"])
    sub = DocumentEmbedder(vectors="ft", store=str(store_dir), oov="subword").fit(["cat"])
    ign = DocumentEmbedder(vectors="ft", store=str(store_dir), oov="ignore").fit(["cat"])
    np.testing.assert_allclose(sub.transform(["catsat"])[0], ref["catsat"], atol=1e-5)
    np.testing.assert_allclose(sub.transform(["cat catsat"])[0], (ref["cat"] + ref["catsat"]) / 2, atol=1e-5)
    assert not ign.transform(["catsat"]).any()


BAD_PARAMS = [
    ({"pooling": "median"}, "pooling='median'"),
    ({"oov": "guess"}, "oov='guess'"),
    ({"empty": "skip"}, "empty='skip'"),
]


@pytest.mark.parametrize("params, message", BAD_PARAMS)
def test_bad_parameters_fail_at_fit(params, message, tiny_vectors):
    """Invalid policies are accepted by __init__ (sklearn convention) and refused by fit."""
    store, _, _ = tiny_vectors
    emb = _embedder(store, **params)
    with pytest.raises(ValueError, match=message):
        emb.fit(DOCS)


def test_single_string_is_refused(tiny_vectors):
    """A bare string (not a list of texts) is refused rather than embedded letter by letter."""
    store, _, _ = tiny_vectors
    with pytest.raises(DataError, match="single string"):
        _embedder(store).fit("good film")


def test_get_params_and_clone_do_not_copy_the_store(tiny_vectors):
    """get_params lists the constructor arguments; clone and deepcopy never carry the opened store."""
    store, _, _ = tiny_vectors
    emb = _embedder(store, pooling="meanmax").fit(DOCS)
    assert emb.get_params() == {"vectors": "tiny", "store": str(store), "pooling": "meanmax", "oov": "subword",
                                "empty": "zeros", "normalize": False}
    assert emb._store is not None
    twin = clone(emb)
    assert twin.get_params() == emb.get_params()
    assert not hasattr(twin, "_store") and not hasattr(twin, "dim_")
    deep = copy.deepcopy(emb)
    assert not hasattr(deep, "_store")
    np.testing.assert_array_equal(deep.transform(DOCS), emb.transform(DOCS))


def test_transform_before_fit_is_refused(tiny_vectors):
    """transform on an unfitted embedder raises sklearn's NotFittedError."""
    from sklearn.exceptions import NotFittedError

    store, _, _ = tiny_vectors
    with pytest.raises(NotFittedError):
        _embedder(store).transform(DOCS)


def test_normalize_gives_unit_rows(tiny_vectors):
    """normalize=True scales every non-empty document vector to unit length."""
    store, _, _ = tiny_vectors
    out = _embedder(store, normalize=True).fit(DOCS).transform(DOCS + ["qqq"])
    np.testing.assert_allclose(np.linalg.norm(out[:-1], axis=1), 1, atol=1e-5)
    assert not out[-1].any()


def test_an_empty_text_past_the_first_slice_is_named_by_its_position(tiny_vectors, monkeypatch):
    """Large sets are pooled in slices; the error names the text's index in the whole set, not in its slice."""
    import vecclf.training.embed as embed_module

    monkeypatch.setattr(embed_module, "POOL_TEXTS", 2)
    store, _, _ = tiny_vectors
    emb = _embedder(store, empty="error").fit(DOCS[:2])
    with pytest.raises(DataError, match=r"text 4 has no word with a vector \('qqq zzz'\)"):
        emb.transform(["good", "good", "good", "good", "qqq zzz"])
