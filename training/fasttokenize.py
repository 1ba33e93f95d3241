"""Tokenize a large batch of ASCII texts with numpy, exactly as :mod:`vecclf.training.tokens` does.

``re.findall`` costs about a microsecond per token; 200k sentences are 4M+
tokens. For ASCII text the token pattern ``\\w+(?=n't\\b)|n't\\b|'\\w+|\\w+|[^\\w\\s]``
reduces to rules about single bytes and their neighbours, so the whole batch
is tokenized with a handful of vectorized passes over one byte buffer:

- every byte is a word byte (``[A-Za-z0-9_]``), whitespace (Python's ``\\s``:
  ``\\t\\n\\v\\f\\r``, space and ``\\x1c-\\x1f``), an apostrophe, or other;
- tokens cover every non-whitespace byte exactly once, so a tokenization is
  just the set of bytes where a token *starts*:

  * every "other" byte (a punctuation token of its own);
  * every apostrophe, except the one inside a split ``n't``: an apostrophe
    followed by a word byte takes the following word run with it (``'s``);
  * the first byte of every word run not directly after an apostrophe;
  * the ``n`` of a split ``n't``: a word run not after an apostrophe, ending
    in ``n``, followed by ``'t`` and then a non-word byte (``do|n't``).

Non-ASCII texts go through the regular tokenizer: NFKC normalisation and
Unicode word classes are not byte rules. The tests compare both paths on
the shared corpora and on random strings over the characters that matter.
"""

from __future__ import annotations

import re

import numpy as np

_WORD, _SPACE, _APOS, _OTHER = 1, 0, 2, 3

_CLASS = np.full(256, _OTHER, dtype=np.uint8)
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_":
    _CLASS[_c] = _WORD
for _c in b"\t\n\x0b\x0c\r \x1c\x1d\x1e\x1f":
    _CLASS[_c] = _SPACE
_CLASS[ord("'")] = _APOS

_KEEP_CASE = np.arange(256, dtype=np.uint8)
_KEEP_CASE[ord("`")] = ord("'")
_LOWER = _KEEP_CASE.copy()
_LOWER[ord("A") : ord("Z") + 1] += 32


# What a byte is, given the class of the byte before it (index prev * 4 + this):
# 0 inside a token, 1 starts a token, 2 whitespace.
_PAIR = np.zeros(16, dtype=np.uint8)
for _prev in range(4):
    _PAIR[_prev * 4 + _SPACE] = 2
    _PAIR[_prev * 4 + _OTHER] = 1
    _PAIR[_prev * 4 + _APOS] = 1
    _PAIR[_prev * 4 + _WORD] = 0 if _prev in (_WORD, _APOS) else 1
_NT = re.compile(rb"n't")


class AsciiTokens:
    """Tokens of a batch laid end to end: token ``i`` is ``data[offsets[i] : offsets[i + 1]]``.

    ``counts[j]`` is the number of tokens of text ``j``; the tokens are in text order.
    """

    __slots__ = ("data", "offsets", "counts")

    def __init__(self, data, offsets, counts):
        self.data = data
        self.offsets = offsets
        self.counts = counts

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def tokens(self) -> list[list[str]]:
        """Return the tokens as lists of str, one list per text (for tests and small batches)."""
        raw = self.data.tobytes()
        bounds = self.offsets.tolist()
        flat = [raw[a:b].decode("ascii") for a, b in zip(bounds[:-1], bounds[1:])]
        out, pos = [], 0
        for c in self.counts.tolist():
            out.append(flat[pos : pos + c])
            pos += c
        return out


def tokenize_ascii(texts: list[str], lowercase: bool) -> AsciiTokens:
    """Tokenize ASCII ``texts`` (the caller checks ``str.isascii``)."""
    # Whitespace between texts and at the end, so no token spans two texts.
    joined = ("\n".join(texts) + "\n").encode("ascii")
    data = (_LOWER if lowercase else _KEEP_CASE)[np.frombuffer(joined, dtype=np.uint8)]
    n = len(data)
    cls = _CLASS[data]
    pair = np.empty(n, dtype=np.uint8)
    pair[0] = cls[0]
    np.left_shift(cls[:-1], 2, out=pair[1:])
    pair[1:] |= cls[1:]
    code = _PAIR[pair]
    del pair
    _split_nt(data, cls, code)
    space = code == 2
    bounds = np.flatnonzero(code)  # every token start and every whitespace byte
    is_start = ~space[bounds]
    pos = np.flatnonzero(is_start)
    # A token runs to the next boundary; the final newline guarantees there is one.
    lengths = bounds[pos + 1] - bounds[pos]
    offsets = np.zeros(len(pos) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    edges = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1, out=edges[1:])
    counts = np.diff(np.searchsorted(bounds[pos], edges))
    return AsciiTokens(data[~space], offsets, counts)


def _split_nt(data: np.ndarray, cls: np.ndarray, code: np.ndarray) -> None:
    """Mark the split ``n't`` contractions in ``code`` (in place)."""
    raw = data.tobytes()
    hits = np.fromiter((m.start() for m in _NT.finditer(raw)), dtype=np.int64)
    if len(hits) == 0:
        return
    n = len(data)
    # "n't" then a non-word byte; the final newline means hits + 3 < n.
    hits = hits[cls[np.minimum(hits + 3, n - 1)] != _WORD]
    # The word run ending in this 'n' must not follow an apostrophe (then "'" + run is one token).
    for p in hits.tolist():
        j = p
        while j > 0 and cls[j - 1] == _WORD:
            j -= 1
        if j > 0 and cls[j - 1] == _APOS:
            continue
        code[p] = 1  # "n't" starts at the 'n' (already so for a one-letter run)
        code[p + 1] = 0  # its apostrophe starts nothing
