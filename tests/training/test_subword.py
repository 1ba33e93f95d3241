"""fastText subword hashing checked against gensim's own implementation."""

import numpy as np
import pytest
from gensim.models.fasttext import compute_ngrams_bytes, ft_hash_bytes, ft_ngram_hashes

from vecclf.training.vectors.subword import fasttext_hash, ngram_bytes, ngram_rows, oov_vector

WORDS = ["cat", "a", "café", "naïve", "日本語", "😀ok", "x-ray", "Straße", "n't"]


@pytest.mark.parametrize("word", WORDS)
@pytest.mark.parametrize("minn, maxn", [(3, 6), (1, 3), (2, 2)])
def test_ngrams_equal_gensim(word, minn, maxn):
    """Character n-grams of <word> are the byte strings gensim computes, in the same order."""
    assert ngram_bytes(word, minn, maxn) == compute_ngrams_bytes(word, minn, maxn)


@pytest.mark.parametrize("data", [b"", b"a", b"<cat>", "café".encode(), "日本".encode(), bytes(range(256))])
def test_hash_equals_gensim(data):
    """The FNV-1a hash (bytes sign-extended like C char) equals gensim's ft_hash_bytes."""
    assert fasttext_hash(data) == ft_hash_bytes(data)


@pytest.mark.parametrize("word", WORDS)
def test_rows_equal_gensim_hashes(word):
    """The bucket rows of a word equal gensim's ft_ngram_hashes."""
    assert ngram_rows(word, 3, 6, 2000) == list(ft_ngram_hashes(word, 3, 6, 2000))


def test_oov_vector_is_mean_of_ngram_rows():
    """An OOV vector is the mean of its n-gram rows; a word without n-grams gets None."""
    ngrams = np.arange(40, dtype=np.float32).reshape(10, 4)
    rows = ngram_rows("word", 3, 4, 10)
    np.testing.assert_allclose(oov_vector(ngrams, "word", 3, 4), ngrams[rows].mean(axis=0))
    assert oov_vector(ngrams, "a", 5, 6) is None


def test_words_without_ngrams_look_up_as_zeros_like_gensim(tmp_path, store_dir):
    """A fastText store gives a word too short for its n-grams the zero vector, as gensim does."""
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    from vecclf.training.vectors.importers import import_vectors
    from vecclf.training.vectors.store import VectorStore

    sents = [["hello", "world", "testing", "words"]] * 5
    model = FastText(vector_size=4, min_count=1, min_n=5, max_n=6, bucket=100, workers=1, seed=1, epochs=1)
    model.build_vocab(sents)
    model.train(sents, total_examples=5, epochs=1)
    save_facebook_model(model, str(tmp_path / "m.bin"))
    import_vectors(tmp_path / "m.bin", store_dir, "ft")
    store = VectorStore(store_dir / "vectors" / "ft")
    for word in ("ab", "hellooo", "worlds"):
        np.testing.assert_allclose(store.lookup(word), model.wv[word], rtol=0, atol=1e-6, err_msg=word)
    assert not store.lookup("ab").any()
