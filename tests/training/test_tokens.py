"""Tokenizer: Treebank-style splits, casing from the vectors, Unicode safety."""

import pytest

from vecclf.training.tokens import Tokenizer

CASES = [
    (True, "Don't PANIC — café!", ["do", "n't", "panic", "—", "café", "!"]),
    (False, "Don't PANIC", ["Do", "n't", "PANIC"]),
    (True, "She's here, isn't she?", ["she", "'s", "here", ",", "is", "n't", "she", "?"]),
    (True, "It\u2019s ｆｕｌｌ width", ["it", "'s", "full", "width"]),
    (True, "naïve 日本語 text", ["naïve", "日本語", "text"]),
    (True, "   ", []),
    (True, "", []),
    (True, "a\u0301 e\u0301", ["á", "é"]),
]


@pytest.mark.parametrize("lowercase, text, expected", CASES)
def test_tokens(lowercase, text, expected):
    """Each text splits into the expected tokens under the given casing."""
    assert Tokenizer(lowercase=lowercase)(text) == expected


def test_many_equals_one_by_one():
    """Tokenizing a batch gives the same tokens as tokenizing each text."""
    tok = Tokenizer(lowercase=True)
    texts = [t for _, t, _ in CASES]
    assert tok.many(texts) == [tok(t) for t in texts]
