"""Read Facebook fastText ``.bin`` models of both layouts gensim reads, checking every field.

The layout (little-endian), as fastText's args, dictionary and matrix ``save``
routines write it; the parts in brackets exist only in the *new* layout that
fastText 0.2 (2018) introduced with its magic number; the *old* layout of the
2016-2017 models starts directly with the arguments::

    [int32 magic 793712314, int32 version 11|12]
    args        int32 dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate; float64 t
    dictionary  int32 size nwords nlabels; int64 ntokens; [int64 prunedSize]
                size x (word bytes, NUL, int64 count, int8 type); [prunedSize x int32 pair]
    input       [bool quantized] int64 rows cols, rows x cols float32   (rows = nwords + bucket)
    output      [bool quantized] int64 rows cols, rows x cols float32   (then the end of the file)

Word vectors are computed as gensim does after loading: the mean of the word's
own row and the rows of its character n-grams (hashed from the decoded word's
UTF-8), added one n-gram at a time in float32, so the result is bit for bit
gensim's. Anything gensim would misread or refuse (labels, quantized
matrices, shapes that disagree, repeated words, truncation, trailing bytes)
is refused here with the entry or part it concerns.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vecclf.training.errors import VectorFormatError

FASTTEXT_MAGIC = 793712314
ARG_NAMES = ("dim", "ws", "epoch", "min_count", "neg", "word_ngrams", "loss", "model", "bucket", "minn", "maxn",
             "lr_update_rate", "t")
_VERSIONS = (11, 12)
_ARGS = struct.Struct("<12id")
_DICT = struct.Struct("<3iq")
_ENTRY_TAIL = struct.Struct("<qb")
_SHAPE = struct.Struct("<2q")
_MAX_WORD_BYTES = 1 << 16
_READ_BYTES = 1 << 22
_MATRIX_BLOCK = 1 << 24  # bytes of a matrix read or of a word-vector block computed at once


def _plausible(args: tuple, dict_head: tuple, sniffing: bool) -> bool:
    """Check the arguments and dictionary header: loosely when reading, closely when sniffing a magic-less file."""
    dim, ws, epoch, min_count, neg, word_ngrams, loss, model, bucket, minn, maxn, lr_rate, t = args
    size, nwords, nlabels, ntokens = dict_head
    ok = (0 < dim <= 100_000 and 0 <= bucket <= 1 << 30 and 0 <= minn <= 1000 and 0 <= maxn <= 1000
          and 0 <= nwords and 0 <= nlabels and size == nwords + nlabels and ntokens >= 0)
    return ok and (not sniffing or (0 < ws <= 10_000 and 0 < epoch <= 100_000 and min_count >= 0 and neg >= 0
                                    and 0 < word_ngrams <= 100 and 1 <= loss <= 4 and 1 <= model <= 3
                                    and lr_rate > 0 and 0.0 <= t < 1.0))


def looks_like_old_fasttext(head: bytes) -> bool:
    """Return True if ``head`` starts like a fastText .bin written before the magic number (2016-2017)."""
    need = _ARGS.size + _DICT.size
    if len(head) < need:
        return False
    return _plausible(_ARGS.unpack_from(head), _DICT.unpack_from(head, _ARGS.size), sniffing=True)


class _Stream:
    """Exact reads from a binary file, naming what was being read when it ends too soon."""

    def __init__(self, fh, src: Path):
        self.fh, self.src = fh, src
        self.buf, self.pos = b"", 0

    def take(self, n: int, what: str) -> bytes:
        while len(self.buf) - self.pos < n:
            more = self.fh.read(max(_READ_BYTES, n))
            if not more:
                raise VectorFormatError(f"{self.src}: truncated: the file ends inside {what}")
            self.buf = self.buf[self.pos :] + more
            self.pos = 0
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def word(self, what: str) -> bytes:
        while True:
            end = self.buf.find(b"\0", self.pos, self.pos + _MAX_WORD_BYTES)
            if end >= 0:
                out = self.buf[self.pos : end]
                self.pos = end + 1
                return out
            if len(self.buf) - self.pos > _MAX_WORD_BYTES:
                raise VectorFormatError(f"{self.src}: {what} does not end within {_MAX_WORD_BYTES} bytes (damaged file?)")
            more = self.fh.read(_READ_BYTES)
            if not more:
                raise VectorFormatError(f"{self.src}: truncated: the file ends inside {what}")
            self.buf = self.buf[self.pos :] + more
            self.pos = 0

    def floats(self, rows: int, cols: int, what: str, plain: Path | None) -> np.ndarray:
        """Return a (rows, cols) float32 matrix: memory-mapped from a plain file, else read."""
        nbytes = rows * cols * 4
        if plain is not None:
            offset = self.fh.tell() - (len(self.buf) - self.pos)
            if plain.stat().st_size - offset < nbytes:
                raise VectorFormatError(f"{self.src}: truncated: the file ends inside {what}")
            self.fh.seek(offset + nbytes)
            self.buf, self.pos = b"", 0
            if nbytes == 0:
                return np.zeros((rows, cols), dtype=np.float32)
            return np.memmap(plain, dtype="<f4", mode="r", offset=offset, shape=(rows, cols))
        try:
            out = np.empty(rows * cols, dtype="<f4")
        except MemoryError as exc:
            raise VectorFormatError(f"{self.src}: {what} of {rows} x {cols} does not fit in memory") from exc
        view = memoryview(out).cast("B")
        done = min(len(self.buf) - self.pos, nbytes)
        view[:done] = self.buf[self.pos : self.pos + done]
        self.pos += done
        while done < nbytes:
            got = self.fh.readinto(view[done : done + _MATRIX_BLOCK])
            if not got:
                raise VectorFormatError(f"{self.src}: truncated: the file ends inside {what}")
            done += got
        return out.reshape(rows, cols)

    def skip(self, nbytes: int, what: str, plain: Path | None) -> None:
        """Pass over ``nbytes`` bytes (by seeking in a plain file)."""
        held = min(len(self.buf) - self.pos, nbytes)
        self.pos += held
        left = nbytes - held
        if plain is not None and left:
            offset = self.fh.tell()
            if plain.stat().st_size - offset < left:
                raise VectorFormatError(f"{self.src}: truncated: the file ends inside {what}")
            self.fh.seek(offset + left)
            return
        while left:
            got = len(self.fh.read(min(left, _MATRIX_BLOCK)))
            if not got:
                raise VectorFormatError(f"{self.src}: truncated: the file ends inside {what}")
            left -= got

    def at_end(self) -> bool:
        return self.pos == len(self.buf) and not self.fh.read(1)


@dataclass
class FastTextModel:
    """The arguments, words, counts and matrices of a fastText .bin, with gensim's word-vector arithmetic."""

    layout: str
    args: dict  # ARG_NAMES -> value
    words: list[str]
    counts: np.ndarray  # int64, one per word
    matrix: np.ndarray  # (len(words) + bucket, dim): word rows, then n-gram bucket rows
    output: np.ndarray | None  # (len(words), dim) output weights; None if the file's are of another shape

    dim = property(lambda self: self.args["dim"])
    bucket = property(lambda self: self.args["bucket"])
    minn = property(lambda self: self.args["minn"])
    maxn = property(lambda self: self.args["maxn"])

    @property
    def ngrams(self) -> np.ndarray:
        """Return the subword bucket rows."""
        return self.matrix[len(self.words) :]

    def word_vectors(self, rows: np.ndarray) -> np.ndarray:
        """Return the vectors of the words at ``rows`` exactly as gensim computes them."""
        from gensim.models.fasttext import ft_ngram_hashes

        out = np.array(self.matrix[rows], dtype=np.float32)
        if self.bucket == 0:
            return out
        grams = [ft_ngram_hashes(self.words[r], self.minn, self.maxn, self.bucket) for r in rows]
        counts = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
        width = int(counts.max()) if len(counts) else 0
        table = np.zeros((len(grams), width), dtype=np.int64)
        for i, hashes in enumerate(grams):
            table[i, : len(hashes)] = hashes
        ngrams = self.ngrams
        for k in range(width):  # one n-gram position at a time: gensim's order of float32 additions
            has = np.flatnonzero(counts > k)
            out[has] += ngrams[table[has, k]]
        out /= (counts + 1).astype(np.float32)[:, None]
        return out

    def block_rows(self) -> int:
        """Return how many word vectors to compute at once."""
        return max(1, _MATRIX_BLOCK // (4 * self.dim))


def read_fasttext_bin(fh, src: Path, decoder, plain: Path | None) -> FastTextModel:
    """Read a fastText .bin from ``fh``; ``plain`` is the file's path when it is not compressed (memory-mapped).

    Raises:
        VectorFormatError: a supervised, quantized, truncated or inconsistent model, or a word
            that does not decode (see :class:`~vecclf.training.vectors.decoding.WordDecoder`).
    """
    stream = _Stream(fh, src)
    head = stream.take(8, "the header")
    magic, version = struct.unpack("<2i", head)
    new = magic == FASTTEXT_MAGIC
    if new:
        if version not in _VERSIONS:
            raise VectorFormatError(f"{src}: fastText format version {version}; vecclf reads versions 11 and 12")
        args = _ARGS.unpack(stream.take(_ARGS.size, "the model arguments"))
    else:
        args = _ARGS.unpack(head + stream.take(_ARGS.size - 8, "the model arguments"))
    named = dict(zip(ARG_NAMES, args))
    dim, bucket = named["dim"], named["bucket"]
    dict_head = _DICT.unpack(stream.take(_DICT.size, "the dictionary header"))
    if not _plausible(args, dict_head, sniffing=False):
        raise VectorFormatError(f"{src}: not a fastText .bin model (implausible arguments {args[:12]} "
                                f"or dictionary header {dict_head})")
    size, nwords, nlabels, _ntokens = dict_head
    if nlabels:
        raise VectorFormatError(f"{src}: a supervised fastText model ({nlabels} labels); vecclf imports word "
                                "vectors from unsupervised (skipgram/cbow) models")
    if not nwords:
        raise VectorFormatError(f"{src}: the model holds no words")
    pruned = struct.unpack("<q", stream.take(8, "the dictionary header"))[0] if new else -1
    words: list[str] = []
    counts = np.empty(size, dtype=np.int64)
    seen: dict[str, int] = {}
    for i in range(1, size + 1):
        raw = stream.word(f"entry {i}")
        count, _kind = _ENTRY_TAIL.unpack(stream.take(_ENTRY_TAIL.size, f"entry {i}"))
        word = decoder.decode(raw, f"{src}: entry {i}")
        if count < 1:
            raise VectorFormatError(f"{src}: entry {i} ({word!r}) has count {count}; fastText never writes "
                                    "a word below count 1 (damaged file?)")
        if word in seen and decoder.unicode_errors == "strict":
            raise VectorFormatError(f"{src}: entry {i} repeats the word {word!r} of entry {seen[word]}; "
                                    "a fastText dictionary holds each word once (damaged file?)")
        seen.setdefault(word, i)
        words.append(word)
        counts[i - 1] = count
    if pruned > 0:
        stream.take(8 * pruned, "the pruned index")
    shape = _matrix_shape(stream, src, new, "input")
    if shape != (nwords + bucket, dim):
        raise VectorFormatError(f"{src}: the input matrix is {shape[0]} x {shape[1]}, the header says "
                                f"{nwords} words + {bucket} buckets of {dim} dims")
    matrix = stream.floats(*shape, "the input matrix", plain)
    rows, cols = _matrix_shape(stream, src, new, "output")
    if cols != dim:
        raise VectorFormatError(f"{src}: the output matrix is {rows} x {cols}, the header says {dim} dims")
    output = None
    if rows == nwords:
        output = stream.floats(rows, cols, "the output matrix", plain)
    else:  # readable, but no training state can be kept from it
        stream.skip(rows * cols * 4, "the output matrix", plain)
    if not stream.at_end():
        raise VectorFormatError(f"{src}: bytes after the end of the model (its output matrix); not one fastText .bin")
    return FastTextModel("new" if new else "old", named, words, counts, matrix, output)


def _matrix_shape(stream: _Stream, src: Path, new: bool, what: str) -> tuple[int, int]:
    if new and stream.take(1, f"the {what} matrix header") != b"\0":
        raise VectorFormatError(f"{src}: a quantized fastText model (.ftz); vecclf needs the full .bin model")
    rows, cols = _SHAPE.unpack(stream.take(_SHAPE.size, f"the {what} matrix header"))
    if rows < 0 or cols <= 0 or rows * cols > 1 << 40:
        raise VectorFormatError(f"{src}: the {what} matrix header says {rows} x {cols} (damaged file?)")
    return rows, cols
