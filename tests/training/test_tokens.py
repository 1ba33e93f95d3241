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


KNOWN = {"well-acted", "one-note", "--", "state-of-the-art", "of-the"}


@pytest.mark.parametrize("text,tokens", [
    ("A well-acted, one-note film", ["a", "well-acted", ",", "one-note", "film"]),
    ("truly state-of-the-art!", ["truly", "state-of-the-art", "!"]),
    ("of-the-art", ["of-the", "-", "art"]),                       # longest known compound first, from the left
    ("non-stop", ["non", "-", "stop"]),                          # unknown compounds stay split
    ("well - acted", ["well", "-", "acted"]),                    # spaces break a compound
    ("wait -- what", ["wait", "--", "what"]),                    # dash runs are compounds too
    ("x-well-acted-y", ["x", "-", "well-acted", "-", "y"]),
    ("-well-acted", ["-", "well-acted"]),
    ("don't-stop", ["do", "n't", "-", "stop"]),                  # contractions split as before
    ("no hyphen at all", ["no", "hyphen", "at", "all"]),
    ("-", ["-"]),
])
def test_known_compounds_stay_whole(text, tokens):
    """With a membership test, hyphen-joined runs that have a vector are one token; the rest split as before."""
    tokenizer = Tokenizer(True, known=lambda words: [w in KNOWN for w in words])
    assert tokenizer(text) == tokens
    assert tokenizer.many([text, text]) == [tokens, tokens]
    assert Tokenizer(True)(text) == _plain(text)


def _plain(text):
    import re

    from vecclf.training.tokens import TOKEN_PATTERN, normalize

    return re.findall(TOKEN_PATTERN, normalize(text, True))


def test_long_hyphen_runs_stay_split_and_ask_little():
    """A run longer than any compound is not looked up at all; a hostile text asks a bounded number of strings."""
    asked = []

    def known(words):
        asked.extend(words)
        return [w == "a-a" for w in words]

    tokenizer = Tokenizer(True, known=known)
    long_run = "-".join(["a"] * 1000)
    assert tokenizer(long_run) == _plain(long_run) and not asked
    short_runs = " ".join(["a-a-a-a-a"] * 200)
    tokens = tokenizer(short_runs)
    assert tokens[:4] == ["a-a", "-", "a-a", "-"] and len(asked) <= 10 * 200  # a few candidates a run, once each


def test_flat_batches_keep_compounds_like_single_texts():
    """A large batch (byte rules for plain texts) gives each text the tokens it gets alone."""
    tokenizer = Tokenizer(True, known=lambda words: [w in KNOWN for w in words])
    texts = ["A well-acted film -- truly"] * 500 + ["plain text only"] * 500 + ["café one-note"] * 10
    tokens, counts = tokenizer.flat(texts)
    flat, pos, regrouped = tokens.to_pylist(), 0, []
    for c in counts.tolist():
        regrouped.append(flat[pos : pos + c])
        pos += c
    assert regrouped == [tokenizer(t) for t in texts]
