"""Read labelled (or unlabelled) texts from CSV, TSV, JSON Lines, Parquet or fastText files.

The format comes from the extension (``.csv``, ``.tsv``/``.tab``,
``.jsonl``/``.ndjson``/``.json``, ``.parquet``/``.pq``, ``.txt``/``.ft`` in
fastText ``__label__x text`` form) or ``fmt=``. Text files are decoded as
UTF-8 when they are valid UTF-8, else as Windows-1252, else Latin-1 (which
never fails): the MR corpus, for one, is Latin-1. The encoding used is
reported in :attr:`Dataset.encoding`.

Multi-label data: a label cell holding ``a|b`` or a JSON list ``["a", "b"]``
(or a list value in JSON Lines/Parquet, or several ``__label__`` prefixes)
gives a document several labels; one such row makes the whole set multi-label.

Every problem raises :class:`~vecclf.training.errors.DataError` with one line naming
the file, and the row/line and column where it applies.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from vecclf.training.errors import DataError

FORMATS = ("csv", "tsv", "jsonl", "parquet", "fasttext")
_EXT = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "fasttext",
    ".ft": "fasttext",
}
FT_PREFIX = "__label__"
MAX_FIELD = 10 * 1024 * 1024


@dataclass
class Dataset:
    """Texts with optional labels, as read from one file."""

    path: str
    texts: list[str]
    labels: list | None
    encoding: str | None
    fmt: str
    multilabel: bool = False
    skipped_blank: int = 0
    rows: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def classes(self) -> list[str]:
        """Return the sorted distinct labels."""
        if self.labels is None:
            return []
        if self.multilabel:
            return sorted({lab for labs in self.labels for lab in labs})
        return sorted(set(self.labels))


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode ``data`` as UTF-8, else Windows-1252, else Latin-1; return (text, encoding)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def detect_format(path: Path, fmt: str = "auto") -> str:
    """Return the data format for ``path`` (from ``fmt`` or the extension)."""
    if fmt != "auto":
        if fmt not in FORMATS:
            raise DataError(f"{path}: unknown data format {fmt!r}; choose one of {', '.join(FORMATS)}")
        return fmt
    ext = _extension(path)
    if ext in _EXT:
        return _EXT[ext]
    raise DataError(f"{path}: cannot tell the format from the extension {ext!r}; pass --format ({', '.join(FORMATS)})")


def _extension(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def as_trained(trained: dict | None, path: str | os.PathLike, *, text_column: str | None = None,
               label_column: str | None = None, fmt: str | None = None) -> dict:
    """Return ``read_dataset``'s ``text_column``, ``label_column`` and ``fmt``: each as given, else as trained.

    ``trained`` is the ``data`` entry of a model's manifest (None for models
    that did not record it: then ``text``, ``label`` and ``auto``). The
    trained format is used for a file with the training file's extension, or
    one whose extension names no format; any other extension says its own.
    """
    trained = trained or {}
    if fmt is None:
        fmt = "auto"
        ext, trained_ext = _extension(Path(path)), _extension(Path(trained.get("path") or ""))
        if trained.get("format") in FORMATS and (ext == trained_ext or ext not in _EXT):
            fmt = trained["format"]
    return {"text_column": text_column or trained.get("text_column") or "text",
            "label_column": label_column or trained.get("label_column") or "label", "fmt": fmt}


def parse_label(cell, where: str, column: str):
    """Return a label string, or a tuple of labels for a multi-label cell."""
    if isinstance(cell, (list, tuple)):
        labels = tuple(str(c).strip() for c in cell if str(c).strip())
        if not labels:
            raise DataError(f"{where}: column {column!r} is an empty label list")
        return labels
    if cell is None:
        raise DataError(f"{where}: column {column!r} is empty")
    text = str(cell).strip() if not isinstance(cell, float) or cell == cell else ""
    if isinstance(cell, bool) or (isinstance(cell, float) and cell.is_integer()):
        text = str(int(cell)) if not isinstance(cell, bool) else str(cell).lower()
    if not text:
        raise DataError(f"{where}: column {column!r} is empty")
    if text.startswith("[") and text.endswith("]"):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list):
            return parse_label(value, where, column)
    if "|" in text:
        return parse_label([p for p in text.split("|")], where, column)
    return text


def read_dataset(
    path: str | os.PathLike,
    *,
    text_column: str = "text",
    label_column: str | None = "label",
    fmt: str = "auto",
    require_labels: bool = True,
) -> Dataset:
    """Read texts (and labels, unless ``label_column`` is None) from ``path``.

    Raises:
        DataError: the file is missing, empty, of an unknown format, lacks a
            column, or has a row that cannot be used.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    fmt = detect_format(path, fmt)
    if fmt in ("csv", "tsv", "jsonl", "parquet") and path.suffix.lower() != ".gz":
        fast = _read_fast(path, fmt, text_column, label_column, require_labels)
        if fast is not None:
            return fast
    if fmt == "parquet":
        records, encoding = _read_parquet(path, text_column, label_column), None
    else:
        data = path.read_bytes()
        if path.suffix.lower() == ".gz":
            import gzip

            data = gzip.decompress(data)
        if not data.strip():
            raise DataError(f"{path}: the file is empty")
        text, encoding = decode_bytes(data)
        if fmt == "fasttext" and label_column is None and FT_PREFIX not in text:
            return _plain_lines(path, text, encoding)
        reader = {"csv": _read_delimited, "tsv": _read_delimited, "jsonl": _read_jsonl, "fasttext": _read_fasttext}[fmt]
        records = reader(path, text, fmt, text_column, label_column)
    return _collect(path, records, encoding, fmt, text_column, label_column if require_labels else None)


def _read_fast(path: Path, fmt: str, text_column: str, label_column: str | None, require_labels: bool):
    """Return the Dataset pyarrow reads in batches (:mod:`vecclf.training.tables`), or None to read it in Python."""
    from vecclf.training.tables import detect_encoding, read_columns

    encoding = None
    if fmt != "parquet":
        scan = detect_encoding(path)
        if scan.encoding is None or scan.blank_lines or scan.empty:
            return None
        encoding = scan.encoding
    columns = [text_column] + ([label_column] if label_column else [])
    found = read_columns(path, fmt, encoding or "utf-8", columns)
    if found is None:
        return None
    texts = found[text_column]
    labels = found[label_column] if label_column else [None] * len(texts)
    # Data rows are numbered from 2 under a header, from 1 in JSON Lines (lines) and Parquet.
    first, kind = (2, "row") if fmt in ("csv", "tsv") else (1, "line" if fmt == "jsonl" else "row")
    records = ((kind, rowno, t, lab) for rowno, (t, lab) in enumerate(zip(texts, labels), start=first))
    return _collect(path, records, encoding, fmt, text_column, label_column if require_labels else None)


def _collect(path, records, encoding, fmt, text_column, label_column) -> Dataset:
    texts, labels, rows = [], [], []
    same: dict[str, str] = {}  # one string object per distinct label, not one per row
    skipped = 0
    multilabel = False
    column = label_column if fmt != "fasttext" else "__label__"
    for kind, rowno, text, label in records:
        if text is None:
            text = ""
        if not isinstance(text, str):
            text = str(text)
        if not text.strip():
            skipped += 1
            continue
        texts.append(text)
        rows.append(rowno)
        if label_column is not None:
            if type(label) is str and label and label == label.strip() and label[0] != "[" and "|" not in label:
                lab = same.setdefault(label, label)  # the common case: a plain label, nothing to parse
            else:
                lab = parse_label(label, f"{path}: {kind} {rowno}", column)
            multilabel = multilabel or isinstance(lab, tuple)
            labels.append(lab)
    if not texts:
        if skipped:
            raise DataError(f"{path}: column {text_column!r} is blank in every row ({skipped} rows)")
        raise DataError(f"{path}: the file has no data rows")
    if label_column is not None and multilabel:
        labels = [lab if isinstance(lab, tuple) else (lab,) for lab in labels]
    return Dataset(str(path), texts, labels if label_column is not None else None, encoding, fmt, multilabel, skipped, rows)


def _read_delimited(path, text, fmt, text_column, label_column):
    delimiter = "\t" if fmt == "tsv" else ","
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path}: the file is empty") from None
    except csv.Error as exc:
        raise DataError(f"{path}: row 1: malformed {fmt.upper()} header ({exc})") from exc
    header = [h.strip() for h in header]
    needed = [text_column] + ([label_column] if label_column else [])
    for col in needed:
        if col not in header:
            raise DataError(f"{path}: column {col!r} not found (columns: {', '.join(header) or 'none'})")
    ti = header.index(text_column)
    li = header.index(label_column) if label_column else None
    rowno = 1
    try:
        for rowno, row in enumerate(reader, start=2):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(header):
                raise DataError(f"{path}: row {rowno}: has {len(row)} fields, the header has {len(header)}")
            yield "row", rowno, row[ti], (row[li] if li is not None else None)
    except csv.Error as exc:
        raise DataError(f"{path}: row {rowno + 1}: malformed {fmt.upper()} ({exc})") from exc


def _lines(text: str) -> list[str]:
    """Split on newlines only: str.splitlines would also break at U+0085, U+2028 and friends inside texts."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def json_line(path, lineno: int, line: str, columns) -> dict | None:
    """Return the JSON object on line ``lineno`` (None for a blank line), checked to hold every one of ``columns``.

    Raises:
        DataError: the line is not a JSON object or lacks a column, naming the file and line.
    """
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise DataError(f"{path}: line {lineno}: not valid JSON ({exc.msg})") from exc
    if not isinstance(obj, dict):
        raise DataError(f"{path}: line {lineno}: expected a JSON object, got {type(obj).__name__}")
    for column in columns:
        if column not in obj:
            raise DataError(f"{path}: line {lineno}: column {column!r} not found (keys: {', '.join(obj) or 'none'})")
    return obj


def _read_jsonl(path, text, fmt, text_column, label_column):
    columns = [text_column] + ([label_column] if label_column else [])
    for lineno, line in enumerate(_lines(text), start=1):
        obj = json_line(path, lineno, line, columns)
        if obj is not None:
            yield "line", lineno, obj[text_column], (obj[label_column] if label_column else None)


def _read_fasttext(path, text, fmt, text_column, label_column):
    for lineno, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        parts = line.split()
        labels = []
        while parts and parts[0].startswith(FT_PREFIX):
            labels.append(parts.pop(0)[len(FT_PREFIX) :])
        if label_column and not labels:
            raise DataError(f"{path}: line {lineno}: no {FT_PREFIX} label at the start of the line")
        label = labels[0] if len(labels) == 1 else labels
        yield "line", lineno, " ".join(parts), (label if label_column else None)


def _plain_lines(path, text: str, encoding: str | None) -> Dataset:
    """Unlabelled texts one a line with no label anywhere: what ``_read_fasttext`` + ``_collect`` give, in list passes.

    ``vecclf embed`` reads files of this kind with hundreds of thousands of lines, where the general reader's
    per-line generator and checks cost about as much as embedding them.
    """
    joined = [" ".join(line.split()) for line in text.split("\n")]
    rows = [lineno for lineno, t in enumerate(joined, start=1) if t]
    if not rows:
        raise DataError(f"{path}: the file has no data rows")
    return Dataset(str(path), [t for t in joined if t], None, encoding, "fasttext", rows=rows)


def _read_parquet(path, text_column, label_column):
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from exc
    for col in [text_column] + ([label_column] if label_column else []):
        if col not in schema.names:
            raise DataError(f"{path}: column {col!r} not found (columns: {', '.join(schema.names)})")
    cols = [text_column] + ([label_column] if label_column else [])
    table = pq.read_table(path, columns=cols)
    texts = table.column(text_column).to_pylist()
    labels = table.column(label_column).to_pylist() if label_column else [None] * len(texts)
    for i, (t, lab) in enumerate(zip(texts, labels), start=1):
        yield "row", i, t, lab
