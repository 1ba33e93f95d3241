"""Flag groups of ``vecclf`` commands, shared or long, and their JSON output (the parser is in :mod:`vecclf.training.cli`)."""

from __future__ import annotations

import json
import os
import sys


def emit(obj) -> None:
    """Print ``obj`` as one line of JSON on stdout: every command's result."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


def data_flags(p, labels: bool = True, as_trained: bool = False) -> None:
    """Add --text-column, --label-column and --format; ``as_trained``: default to what the model was trained with."""
    trained = "as the model was trained, else " if as_trained else ""
    p.add_argument("--text-column", default=None if as_trained else "text",
                   help=f"column holding the text (default: {trained}text)")
    if labels:
        p.add_argument("--label-column", default=None if as_trained else "label",
                       help=f"column holding the label(s) (default: {trained}label)")
    p.add_argument("--format", default=None if as_trained else "auto",
                   choices=["auto", "csv", "tsv", "jsonl", "parquet", "fasttext"],
                   help="data format (default: " + ("as trained for a file with the training file's extension, "
                                                    "else " if as_trained else "") + "from the file extension)")


def corpus_flags(p) -> None:
    """Add the flags of `vectors train` and `vectors finetune`: the corpus, the new store and word2vec settings."""
    from vecclf.training.corpus import FORMATS

    p.add_argument("--corpus", nargs="+", required=True, metavar="FILE",
                   help="in-domain text: one document a line, or a data file read for --text-column")
    p.add_argument("--name", required=True, help="name of the new vector store")
    p.add_argument("--text-column", default="text", help="column holding the text in CSV/TSV/JSONL/Parquet (default: text)")
    p.add_argument("--format", default="auto", choices=["auto", *FORMATS],
                   help="corpus format (default: from the extension; plain text when it names none)")
    p.add_argument("--encoding", default="auto", help="text encoding (default auto: UTF-8, else Windows-1252, else Latin-1)")
    p.add_argument("--min-count", type=int, default=5, help="ignore words seen fewer times (default 5)")
    p.add_argument("--window", type=int, default=5, help="context words on each side (default 5)")
    p.add_argument("--workers", type=int, default=max(1, min(8, os.cpu_count() or 1)),
                   help="training threads (default: the CPUs, at most 8; 1 makes --seed reproduce the store exactly)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="replace an existing store of that name")


def serve_flags(p) -> None:
    """Add --host, --port and --workers (defaults from the service's VECCLF_* settings)."""
    p.add_argument("--host", default=None, help="bind address (default: $VECCLF_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: $VECCLF_PORT or 8000)")
    p.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: $VECCLF_WORKERS or 2)")


def score_flags(p) -> None:
    """Add the flags of `score`: the model, the inputs and output, where it runs, columns and partition size."""
    p.add_argument("--model", required=True)
    p.add_argument("--version", default=None)
    p.add_argument("--input", required=True, nargs="+", metavar="PATH",
                   help="CSV, TSV, JSON Lines or Parquet files, or folders of them")
    p.add_argument("--output", required=True, metavar="DIR", help="folder of Parquet files, one per input partition")
    p.add_argument("--embed", action="store_true", help="write document vectors instead of predictions")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="an existing Dask scheduler (default: a local cluster sized to the machine)")
    p.add_argument("--workers", type=int, default=None, help="local cluster worker processes (default: one per core)")
    p.add_argument("--text-column", default="text", help="column holding the text (default: text)")
    p.add_argument("--id-column", default=None, help="column of row ids to keep (default: id if present, else line numbers)")
    p.add_argument("--format", default="auto", choices=["auto", "csv", "tsv", "jsonl", "parquet"],
                   help="input format (default: from the file extension)")
    p.add_argument("--partition-size", type=float, default=None, metavar="MB",
                   help="megabytes of input per partition (Parquet: whole row groups; default 8)")
