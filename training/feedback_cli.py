"""``vecclf feedback``: list, queue, import, export and label the feedback a model's users sent back.

The database is ``Settings.database_url`` (``VECCLF_DATABASE_URL``), else the
SQLite file in the store. Rows print as JSON lines; the other actions print
one JSON object. A file is checked whole before anything is stored.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys

from vecclf.training.errors import DataError, NotFoundError
from vecclf.training.feedback_labels import agrees, allows_new_labels, encode_label
from vecclf.training.settings import Settings

_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(value: str, now: dt.datetime | None = None) -> dt.datetime:
    """Return the naive UTC time ``value`` names: ISO 8601 (``2024-05-01``, ``...T12:00+02:00``) or an age (``36h``, ``7d``).

    Raises:
        DataError: neither form.
    """
    text = value.strip()
    match = _AGE.fullmatch(text)
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    if match:
        return now - dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DataError(f"--since {value!r} is neither an ISO 8601 date/time nor an age like 36h or 7d") from None
    return when.astimezone(dt.timezone.utc).replace(tzinfo=None) if when.tzinfo else when


def _line(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _store(settings: Settings):
    from vecclf.training.database import database_url
    from vecclf.training.feedback import FeedbackStore

    return FeedbackStore(database_url(settings.store, settings.database_url))


def _model(settings: Settings, name: str) -> tuple[list[str], bool, bool]:
    """Return the current version's labels, whether it is multi-label, and whether new labels are allowed."""
    from vecclf.training.registry import ModelRegistry

    manifest = ModelRegistry(settings.store).manifest(name)  # NotFoundError names the known models
    return list(manifest.get("labels") or []), bool(manifest.get("multilabel")), allows_new_labels(settings.store, name)


def _known_model(settings: Settings, name: str) -> None:
    from vecclf.training.registry import ModelRegistry

    reg = ModelRegistry(settings.store)
    if not reg.model_dir(name).is_dir():
        raise NotFoundError(f"unknown model {name!r} (models: {', '.join(reg.models()) or 'none'})")


def cmd_feedback_list(args, settings: Settings) -> int:
    _known_model(settings, args.name)
    since = parse_since(args.since) if args.since else None
    with _store(settings) as store:
        for row in store.rows(args.name, since):
            _line(row)
    return 0


def cmd_feedback_queue(args, settings: Settings) -> int:
    _known_model(settings, args.name)
    if args.limit is not None and args.limit < 1:
        raise DataError(f"--limit must be at least 1, got {args.limit}")
    with _store(settings) as store:
        for item in store.queue(args.name, args.limit):
            _line(item)
    return 0


def cmd_feedback_import(args, settings: Settings) -> int:
    from vecclf.training.feedback import text_sha
    from vecclf.training.feedback_files import import_rows

    labels, multilabel, allow_new = _model(settings, args.name)
    rows = import_rows(args.file, args.format, args.name, labels, multilabel, allow_new)
    with _store(settings) as store:
        seen = store.keys(args.name)  # a row with the same text, label and time was imported before: skip it
        fresh = [r for r in rows if r["created_at"] is None
                 or (text_sha(r["text"]), encode_label(r["label"]), r["created_at"]) not in seen]
        store.add_many(fresh)
    _line({"model": args.name, "input": args.file, "imported": len(fresh), "skipped_duplicates": len(rows) - len(fresh)})
    return 0


def cmd_feedback_export(args, settings: Settings) -> int:
    from vecclf.training.feedback_files import write_rows

    _known_model(settings, args.name)
    since = parse_since(args.since) if args.since else None
    with _store(settings) as store:
        n = write_rows(store.rows(args.name, since), args.output, args.format)
    _line({"model": args.name, "output": args.output, "rows": n})
    return 0


def cmd_feedback_label(args, settings: Settings) -> int:
    from vecclf.training.feedback_files import label_rows

    labels, multilabel, allow_new = _model(settings, args.name)
    wanted = label_rows(args.file, args.format, labels, multilabel, allow_new)
    with _store(settings) as store:
        return _store_labels(args, store, wanted)


def _store_labels(args, store, wanted) -> int:
    """Store each ``(where, review item id, label)`` as feedback carrying the queued prediction."""
    items = store.queued(args.name, [i for _, i, _ in wanted])
    rows = []
    for where, item_id, label in wanted:
        item = items.get(item_id)
        if item is None:
            raise DataError(f"{args.file}: {where}: column 'id': no review item {item_id} of model {args.name!r}")
        predicted = item["predicted"]
        rows.append({"model": args.name, "version": item["version"], "text": item["text"], "label": label,
                     "predicted": predicted, "confidence": item["confidence"], "source": "review",
                     "agrees": agrees(predicted, label), "prediction_id": item["request_id"]})
    ids = store.add_many(rows)
    _line({"model": args.name, "input": args.file, "labelled": len(ids),
           "relabelled": sum(1 for _, i, _ in wanted if items[i]["labelled"])})
    return 0


def add_parser(sub, common) -> None:
    """Add ``vecclf feedback ACTION`` to the subcommands ``sub`` (``common``: the flags every command takes)."""
    fb = sub.add_parser("feedback", help="labels sent back by users, and uncertain texts to review", parents=[common])
    fsub = fb.add_subparsers(dest="feedback_command", required=True, metavar="ACTION")

    def action(name, func, help, file=False, since=False):
        p = fsub.add_parser(name, help=help, parents=[common])
        if file:
            p.add_argument("file")
        p.add_argument("--name", required=True)
        if file or name == "export":
            p.add_argument("--format", default="auto", choices=["auto", "csv", "tsv", "jsonl"])
        if since:
            p.add_argument("--since", default=None, help="only rows from this time: ISO 8601 or an age like 36h, 7d")
        p.set_defaults(func=func)
        return p

    action("list", cmd_feedback_list, "a model's feedback rows, oldest first (JSON lines)", since=True)
    action("queue", cmd_feedback_queue, "texts waiting for a label, most uncertain first (JSON lines)") \
        .add_argument("--limit", type=int, default=None, help="at most N texts")
    action("import", cmd_feedback_import, "store labelled texts from a CSV/TSV/JSONL file", file=True)
    action("export", cmd_feedback_export, "write a model's feedback rows to a CSV/TSV/JSONL file", since=True) \
        .add_argument("--output", required=True)
    action("label", cmd_feedback_label, "label queued texts from a file of id,label rows", file=True)
