"""Feedback and the review queue: labels sent back by users, and uncertain live texts waiting for one.

Both live in one database reached through :mod:`vecclf.training.database`
(a SQLite file in the model store by default, or ``VECCLF_DATABASE_URL``), in
two tables every part of vecclf shares: the service writes them, ``vecclf
feedback`` reads, imports, exports and labels, and ``vecclf retrain`` merges
the feedback into its training data. Quickstart::

    store = FeedbackStore(database_url("models", None))
    store.add({"model": "sentiment", "version": "v3", "text": "meh", "label": "neg", "source": "api"})
    rows = feedback_rows(store, "sentiment")          # what a retrain learns from (include_feedback)

- A row of ``vecclf_feedback`` is one labelled text: the model, the version
  serving when it came, what that version predicted, the label, where it came
  from (``api``, ``review``, ``import``), the request ids and the time (UTC).
- A row of ``vecclf_review_queue`` is a live text the service sampled because
  its top confidence was low; it is resolved when feedback for the same text
  arrives (through the API, ``/review`` or ``vecclf feedback label``).
- Multi-label labels are stored as a JSON list (``["a", "b"]``), which the data
  readers parse back; a single label is stored as it is.
- Every database failure is a :class:`~vecclf.training.errors.StorageError`
  with one line naming the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterable, Iterator

from sqlalchemy import (BigInteger, Boolean, Column, DateTime, Float, Index, Integer, MetaData, String, Table, Text,
                        func, insert, select, update)
from sqlalchemy.exc import SQLAlchemyError

from vecclf.training.database import check, connect, redact
from vecclf.training.errors import ConfigError, StorageError
from vecclf.training.feedback_labels import decode_label, encode_label

SOURCES = ("api", "review", "import")
_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only

metadata = MetaData()
def _text_columns() -> list[Column]:
    """Return new copies of the columns both tables start with (a Column belongs to one table)."""
    return [Column("id", _ID, primary_key=True, autoincrement=True), Column("model", String(100), nullable=False),
            Column("version", String(64)), Column("text", Text, nullable=False),
            Column("text_sha", String(64), nullable=False)]


FEEDBACK = Table(
    "vecclf_feedback", metadata, *_text_columns(),
    Column("label", Text, nullable=False),
    Column("predicted", Text),
    Column("confidence", Float),
    Column("agrees", Boolean),
    Column("source", String(16), nullable=False),
    Column("request_id", String(128)),
    Column("prediction_id", String(128)),
    Column("created_at", DateTime, nullable=False),
    Index("ix_vecclf_feedback_model_time", "model", "created_at"),
    Index("ix_vecclf_feedback_model_text", "model", "text_sha"),
)
REVIEW = Table(
    "vecclf_review_queue", metadata, *_text_columns(),
    Column("predicted", Text),
    Column("confidence", Float),
    Column("request_id", String(128)),
    Column("created_at", DateTime, nullable=False),
    Column("labelled_at", DateTime),
    Column("feedback_id", BigInteger),
    Index("ix_vecclf_review_model_open", "model", "labelled_at", "confidence"),
    Index("ix_vecclf_review_model_text", "model", "text_sha"),
)
FEEDBACK_FIELDS = ("id", "model", "version", "text", "label", "predicted", "confidence", "agrees", "source",
                   "request_id", "prediction_id", "created_at")
REVIEW_FIELDS = ("id", "model", "version", "text", "predicted", "confidence", "request_id", "created_at")


def utcnow() -> dt.datetime:
    """Return the current UTC time as the naive datetime the tables hold."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def text_sha(text: str) -> str:
    """Return the key that finds the rows of one text (its UTF-8 sha256)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=dt.timezone.utc).isoformat()


def _public(row, fields: tuple[str, ...]) -> dict:
    out = {k: getattr(row, k) for k in fields}
    out["created_at"] = _iso(out["created_at"])
    for key in ("label", "predicted"):
        if key in out:
            out[key] = decode_label(out[key])
    return out


class FeedbackStore:
    """The feedback and review tables of one database; safe to build before a fork (connects per process)."""

    def __init__(self, url: str):
        self.url = url
        self._engine = None
        self._pid: int | None = None
        self._ready = False

    @property
    def engine(self):
        """Return this process's engine (a forked child never reuses its parent's connections)."""
        if self._engine is None or self._pid != os.getpid():
            self._engine = connect(self.url)
            self._pid = os.getpid()
        return self._engine

    def _fail(self, exc: SQLAlchemyError, doing: str) -> StorageError:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return StorageError(f"database {redact(self.url)}: cannot {doing}: {reason}")

    def ensure(self) -> None:
        """Create the tables if they are missing (several processes may race to do it)."""
        if self._ready:
            return
        check(self.engine)
        try:
            metadata.create_all(self.engine)
        except SQLAlchemyError:
            try:  # another process created them between our check and our CREATE
                metadata.create_all(self.engine)
            except SQLAlchemyError as exc:
                raise self._fail(exc, "create the feedback tables") from None
        self._ready = True

    def dispose(self) -> None:
        """Close this process's connections."""
        if self._engine is not None and self._pid == os.getpid():
            self._engine.dispose()
        self._engine = None

    def __enter__(self) -> "FeedbackStore":
        return self

    def __exit__(self, *exc) -> None:
        self.dispose()

    # ------------------------------------------------------------ writing
    def add(self, row: dict) -> int:
        """Store one feedback row; resolve the open review items of its text; return the row's id."""
        return self.add_many([row])[0]

    def add_many(self, rows: list[dict]) -> list[int]:
        """Store feedback rows in one transaction (all or none); return their ids."""
        self.ensure()
        now = utcnow()
        ids = []
        try:
            with self.engine.begin() as conn:
                for row in rows:
                    values = _feedback_values(row, now)
                    new_id = conn.execute(insert(FEEDBACK).values(**values)).inserted_primary_key[0]
                    ids.append(int(new_id))
                    conn.execute(update(REVIEW)
                                 .where(REVIEW.c.model == values["model"], REVIEW.c.text_sha == values["text_sha"],
                                        REVIEW.c.labelled_at.is_(None))
                                 .values(labelled_at=values["created_at"], feedback_id=new_id))
        except SQLAlchemyError as exc:
            raise self._fail(exc, "store feedback") from None
        return ids

    def enqueue(self, items: list[dict]) -> int:
        """Add sampled live texts to the review queue in one transaction; return how many."""
        if not items:
            return 0
        self.ensure()
        now = utcnow()
        values = [{"model": i["model"], "version": i.get("version"), "text": i["text"], "text_sha": text_sha(i["text"]),
                   "predicted": encode_label(i.get("predicted")), "confidence": i.get("confidence"),
                   "request_id": i.get("request_id"), "created_at": i.get("created_at") or now} for i in items]
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(REVIEW), values)
        except SQLAlchemyError as exc:
            raise self._fail(exc, "queue texts for review") from None
        return len(values)

    # ------------------------------------------------------------ reading
    def rows(self, model: str, since: dt.datetime | None = None) -> Iterator[dict]:
        """Yield a model's feedback rows, oldest first (streamed)."""
        self.ensure()
        query = select(FEEDBACK).where(FEEDBACK.c.model == model)
        if since is not None:
            query = query.where(FEEDBACK.c.created_at >= since)
        query = query.order_by(FEEDBACK.c.created_at, FEEDBACK.c.id)
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(yield_per=1000).execute(query)
                try:
                    for row in result:
                        yield _public(row, FEEDBACK_FIELDS)
                finally:
                    result.close()  # a reader that stops early must not leave a server-side cursor open
        except SQLAlchemyError as exc:
            raise self._fail(exc, "read feedback") from None

    def queue(self, model: str, limit: int | None = None) -> list[dict]:
        """Return a model's open review items, most uncertain first, one per text."""
        self.ensure()
        query = (select(REVIEW).where(REVIEW.c.model == model, REVIEW.c.labelled_at.is_(None))
                 .order_by(REVIEW.c.confidence.asc().nulls_last(), REVIEW.c.id))
        out, seen = [], set()
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(yield_per=1000).execute(query)
                try:
                    for row in result:
                        if row.text_sha in seen:
                            continue
                        seen.add(row.text_sha)
                        out.append(_public(row, REVIEW_FIELDS))
                        if limit is not None and len(out) >= limit:
                            break
                finally:
                    result.close()
        except SQLAlchemyError as exc:
            raise self._fail(exc, "read the review queue") from None
        return out

    def keys(self, model: str) -> set[tuple[str, str, dt.datetime]]:
        """Return ``(text sha, stored label, time)`` of every feedback row of ``model`` (to skip re-imports)."""
        self.ensure()
        query = select(FEEDBACK.c.text_sha, FEEDBACK.c.label, FEEDBACK.c.created_at).where(FEEDBACK.c.model == model)
        try:
            with self.engine.connect() as conn:
                return {tuple(r) for r in conn.execution_options(yield_per=5000).execute(query)}
        except SQLAlchemyError as exc:
            raise self._fail(exc, "read feedback") from None

    def queued_count(self, model: str) -> int:
        """Return how many review items of ``model`` are open (every sample, repeats of a text included)."""
        self.ensure()
        query = select(func.count()).select_from(REVIEW).where(REVIEW.c.model == model, REVIEW.c.labelled_at.is_(None))
        try:
            with self.engine.connect() as conn:
                return int(conn.execute(query).scalar_one())
        except SQLAlchemyError as exc:
            raise self._fail(exc, "read the review queue") from None

    def queued(self, model: str, ids: Iterable[int]) -> dict[int, dict]:
        """Return the review items of ``model`` with these ids (labelled or not), by id."""
        self.ensure()
        wanted = sorted(set(ids))
        found = {}
        try:
            with self.engine.connect() as conn:
                for start in range(0, len(wanted), 500):
                    chunk = wanted[start : start + 500]
                    query = select(REVIEW).where(REVIEW.c.model == model, REVIEW.c.id.in_(chunk))
                    for row in conn.execute(query):
                        found[int(row.id)] = {**_public(row, REVIEW_FIELDS), "labelled": row.labelled_at is not None}
        except SQLAlchemyError as exc:
            raise self._fail(exc, "read the review queue") from None
        return found


def _feedback_values(row: dict, now: dt.datetime) -> dict:
    source = row.get("source", "api")
    if source not in SOURCES:
        raise ConfigError(f"feedback source must be one of {', '.join(SOURCES)}, got {source!r}")
    return {"model": row["model"], "version": row.get("version"), "text": row["text"], "text_sha": text_sha(row["text"]),
            "label": encode_label(row["label"]), "predicted": encode_label(row.get("predicted")),
            "confidence": row.get("confidence"), "agrees": row.get("agrees"), "source": source,
            "request_id": row.get("request_id"), "prediction_id": row.get("prediction_id"),
            "created_at": row.get("created_at") or now}




# ---------------------------------------------------------------- retraining
def _missing_sqlite_file(url: str) -> bool:
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001  connect() names a bad URL
        return False
    return parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
        and not os.path.exists(parsed.database)


def text_key(text: str) -> str:
    """Return the form under which two texts count as the same: whitespace runs collapsed, ends stripped."""
    return " ".join(text.split())


def feedback_rows(store: "FeedbackStore | str", model: str) -> list[dict]:
    """Return the rows a retrain learns from: for each distinct text of ``model``'s feedback, its newest label.

    ``store`` is a :class:`FeedbackStore` or a database URL. Texts are the same
    when :func:`text_key` says so; the newest row (by time, then id) wins, and
    the result is in the order of those winning rows, oldest first, so a reader
    that lets later rows win agrees. Labels are a string, or a tuple for a
    multi-label row (what the data readers give).

    Raises:
        StorageError: the database is unreachable or unreadable.
    """
    if isinstance(store, str):
        if _missing_sqlite_file(store):
            return []  # nothing was ever sent; reading must not create the database
        with FeedbackStore(store) as own:
            return feedback_rows(own, model)
    latest: dict[str, dict] = {}
    for row in store.rows(model):  # oldest first: a later row replaces an earlier one
        label = row["label"]
        key = text_key(row["text"])
        latest.pop(key, None)  # re-inserted at the end: the dict stays in the winners' time order
        latest[key] = {"text": row["text"], "created_at": row["created_at"], "id": row["id"],
                       "label": tuple(label) if isinstance(label, list) else label}
    return list(latest.values())
