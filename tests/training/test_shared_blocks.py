"""SharedBlocks: a block fitted on a fold from the texts' shared label-free work equals one fitted on the texts."""

import numpy as np
import pytest
import scipy.sparse as sp

from tests.conftest import make_corpus
from vecclf.training.features import CharNgrams, FirstWords, NBNgrams, build_features, dense_block
from vecclf.training.features.dense import DenseScale
from vecclf.training.features.shared import SharedBlocks
from vecclf.training.model import TextModel
from vecclf.training.selection import choose_config, folds_for
from sklearn.pipeline import Pipeline


@pytest.fixture
def corpus():
    texts, labels = make_corpus(80)
    # Non-ASCII text, an empty text and a repeated word: every path of the tokenizer and the n-gram counts.
    texts[3] = "Café naïve — very very good!"
    texts[5] = ""
    return texts, labels


def _rows(texts, labels):
    tr, te = folds_for(labels, False, 0, 3)[0]
    return tr, te


def _same_sparse(a, b):
    a, b = sp.csr_matrix(a), sp.csr_matrix(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)


def _targets(labels):
    multi = [("pos", "x") if i % 3 == 0 else (lab,) for i, lab in enumerate(labels)]
    from sklearn.preprocessing import MultiLabelBinarizer

    three = [lab if i % 3 else "third" for i, lab in enumerate(labels)]
    return {"binary": np.asarray(labels, dtype=object), "three classes": np.asarray(three, dtype=object),
            "multi-label": MultiLabelBinarizer().fit_transform(multi)}


@pytest.mark.parametrize("kind", ["binary", "three classes", "multi-label"])
@pytest.mark.parametrize("params", [{}, {"bos": True}, {"max_ngram": 1}, {"min_df": 2}, {"lowercase": False}])
def test_word_ngrams_from_shared_occurrences_equal_a_fit_on_the_fold(corpus, kind, params):
    """Vocabulary, NB ratios and both matrices are those of fit + transform, to the bit."""
    texts, labels = corpus
    y = _targets(labels)[kind]
    tr, te = _rows(texts, labels)
    plain = NBNgrams(**params)
    want_tr = plain.fit_transform([texts[i] for i in tr], y[tr])
    want_te = plain.transform([texts[i] for i in te])
    block = NBNgrams(**params)
    got_tr, got_te = SharedBlocks(texts).fold(block, tr, te, y[tr])
    assert block.terms_ == plain.terms_
    np.testing.assert_array_equal(block.ratios_, plain.ratios_)
    _same_sparse(got_tr, want_tr)
    _same_sparse(got_te, want_te)
    _same_sparse(block.transform([texts[i] for i in te]), want_te)  # the fitted block transforms as usual


@pytest.mark.parametrize("params", [{}, {"ngram_range": (1, 3)}, {"min_df": 1}, {"min_df": 0.05},
                                    {"max_features": 40}, {"max_chars": 12}, {"lowercase": False}])
def test_character_ngrams_from_shared_occurrences_equal_a_fit_on_the_fold(corpus, params):
    """Grams, idf and both matrices are those of fit + transform, to the bit (max_features ties included)."""
    texts, labels = make_corpus(120)  # 80 training rows: the min_df floor applies (it does not below 50)
    texts[7] = "Café naïve — very very good!"
    tr, te = _rows(texts, labels)
    plain = CharNgrams(**params)
    want_tr = plain.fit_transform([texts[i] for i in tr])
    want_te = plain.transform([texts[i] for i in te])
    block = CharNgrams(**params)
    got_tr, got_te = SharedBlocks(texts).fold(block, tr, te, None)
    assert block.terms_ == plain.terms_
    np.testing.assert_array_equal(block.idf_, plain.idf_)
    _same_sparse(got_tr, want_tr)
    _same_sparse(got_te, want_te)


def test_word_ngrams_over_max_features_fall_back_to_fitting_the_texts(corpus):
    """Where only fit knows which of equally frequent terms to keep, the block is fitted on the fold's texts."""
    texts, labels = corpus
    tr, te = _rows(texts, labels)
    y = np.asarray(labels, dtype=object)
    occurrences = NBNgrams(max_features=10).occurrences(texts)
    assert NBNgrams(max_features=10).fit_occurrences(occurrences, tr, y[tr]) is None
    plain = NBNgrams(max_features=10).fit([texts[i] for i in tr], y[tr])
    block = NBNgrams(max_features=10)
    got_tr, _ = SharedBlocks(texts).fold(block, tr, te, y[tr])
    assert block.terms_ == plain.terms_ and len(plain.ratios_) == 10
    _same_sparse(got_tr, plain.transform([texts[i] for i in tr]))


@pytest.mark.parametrize("make", [
    lambda store: dense_block("tiny", store, ("mean",)),
    lambda store: dense_block("tiny", store, ("mean", "sif")),  # sif learns from the texts: fitted on the fold
    lambda store: Pipeline([("embed", FirstWords(vectors="tiny", store=store, k=3)),
                            ("scale", DenseScale(per_feature=True))]),
])
def test_dense_blocks_from_shared_rows_equal_a_fit_on_the_fold(tiny_vectors, corpus, make):
    """The scaling is learned on the fold's rows; the rows equal fit + transform's (to float32 rounding:
    pooling sums a small batch directly and a large one by a sparse product)."""
    store, _, _ = tiny_vectors
    texts, labels = corpus
    tr, te = _rows(texts, labels)
    plain = make(str(store))
    want_tr = plain.fit_transform([texts[i] for i in tr])
    want_te = plain.transform([texts[i] for i in te])
    block = make(str(store))
    got_tr, got_te = SharedBlocks(texts).fold(block, tr, te, None)
    np.testing.assert_array_equal(block.steps[-1][1].mean_, plain.steps[-1][1].mean_)
    np.testing.assert_allclose(got_tr, want_tr, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_te, want_te, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(block.transform([texts[i] for i in te]), want_te, rtol=1e-5, atol=1e-6)


def test_blocks_sharing_work_do_it_once(tiny_vectors, corpus, monkeypatch):
    """hybrid and hybrid-pos share the word n-grams (markers or not), character n-grams and pooled vectors."""
    store, _, _ = tiny_vectors
    texts, labels = corpus
    calls = []
    real = NBNgrams.occurrences

    def counted(self, texts):
        calls.append(self.bos)
        return real(self, texts)

    monkeypatch.setattr(NBNgrams, "occurrences", counted)
    shared = SharedBlocks(texts)
    tr, te = _rows(texts, labels)
    y = np.asarray(labels, dtype=object)
    for name in ("hybrid", "hybrid-pos"):
        for _, block in build_features(name, "tiny", str(store)).transformer_list:
            shared.fold(block, tr, te, y[tr])
    assert calls == [False]


def test_final_fit_through_the_search_work_is_the_same_model(tiny_vectors, corpus, monkeypatch):
    """TextModel.fit with the search's SharedBlocks gives the model a plain fit gives, reusing the search's work."""
    store, _, _ = tiny_vectors
    texts, labels = corpus
    built = []
    real = CharNgrams.occurrences
    monkeypatch.setattr(CharNgrams, "occurrences", lambda self, t: built.append(1) or real(self, t))
    shared = SharedBlocks(texts)
    config, _ = choose_config(texts, labels, vectors="tiny", store=str(store), shared=shared)
    config = {**config, "features": "hybrid-pos"}
    with_shared = TextModel(**config).fit(texts, labels, shared=shared)
    assert len(built) == 1  # the search's n-grams, not the final fit's own
    plain = TextModel(**config).fit(texts, labels)
    probe = texts[:20] + ["an unseen text about zorblax"]
    np.testing.assert_array_equal(with_shared.predict_proba(probe), plain.predict_proba(probe))


def test_search_with_shared_work_reports_as_without(tiny_vectors, corpus):
    """The caller's SharedBlocks changes no score and no choice."""
    store, _, _ = tiny_vectors
    texts, labels = corpus
    strip = lambda report: [{k: v for k, v in s.items() if k != "seconds"} for s in report["candidates"]]  # noqa: E731
    one = choose_config(texts, labels, vectors="tiny", store=str(store))
    two = choose_config(texts, labels, vectors="tiny", store=str(store), shared=SharedBlocks(list(texts)))
    assert one[0] == two[0] and strip(one[1]) == strip(two[1])
