"""Write a vector store atomically: a hidden temp folder, renamed when complete.

The temp folder's name carries this process's host and pid
(:mod:`vecclf.training.leftovers`), so the next write to the store removes
it if this process dies first. A failed write (a full disk) is one
:class:`~vecclf.training.errors.StorageError` naming the path and the free
space, and the temp folder is removed.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from vecclf.training import progress
from vecclf.training.errors import VecclfError, VectorFormatError, storage_error
from vecclf.training.leftovers import collect_quietly, temp_prefix
from vecclf.training.vectors import integrity
from vecclf.training.vectors.store import MANIFEST, NGRAMS_FILE, VECTORS_FILE, VOCAB_FILE, check_name, vectors_root

FORMAT_VERSION = 1
DEFAULT_HYPHENS = "known"


class RowSink:
    """Append float32 row blocks to the store's matrix file with plain writes.

    Writing through the memory map would make every written page count in the
    importer's RSS; ``pwrite`` goes through the page cache instead, so memory
    stays at one block whatever the matrix size. Each block is checked for
    non-finite values (after the dtype cast) before it is written.
    """

    def __init__(self, writer: "StoreWriter", size: int, dim: int, dtype: str, filename: str = VECTORS_FILE,
                 source: object = "the source"):
        try:
            matrix = writer.matrix(size, dim, dtype, filename)  # creates the .npy file with its header
        except (OSError, ValueError) as exc:
            what = f"cannot create a {size} x {dim} {dtype} matrix ({exc})"
            if isinstance(exc, VecclfError):
                raise
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EACCES):
                raise storage_error(exc, writer.tmp / filename) from exc
            raise VectorFormatError(f"{source}: {what}: the size its header gives is impossible") from exc
        self.offset = int(matrix.offset)
        del matrix
        self.dtype = np.dtype(dtype)
        self.row_bytes = dim * self.dtype.itemsize
        self.rows = 0
        self.path = writer.tmp / filename
        self.fd = os.open(self.path, os.O_WRONLY)
        self.bar = progress.bar(size, f"writing {filename}, {size:,} x {dim} {dtype}", unit="rows")

    def write(self, block: np.ndarray, where) -> None:
        """Append ``block``; ``where(i)`` names the source row of block row ``i`` in an error."""
        with np.errstate(over="ignore", invalid="ignore"):  # overflow shows up as inf, refused below
            out = np.ascontiguousarray(np.asarray(block, dtype=np.float32).astype(self.dtype, copy=False))
        finite = np.isfinite(out)
        if not finite.all():
            bad = int(np.flatnonzero(~finite.all(axis=1))[0])
            raise VectorFormatError(f"{where(bad)}: a value is not finite (nan, inf) or overflows {self.dtype}")
        data = memoryview(out).cast("B")
        at = self.offset + self.rows * self.row_bytes
        while len(data):
            try:
                done = os.pwrite(self.fd, data, at)
            except OSError as exc:  # the output's fault (a full disk), not the input's
                raise storage_error(exc, self.path) from exc
            data, at = data[done:], at + done
        self.rows += len(out)
        self.bar.update(len(out))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self.bar.close()


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
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            collect_quietly(store)
            self.tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(self.name), dir=self.root))
        except OSError as exc:
            raise storage_error(exc, self.root) from exc
        self.vectors: np.ndarray | None = None
        self.manifest: dict | None = None  # the published manifest, set by commit
        self._committed = False

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        error = None
        if isinstance(exc, OSError) and not isinstance(exc, VecclfError):
            named = Path(exc.filename) if isinstance(exc.filename, str) else None
            # A failed copy names its source; the file that could not be written is ours.
            path = named if named is not None and named.is_relative_to(self.tmp) else self.tmp
            error = storage_error(exc, path)  # the free space as the write found it, before the cleanup
        if exc_type is not None or not self._committed:
            self.abort()
        if error is not None:
            raise error from exc

    def matrix(self, size: int, dim: int, dtype: str, filename: str = VECTORS_FILE) -> np.ndarray:
        """Create a (size, dim) matrix file on disk and return it memory-mapped for writing."""
        path = self.tmp / filename
        matrix = np.lib.format.open_memmap(path, mode="w+", dtype=np.dtype(dtype), shape=(size, dim))
        # Reserve the blocks now: writing a page of a sparse memory map on a full disk is a SIGBUS, not an error.
        fd = os.open(path, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, matrix.offset + matrix.nbytes)
        finally:
            os.close(fd)
        if filename == VECTORS_FILE:
            self.vectors = matrix
        return matrix

    def keep_rows(self, keep: np.ndarray) -> None:
        """Rewrite the matrix written so far with only the rows ``keep``, in that order."""
        old_path = self.tmp / f"all-{VECTORS_FILE}"
        os.rename(self.tmp / VECTORS_FILE, old_path)
        old = np.load(old_path, mmap_mode="r")
        sink = RowSink(self, len(keep), old.shape[1], old.dtype.name)
        try:
            step = max(1, (1 << 24) // max(1, old.shape[1] * old.dtype.itemsize))
            for start in range(0, len(keep), step):
                sink.write(old[keep[start : start + step]], str)
        finally:
            sink.close()
        del old
        old_path.unlink()

    def write_ngrams(self, ngrams: np.ndarray, dtype: str, where=lambda i: f"subword bucket {i}") -> None:
        """Store the fastText subword bucket matrix; ``where(i)`` names bucket row ``i`` in an error."""
        sink = RowSink(self, ngrams.shape[0], ngrams.shape[1], dtype, NGRAMS_FILE)
        try:
            step = max(1, (1 << 24) // (4 * max(1, ngrams.shape[1])))
            for start in range(0, ngrams.shape[0], step):
                sink.write(ngrams[start : start + step], lambda i, start=start: where(start + i))
        finally:
            sink.close()

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
        for path in files:  # written once: read-only from now on (see store.py on in-place rewrites)
            _fsync(path)
            os.chmod(path, 0o444)
        identities = {p.name: integrity.identity(p) for p in files}
        manifest = {
            "name": self.name,
            "format_version": FORMAT_VERSION,
            # New stores keep hyphenated compounds that have a vector whole (see vecclf.training.tokens).
            "hyphens": DEFAULT_HYPHENS,
            **manifest,
            "files": [p.name for p in files],
            "sha256": integrity.sha256_files(files),
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        with open(self.tmp / MANIFEST, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        old = None
        if self.final.exists():
            old = self.root / (temp_prefix(self.name) + "old")
            os.rename(self.final, old)
        os.rename(self.tmp, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)  # unlinked, not truncated: processes mapping it keep their pages
        self._committed = True
        self.manifest = manifest
        integrity.remember(self.final, manifest["sha256"], identities)  # hashed just now: no second pass on open
        return self.final

    def abort(self) -> None:
        """Remove everything written so far."""
        self.vectors = None
        shutil.rmtree(self.tmp, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
