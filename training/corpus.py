"""Stream unlabelled in-domain text from disk as token lists, for training word vectors.

A corpus is one or more files, each read again on every pass (gensim makes
one pass to count words and one per epoch), so a corpus larger than memory
trains in memory for one document at a time:

- plain text, one document a line (any extension the data readers do not
  claim, or ``--format text``); fastText-format lines (``.txt``, ``.ft``) lose
  their ``__label__`` prefixes;
- CSV, TSV, JSON Lines and Parquet files, read for their text column.

Every file is checked before training starts, in one streamed pass that also
fingerprints it (sha256): an empty file, a binary file and text in an
encoding vecclf does not read (UTF-16/32) are refused with one line naming
the file. ``encoding="auto"`` decodes as the data readers do: UTF-8 when the
whole file is valid UTF-8, else Windows-1252, else Latin-1. Documents are
tokenized by the vector store's :class:`~vecclf.training.tokens.Tokenizer`,
so vectors are trained on exactly the tokens classification looks up.

    >>> corpus = Corpus(["reviews.txt"], Tokenizer(lowercase=True))   # doctest: +SKIP
    >>> next(iter(corpus))                                            # doctest: +SKIP
    ['a', 'gripping', ',', 'beautifully', 'shot', 'film']
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vecclf.training.data import FT_PREFIX, MAX_FIELD, detect_format, json_line
from vecclf.training.errors import DataError
from vecclf.training.tokens import Tokenizer

FORMATS = ("text", "csv", "tsv", "jsonl", "parquet", "fasttext")
# gensim silently cuts documents after 10,000 tokens; longer ones are passed on in pieces instead.
MAX_DOC_TOKENS = 10000
_BLOCK = 1 << 22
_SNIFF = 1 << 16
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF16_LE, "UTF-16"),
         (codecs.BOM_UTF16_BE, "UTF-16"))


@dataclass(frozen=True)
class CorpusFile:
    """One checked corpus file: how to read it and its fingerprint."""

    path: Path
    fmt: str
    encoding: str | None  # None for Parquet
    sha256: str
    size: int
    mtime_ns: int

    def describe(self) -> dict:
        """Return what a manifest records of this file."""
        return {"path": str(self.path.resolve()), "format": self.fmt, "encoding": self.encoding,
                "sha256": self.sha256, "bytes": self.size}


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")


def _sniff(path: Path, head: bytes) -> None:
    """Refuse text in UTF-16/32 and binary files, judging by the first block."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            raise DataError(f"{path}: the corpus is {name} text; vecclf reads UTF-8, Windows-1252 or Latin-1 "
                            f"(convert it, e.g. iconv -f {name} -t UTF-8)")
    if head.startswith(b"\x1f\x8b"):
        raise DataError(f"{path}: the corpus is gzip-compressed; name it with a .gz extension")
    if b"\x00" in head:
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if max(even, odd) > len(head) // 4 and min(even, odd) < max(even, odd) // 8:
            raise DataError(f"{path}: the corpus looks like UTF-16 text without a byte-order mark; vecclf reads "
                            "UTF-8, Windows-1252 or Latin-1 (convert it, e.g. iconv -f UTF-16LE -t UTF-8)")
        raise DataError(f"{path}: the corpus is a binary file, not text (NUL byte at offset {head.index(0)})")
    controls = sum(head.count(bytes([b])) for b in (*range(1, 9), *range(14, 27), *range(28, 32)))
    if controls > len(head) // 20:
        raise DataError(f"{path}: the corpus is a binary file, not text ({controls} control bytes in the first "
                        f"{len(head)})")


def _check_parquet(path: Path) -> None:
    import pyarrow.parquet as pq

    try:
        pq.read_schema(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from exc


def inspect_file(path: str | os.PathLike, fmt: str = "auto", encoding: str = "auto") -> CorpusFile:
    """Check that ``path`` is a non-empty corpus file vecclf can read; return how to read it.

    Raises:
        DataError: the file is missing, empty, binary, in an unreadable
            encoding (or not valid in the one given), or of an unknown format.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if fmt == "auto":
        try:
            fmt = detect_format(path)
        except DataError:
            fmt = "text"  # any other extension: one document a line
    elif fmt not in FORMATS:
        raise DataError(f"{path}: unknown corpus format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if encoding != "auto":
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            raise DataError(f"unknown encoding {encoding!r}") from None
    digest = hashlib.sha256()
    stat = path.stat()
    with open(path, "rb") as raw:  # the fingerprint is of the bytes on disk, compressed or not
        while block := raw.read(_BLOCK):
            digest.update(block)
    if fmt == "parquet":
        _check_parquet(path)
        return CorpusFile(path, fmt, None, digest.hexdigest(), stat.st_size, stat.st_mtime_ns)
    chosen = _check_text(path, encoding)
    return CorpusFile(path, fmt, chosen, digest.hexdigest(), stat.st_size, stat.st_mtime_ns)


def _check_text(path: Path, encoding: str) -> str:
    """Read the text once: refuse empty, binary and undecodable files; return the encoding to read it with."""
    explicit = encoding != "auto"
    codec = encoding if explicit else "utf-8"
    # Byte-level checks only make sense where "\n" and ASCII letters are single bytes (not for UTF-16/32).
    sniff = "\na".encode(codec).removeprefix(codecs.BOM_UTF8) == b"\na"
    decoder = codecs.getincrementaldecoder(codec)()
    decodes, cp1252_ok, seen_text, lines, bom, first = True, True, False, 0, False, True
    try:
        with _open_bytes(path) as fh:
            while block := fh.read(_BLOCK):
                if first:
                    if sniff:
                        _sniff(path, block[:_SNIFF])
                    bom, first = block.startswith(codecs.BOM_UTF8), False
                elif sniff and b"\x00" in block:
                    raise DataError(f"{path}: the corpus is a binary file, not text (a NUL byte after line {lines})")
                seen_text = seen_text or bool(block.strip())
                if decodes:
                    try:
                        decoder.decode(block)
                    except UnicodeDecodeError as exc:
                        if explicit:
                            where = lines + block.count(b"\n", 0, max(exc.start, 0)) + 1
                            raise DataError(f"{path}: line {where}: not valid {codec} ({exc.reason}); "
                                            "pass the file's --encoding, or --encoding auto") from None
                        decodes = False
                cp1252_ok = cp1252_ok and not any(b in block for b in _CP1252_UNDEFINED)
                lines += block.count(b"\n")
            if decodes:
                decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:  # a multi-byte character cut off at the end of the file
        if explicit:
            raise DataError(f"{path}: line {lines + 1}: not valid {codec} at the end of the file ({exc.reason})") from None
        decodes = False
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read the corpus ({exc})") from exc
    if not seen_text:
        raise DataError(f"{path}: the corpus is empty")
    if decodes:
        return "utf-8-sig" if bom and codec in ("utf-8", "utf-8-sig") else codec
    return "cp1252" if cp1252_ok else "latin-1"


class Corpus:
    """The token lists of every document in ``paths``: an iterable gensim can pass over many times.

    Parameters:
        paths: corpus files (checked when the corpus is built).
        tokenizer: the vector store's tokenizer.
        text_column: the column holding the text in CSV/TSV/JSON Lines/Parquet files.
        fmt: ``auto`` (from the extension; plain text for an unknown one) or one of :data:`FORMATS`.
        encoding: ``auto`` or a codec name.

    Raises:
        DataError: a file is unusable (see :func:`inspect_file`); while iterating, a row is malformed,
            the text column is missing, a file holds no words, or a file changed since it was checked.
    """

    def __init__(self, paths, tokenizer: Tokenizer, *, text_column: str = "text", fmt: str = "auto",
                 encoding: str = "auto"):
        paths = [Path(p) for p in paths]
        if not paths:
            raise DataError("give at least one corpus file")
        self.files = [inspect_file(p, fmt, encoding) for p in paths]
        self.tokenizer = tokenizer
        self.text_column = text_column
        self.documents = 0  # counted on the latest complete pass
        self.words = 0

    def fingerprint(self) -> dict:
        """Return the corpus's files and one sha256 over them, in order."""
        digest = hashlib.sha256()
        for f in self.files:
            digest.update(f"{f.sha256} {f.fmt}\n".encode())
        digest.update(f"column {self.text_column}\n".encode())
        return {"sha256": digest.hexdigest(), "files": [f.describe() for f in self.files],
                "text_column": self.text_column, "documents": self.documents, "words": self.words}

    def __iter__(self) -> Iterator[list[str]]:
        documents = words = 0
        tokenize = self.tokenizer
        for f in self.files:
            st = f.path.stat()
            if (st.st_size, st.st_mtime_ns) != (f.size, f.mtime_ns):
                raise DataError(f"{f.path}: the corpus file changed while training")
            in_file = 0
            for text in self._texts(f):
                tokens = tokenize(text)
                if not tokens:
                    continue
                in_file += len(tokens)
                documents += 1
                for start in range(0, len(tokens), MAX_DOC_TOKENS):
                    yield tokens[start : start + MAX_DOC_TOKENS]
            if in_file == 0:
                raise DataError(f"{f.path}: the corpus has no words" + (
                    f" in column {self.text_column!r}" if f.fmt in ("csv", "tsv", "jsonl", "parquet") else ""))
            words += in_file
        self.documents, self.words = documents, words

    def _texts(self, f: CorpusFile) -> Iterator[str]:
        if f.fmt == "parquet":
            yield from _parquet_texts(f.path, self.text_column)
            return
        with _open_bytes(f.path) as binary, _text_stream(binary, f.encoding, f.fmt) as fh:
            try:
                if f.fmt in ("csv", "tsv"):
                    yield from _delimited_texts(f.path, fh, "\t" if f.fmt == "tsv" else ",", self.text_column)
                elif f.fmt == "jsonl":
                    yield from _jsonl_texts(f.path, fh, self.text_column)
                else:
                    yield from _line_texts(fh, f.fmt == "fasttext")
            except (OSError, EOFError, zlib.error) as exc:
                raise DataError(f"{f.path}: cannot read the corpus ({exc})") from exc


def _text_stream(binary, encoding: str, fmt: str):
    import io

    # csv wants newline="" (quoted fields may hold line breaks); other formats are split on "\n" only,
    # as the data readers do: U+2028 and friends inside a text stay inside it.
    return io.TextIOWrapper(binary, encoding=encoding, newline="" if fmt in ("csv", "tsv") else "\n")


def _line_texts(fh, labelled: bool) -> Iterator[str]:
    for line in fh:
        if labelled and FT_PREFIX in line:
            parts = line.split()
            while parts and parts[0].startswith(FT_PREFIX):
                parts.pop(0)
            line = " ".join(parts)
        yield line


def _delimited_texts(path: Path, fh, delimiter: str, column: str) -> Iterator[str]:
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(fh, delimiter=delimiter)
    rowno = 1
    try:
        header = [h.strip() for h in next(reader, [])]
        if column not in header:
            raise DataError(f"{path}: column {column!r} not found (columns: {', '.join(header) or 'none'})")
        at = header.index(column)
        for rowno, row in enumerate(reader, start=2):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(header):
                raise DataError(f"{path}: row {rowno}: has {len(row)} fields, the header has {len(header)}")
            yield row[at]
    except csv.Error as exc:
        raise DataError(f"{path}: row {rowno + 1}: malformed CSV ({exc})") from exc


def _jsonl_texts(path: Path, fh, column: str) -> Iterator[str]:
    for lineno, line in enumerate(fh, start=1):
        obj = json_line(path, lineno, line, [column])
        if obj is not None and obj[column] is not None:
            value = obj[column]
            yield value if isinstance(value, str) else str(value)


def _parquet_texts(path: Path, column: str) -> Iterator[str]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    if column not in parquet.schema_arrow.names:
        raise DataError(f"{path}: column {column!r} not found (columns: {', '.join(parquet.schema_arrow.names)})")
    for batch in parquet.iter_batches(columns=[column], batch_size=8192):
        for value in batch.column(0).to_pylist():
            if value is not None:
                yield value if isinstance(value, str) else str(value)
