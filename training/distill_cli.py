"""``vecclf vectors distill``: its flags and command (the work is in :mod:`vecclf.training.vectors.distill`)."""

from __future__ import annotations

from vecclf.training.cli_flags import emit
from vecclf.training.settings import Settings
from vecclf.training.vectors.distill import DEFAULT_DIMS, DEFAULT_LIMIT


def cmd_vectors_distill(args, settings: Settings) -> int:
    """Distil a sentence transformer into a vector store; print its manifest."""
    from vecclf.training.vectors.distill import distill_vectors

    emit(distill_vectors(settings.store, args.name, source=args.source, vocabulary=args.vocabulary, dims=args.dims,
                         limit=args.limit, min_count=args.min_count, text_column=args.text_column, force=args.force))
    return 0


def add_parser(vsub, common) -> None:
    """Add ``vecclf vectors distill`` to the ``vectors`` actions ``vsub``."""
    p = vsub.add_parser("distill", parents=[common],
                        help="static word vectors from a sentence transformer (model2vec; needs vecclf[encoder])")
    p.add_argument("--name", required=True, help="name of the new vector store")
    p.add_argument("--from", dest="source", default="minilm", metavar="ENCODER",
                   help="minilm (the packaged all-MiniLM-L6-v2, default) or a sentence-transformer folder")
    p.add_argument("--vocabulary", nargs="+", default=None, metavar="SOURCE",
                   help="the words to distil: a vector store's name, or corpus files "
                        "(default: the transformer's own whole words)")
    p.add_argument("--dims", type=int, default=DEFAULT_DIMS, help=f"dimensions after PCA (default {DEFAULT_DIMS})")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT,
                   help=f"at most this many words, most frequent first (default {DEFAULT_LIMIT})")
    p.add_argument("--min-count", type=int, default=2, help="corpus vocabulary: words seen at least this often (default 2)")
    p.add_argument("--text-column", default="text", help="column holding the text in a data-file corpus (default: text)")
    p.add_argument("--force", action="store_true", help="replace an existing store of that name")
    p.set_defaults(func=cmd_vectors_distill)
