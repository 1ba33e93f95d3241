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


def test_a_batch_asks_about_each_compound_once_and_remembers_the_answers():
    """many() asks the membership test once per batch for every distinct candidate, and never again later."""
    calls = []

    def known(words):
        calls.append(sorted(words))
        return [w in KNOWN for w in words]

    tokenizer = Tokenizer(True, known=known)
    texts = ["A well-acted film -- truly", "one-note -- again", "well-acted twice: well-acted", "plain"]
    expected = [_reference(t) for t in texts]
    assert tokenizer.many(texts) == expected
    assert calls == [sorted({"well-acted", "--", "one-note"})]
    assert tokenizer.many(texts) == expected and [tokenizer(t) for t in texts] == expected
    assert len(calls) == 1  # every answer remembered
    assert tokenizer("a non-stop film") == ["a", "non", "-", "stop", "film"] and calls[1:] == [["non-stop"]]


def test_a_full_memory_starts_over_and_stays_right(monkeypatch):
    """Past MEMO_LIMIT remembered answers the tokenizer forgets them all and keeps giving the same tokens."""
    import vecclf.training.tokens as tokens_module

    monkeypatch.setattr(tokens_module, "MEMO_LIMIT", 3)
    tokenizer = Tokenizer(True, known=lambda words: [w in KNOWN for w in words])
    texts = [f"w{i}-x{i} well-acted" for i in range(20)]
    assert [tokenizer(t) for t in texts] == [_reference(t) for t in texts]
    assert len(tokenizer._memo) <= 3 + 2 and len(tokenizer._chunks) <= 3 + 2


def test_long_chunks_are_worked_out_but_not_remembered():
    """A hyphenated chunk past MEMO_CHUNK_CHARS gets its tokens every time and is never kept in memory."""
    from vecclf.training.tokens import MEMO_CHUNK_CHARS

    tokenizer = Tokenizer(True, known=lambda words: [w in KNOWN for w in words])
    long_chunk = "well-acted" + "-x" * MEMO_CHUNK_CHARS
    for _ in range(2):
        assert tokenizer(f"a {long_chunk} -- b") == _reference(f"a {long_chunk} -- b")
    assert set(tokenizer._chunks) == {"--"}


def _reference(text):
    """The one-text rule with a fresh membership test each time (no memory, no batching)."""
    return Tokenizer(True, known=lambda words: [w in KNOWN for w in words])(text)


def _spans_reference(text, known):
    """An independent statement of the compound rule, over the pattern's match spans (slow, plain)."""
    import re

    from vecclf.training.tokens import MAX_COMPOUND, TOKEN_PATTERN, normalize

    matches = list(re.finditer(TOKEN_PATTERN, normalize(text, True)))
    runs, run = [], []
    for m in matches:  # runs of touching tokens
        if run and m.start() != run[-1].end():
            runs.append(run)
            run = []
        run.append(m)
    runs.append(run)
    out = []
    for run in runs:
        toks = [m.group() for m in run]
        a = 0
        while a < len(toks):
            best = None
            if 1 < len(toks) <= MAX_COMPOUND and "-" in toks:
                for b in range(len(toks) - 1, a, -1):
                    joined = "".join(toks[a : b + 1])
                    ok_ends = set(joined) == {"-"} or (toks[a] != "-" and toks[b] != "-")
                    if ok_ends and known(joined):
                        best = b
                        break
            out.append("".join(toks[a : best + 1]) if best is not None else toks[a])
            a = best + 1 if best is not None else a + 1
    return out


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab-' \t,n't\u00a0é", max_size=30), min_size=1, max_size=4))
def test_compounds_match_a_plain_statement_of_the_rule(texts):
    """On random texts over the characters that matter, batches and single texts follow the rule as stated."""
    vocab = {"a-b", "--", "b-a-b", "a-", "ab-ab", "n't-a", "---"}
    tokenizer = Tokenizer(True, known=lambda words: [w in vocab for w in words])
    expected = [_spans_reference(t, vocab.__contains__) for t in texts]
    assert tokenizer.many(texts) == expected
    assert [tokenizer(t) for t in texts] == expected
    plain = Tokenizer(True).many(texts)
    assert tokenizer.many_with_plain(texts) == (plain, expected)
    assert tokenizer.many_with_plain(texts, plain) == (plain, expected)


@pytest.mark.parametrize("first", ["split", "known"])
def test_a_batch_asking_for_both_rules_gets_each_as_if_alone(first):
    """A hybrid model's batch asks for split tokens (n-grams) and compound tokens (vectors), in either order."""
    from vecclf.training.kernels import Batch

    known = Tokenizer(True, known=lambda words: [w in KNOWN for w in words])
    split = Tokenizer(True)
    texts = ["A well-acted film -- truly", "plain text", "Ｃａｆé one\uff0dnote", "x-y"]
    batch = Batch(texts)
    order = [split, known] if first == "split" else [known, split]
    got = {id(t): batch.tokens(t) for t in order}
    assert got[id(split)] == split.many(texts)
    assert got[id(known)] == [_reference(t) for t in texts]
    assert got[id(known)][0] == ["a", "well-acted", "film", "--", "truly"]
