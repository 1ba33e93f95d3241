"""Write a vector store atomically: a hidden temp folder, renamed when complete."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from vecclf.training.errors import VecclfError
from vecclf.training.vectors.store import MANIFEST, NGRAMS_FILE, VECTORS_FILE, VOCAB_FILE, check_name, vectors_root

FORMAT_VERSION = 1


def sha256_files(paths: list[Path]) -> str:
    """Return one sha256 over the bytes of ``paths`` in order."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


class StoreWriter:
    """Collect a store in a temp folder; ``commit`` publishes it, ``abort`` removes it.

    Use as a context manager: an exception inside the block removes every
    partial file, so a failed import leaves nothing behind.
    """

    def __init__(self, store: str | os.PathLike, name: str, *, force: bool = False):
        self.name = check_name(name, "vectors name")
        self.root = vectors_root(store)
        self.final = self.root / self.name
        if self.final.exists() and not force:
            raise VecclfError(f"vector store {self.name!r} already exists at {self.final} (use --force to replace it)")
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.name}.", dir=self.root))
        self.vectors: np.ndarray | None = None
        self.manifest: dict | None = None  # the published manifest, set by commit
        self._committed = False

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or not self._committed:
            self.abort()

    def matrix(self, size: int, dim: int, dtype: str) -> np.ndarray:
        """Create the (size, dim) vectors file on disk and return it memory-mapped for writing."""
        self.vectors = np.lib.format.open_memmap(self.tmp / VECTORS_FILE, mode="w+", dtype=np.dtype(dtype), shape=(size, dim))
        return self.vectors

    def write_ngrams(self, ngrams: np.ndarray, dtype: str) -> None:
        """Store the fastText subword bucket matrix."""
        np.save(self.tmp / NGRAMS_FILE, np.asarray(ngrams, dtype=np.dtype(dtype)), allow_pickle=False)

    def write_vocab(self, words: list[str]) -> None:
        """Store the vocabulary, one word a line."""
        for i, word in enumerate(words):
            if "\n" in word or "\r" in word:
                raise VecclfError(f"word {i} ({word!r}) contains a line break; vecclf cannot store it")
        with open(self.tmp / VOCAB_FILE, "w", encoding="utf-8", newline="\n") as fh:
            fh.write("\n".join(words))
            fh.write("\n")

    def commit(self, manifest: dict) -> Path:
        """Write the manifest with its sha256 and move the store into place."""
        if self.vectors is not None:
            self.vectors.flush()
            del self.vectors
            self.vectors = None
        files = [self.tmp / VECTORS_FILE, self.tmp / VOCAB_FILE]
        if (self.tmp / NGRAMS_FILE).exists():
            files.append(self.tmp / NGRAMS_FILE)
        manifest = {
            "name": self.name,
            "format_version": FORMAT_VERSION,
            **manifest,
            "files": [p.name for p in files],
            "sha256": sha256_files(files),
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        with open(self.tmp / MANIFEST, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        old = None
        if self.final.exists():
            old = self.root / f".{self.name}.old.{os.getpid()}"
            os.rename(self.final, old)
        os.rename(self.tmp, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        self._committed = True
        self.manifest = manifest
        return self.final

    def abort(self) -> None:
        """Remove everything written so far."""
        self.vectors = None
        shutil.rmtree(self.tmp, ignore_errors=True)
