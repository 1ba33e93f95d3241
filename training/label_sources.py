"""Labelled rows for the retrain job: named sources, read in order, merged into one deduplicated Dataset.

Each source has a ``name`` (the key of ``rows_by_source`` in the job's
output), ``describe()`` (provenance for the manifest) and ``rows()``, which
yields ``(where, text, label)`` with ``where`` naming the file/row or query
row for error messages. The sources of a config are, in this order:

- ``files``: ``data.paths``, files or glob patterns, each read by
  :func:`~vecclf.training.data.read_dataset` (every format it supports);
- ``sql``: ``data.sql_query`` on ``data.sql_url`` through SQLAlchemy
  (:mod:`vecclf.training.database`), streamed ``data.sql_chunk_rows`` rows at
  a time (a server-side cursor on PostgreSQL), so a large table never sits in
  memory twice;
- ``feedback``: labels sent to the service (``include_feedback``), each text's
  newest label (:func:`vecclf.training.feedback.feedback_rows`), read last so
  they win over the base data.

:func:`merge` deduplicates by text (whitespace-normalised): when one text comes
more than once, the last row read wins, so later sources override earlier ones.
"""

from __future__ import annotations

import glob
import hashlib
import json
from pathlib import Path

from vecclf.training.data import Dataset, parse_label, read_dataset
from vecclf.training.database import check, connect, database_url, redact
from vecclf.training.errors import DataError, StorageError
from vecclf.training.train import file_fingerprint


class FileSource:
    """Files and glob patterns, each read with the data readers."""

    name = "files"

    def __init__(self, patterns, *, fmt: str, text_column: str, label_column: str):
        self.patterns, self.fmt = list(patterns), fmt
        self.text_column, self.label_column = text_column, label_column
        self._read: list[dict] = []

    def files(self) -> list[Path]:
        """Return the files the patterns name, in pattern order then sorted; a pattern matching nothing is an error."""
        found: list[Path] = []
        for pattern in self.patterns:
            if glob.has_magic(pattern):
                matches = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
                if not matches:
                    raise DataError(f"{pattern}: the pattern in data.paths matches no file")
            else:
                matches = [Path(pattern)]
                if not matches[0].is_file():
                    raise DataError(f"{pattern}: no such file (data.paths)")
            found.extend(m for m in matches if m not in found)
        return found

    def rows(self, progress=None):
        """Yield ``(where, text, label)`` for every labelled row of every file."""
        for path in self.files():
            ds = read_dataset(path, text_column=self.text_column, label_column=self.label_column, fmt=self.fmt)
            self._read.append({"path": str(path.resolve()), "sha256": file_fingerprint(path), "rows": len(ds),
                               "format": ds.fmt, "encoding": ds.encoding, "skipped_blank": ds.skipped_blank})
            where = "line" if ds.fmt in ("jsonl", "fasttext") else "row"
            for row, text, label in zip(ds.rows, ds.texts, ds.labels):
                yield f"{path}: {where} {row}", text, label
            if progress is not None:
                progress(len(ds))

    def describe(self) -> dict:
        return {"name": self.name, "patterns": self.patterns, "files": self._read}


class SqlSource:
    """A SQL query through SQLAlchemy, streamed in chunks."""

    name = "sql"

    def __init__(self, url: str, query: str, *, chunk_rows: int, text_column: str, label_column: str):
        self.url, self.query, self.chunk_rows = url, query, chunk_rows
        self.text_column, self.label_column = text_column, label_column
        self._rows = 0

    def rows(self, progress=None):
        """Yield ``(where, text, label)`` per result row; blank texts are skipped as in files.

        Raises:
            StorageError: the database is unreachable.
            DataError: the query fails or lacks a column, or a label is empty.
        """
        from sqlalchemy import text as sql
        from sqlalchemy.exc import DBAPIError, SQLAlchemyError

        from sqlalchemy.engine import make_url

        where = redact(self.url)
        try:
            parsed = make_url(self.url)
        except Exception:  # noqa: BLE001  connect() below names the problem
            parsed = None
        if parsed is not None and parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            # SQLite would create a missing file (and its folder): reading must change nothing.
            if not Path(parsed.database).is_file():
                raise DataError(f"{parsed.database}: no such SQLite database file (data.sql_url)")
        engine = connect(self.url)
        try:
            check(engine)
            with engine.connect() as conn:
                try:
                    result = conn.execution_options(stream_results=True, yield_per=self.chunk_rows).execute(
                        sql(self.query))
                except SQLAlchemyError as exc:
                    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                    raise DataError(f"{where}: data.sql_query failed: {reason}") from None
                columns = list(result.keys())
                for col in (self.text_column, self.label_column):
                    if col not in columns:
                        raise DataError(f"{where}: data.sql_query returns no column {col!r} "
                                        f"(columns: {', '.join(columns) or 'none'}); alias one with AS {col}")
                ti, li = columns.index(self.text_column), columns.index(self.label_column)
                rowno = 0
                try:
                    for chunk in result.partitions(self.chunk_rows):
                        for record in chunk:
                            rowno += 1
                            text = record[ti]
                            if text is None or not str(text).strip():
                                continue
                            label = parse_label(record[li], f"{where}: query row {rowno}", self.label_column)
                            yield f"{where}: query row {rowno}", str(text), label
                        self._rows = rowno
                        if progress is not None:
                            progress(len(chunk))
                except DBAPIError as exc:  # the connection broke while streaming
                    reason = str(exc.orig or exc).strip().splitlines()[0]
                    raise StorageError(f"{where}: reading data.sql_query failed after {rowno} rows: {reason}") from None
        finally:
            engine.dispose()

    def describe(self) -> dict:
        return {"name": self.name, "url": redact(self.url), "query": self.query, "rows": self._rows}


class FeedbackSource:
    """Labels users sent to the service for this model (``include_feedback``), from the database at ``url``.

    :func:`vecclf.training.feedback.feedback_rows` gives one row per text, its
    newest label, in the order of those labels, oldest first; read last, they
    win over the base data in :func:`merge`. A store that never received
    feedback has no rows (and reading it creates no database).
    """

    name = "feedback"

    def __init__(self, model: str, url: str):
        self.model, self.url = model, url
        self._rows = 0

    def rows(self, progress=None):
        """Yield ``(where, text, label)`` for each text's newest feedback label.

        Raises:
            StorageError: the database is unreachable or unreadable.
        """
        from vecclf.training.feedback import feedback_rows

        rows = feedback_rows(self.url, self.model)
        self._rows = len(rows)
        where = redact(self.url)
        for row in rows:
            yield f"{where}: feedback row {row['id']}", row["text"], row["label"]
        if progress is not None and rows:
            progress(len(rows))

    def describe(self) -> dict:
        return {"name": self.name, "model": self.model, "url": redact(self.url), "rows": self._rows}


def build_sources(cfg, *, store: str, database: str | None = None) -> list:
    """Return the sources a :class:`~vecclf.training.retrain_config.RetrainConfig` names, in reading order.

    ``database`` is vecclf's own database URL (feedback); None means the SQLite file in ``store``.
    """
    d = cfg.data
    sources: list = []
    if d.paths:
        sources.append(FileSource(d.paths, fmt=d.format, text_column=d.text_column, label_column=d.label_column))
    if d.sql_url:
        sources.append(SqlSource(d.sql_url, d.sql_query, chunk_rows=d.sql_chunk_rows, text_column=d.text_column,
                                 label_column=d.label_column))
    if d.include_feedback:
        sources.append(FeedbackSource(cfg.model, database_url(store, database)))
    return sources


def _key(text: str) -> str:
    return " ".join(text.split())


def merge(sources, progress=None) -> tuple[Dataset, dict]:
    """Read every source and deduplicate by text, the last row winning; return ``(dataset, summary)``.

    ``summary`` has ``rows_by_source`` (rows read from each), ``duplicates`` (rows dropped as repeats of a
    text) and ``conflicts`` (repeats whose label differed; the later label was kept), and ``sha256``, a
    fingerprint of the merged rows.
    """
    by_text: dict[str, int] = {}
    texts: list[str] = []
    labels: list = []
    counts: dict[str, int] = {}
    duplicates = conflicts = 0
    for source in sources:
        n = 0
        for _where, text, label in source.rows(progress):
            n += 1
            key = _key(text)
            at = by_text.get(key)
            if at is None:
                by_text[key] = len(texts)
                texts.append(text)
                labels.append(label)
                continue
            duplicates += 1
            if labels[at] != label:
                conflicts += 1
                texts[at], labels[at] = text, label
        counts[source.name] = n
    names = ", ".join(s.name for s in sources)
    if not texts:
        raise DataError(f"retrain data ({names}): no labelled rows")
    multilabel = any(isinstance(lab, tuple) for lab in labels)
    if multilabel:
        labels = [lab if isinstance(lab, tuple) else (lab,) for lab in labels]
    digest = hashlib.sha256()
    for text, label in zip(texts, labels):
        digest.update(json.dumps([text, label], ensure_ascii=False).encode("utf-8") + b"\n")
    ds = Dataset(f"retrain data ({names})", texts, labels, None, "mixed", multilabel, 0, list(range(1, len(texts) + 1)))
    return ds, {"rows_by_source": counts, "duplicates": duplicates, "conflicts": conflicts,
                "sha256": digest.hexdigest()}
