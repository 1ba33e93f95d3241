"""fastText subword vectors: character n-gram hashing for out-of-vocabulary words.

Reimplements the hashing of Facebook's fastText (FNV-1a over UTF-8 bytes, each
byte sign-extended as a C ``char``) so a store can build vectors for unseen
words without importing gensim or fasttext at serving time. The tests check it
against gensim's own implementation.
"""

from __future__ import annotations

import numpy as np

_FNV_OFFSET = 2166136261
_FNV_PRIME = 16777619
_MASK32 = 0xFFFFFFFF


def ngram_bytes(word: str, minn: int, maxn: int) -> list[bytes]:
    """Return the character n-grams of ``<word>`` as UTF-8 byte strings."""
    data = f"<{word}>".encode("utf-8")
    size = len(data)
    grams = []
    for i in range(size):
        if data[i] & 0xC0 == 0x80:  # continuation byte: not the start of a character
            continue
        j, n = i, 1
        while j < size and n <= maxn:
            j += 1
            while j < size and data[j] & 0xC0 == 0x80:
                j += 1
            if n >= minn and not (n == 1 and (i == 0 or j == size)):
                grams.append(data[i:j])
            n += 1
    return grams


def fasttext_hash(data: bytes) -> int:
    """Return fastText's 32-bit FNV-1a hash of ``data``."""
    h = _FNV_OFFSET
    for b in data:
        h ^= (b - 256 if b > 127 else b) & _MASK32
        h = (h * _FNV_PRIME) & _MASK32
    return h


def ngram_rows(word: str, minn: int, maxn: int, bucket: int) -> list[int]:
    """Return the rows of the n-gram matrix that make up ``word``."""
    return [fasttext_hash(g) % bucket for g in ngram_bytes(word, minn, maxn)]


def oov_vector(ngrams: np.ndarray, word: str, minn: int, maxn: int) -> np.ndarray | None:
    """Return the mean n-gram vector of ``word``, or None if it has no n-grams."""
    rows = ngram_rows(word, minn, maxn, ngrams.shape[0])
    if not rows:
        return None
    return np.asarray(ngrams[rows], dtype=np.float32).mean(axis=0)
