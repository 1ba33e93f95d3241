"""Read the text and label columns of CSV, TSV, JSON Lines and Parquet files through pyarrow, in batches.

:func:`vecclf.training.data.read_dataset` tries this first. Python's ``csv``
module spends over a second on 200,000 rows; pyarrow parses in C, block by
block (:data:`BLOCK_BYTES`), and only the columns asked for become Python
strings. Whatever it cannot read exactly as the Python readers would (a
malformed row, a missing key, a value of an unexpected type, blank lines
that the row numbers count, a gzip file) makes :func:`read_columns` return
None, and the Python readers read the file instead: they find the row and say
what is wrong in one line. So errors, row numbers and results are the same
either way (the tests compare both readers).

:func:`detect_encoding` streams the file once: UTF-8 if it is valid UTF-8
(``utf-8-sig`` with a byte-order mark), else Windows-1252 unless it has a
byte that code page leaves undefined, else Latin-1, as
:func:`vecclf.training.data.decode_bytes` decides for a whole file.
"""

from __future__ import annotations

import codecs
from pathlib import Path

BLOCK_BYTES = 1 << 24
_PIECE = 1 << 20
# Bytes Windows-1252 leaves undefined: a file with one of them is decoded as Latin-1.
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
_BOM = b"\xef\xbb\xbf"


class Scan:
    """What one pass over a file's bytes found: its encoding, and whether it has blank lines."""

    def __init__(self, encoding: str | None, blank_lines: bool, empty: bool):
        self.encoding, self.blank_lines, self.empty = encoding, blank_lines, empty


def detect_encoding(path: Path) -> Scan:
    """Read ``path`` in pieces; return its :class:`Scan` (encoding None: not valid after a byte-order mark)."""
    utf8 = codecs.getincrementaldecoder("utf-8")()
    valid, undefined, blank, empty = True, False, False, True
    previous = b""
    with open(path, "rb") as fh:
        first = fh.read(_PIECE)
        bom = first.startswith(_BOM)
        piece = first[3:] if bom else first
        while piece:
            if piece.strip():
                empty = False
            if valid:
                try:
                    utf8.decode(piece)
                except UnicodeDecodeError:
                    valid = False
            if not undefined:
                undefined = any(b in piece for b in _CP1252_UNDEFINED)
            joined = previous + piece[:2]
            # A blank line: the row numbers of the Python readers count it, pyarrow's skip it.
            blank = blank or any(mark in piece or mark in joined for mark in (b"\n\n", b"\n\r\n", b"\r\r"))
            previous = piece[-2:]
            piece = fh.read(_PIECE)
    if valid:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            valid = False
    if bom:
        return Scan("utf-8-sig" if valid else None, blank, empty)
    return Scan("utf-8" if valid else ("latin-1" if undefined else "cp1252"), blank, empty)


def read_columns(path: Path, fmt: str, encoding: str, columns: list[str]) -> dict[str, list] | None:
    """Return ``{column: values}`` of ``columns`` read by pyarrow, or None if the Python readers must read the file."""
    try:
        if fmt in ("csv", "tsv"):
            return _delimited(path, fmt, encoding, columns)
        if fmt == "jsonl":
            return _jsonl(path, encoding, columns)
        if fmt == "parquet":
            return _parquet(path, columns)
    except Exception:  # pyarrow's ArrowInvalid, ArrowTypeError, OSError...: the exact reader will say what is wrong
        return None
    finally:
        release_arrow_memory()
    return None


def release_arrow_memory() -> None:
    """Hand the memory pyarrow's pool keeps for reuse back to the system (call after a large step).

    Its allocator keeps freed blocks: after reading 200,000 CSV rows that was 127 MiB of resident memory
    nothing used, carried into every later step of training.
    """
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _delimited(path: Path, fmt: str, encoding: str, columns: list[str]) -> dict[str, list] | None:
    import pyarrow as pa
    import pyarrow.csv as pv

    read = pv.ReadOptions(block_size=BLOCK_BYTES, encoding="utf8" if encoding.startswith("utf-8") else encoding)
    parse = pv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",", newlines_in_values=True)
    with pv.open_csv(path, read_options=read, parse_options=parse) as reader:
        names = reader.schema.names  # the header (the first block is read twice: cheap)
    stripped = [n.strip() for n in names]
    if any(stripped.count(c) != 1 for c in columns):
        return None  # missing or ambiguous: the Python reader names the columns
    wanted = [names[stripped.index(c)] for c in columns]
    # Every column as text, as the csv module reads it (no number or null inference).
    convert = pv.ConvertOptions(column_types={n: pa.string() for n in names}, include_columns=wanted,
                                strings_can_be_null=False, quoted_strings_can_be_null=False)
    out: dict[str, list] = {c: [] for c in columns}
    with pv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert) as reader:
        for batch in reader:
            for c, n in zip(columns, wanted):
                out[c].extend(batch.column(n).to_pylist())
    return out


def _jsonl(path: Path, encoding: str, columns: list[str]) -> dict[str, list] | None:
    import pyarrow as pa
    import pyarrow.json as pj

    if encoding != "utf-8":
        return None
    out: dict[str, list] = {c: [] for c in columns}
    with pj.open_json(path, read_options=pj.ReadOptions(block_size=BLOCK_BYTES)) as reader:
        for batch in reader:
            for c in columns:
                if c not in batch.schema.names:
                    return None
                column = batch.column(c)
                kind = column.type
                if column.null_count or not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
                                             or (c != columns[0] and _plain_label_type(kind))):
                    return None
                out[c].extend(column.to_pylist())
    return out


def _plain_label_type(kind) -> bool:
    """Return whether a label column of this type reads as the Python reader reads it."""
    import pyarrow as pa

    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        kind = kind.value_type
        return pa.types.is_string(kind) or pa.types.is_large_string(kind)
    return pa.types.is_integer(kind) or pa.types.is_boolean(kind)


def _parquet(path: Path, columns: list[str]) -> dict[str, list] | None:
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    if any(c not in source.schema_arrow.names for c in columns):
        return None
    out: dict[str, list] = {c: [] for c in columns}
    for batch in source.iter_batches(columns=columns, batch_size=65536):
        for c in columns:
            out[c].extend(batch.column(c).to_pylist())
    return out
