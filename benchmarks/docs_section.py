"""Rewrite one marker section of docs/benchmarks.md; each benchmark script owns one section."""

from __future__ import annotations

import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def replace_section(doc: str, name: str, body: str) -> str:
    """Return ``doc`` with the text between ``<!-- name:start -->`` and ``<!-- name:end -->`` set to ``body``.

    The markers are appended at the end when missing; everything outside them is kept as it was.
    """
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    if start in doc and end in doc and doc.index(start) < doc.index(end):
        head, rest = doc.split(start, 1)
        _, tail = rest.split(end, 1)
        return head + block + tail
    return doc.rstrip("\n") + "\n\n" + block + "\n"


def write_section(name: str, body: str, path: Path = DOC) -> None:
    """Replace the ``name`` marker section of ``path`` (created with a title if missing)."""
    doc = path.read_text("utf-8") if path.exists() else "# Benchmarks\n"
    path.write_text(replace_section(doc, name, body), "utf-8")


def publish(name: str, table: str, write: bool = True, path: Path = DOC) -> None:
    """Print ``table``, and unless ``write`` is false make it the ``name`` section of ``path``."""
    print(table)
    if write:
        write_section(name, table, path)
        print(f"wrote {path}", file=sys.stderr)
