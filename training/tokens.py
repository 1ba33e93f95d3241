"""Split text into the tokens a vector set was trained on.

The tokenizer follows the Penn-Treebank conventions that GloVe and word2vec
vocabularies use: words, clitics split off (``don't`` -> ``do n't``,
``she's`` -> ``she 's``) and every punctuation mark a token of its own.

Casing follows the vector set: uncased sets (GloVe) are lowercased, cased sets
(GoogleNews word2vec) keep case. The choice is recorded in the store manifest
(``"lowercase"``), so training and serving always tokenize alike.

Text is normalised to Unicode NFKC first (full-width forms, ligatures,
compatibility characters), curly apostrophes become ``'``, and ``\\w`` is the
Unicode word class, so accented and non-Latin words stay whole::

    >>> Tokenizer(lowercase=True)("Don't PANIC — café!")
    ['do', "n't", 'panic', '—', 'café', '!']
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Order matters: "n't" is split off before the plain word rule can take it.
TOKEN_PATTERN = r"\w+(?=n't\b)|n't\b|'\w+|\w+|[^\w\s]"
_TOKEN_RE = re.compile(TOKEN_PATTERN)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


def normalize(text: str, lowercase: bool) -> str:
    """Return ``text`` in the canonical form the token pattern expects."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)
    elif "`" in text:
        text = text.translate(_APOSTROPHES)
    return text.lower() if lowercase else text


class Tokenizer:
    """Turn strings into token lists; ``lowercase`` must match the vectors."""

    def __init__(self, lowercase: bool = True):
        self.lowercase = lowercase

    def __call__(self, text: str) -> list[str]:
        return _TOKEN_RE.findall(normalize(text, self.lowercase))

    def many(self, texts: Iterable[str]) -> list[list[str]]:
        """Tokenize each text of ``texts``."""
        find, low = _TOKEN_RE.findall, self.lowercase
        return [find(normalize(t, low)) for t in texts]

    def __repr__(self) -> str:
        return f"Tokenizer(lowercase={self.lowercase})"
