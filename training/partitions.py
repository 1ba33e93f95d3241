"""Split a dataset file into partitions read one at a time, so files larger than memory can be scored.

:func:`plan` looks at a file once and returns its :class:`Partition` list;
:func:`read_partition` reads one of them anywhere (another process, another
machine sharing the file system) and returns its ids and texts.

- CSV, TSV and JSON Lines are split at record boundaries about every
  ``block_bytes``. Planning streams the file once: it counts lines, checks the
  encoding (UTF-8, else Windows-1252, else Latin-1, as :mod:`vecclf.training.data`
  decides) and, for CSV/TSV, tracks quote parity, so a quoted field holding a
  newline never straddles two partitions (RFC 4180 doubles quotes inside
  fields, so an even count of ``"`` before a newline means it ends a record).
- Parquet files are split at row-group boundaries (row groups are the unit
  Parquet reads), grouping consecutive ones up to about ``block_bytes``.

Ids: the file's id column when it has one (CSV/JSON Lines values as text,
Parquet values with their type), else the number vecclf's error messages use
for the row: its line in a text file (a CSV header is line 1), its 1-based
row in a Parquet file. A blank or missing text is the empty text.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

from vecclf.training.data import MAX_FIELD, detect_format, json_line
from vecclf.training.errors import DataError

FORMATS = ("csv", "tsv", "jsonl", "parquet")
DEFAULT_BLOCK_BYTES = 8 * 1024 * 1024
_CHUNK = 8 * 1024 * 1024
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")


@dataclass(frozen=True)
class Partition:
    """One slice of one input file: bytes ``[start, stop)`` of a text file, or row groups ``[start, stop)``."""

    path: str
    fmt: str
    index: int
    start: int
    stop: int
    first_row: int  # line number (text formats) or 1-based row number (Parquet) of the slice's first line/row
    encoding: str | None
    header: tuple[str, ...]  # CSV/TSV column names; empty otherwise
    text_column: str
    id_column: str | None  # the file's id column, or None when ids are generated


def plan(path: str | os.PathLike, *, text_column: str = "text", id_column: str | None = None,
         fmt: str = "auto", block_bytes: int = DEFAULT_BLOCK_BYTES) -> list[Partition]:
    """Return the partitions of ``path``; ``id_column`` None means "id" if the file has it, else generated ids.

    Raises:
        DataError: the file is missing, empty, compressed, of another format, or lacks a named column.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() == ".gz":
        raise DataError(f"{path}: a compressed file cannot be split into partitions; decompress it or use Parquet")
    fmt = detect_format(path, fmt)
    if fmt not in FORMATS:
        raise DataError(f"{path}: vecclf score reads {', '.join(FORMATS)} files, not {fmt}")
    if block_bytes < 1:
        raise DataError(f"{path}: the partition size must be positive")
    if fmt == "parquet":
        return _plan_parquet(path, text_column, id_column, block_bytes)
    return _plan_text(path, fmt, text_column, id_column, block_bytes)


def _choose_id(path: Path, names, id_column: str | None) -> str | None:
    if id_column is None:
        return "id" if "id" in names else None
    if id_column not in names:
        raise DataError(f"{path}: id column {id_column!r} not found (columns: {', '.join(names) or 'none'})")
    return id_column


def _plan_parquet(path: Path, text_column: str, id_column: str | None, block_bytes: int) -> list[Partition]:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from exc
    names = meta.schema.to_arrow_schema().names
    if text_column not in names:
        raise DataError(f"{path}: column {text_column!r} not found (columns: {', '.join(names)})")
    id_column = _choose_id(path, names, id_column)
    if meta.num_rows == 0:
        raise DataError(f"{path}: the file has no data rows")
    parts, start, size, row, first = [], 0, 0, 1, 1
    for group in range(meta.num_row_groups):
        size += meta.row_group(group).total_byte_size
        row += meta.row_group(group).num_rows
        if size >= block_bytes or group == meta.num_row_groups - 1:
            parts.append(Partition(str(path), "parquet", len(parts), start, group + 1, first, None, (), text_column,
                                   id_column))
            start, size, first = group + 1, 0, row
    return parts


def _plan_text(path: Path, fmt: str, text_column: str, id_column: str | None, block_bytes: int) -> list[Partition]:
    quoted = fmt in ("csv", "tsv")
    with open(path, "rb") as fh:
        bom = fh.read(3) == codecs.BOM_UTF8
        begin = 3 if bom else 0
        fh.seek(begin)
        # CSV/TSV: the first record end found is the header's, where the data starts; JSON Lines starts at once.
        scan = _Scan(quoted, begin, block_bytes)
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            scan.feed(chunk)
    size, encoding = scan.pos, scan.encoding()
    if size <= begin:
        raise DataError(f"{path}: the file is empty")
    header: list[str] = []
    if quoted and scan.quotes % 2:
        after = scan.cuts[-1][1] + 1 if scan.cuts else 1
        raise DataError(f"{path}: a quoted field opened at line {after} or later is never closed")
    if quoted:
        if not scan.cuts:
            raise DataError(f"{path}: the file has no data rows")
        header = _header(path, fmt, begin, scan.cuts[0][0], encoding)
        if text_column not in header:
            raise DataError(f"{path}: column {text_column!r} not found (columns: {', '.join(header) or 'none'})")
        id_column = _choose_id(path, header, id_column)
    cuts = [cut for cut in scan.cuts if cut[0] < size]
    if not cuts:
        raise DataError(f"{path}: the file has no data rows")
    if not quoted:
        id_column = _first_object_id(path, cuts[0][0], encoding, text_column, id_column)
    ends = [cut[0] for cut in cuts[1:]] + [size]
    return [Partition(str(path), fmt, i, start, stop, lines + 1, encoding, tuple(header), text_column, id_column)
            for i, ((start, lines), stop) in enumerate(zip(cuts, ends))]


class _Scan:
    """Streaming state of :func:`_plan_text`: offsets, line count, quote parity, encoding evidence."""

    def __init__(self, quoted: bool, begin: int, block: int):
        self.quoted, self.block = quoted, block
        self.pos = begin  # file offset of the next chunk
        self.lines = 0  # newlines before the scanned point
        self.quotes = 0  # quotes before the scanned point (only the parity matters)
        self.cuts: list[tuple[int, int]] = [] if quoted else [(begin, 0)]  # (partition start, newlines before it)
        self.target = begin if quoted else begin + block  # cut at the first record end at or after this offset
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.is_utf8 = True
        self.cp1252 = True

    def feed(self, chunk: bytes) -> None:
        """Account for the next ``chunk`` of the file, cutting where targets fall inside it."""
        if self.is_utf8:
            try:
                self.utf8.decode(chunk)
            except UnicodeDecodeError:
                self.is_utf8 = False
        if self.cp1252 and any(b in chunk for b in _CP1252_UNDEFINED):
            self.cp1252 = False
        done = 0  # quotes and newlines of chunk[:done] are counted
        while self.target < self.pos + len(chunk):
            nl = chunk.find(b"\n", max(self.target - self.pos, done))
            if nl == -1:
                break
            self._count(chunk, done, nl + 1)
            done = nl + 1
            if self.quotes % 2 == 0:  # outside any quoted field: a record ends here
                self.cuts.append((self.pos + done, self.lines))
                self.target = self.pos + done + self.block
        self._count(chunk, done, len(chunk))
        self.pos += len(chunk)

    def _count(self, chunk: bytes, start: int, stop: int) -> None:
        if self.quoted:
            self.quotes += chunk.count(b'"', start, stop)
        self.lines += chunk.count(b"\n", start, stop)

    def encoding(self) -> str:
        """Return how the whole file decodes: UTF-8, else Windows-1252, else Latin-1."""
        if self.is_utf8:
            try:
                self.utf8.decode(b"", final=True)
                return "utf-8"
            except UnicodeDecodeError:
                pass
        return "cp1252" if self.cp1252 else "latin-1"


def _header(path: Path, fmt: str, begin: int, end: int, encoding: str) -> list[str]:
    with open(path, "rb") as fh:
        fh.seek(begin)
        raw = fh.read(end - begin)
    try:
        row = next(csv.reader(io.StringIO(raw.decode(encoding), newline=""), delimiter=_DELIMITER[fmt]))
    except (StopIteration, csv.Error) as exc:
        raise DataError(f"{path}: line 1: malformed {fmt.upper()} header") from exc
    return [h.strip() for h in row]


_DELIMITER = {"csv": ",", "tsv": "\t"}


def _first_object_id(path: Path, start: int, encoding: str, text_column: str, id_column: str | None) -> str | None:
    """Check the first JSON line has the text column; return the id column every line then must have."""
    with open(path, "rb") as fh:
        fh.seek(start)
        for lineno, raw in enumerate(fh, start=1):
            obj = json_line(path, lineno, raw.decode(encoding), [text_column])
            if obj is not None:
                return _choose_id(path, list(obj), id_column)
    raise DataError(f"{path}: the file has no data rows")


# ---------------------------------------------------------------- reading one partition
def read_partition(part: Partition):
    """Return ``(ids, texts)`` of ``part``: ids a pyarrow array, texts a list of str (one per input row).

    Raises:
        DataError: a row of the slice is malformed, naming the file and line.
    """
    import pyarrow as pa

    if part.fmt == "parquet":
        import pyarrow.parquet as pq

        columns = [part.text_column] + ([part.id_column] if part.id_column else [])
        table = pq.ParquetFile(part.path).read_row_groups(list(range(part.start, part.stop)), columns=columns)
        texts = ["" if t is None else str(t) for t in table.column(part.text_column).to_pylist()]
        if part.id_column:
            return table.column(part.id_column).combine_chunks(), texts
        return pa.array(range(part.first_row, part.first_row + len(texts)), type=pa.int64()), texts
    with open(part.path, "rb") as fh:
        fh.seek(part.start)
        data = fh.read(part.stop - part.start)
    text = data.decode(part.encoding)
    rows = _csv_rows(part, text) if part.header else _json_rows(part, text)
    ids, texts = [], []
    for row_id, value in rows:
        ids.append(row_id)
        texts.append(value)
    return pa.array(ids, type=pa.string() if part.id_column else pa.int64()), texts


def _csv_rows(part: Partition, text: str):
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_DELIMITER[part.fmt])
    width = len(part.header)
    ti = part.header.index(part.text_column)
    ii = part.header.index(part.id_column) if part.id_column else None
    line = part.first_row
    try:
        for row in reader:
            if row and not (len(row) == 1 and not row[0].strip()):
                if len(row) != width:
                    raise DataError(f"{part.path}: line {line}: has {len(row)} fields, the header has {width}")
                yield (row[ii] if ii is not None else line), row[ti]
            line = part.first_row + reader.line_num
    except csv.Error as exc:
        raise DataError(f"{part.path}: line {line}: malformed {part.fmt.upper()} ({exc})") from None


def _json_rows(part: Partition, text: str):
    lines = text.split("\n")
    columns = [c for c in (part.text_column, part.id_column) if c]
    for offset, line in enumerate(lines):
        lineno = part.first_row + offset
        obj = json_line(part.path, lineno, line, columns)
        if obj is None:  # a blank line
            continue
        value = obj[part.text_column]
        row_id = lineno
        if part.id_column:
            raw = obj[part.id_column]
            row_id = raw if isinstance(raw, str) or raw is None else json.dumps(raw)
        yield row_id, "" if value is None else (value if isinstance(value, str) else str(value))
