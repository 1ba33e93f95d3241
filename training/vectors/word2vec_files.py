"""Read word2vec text, fastText ``.vec``, GloVe and word2vec binary files, checking every row.

Rows are read as gensim's ``load_word2vec_format`` reads them, so an accepted
file gives gensim's words and vectors, but nothing gensim would silently get
wrong is accepted:

- text: a line is right-stripped of ASCII whitespace (so CRLF and trailing
  spaces are fine), decoded, and split on single spaces. It must hold the word
  and exactly ``dim`` numbers: ``dim`` from the ``count dim`` header, or, for
  GloVe, from the first line. (gensim takes a longer row's fields as numbers
  and refuses it, and fills a one-number row by broadcasting.) With
  ``words_with_spaces`` the fields before the last ``dim`` form the word.
  Blank lines are skipped (gensim refuses them).
- binary: each entry is the word up to a space, then ``dim`` little-endian
  float32s; newlines before a word are skipped, as gensim does.
- the header's count must match the rows: fewer rows is a truncated file,
  more rows (which gensim silently drops) is refused unless ``--limit`` asks
  for only the first ones.
- values must be finite numbers (gensim accepts nan and inf).

Text and binary files are streamed block by block into the store's matrix.
"""

from __future__ import annotations

import itertools
import logging
from array import array
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from vecclf.training.errors import VecclfError, VectorFormatError
from vecclf.training.vectors.sources import READ_ERRORS, check_fits

log = logging.getLogger(__name__)

_BLOCK_LINES = 20000
_READ_BYTES = 1 << 22
_MAX_WORD_BYTES = 10000


def _is_number(text) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_header(line: bytes, src: Path, decoder) -> tuple[int, int]:
    """Return ``(count, dim)`` from a ``count dim`` header line (decoded as gensim does, strictly)."""
    try:
        fields = line.decode(decoder.encoding).split()
    except UnicodeDecodeError:
        fields = []
    if len(fields) != 2 or not all(f.isascii() and f.isdigit() for f in fields):
        raise VectorFormatError(f"{src}: line 1: expected a 'count dim' header, got {line[:80]!r}")
    count, dim = int(fields[0]), int(fields[1])
    if count <= 0 or dim <= 0:
        raise VectorFormatError(f"{src}: line 1: header says {count} words of {dim} dims")
    return count, dim


def count_rows(fh) -> int:
    """Return the number of non-blank lines (the rows of a header-less file)."""
    return sum(1 for line in fh if line.strip())


class _Rows:
    """Split text lines into a word and exactly ``dim`` number fields."""

    def __init__(self, src: Path, decoder, dim: int, origin: str, words_with_spaces: bool):
        self.src, self.decoder, self.dim, self.origin = src, decoder, dim, origin
        self.words_with_spaces = words_with_spaces
        self.with_spaces = 0

    def split(self, raw: bytes, lineno: int) -> tuple[str, list[str]]:
        where = f"{self.src}: line {lineno}"
        parts = self.decoder.decode(raw.rstrip(), where).split(" ")
        dim = self.dim
        if len(parts) == dim + 1:
            return parts[0], parts[1:]
        if self.words_with_spaces and len(parts) > dim + 1:
            if _is_number(parts[-dim - 1]):
                raise VectorFormatError(f"{where}: {len(parts)} fields for {dim} numbers ({self.origin}), and the "
                                        f"word would end in the number {parts[-dim - 1]!r}: the dimension is wrong")
            self.with_spaces += 1
            return " ".join(parts[:-dim]), parts[-dim:]
        hints = []
        if "\t" in parts[0]:
            hints.append("the fields are separated by tabs")
        elif "" in parts:
            hints.append("two spaces in a row")
        elif len(parts) > dim + 1 and not _is_number(parts[1]):
            hints.append("if words contain spaces, use --words-with-spaces")
        elif len(parts) > dim + 1:
            hints.append("the rows are longer than that")
        else:
            hints.append("a cut-off or damaged line?")
        if lineno == 2 and self.origin.startswith("the header"):
            hints.append("if line 1 is a row, not a header, use --format glove")
        raise VectorFormatError(f"{where}: expected a word and {dim} numbers separated by single spaces "
                                f"({self.origin}), got {len(parts)} fields; {'; '.join(hints)}")


@contextmanager
def _streaming(src: Path, sink, position):
    """Close ``sink`` however reading ends; name ``position()`` when the file cannot be read."""
    try:
        yield
    except VecclfError:  # a StorageError is an OSError too
        raise
    except READ_ERRORS as exc:
        raise VectorFormatError(f"{src}: cannot read after {position()} ({exc})") from exc
    finally:
        sink.close()


def _first_dim(line: bytes, words_with_spaces: bool) -> int:
    fields = line.rstrip().split(b" ")
    if not words_with_spaces:
        return len(fields) - 1
    numbers = 0
    while numbers < len(fields) - 1 and _is_number(fields[-1 - numbers]):
        numbers += 1
    return numbers


def read_text(fh, src: Path, open_sink, *, header: bool, count: int | None, limit: int | None, decoder,
              words_with_spaces: bool = False) -> tuple[list[str], array, int]:
    """Stream a word2vec-text / .vec (``header``) or GloVe file (``count`` rows) into a sink.

    ``open_sink(size, dim)`` returns the :class:`~vecclf.training.vectors.writer.RowSink`.
    Returns the words, the line number of each, and how many words held spaces.
    """
    first = fh.readline()
    decoder.check_start(first, f"{src}: line 1")
    if header:
        count, dim = parse_header(first, src, decoder)
        check_fits(fh, src, min(count, limit or count), dim, 2 * dim)
        origin = f"the header says {dim}"
        lines = enumerate(fh, start=2)
    else:
        if not first.strip():
            raise VectorFormatError(f"{src}: line 1 is empty")
        dim = _first_dim(first, words_with_spaces)
        if dim <= 0:
            raise VectorFormatError(f"{src}: line 1: a word without numbers (fields are separated by single spaces)")
        origin = "as on line 1"
        lines = enumerate(itertools.chain([first], fh), start=1)
    size = min(count, limit) if limit else count
    limited = limit is not None and limit <= count  # only the first rows asked for: the rest is not read
    splitter = _Rows(src, decoder, dim, origin, words_with_spaces)
    sink = open_sink(size, dim)
    words: list[str] = []
    linenos = array("q")
    numbers: list[str] = []
    block = array("q")
    last, lineno = b"\n", 1

    def flush() -> None:
        try:
            values = np.array(numbers, dtype=np.float64)
        except ValueError as exc:
            bad = next((n for n, nums in _lines_of(block, numbers, dim) if not all(map(_is_number, nums))), block[0])
            raise VectorFormatError(f"{src}: line {bad}: a vector value is not a number") from exc
        rows = array("q", block)
        sink.write(values.reshape(-1, dim), lambda i: f"{src}: line {rows[i]}")
        numbers.clear()
        del block[:]

    with _streaming(src, sink, lambda: f"line {lineno}"):
        for lineno, raw in lines:
            last = raw
            if len(words) == size:
                if limited:
                    break
                if raw.strip():
                    raise VectorFormatError(f"{src}: line {lineno}: more rows than the header's count of {count}; "
                                            f"--limit {count} imports only the first {count}")
                continue
            if not raw.strip():
                continue
            word, nums = splitter.split(raw, lineno)
            words.append(word)
            linenos.append(lineno)
            block.append(lineno)
            numbers.extend(nums)
            if len(block) == _BLOCK_LINES:
                flush()
        if block:
            flush()
    if len(words) < size:
        raise VectorFormatError(f"{src}: truncated: expected {size} vectors, found {len(words)}")
    if not limited and not last.endswith(b"\n"):
        log.warning("%s: the last line has no newline; if the file was cut short, its last vector is wrong", src)
    return words, linenos, splitter.with_spaces


def _lines_of(block: array, numbers: list[str], dim: int):
    for i, lineno in enumerate(block):
        yield lineno, numbers[i * dim : (i + 1) * dim]


def read_word2vec_bin(fh, src: Path, open_sink, *, limit: int | None, decoder) -> list[str]:
    """Stream a word2vec binary file into a sink, reading it in large blocks; return the words."""
    first = fh.readline()
    decoder.check_start(first, f"{src}: line 1")
    count, dim = parse_header(first, src, decoder)
    size = min(count, limit) if limit else count
    check_fits(fh, src, size, dim, 1 + 4 * dim)
    sink = open_sink(size, dim)
    nbytes = 4 * dim
    encoding = decoder.encoding
    words: list[str] = []
    block_rows = max(1, min(8192, (1 << 24) // nbytes))
    buf, pos, eof = b"", 0, False
    vectors: list[bytes] = []

    def refill() -> bool:
        nonlocal buf, pos, eof
        more = b"" if eof else fh.read(_READ_BYTES)
        eof = eof or not more
        buf, pos = buf[pos:] + more, 0
        return bool(more)

    def flush() -> None:
        base = len(words) - len(vectors)
        sink.write(np.frombuffer(b"".join(vectors), dtype="<f4").reshape(-1, dim), lambda i: f"{src}: entry {base + i + 1}")
        vectors.clear()

    with _streaming(src, sink, lambda: f"entry {len(words)}"):
        for i in range(size):
            # Entries are "word" + " " + dim float32s, optionally after a newline.
            while True:
                while pos < len(buf) and buf[pos] == 10:
                    pos += 1
                space = buf.find(b" ", pos, pos + _MAX_WORD_BYTES + 1)
                if space >= 0:
                    break
                if len(buf) - pos > _MAX_WORD_BYTES:
                    raise VectorFormatError(f"{src}: entry {i + 1}: word longer than {_MAX_WORD_BYTES} bytes (not word2vec binary?)")
                if not refill():
                    raise VectorFormatError(f"{src}: truncated: expected {size} vectors, found {i}")
            word = buf[pos:space]
            pos = space + 1
            while len(buf) - pos < nbytes and refill():
                pass
            data = buf[pos : pos + nbytes]
            if len(data) != nbytes:
                raise VectorFormatError(f"{src}: truncated: entry {i + 1} ({word[:40]!r}) has {len(data)} of {nbytes} bytes")
            pos += nbytes
            try:
                words.append(word.decode(encoding))
            except UnicodeDecodeError:
                words.append(decoder.decode(word, f"{src}: entry {i + 1}"))
            vectors.append(data)
            if len(vectors) == block_rows:
                flush()
        if vectors:
            flush()
        if not (limit and limit <= count):
            while not buf[pos:].strip() and refill():
                pass
            if buf[pos:].strip():
                raise VectorFormatError(f"{src}: entry {count + 1}: data after the header's {count} entries: an "
                                        f"earlier word holds a space, or --limit {count} imports only the first {count}")
    return words
