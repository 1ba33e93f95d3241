"""``vecclf encoders``: fine-tune a sentence transformer on labelled texts, and list the tuned ones.

The work is in :mod:`vecclf.training.encoder_tune`; a tuned encoder is then
used by name: ``vecclf train --encoder NAME``.
"""

from __future__ import annotations

from vecclf.training.cli_flags import data_flags, emit
from vecclf.training.encoder_tune import DEFAULT_EPOCHS, MAX_LENGTH
from vecclf.training.settings import Settings


def cmd_encoders_finetune(args, settings: Settings) -> int:
    """Fine-tune an encoder on a labelled file; print the new encoder's manifest."""
    from vecclf.training.encoder_tune import finetune_encoder

    emit(finetune_encoder(settings.store, args.name, args.data, source=args.source, epochs=args.epochs,
                          text_column=args.text_column, label_column=args.label_column, data_format=args.format,
                          max_length=args.max_length, seed=args.seed, threads=args.threads, force=args.force))
    return 0


def cmd_encoders_list(args, settings: Settings) -> int:
    """Print the store's tuned encoders."""
    from vecclf.training.encoder_tune import list_encoders

    emit({"encoders": list_encoders(settings.store)})
    return 0


def cmd_encoders_remove(args, settings: Settings) -> int:
    """Remove a tuned encoder no model version names."""
    from vecclf.training.encoder_tune import remove_encoder

    emit(remove_encoder(settings.store, args.name))
    return 0


def add_parser(sub, common) -> None:
    """Add ``vecclf encoders`` and its actions to the top-level commands ``sub``."""
    enc = sub.add_parser("encoders", help="fine-tune sentence encoders for the accuracy mode (needs vecclf[encoder])",
                         parents=[common])
    esub = enc.add_subparsers(dest="encoders_command", required=True, metavar="ACTION")
    p = esub.add_parser("finetune", parents=[common],
                        help="fine-tune a sentence transformer on labelled texts; use it with train --encoder NAME")
    p.add_argument("--name", required=True, help="name of the new encoder (kept in <store>/encoders/NAME)")
    p.add_argument("--data", required=True, help="labelled training file (one label a row)")
    data_flags(p)
    p.add_argument("--from", dest="source", default="minilm", metavar="ENCODER",
                   help="minilm (the packaged all-MiniLM-L6-v2, default), a tuned encoder's name or a folder")
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help=f"passes over the rows (default {DEFAULT_EPOCHS})")
    p.add_argument("--max-length", type=int, default=MAX_LENGTH,
                   help=f"WordPiece tokens kept a text, in training and serving (default {MAX_LENGTH})")
    p.add_argument("--seed", type=int, default=0, help="shuffling, dropout and head initialisation (default 0)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--force", action="store_true", help="replace an existing encoder of that name")
    p.set_defaults(func=cmd_encoders_finetune)
    p = esub.add_parser("list", parents=[common], help="list the store's tuned encoders and the versions using each")
    p.set_defaults(func=cmd_encoders_list)
    p = esub.add_parser("remove", parents=[common], help="remove a tuned encoder that no model version uses")
    p.add_argument("name")
    p.set_defaults(func=cmd_encoders_remove)
