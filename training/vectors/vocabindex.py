"""Map words to vector rows with flat numpy arrays instead of a Python dict.

A dict over a 3M-word vocabulary costs ~350 MB of Python objects, seconds to
build, and its pages drift apart between forked workers as reference counts
change. :class:`VocabIndex` instead keeps

- the vocabulary file itself, memory-mapped (shared page cache);
- ``bounds``: where each word starts in that file (``size + 1`` int64);
- ``hashes``: a 64-bit hash of every word, sorted, with ``order`` giving the
  row of each sorted entry (stable, so a duplicated word maps to its first row).

A lookup hashes the query words with numpy, binary-searches ``hashes`` and then
compares the candidate's bytes with the query's, so the answer is exact: a hash
collision costs a few comparisons, never a wrong row. None of these arrays is
written after it is built, so workers forked after building share every page.

The hash is simple tabulation hashing (a random 64-bit word per byte value and
position, XOR-ed), computed for many words at once with ``np.bitwise_xor.reduceat``.
"""

from __future__ import annotations

import mmap
import os

import numpy as np

_POSITIONS = 64
# Bytes of words hashed per numpy pass; bounds the temporary arrays (~9 bytes each).
_CHUNK_BYTES = 1 << 22


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


_TABLE = _splitmix64(np.arange(_POSITIONS * 256, dtype=np.uint64)).reshape(_POSITIONS, 256)
_LENGTH = _splitmix64(np.arange(_POSITIONS * 256, _POSITIONS * 256 + _POSITIONS, dtype=np.uint64))


def hash_spans(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Return the 64-bit hash of each byte string ``data[starts[i] : starts[i] + lengths[i]]``."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    out = _LENGTH[lengths % _POSITIONS].copy()
    n = len(starts)
    if n == 0:
        return out
    cum = np.cumsum(lengths)
    first = 0
    while first < n:
        # Take words until about _CHUNK_BYTES bytes (at least one word).
        base = int(cum[first - 1]) if first else 0
        last = int(np.searchsorted(cum, base + _CHUNK_BYTES, side="right"))
        last = max(last, first + 1)
        st, ln = starts[first:last], lengths[first:last]
        nonempty = np.flatnonzero(ln)
        if len(nonempty):
            st, ln = st[nonempty], ln[nonempty]
            seg = np.zeros(len(ln), dtype=np.int64)
            np.cumsum(ln[:-1], out=seg[1:])
            total = int(seg[-1] + ln[-1])
            # Byte k of the chunk belongs to word w: its file position is st[w] + (k - seg[w]).
            shift = np.repeat(st - seg, ln)
            pos_in_word = np.arange(total, dtype=np.int64) - np.repeat(seg, ln)
            byte = data[np.arange(total, dtype=np.int64) + shift]
            vals = _TABLE[pos_in_word % _POSITIONS, byte]
            out[first + nonempty] ^= np.bitwise_xor.reduceat(vals, seg)
        first = last
    return out


def pack_strings(words: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(data, starts, lengths)``: the UTF-8 bytes of ``words`` laid end to end."""
    encoded = [w.encode("utf-8", "surrogatepass") for w in words]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    starts = np.zeros(len(encoded), dtype=np.int64)
    if len(encoded) > 1:
        np.cumsum(lengths[:-1], out=starts[1:])
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return data, starts, lengths


class VocabIndex:
    """Exact word -> row lookups over a newline-separated vocabulary.

    Parameters:
        data: the vocabulary bytes, one UTF-8 word per line (a trailing newline is optional).
    """

    def __init__(self, data: np.ndarray | bytes):
        if isinstance(data, (bytes, bytearray, memoryview, mmap.mmap)):
            data = np.frombuffer(data, dtype=np.uint8)
        self.data = data
        newlines = np.flatnonzero(data == 10)
        if len(data) and data[-1] != 10:
            newlines = np.append(newlines, len(data))
        self.bounds = np.empty(len(newlines) + 1, dtype=np.int64)
        self.bounds[0] = 0
        self.bounds[1:] = newlines + 1
        self.size = len(newlines)
        starts = self.bounds[:-1]
        hashes = hash_spans(data, starts, np.diff(self.bounds) - 1)
        order = np.argsort(hashes, kind="stable")
        self.hashes = hashes[order]
        self.order = order.astype(np.int32 if self.size < 2**31 else np.int64)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "VocabIndex":
        """Build the index over a vocabulary file, memory-mapping the file."""
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                return cls(np.zeros(0, dtype=np.uint8))
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        return cls(np.frombuffer(mm, dtype=np.uint8))

    def __len__(self) -> int:
        return self.size

    def word(self, row: int) -> str:
        """Return the word at ``row``."""
        return bytes(self.data[self.bounds[row] : self.bounds[row + 1] - 1]).decode("utf-8")

    def find(self, data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Return the row of each byte string (see :func:`hash_spans`), -1 where it is no word."""
        starts = np.asarray(starts, dtype=np.int64)
        lengths = np.asarray(lengths, dtype=np.int64)
        n = len(starts)
        rows = np.full(n, -1, dtype=np.int64)
        if n == 0 or self.size == 0:
            return rows
        hashed = hash_spans(data, starts, lengths)
        pos = np.searchsorted(self.hashes, hashed)
        np.minimum(pos, self.size - 1, out=pos)
        cand = np.flatnonzero(self.hashes[pos] == hashed)
        if len(cand) == 0:
            return rows
        row = self.order[pos[cand]].astype(np.int64)
        same = self._equal(data, starts[cand], lengths[cand], row)
        rows[cand[same]] = row[same]
        # Rare: a different word with the same hash sorts first; walk the run of equal hashes.
        for i in cand[~same]:
            rows[i] = self._probe(bytes(data[starts[i] : starts[i] + lengths[i]]), int(hashed[i]), int(pos[i]))
        return rows

    def _equal(self, data, starts, lengths, rows) -> np.ndarray:
        """Return which query strings equal the vocabulary words at ``rows``."""
        vstart = self.bounds[rows]
        same = (self.bounds[rows + 1] - 1 - vstart) == lengths
        idx = np.flatnonzero(same & (lengths > 0))
        if len(idx):
            ln = lengths[idx]
            seg = np.zeros(len(idx), dtype=np.int64)
            np.cumsum(ln[:-1], out=seg[1:])
            offset = np.arange(int(seg[-1] + ln[-1]), dtype=np.int64) - np.repeat(seg, ln)
            diff = data[np.repeat(starts[idx], ln) + offset] != self.data[np.repeat(vstart[idx], ln) + offset]
            same[idx] = np.logical_or.reduceat(diff, seg) == 0
        return same

    def _probe(self, word: bytes, hashed: int, pos: int) -> int:
        while pos < self.size and int(self.hashes[pos]) == hashed:
            row = int(self.order[pos])
            if bytes(self.data[self.bounds[row] : self.bounds[row + 1] - 1]) == word:
                return row
            pos += 1
        return -1

    def rows_of(self, words: list[str]) -> np.ndarray:
        """Return the row of each word of ``words`` (int64, -1 where absent)."""
        return self.find(*pack_strings(words))

    def rows_of_arrow(self, array) -> np.ndarray:
        """Return the row of each string of a pyarrow (large_)string array without nulls."""
        offsets_buf, data_buf = array.buffers()[1:3]
        wide = str(array.type) in ("large_string", "large_utf8")
        offsets = np.frombuffer(offsets_buf, dtype=np.int64 if wide else np.int32)[array.offset : array.offset + len(array) + 1]
        data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
        offsets = offsets.astype(np.int64)
        return self.find(data, offsets[:-1], np.diff(offsets))

    def nbytes(self) -> int:
        """Return the bytes of the index arrays (the memory-mapped vocabulary excluded)."""
        return int(self.bounds.nbytes + self.hashes.nbytes + self.order.nbytes)
