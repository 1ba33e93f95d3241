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
