"""Feature blocks: NB-weighted word n-grams, character n-grams, first words, scaling."""

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from vecclf.training.features import (
    BOS,
    CharNgrams,
    DenseScale,
    FirstWords,
    NBNgrams,
    build_features,
    pack_terms,
    unpack_terms,
)

TEXTS = ["good movie", "great good film", "bad movie", "awful bad plot", "good plot", "bad film"]
LABELS = ["pos", "pos", "neg", "neg", "pos", "neg"]


def test_nb_ratios_point_towards_the_second_class():
    """Binary NB ratios are positive for words of the second (sorted) class and negative for the first."""
    nb = NBNgrams().fit(TEXTS, LABELS)
    vocab = unpack_terms(nb.terms_)
    assert nb.ratios_[vocab["good"]] > 0 > nb.ratios_[vocab["bad"]]
    assert abs(nb.ratios_[vocab["movie"]]) < abs(nb.ratios_[vocab["good"]])


def test_nb_rows_are_unit_norm_and_unseen_grams_ignored():
    """Each transformed row has L2 norm 1 (or 0 when nothing is known)."""
    X = NBNgrams().fit(TEXTS, LABELS).transform(["good bad", "zzz qqq", "good movie"]).toarray()
    norms = np.linalg.norm(X, axis=1)
    np.testing.assert_allclose(norms, [1.0, 0.0, 1.0], atol=1e-6)


def test_nb_multiclass_uses_largest_absolute_ratio():
    """With three classes a word's weight is its strongest one-vs-rest ratio, never negative."""
    labels = ["a", "a", "b", "b", "c", "c"]
    nb = NBNgrams().fit(TEXTS, labels)
    assert (nb.ratios_ >= 0).all()
    assert nb.transform(TEXTS).shape == (6, len(unpack_terms(nb.terms_)))


def test_nb_accepts_a_label_indicator_matrix():
    """Multi-label targets (a 0/1 matrix) are weighted per label like multi-class ones."""
    Y = np.array([[1, 0], [1, 1], [0, 1], [0, 1], [1, 0], [0, 1]])
    nb = NBNgrams().fit(TEXTS, Y)
    assert (nb.ratios_ >= 0).all()


def test_sentence_markers_make_start_and_end_bigrams():
    """With bos, the first and last words form bigrams with the sentence markers."""
    nb = NBNgrams(bos=True).fit(["what is it", "who is he"], ["q1", "q2"])
    vocab = unpack_terms(nb.terms_)
    assert f"{BOS} what" in vocab and "it </s>" in vocab


def test_char_ngrams_equal_sklearn_tfidf():
    """The compact character block gives exactly sklearn's TfidfVectorizer(char_wb) matrix."""
    texts = [f"{t} number {i} café" for i, t in enumerate(TEXTS * 10)]
    ours = CharNgrams().fit(texts).transform(texts[:7] + ["unseen wörds"])
    ref = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, max_features=400_000,
                          dtype=np.float32).fit(texts)
    np.testing.assert_allclose(ours.toarray(), ref.transform(texts[:7] + ["unseen wörds"]).toarray(), atol=1e-6)


def test_char_ngrams_keep_rare_grams_on_tiny_data():
    """Fewer than 50 texts: no rare-gram floor, so a tiny training set still has a vocabulary."""
    block = CharNgrams().fit(["ab", "cd"])
    assert len(unpack_terms(block.terms_)) > 0


@pytest.mark.parametrize("terms", [[], ["a"], ["a b", "<s> c", "é ü", " x "]])
def test_pack_terms_round_trip(terms):
    """Packing a vocabulary to one string and back gives the same mapping."""
    vocab = {t: i for i, t in enumerate(terms)}
    assert unpack_terms(pack_terms(vocab)) == vocab


def test_first_words_are_the_first_k_vectors(tiny_vectors):
    """FirstWords concatenates the vectors of the first k tokens, zeros for missing or unknown ones."""
    store, words, vecs = tiny_vectors
    fw = FirstWords(vectors="tiny", store=str(store), k=3).fit(["x"])
    out = fw.transform(["Good movie", "zzz good"])
    d = vecs.shape[1]
    np.testing.assert_allclose(out[0, :d], vecs[words.index("good")], atol=1e-6)
    np.testing.assert_allclose(out[0, d : 2 * d], vecs[words.index("movie")], atol=1e-6)
    assert not out[0, 2 * d :].any() and not out[1, :d].any()


def test_dense_scale_per_feature_gives_unit_average_row_norm():
    """per_feature scaling makes a standardised block's mean squared row norm 1 whatever its width."""
    X = np.random.default_rng(0).normal(3, 5, size=(400, 64))
    Z = DenseScale(per_feature=True).fit_transform(X)
    assert np.mean(np.sum(Z.astype(np.float64) ** 2, axis=1)) == pytest.approx(1.0, rel=1e-3)


@pytest.mark.parametrize("name", ["mean", "sif", "meanmax", "dense", "hybrid", "hybrid-pos"])
def test_every_feature_set_fits_and_transforms(tiny_vectors, name):
    """Each named feature set fits on labelled texts and gives one row per text."""
    store, _, _ = tiny_vectors
    feats = build_features(name, "tiny", str(store))
    X = feats.fit_transform(TEXTS, np.asarray(LABELS, dtype=object))
    assert X.shape[0] == len(TEXTS)


def test_unknown_feature_set_is_refused():
    """A misspelt feature set name raises with the list of choices."""
    with pytest.raises(ValueError, match="hybrid-pos"):
        build_features("hybird", "tiny", None)


def test_word_codes_agree_below_and_above_the_arrow_threshold(monkeypatch):
    """Character n-gram entries are the same whether words get codes from a dict or from pyarrow's hash kernel."""
    from vecclf.training.features import chars

    texts = [f"{t} number {i} café" for i, t in enumerate(TEXTS * 10)]
    block = CharNgrams().fit(texts)
    by_dict = block.transform(texts).toarray()
    monkeypatch.setattr(chars, "_ARROW_WORDS", 0)
    by_arrow = CharNgrams().fit(texts).transform(texts).toarray()
    np.testing.assert_array_equal(by_dict, by_arrow)
