"""``vecclf store``: look after a model store as a whole (``gc``: what killed writers left behind)."""

from __future__ import annotations

import json
import sys

from vecclf.training.leftovers import MAX_AGE, collect
from vecclf.training.settings import Settings


def cmd_store_gc(args, settings: Settings) -> int:
    """Remove the leftovers of dead writers; print what was removed and what was kept."""
    result = collect(settings.store, args.max_age, dry_run=args.dry_run)
    sys.stdout.write(json.dumps({"store": settings.store, "dry_run": args.dry_run, **result}) + "\n")
    return 0


def add_parser(sub, common) -> None:
    """Add ``vecclf store ACTION`` to the subcommands ``sub`` (``common``: the flags every command takes)."""
    st = sub.add_parser("store", help="look after the model store", parents=[common])
    ssub = st.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    p = ssub.add_parser("gc", help="remove what killed imports and trains left behind", parents=[common])
    p.add_argument("--max-age", type=float, default=MAX_AGE,
                   help=f"seconds after which a leftover whose writer cannot be checked is removed (default {MAX_AGE})")
    p.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    p.set_defaults(func=cmd_store_gc)
