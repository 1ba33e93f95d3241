"""Open a vectors file whatever its compression, and tell its format from its first bytes.

Compression is recognised by content, not by name: gzip, bzip2 and xz files
are read transparently (a gzipped file need not end in ``.gz``). The format is
then sniffed from the decompressed head:

- fastText ``.bin``: its magic number, or for files written before fastText
  had one (2016-2017) a plausible argument block and dictionary header;
- gensim ``KeyedVectors.save``: a pickle opcode;
- ``count dim`` on the first line followed by a line of ``word`` and numbers:
  word2vec text (``fasttext-vec`` when the name holds ``.vec``); followed by
  anything else: word2vec binary;
- otherwise GloVe text.

A UTF-8 byte-order mark is looked past here; the readers then refuse it
unless the encoding is ``utf-8-sig``.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
import os
import struct
import zlib
from pathlib import Path

from vecclf.training.errors import VectorFormatError
from vecclf.training.vectors.fasttext_bin import FASTTEXT_MAGIC, looks_like_old_fasttext

_COMPRESSED = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open), (b"\xfd7zXZ\x00", lzma.open))
_SNIFF_BYTES = 1 << 20
# What reading a damaged plain or compressed file can raise.
READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)


def open_source(path: str | os.PathLike):
    """Open ``path`` for reading bytes, decompressing gzip, bzip2 or xz content."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(6)
    for magic, opener in _COMPRESSED:
        if head.startswith(magic):
            return opener(path, "rb")
    return open(path, "rb")


def is_plain(fh) -> bool:
    """Return True if ``fh`` (from :func:`open_source`) reads an uncompressed file."""
    return isinstance(fh, io.BufferedReader)


def check_fits(fh, src: Path, count: int, dim: int, row_bytes: int) -> None:
    """Refuse a ``count dim`` header that needs far more bytes than the (uncompressed) file holds.

    Only a header off by more than twice is refused here, before a matrix of its size is
    created; a file cut short is found (and its rows counted) while reading.
    """
    if not is_plain(fh):
        return
    size = os.fstat(fh.fileno()).st_size
    if count * row_bytes > 2 * size + (1 << 16):
        raise VectorFormatError(f"{src}: line 1: the header says {count} words of {dim} numbers, at least "
                                f"{count * row_bytes} bytes, but the file holds {size} (truncated, or a wrong header)")


def _is_count(field: bytes) -> bool:
    return field.isdigit()


def _is_number(field: bytes) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _looks_like_text_row(line: bytes, complete: bool) -> bool:
    """Return True if ``line`` reads as a word and numbers (the last field may be cut off when incomplete).

    Most, not all, fields must be numbers, so that a row with a lying header or a word
    holding spaces is still read as text (and refused there with its line number).
    """
    fields = line.split()[1:]
    if not complete:
        fields = fields[:-1]
    numbers = sum(map(_is_number, fields))
    return b"\0" not in line and numbers > 0 and 2 * numbers > len(fields)


def detect_format(path: str | os.PathLike) -> str:
    """Guess the format of a vectors file from its first bytes (after decompression).

    Raises:
        VectorFormatError: the file cannot be read or is empty.
    """
    path = Path(path)
    try:
        with open_source(path) as fh:
            head = fh.read(_SNIFF_BYTES)
    except READ_ERRORS as exc:
        raise VectorFormatError(f"{path}: cannot read ({exc})") from exc
    if not head.strip():
        raise VectorFormatError(f"{path}: file is empty")
    if len(head) >= 4 and struct.unpack("<i", head[:4])[0] == FASTTEXT_MAGIC:
        return "fasttext-bin"
    if head[:1] == b"\x80":
        return "gensim"
    if looks_like_old_fasttext(head):
        return "fasttext-bin"
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    first, newline, rest = head.partition(b"\n")
    fields = first.split()
    if len(fields) == 2 and all(_is_count(f) for f in fields):
        second, newline, _ = rest.partition(b"\n")
        if not _looks_like_text_row(second, complete=bool(newline)):
            return "word2vec-bin"
        return "fasttext-vec" if ".vec" in path.suffixes else "word2vec-text"
    return "glove"
