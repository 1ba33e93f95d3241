"""Split text into the tokens a vector set was trained on: the one tokenizer of training and serving.

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

One :class:`Tokenizer`, three entry points that give the same tokens:

- ``tokenizer(text)``: one text (a request). The pattern's two contraction
  alternatives only match where ``n't`` occurs, so a text without it is
  matched by the rest of the pattern alone, which is faster;
- ``tokenizer.many(texts)``: a list of token lists;
- ``tokenizer.flat(texts)``: every token of a large batch end to end (a
  pyarrow array) plus each text's count. ASCII texts are tokenized there with
  a handful of vectorized passes over one byte buffer (below); the others
  with the pattern; both are merged back in text order.

For ASCII text the token pattern ``\\w+(?=n't\\b)|n't\\b|'\\w+|\\w+|[^\\w\\s]``
reduces to rules about single bytes and their neighbours:

- every byte is a word byte (``[A-Za-z0-9_]``), whitespace (Python's ``\\s``:
  ``\\t\\n\\v\\f\\r``, space and ``\\x1c-\\x1f``), an apostrophe, or other;
- tokens cover every non-whitespace byte exactly once, so a tokenization is
  just the set of bytes where a token *starts*: every "other" byte; every
  apostrophe, except the one inside a split ``n't`` (an apostrophe followed
  by a word byte takes the following word run with it, ``'s``); the first
  byte of every word run not directly after an apostrophe; and the ``n`` of
  a split ``n't``: a word run not after an apostrophe, ending in ``n``,
  followed by ``'t`` and then a non-word byte (``do|n't``).

Hyphenated compounds: the pattern splits ``well-acted`` into ``well``, ``-``,
``acted``, yet GloVe has whole entries for thousands of them (``well-acted``,
``one-note``, ``--``). A tokenizer made with ``known=`` (a vector store's
membership test) keeps every run of tokens joined by hyphens, with no space
between, as one token when the joined string has a vector, longest first
from the left; the rest stays split. Stores record their rule
(``"hyphens": "known"`` or ``"split"``, the latter for stores made before
the rule existed) and every embedder records the rule it was fitted with, so
a model keeps its tokens. Measured with ``benchmarks/accuracy.py``-style
runs (docs/design.md): keeping compounds whole for vector lookups helps or
ties on SST-2, TREC and MR, and the n-gram blocks keep splitting.

The tests compare every entry point with a plain ``re.findall`` reference on
the shared corpora and on random strings over the characters that matter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from itertools import repeat

import numpy as np

# Order matters: "n't" is split off before the plain word rule can take it.
TOKEN_PATTERN = r"\w+(?=n't\b)|n't\b|'\w+|\w+|[^\w\s]"
_CONTRACTION = r"\w+(?=n't\b)|n't\b|"
_TOKEN_RE = re.compile(TOKEN_PATTERN)
_PLAIN_RE = re.compile(TOKEN_PATTERN[len(_CONTRACTION):])
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
# From this many characters on, a batch pays for the byte rules' fixed setup (callers choose flat() or many()).
FLAT_MIN_CHARS = 20000


def normalize(text: str, lowercase: bool) -> str:
    """Return ``text`` in the canonical form the token pattern expects."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)
    elif "`" in text:
        text = text.translate(_APOSTROPHES)
    return text.lower() if lowercase else text


HYPHEN_RULES = ("split", "known")
# Tokens a compound may join (``state-of-the-art`` is 7); longer hyphen runs stay split.
MAX_COMPOUND = 9


def _find(text: str) -> list[str]:
    """Return the tokens of a normalised text."""
    return (_TOKEN_RE if "n't" in text else _PLAIN_RE).findall(text)


_HYPHEN_CHUNK_RE = re.compile(r"(\S*-\S*)")
# The token pattern with whole hyphenated chunks as one more alternative, tried first (many_with_plain).
_TOKEN_CHUNK_RE = re.compile(r"\S*-\S*|" + TOKEN_PATTERN)
_PLAIN_CHUNK_RE = re.compile(r"\S*-\S*|" + TOKEN_PATTERN[len(_CONTRACTION):])


def _compound_joins(text: str) -> tuple[list[str], dict[int, list[str | None]]]:
    """Return a normalised text's tokens and, by start token, the hyphen-joined strings that could be compounds.

    ``joins[a][k]`` joins tokens ``a .. a + k + 1`` (None where that join cannot be an entry).
    """
    # Tokens never cross whitespace and the pattern only looks one character ahead (``\b``), so each
    # whitespace-free chunk tokenizes alone as it does inside the text; the chunks holding a hyphen are the
    # runs of touching tokens that may be compounds. Split into [plain part, hyphen chunk, plain part, ...].
    parts = _HYPHEN_CHUNK_RE.split(text)
    tokens = _find(parts[0])
    joins: dict[int, list[str | None]] = {}
    for i in range(1, len(parts), 2):
        run = _find(parts[i])
        # Up to MAX_COMPOUND tokens (longer runs are never dictionary entries and stay split); a candidate
        # starts and ends with a word, or is all hyphens ("--"). So a text costs time linear in its length.
        if 1 < len(run) <= MAX_COMPOUND:
            base = len(tokens)
            for a in range(len(run) - 1):
                prefix, ends, dashes = run[a], [], run[a] == "-"
                for b in range(a + 1, len(run)):
                    prefix += run[b]
                    dashes = dashes and run[b] == "-"
                    ends.append(prefix if dashes or (run[a] != "-" and run[b] != "-") else None)
                joins[base + a] = ends
        tokens += run
        tokens += _find(parts[i + 1])
    return tokens, joins


def _join_known(tokens: list[str], joins: dict[int, list[str | None]], whole: set[str]) -> list[str]:
    """Return ``tokens`` with the longest known compound from the left kept whole at each position."""
    out, copied = [], 0
    for a, ends in joins.items():  # ascending positions
        if a < copied:
            continue
        for k in range(len(ends) - 1, -1, -1):
            if ends[k] in whole:
                out += tokens[copied:a]
                out.append(ends[k])
                copied = a + k + 2
                break
    return out + tokens[copied:] if copied else tokens


def _candidates(joins: dict[int, list[str | None]]) -> set[str]:
    return {c for ends in joins.values() for c in ends if c is not None}


# Compound answers and hyphenated chunks a tokenizer remembers (a few MB at most); past this many each starts
# over. Chunks longer than MEMO_CHUNK_CHARS are worked out every time.
MEMO_LIMIT = 1 << 16
MEMO_CHUNK_CHARS = 64


class Tokenizer:
    """Turn strings into token lists; ``lowercase`` must match the vectors.

    ``known``: None splits every hyphen (the pattern's own rule); a function
    ``known(strings) -> booleans`` (a vector store's membership test) keeps
    the hyphenated compounds it recognises whole (module docs).
    """

    def __init__(self, lowercase: bool = True, known=None):
        self.lowercase = lowercase
        self.known = known
        self.hyphens = "split" if known is None else "known"
        # known()'s answers by compound: texts repeat their compounds ("--", "well-acted"), and one lookup
        # through the store's index costs more than tokenizing a short text.
        self._memo: dict[str, bool] = {}
        self._chunks: dict[str, tuple[list[str], list[str]]] = {}
        # Tokenizers with equal keys give equal tokens (a batch tokenizes once per key).
        self.key = (lowercase, None if known is None else id(known))
        self.split_key = (lowercase, None)  # the key of this casing's tokenizer that splits every hyphen

    def __call__(self, text: str) -> list[str]:
        if self.known is None:
            return _find(normalize(text, self.lowercase))
        return self.many([text])[0]

    def many(self, texts: Iterable[str]) -> list[list[str]]:
        """Tokenize each text of ``texts``."""
        if self.known is None:
            return list(map(_find, map(normalize, texts, repeat(self.lowercase))))
        return self.many_with_plain(texts)[1]

    def many_with_plain(self, texts: list[str], plain: list[list[str]] | None = None):
        """Return ``(plain, docs)``: each text's tokens with every hyphen split, and under this tokenizer's rule.

        ``plain``, when a caller already has those split tokens of ``texts``, is reused for the texts
        without a hyphen (their tokens are the same under both rules).

        A text with a hyphen is matched once by the token pattern with one more alternative in front,
        ``\\S*-\\S*``, which takes each whitespace-free chunk holding a hyphen whole (at a chunk's first
        character it is the first alternative to match). Each chunk's split and compound tokens are then
        looked up in a per-tokenizer memo: texts repeat their chunks (``--``, ``well-acted``), so most
        hyphenated texts cost one regex pass and a few dictionary hits.
        """
        docs: list = []
        plain_docs: list = []
        pending: list[tuple[int, list[str]]] = []
        lowercase = self.lowercase
        for i, text in enumerate(texts):
            if plain is not None and "-" not in text and text.isascii():
                tokens = plain[i]
            else:
                text = normalize(text, lowercase)
                if "-" not in text:
                    tokens = plain[i] if plain is not None else _find(text)
                else:
                    pending.append((i, (_TOKEN_CHUNK_RE if "n't" in text else _PLAIN_CHUNK_RE).findall(text)))
                    tokens = plain[i] if plain is not None else None  # None: filled in by _expand
            plain_docs.append(tokens)
            docs.append(tokens)
        if pending:
            try:  # the usual case: every chunk seen before
                self._expand(pending, self._chunks, plain_docs, docs)
            except KeyError:
                chunks = self._chunk_tokens({p for _, pieces in pending for p in pieces if "-" in p})
                self._expand(pending, chunks, plain_docs, docs)
        return plain_docs, docs

    def _expand(self, pending, chunks: dict, plain_docs: list, docs: list) -> None:
        """Fill in the tokens of the hyphenated texts from their pieces and ``chunks``' tokens of each chunk."""
        keep = self.known is not None
        for i, pieces in pending:
            joined: list[str] = []
            if plain_docs[i] is None:  # the split tokens too
                split: list[str] = []
                for piece in pieces:
                    if "-" in piece:  # a whole chunk (a lone "-" is a chunk of one token)
                        got = chunks[piece]
                        split += got[0]
                        joined += got[1]
                    else:
                        split.append(piece)
                        joined.append(piece)
                plain_docs[i] = split
            else:
                for piece in pieces:
                    if "-" in piece:
                        joined += chunks[piece][1]
                    else:
                        joined.append(piece)
            docs[i] = joined if keep else plain_docs[i]

    def _chunk_tokens(self, chunks: set[str]) -> dict[str, tuple[list[str], list[str]]]:
        """Return each hyphenated chunk's (split tokens, tokens under this rule), remembered across calls."""
        memo = self._chunks
        found = {c: memo.get(c) for c in chunks}
        missing = [c for c, got in found.items() if got is None]
        if missing:
            split = {c: _compound_joins(c) for c in missing}
            # One membership test for every candidate of every new chunk.
            candidates = set().union(*(_candidates(joins) for _, joins in split.values()))
            whole = self._known_set(candidates) if self.known is not None and candidates else set()
            if len(memo) + len(missing) > MEMO_LIMIT:
                memo.clear()
            for c, (tokens, joins) in split.items():
                got = found[c] = (tokens, _join_known(tokens, joins, whole) if joins else tokens)
                if len(c) <= MEMO_CHUNK_CHARS:  # a hostile long chunk is not kept
                    memo[c] = got
        return found

    def _known_set(self, candidates: set[str]) -> set[str]:
        """Return those of ``candidates`` that ``known`` recognises, asking it only about the ones not seen before."""
        memo = self._memo
        found = {c: memo.get(c) for c in candidates}
        missing = [c for c, ok in found.items() if ok is None]
        if missing:
            if len(memo) > MEMO_LIMIT:
                memo.clear()
            for c, ok in zip(missing, self.known(missing)):
                found[c] = memo[c] = bool(ok)
        return {c for c, ok in found.items() if ok}

    def flat(self, texts: list[str]):
        """Return ``(tokens, counts)``: every token of ``texts`` in order as a pyarrow string array, and per-text counts.

        Large batches of ASCII text take the vectorized byte rules (module docs).
        """
        import pyarrow as pa

        n = len(texts)
        is_ascii = np.fromiter(map(str.isascii, texts), dtype=bool, count=n)
        if self.known is not None:  # compounds are not byte rules: hyphenated texts take the pattern
            is_ascii &= np.fromiter(("-" not in t for t in texts), dtype=bool, count=n)
        if is_ascii.all():
            toks = _ascii_tokens(texts, self.lowercase)
            return toks.array(), toks.counts
        plain, other = np.flatnonzero(is_ascii), np.flatnonzero(~is_ascii)
        toks = _ascii_tokens([texts[i] for i in plain.tolist()], self.lowercase)
        docs = self.many([texts[i] for i in other.tolist()])
        counts = np.empty(n, dtype=np.int64)
        counts[plain] = toks.counts
        counts[other] = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
        # Each text's tokens sit contiguously in [ascii tokens..., other tokens...]; gather them in text order.
        joined = pa.concat_arrays([toks.array(), pa.array([t for d in docs for t in d], type=pa.large_string())])
        source_start = np.empty(n, dtype=np.int64)
        source_start[plain] = _offsets(toks.counts)[:-1]
        source_start[other] = len(toks) + _offsets(counts[other])[:-1]
        offsets = _offsets(counts)
        gather = np.arange(int(offsets[-1]), dtype=np.int64) + np.repeat(source_start - offsets[:-1], counts)
        return joined.take(pa.array(gather)), counts

    def __repr__(self) -> str:
        return f"Tokenizer(lowercase={self.lowercase}, hyphens={self.hyphens!r})"


def _offsets(counts: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


# ---------------------------------------------------------------- byte rules for large ASCII batches
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


class _AsciiTokens:
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

    def array(self):
        """Return the tokens as one pyarrow large-string array (no copy of the bytes)."""
        import pyarrow as pa

        return pa.LargeStringArray.from_buffers(len(self), pa.py_buffer(self.offsets), pa.py_buffer(self.data))

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


def _ascii_tokens(texts: list[str], lowercase: bool) -> _AsciiTokens:
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
    return _AsciiTokens(data[~space], offsets, counts)


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
