"""Feedback in files: read rows to import or label from CSV/TSV/JSON Lines, write an export atomically.

CSV cells hold one label, or several joined by ``|``; JSON Lines hold a string
or a list. Every error names the file, the row (CSV) or line (JSONL) and
the column; nothing is stored until the whole file has been read and checked.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from vecclf.training.data import MAX_FIELD, decode_bytes, detect_format, json_line, parse_label
from vecclf.training.errors import DataError
from vecclf.training.feedback import FEEDBACK_FIELDS
from vecclf.training.feedback_labels import agrees, check_label

FILE_FORMATS = ("csv", "tsv", "jsonl")


def file_format(path: Path, fmt: str) -> str:
    """Return ``csv``, ``tsv`` or ``jsonl`` for ``path`` (from ``fmt`` or its extension)."""
    found = detect_format(path, fmt)
    if found not in FILE_FORMATS:
        raise DataError(f"{path}: feedback files are {', '.join(FILE_FORMATS)}, not {found}")
    return found


def read_records(path: str | os.PathLike, fmt: str = "auto") -> Iterator[tuple[str, dict]]:
    """Yield ``(where, record)`` for each non-blank row of a CSV/TSV/JSONL file (``where``: "row 3", "line 7")."""
    path = Path(path)
    fmt = file_format(path, fmt)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    if not data.strip():
        raise DataError(f"{path}: the file is empty")
    text, _ = decode_bytes(data)
    if fmt == "jsonl":
        for lineno, line in enumerate(text.split("\n"), start=1):
            obj = json_line(path, lineno, line.removesuffix("\r"), ())
            if obj is not None:
                yield f"line {lineno}", obj
        return
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if fmt == "tsv" else ",")
    rowno = 1
    try:
        header = [h.strip() for h in next(reader)]
        for rowno, row in enumerate(reader, start=2):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(header):
                raise DataError(f"{path}: row {rowno}: has {len(row)} fields, the header has {len(header)}")
            yield f"row {rowno}", dict(zip(header, row))
    except csv.Error as exc:
        raise DataError(f"{path}: row {rowno}: malformed {fmt.upper()} ({exc})") from None


def _field(path, where, record: dict, column: str, required: bool = True):
    value = record.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise DataError(f"{path}: {where}: column {column!r} is {'missing' if column not in record else 'empty'}")
        return None
    return value


def _label(path, where, record, known, multilabel, allow_new):
    raw = _field(path, where, record, "label")
    if isinstance(raw, str):
        raw = parse_label(raw, f"{path}: {where}", "label")
    if isinstance(raw, tuple):
        raw = list(raw)
    try:
        return check_label(raw, known, multilabel, allow_new)
    except DataError as exc:
        raise DataError(f"{path}: {where}: column 'label': {exc}") from None


def _time(path, where, record) -> dt.datetime | None:
    raw = _field(path, where, record, "created_at", required=False)
    if raw is None:
        return None
    try:
        when = dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise DataError(f"{path}: {where}: column 'created_at' is not an ISO 8601 time: {raw!r}") from None
    return when.astimezone(dt.timezone.utc).replace(tzinfo=None) if when.tzinfo else when


def _number(path, where, record, column):
    raw = _field(path, where, record, column, required=False)
    try:
        return None if raw is None else float(raw)
    except (TypeError, ValueError):
        raise DataError(f"{path}: {where}: column {column!r} is not a number: {raw!r}") from None


def import_rows(path, fmt: str, model: str, known: Iterable[str], multilabel: bool, allow_new: bool) -> list[dict]:
    """Return the feedback rows of a file (``text``, ``label``; an export's other columns are kept), checked."""
    known = set(known)
    rows = []
    for where, record in read_records(path, fmt):
        text = _field(path, where, record, "text")
        if not isinstance(text, str):
            raise DataError(f"{path}: {where}: column 'text' must be a string")
        label = _label(path, where, record, known, multilabel, allow_new)
        predicted = _field(path, where, record, "predicted", required=False)
        if predicted is not None:
            predicted = parse_label(predicted, f"{path}: {where}", "predicted")
            predicted = list(predicted) if isinstance(predicted, tuple) else predicted
        rows.append({"model": model, "text": text, "label": label, "agrees": agrees(predicted, label),
                     "version": _field(path, where, record, "version", required=False), "predicted": predicted,
                     "confidence": _number(path, where, record, "confidence"),
                     "request_id": _field(path, where, record, "request_id", required=False),
                     "prediction_id": _field(path, where, record, "prediction_id", required=False),
                     "created_at": _time(path, where, record), "source": "import"})
    if not rows:
        raise DataError(f"{path}: the file has no data rows")
    return rows


def label_rows(path, fmt: str, known: Iterable[str], multilabel: bool, allow_new: bool) -> list[tuple[str, int, object]]:
    """Return ``(where, review item id, label)`` for each row of a labels file (columns ``id`` and ``label``)."""
    known = set(known)
    out = []
    for where, record in read_records(path, fmt):
        raw = _field(path, where, record, "id")
        try:
            item = int(raw)
        except (TypeError, ValueError):
            raise DataError(f"{path}: {where}: column 'id' is not a review item id: {raw!r}") from None
        out.append((where, item, _label(path, where, record, known, multilabel, allow_new)))
    if not out:
        raise DataError(f"{path}: the file has no data rows")
    return out


def write_rows(rows: Iterable[dict], path: str | os.PathLike, fmt: str = "auto") -> int:
    """Write feedback rows to ``path`` as CSV/TSV/JSONL (temp file + rename); return how many."""
    path = Path(path)
    fmt = file_format(path, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    n = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            writer = None
            if fmt != "jsonl":
                writer = csv.writer(fh, delimiter="\t" if fmt == "tsv" else ",")
                writer.writerow(FEEDBACK_FIELDS)
            for row in rows:
                if writer is None:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                else:
                    writer.writerow([_cell(row[k]) for k in FEEDBACK_FIELDS])
                n += 1
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return n


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "|".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
