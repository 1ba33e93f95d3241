"""Read word vectors from every supported format into a vector store.

Formats (``--format``; ``auto`` sniffs the first bytes):

=============== ==========================================================
word2vec-bin    Mikolov's binary: ``count dim`` header, then word + float32s
word2vec-text   ``count dim`` header, then ``word v1 ... vd`` per line
fasttext-vec    the same text layout, as fastText writes ``.vec`` files
glove           text without a header line
fasttext-bin    Facebook fastText ``.bin`` models: word vectors *and* the
                subword n-gram buckets, so OOV words still get vectors
gensim          gensim ``KeyedVectors.save`` files (read with a restricted
                unpickler that only builds gensim/numpy objects)
=============== ==========================================================

Text and word2vec binary files are streamed block by block into the output
``.npy`` with plain writes (never through a memory map), so importing a
multi-GB file needs memory for one block plus the vocabulary, not for the
matrix.
``.gz`` files are read transparently. Any malformed or truncated input raises
:class:`VectorFormatError` naming the file and line/entry; nothing is kept.
"""

from __future__ import annotations

import gzip
import logging
import os
import struct
from pathlib import Path

import numpy as np

from vecclf.training.errors import VectorFormatError
from vecclf.training.vectors.store import VECTORS_FILE
from vecclf.training.vectors.writer import StoreWriter

log = logging.getLogger(__name__)

FORMATS = ("word2vec-bin", "word2vec-text", "glove", "fasttext-bin", "fasttext-vec", "gensim")
FASTTEXT_MAGIC = 793712314
_CHUNK_LINES = 20000
_READ_BYTES = 1 << 22
_MAX_WORD_BYTES = 10000


def _open(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=None, leave=False, mininterval=1.0)


def _is_int(text: bytes) -> bool:
    return text.isdigit()


def detect_format(path: str | os.PathLike) -> str:
    """Guess the format of a vectors file from its first bytes."""
    path = Path(path)
    try:
        with _open(path) as fh:
            head = fh.read(65536)
    except (OSError, EOFError) as exc:
        raise VectorFormatError(f"{path}: cannot read ({exc})") from exc
    if not head.strip():
        raise VectorFormatError(f"{path}: file is empty")
    if len(head) >= 4 and struct.unpack("<i", head[:4])[0] == FASTTEXT_MAGIC:
        return "fasttext-bin"
    if head[:1] == b"\x80":
        return "gensim"
    first, _, rest = head.partition(b"\n")
    fields = first.split()
    if len(fields) == 2 and all(_is_int(f) for f in fields):
        dim = int(fields[1])
        second = rest.split(b"\n", 1)[0]
        try:
            parts = second.decode("utf-8").rstrip().split(" ")
            [float(x) for x in parts[-dim:]]
            is_text = len(parts) >= dim + 1
        except (UnicodeDecodeError, ValueError):
            is_text = False
        if not is_text:
            return "word2vec-bin"
        return "fasttext-vec" if ".vec" in path.suffixes else "word2vec-text"
    return "glove"


class _RowSink:
    """Append float32 row blocks to the store's matrix file with plain writes.

    Writing through the memory map would make every written page count in the
    importer's RSS; ``pwrite`` goes through the page cache instead, so memory
    stays at one block whatever the matrix size. Each block is checked for
    non-finite values (after the dtype cast) before it is written.
    """

    def __init__(self, writer: StoreWriter, size: int, dim: int, dtype: str, src: Path):
        matrix = writer.matrix(size, dim, dtype)  # creates the .npy file with its header
        self.offset = int(matrix.offset)
        self.dtype = np.dtype(dtype)
        self.row_bytes = dim * self.dtype.itemsize
        self.src = src
        self.rows = 0
        self.fd = os.open(writer.tmp / VECTORS_FILE, os.O_WRONLY)

    def write(self, block: np.ndarray) -> None:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow shows up as inf, refused below
            out = np.ascontiguousarray(np.asarray(block, dtype=np.float32).astype(self.dtype, copy=False))
        if not np.isfinite(out).all():
            raise VectorFormatError(f"{self.src}: contains values that are not finite (nan/inf) or overflow {self.dtype}")
        data = memoryview(out).cast("B")
        at = self.offset + self.rows * self.row_bytes
        while len(data):
            done = os.pwrite(self.fd, data, at)
            data, at = data[done:], at + done
        self.rows += len(out)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _casing(words: list[str], casing: str) -> bool:
    """Return True when the store should lowercase text."""
    if casing == "lower":
        return True
    if casing == "keep":
        return False
    return not any(w != w.lower() for w in words)


def import_vectors(
    src: str | os.PathLike,
    store: str | os.PathLike,
    name: str,
    *,
    fmt: str = "auto",
    limit: int | None = None,
    dtype: str = "float32",
    casing: str = "auto",
    force: bool = False,
) -> dict:
    """Import ``src`` as vector store ``name`` and return its manifest.

    Raises:
        VectorFormatError: the file is malformed, truncated or of another format.
        VecclfError: the name exists (without ``force``) or is invalid.
    """
    src = Path(src)
    if not src.is_file():
        raise VectorFormatError(f"{src}: no such file")
    if dtype not in ("float32", "float16"):
        raise VectorFormatError(f"--dtype must be float32 or float16, not {dtype!r}")
    if limit is not None and limit <= 0:
        raise VectorFormatError(f"--limit must be positive, not {limit}")
    if fmt == "auto":
        fmt = detect_format(src)
        log.info("detected format %s for %s", fmt, src)
    if fmt not in FORMATS:
        raise VectorFormatError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    with StoreWriter(store, name, force=force) as writer:
        if fmt in ("word2vec-text", "fasttext-vec"):
            words = _read_text(src, writer, limit, dtype, header=True)
            extra = {}
        elif fmt == "glove":
            words = _read_text(src, writer, limit, dtype, header=False)
            extra = {}
        elif fmt == "word2vec-bin":
            words = _read_word2vec_bin(src, writer, limit, dtype)
            extra = {}
        else:
            words, extra = _read_gensim_model(src, writer, limit, dtype, fmt)
        writer.write_vocab(words)
        dim = writer.vectors.shape[1]
        manifest = {
            "dim": int(dim),
            "size": len(words),
            "dtype": dtype,
            "source": str(src.resolve()),
            "source_format": fmt,
            "lowercase": _casing(words, casing),
            "subword": "bucket" in extra,
            **extra,
        }
        path = writer.commit(manifest)
    log.info("imported %d x %d vectors as %r into %s", len(words), dim, name, path)
    return {**writer.manifest, "path": str(path)}


def _count_lines(src: Path) -> int:
    # Blank lines are skipped by the reader, so they must not count (a trailing blank line is common).
    with _open(src) as fh:
        return sum(1 for line in fh if line.strip())


def _parse_header(line: bytes, src: Path) -> tuple[int, int]:
    fields = line.split()
    if len(fields) != 2 or not all(_is_int(f) for f in fields):
        raise VectorFormatError(f"{src}: line 1: expected a 'count dim' header, got {line[:80]!r}")
    count, dim = int(fields[0]), int(fields[1])
    if count <= 0 or dim <= 0:
        raise VectorFormatError(f"{src}: line 1: header says {count} words of {dim} dims")
    return count, dim


def _split_line(raw: bytes, lineno: int, src: Path, dim: int | None) -> tuple[str, list[str]]:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VectorFormatError(f"{src}: line {lineno}: not valid UTF-8 ({exc.reason})") from exc
    parts = line.rstrip().split(" ")
    if dim is None:
        dim = len(parts) - 1
    if len(parts) < dim + 1 or dim <= 0:
        raise VectorFormatError(f"{src}: line {lineno}: expected a word and {dim} numbers, got {len(parts)} fields (truncated or malformed)")
    # A word may itself contain spaces (some GloVe sets): the last dim fields are the numbers.
    word = " ".join(parts[:-dim]) if len(parts) > dim + 1 else parts[0]
    return word, parts[-dim:]


def _read_text(src: Path, writer: StoreWriter, limit: int | None, dtype: str, header: bool) -> list[str]:
    """Stream a word2vec-text / .vec / GloVe file into the writer's matrix."""
    total_bytes = src.stat().st_size
    with _open(src) as fh:
        lineno = 0
        if header:
            lineno += 1
            count, dim = _parse_header(fh.readline(), src)
        else:
            count = _count_lines(src)
            first = fh.readline()
            if not first.strip():
                raise VectorFormatError(f"{src}: line 1 is empty")
            _, numbers = _split_line(first, 1, src, None)
            dim = len(numbers)
            fh.seek(0)
        size = min(count, limit) if limit else count
        sink = _RowSink(writer, size, dim, dtype, src)
        words: list[str] = []
        bar = _progress(total_bytes, f"import {src.name}")
        row = 0
        try:
            while row < size:
                raws = []
                while len(raws) < _CHUNK_LINES and row + len(raws) < size:
                    raw = fh.readline()
                    if not raw:
                        break
                    lineno += 1
                    if raw.strip():
                        raws.append((lineno, raw))
                if not raws:
                    break
                numbers = []
                for ln, raw in raws:
                    word, nums = _split_line(raw, ln, src, dim)
                    words.append(word)
                    numbers.extend(nums)
                try:
                    block = np.array(numbers, dtype=np.float64)
                except ValueError as exc:
                    bad = _first_bad_line(raws, src, dim)
                    raise VectorFormatError(f"{src}: line {bad}: a vector value is not a number") from exc
                sink.write(block.reshape(len(raws), dim))
                row += len(raws)
                bar.update(sum(len(r) for _, r in raws))
        except (OSError, EOFError) as exc:
            raise VectorFormatError(f"{src}: cannot read after line {lineno} ({exc})") from exc
        finally:
            bar.close()
            sink.close()
    if row < size:
        raise VectorFormatError(f"{src}: truncated: expected {size} vectors, found {row}")
    return words


def _first_bad_line(raws, src: Path, dim: int) -> int:
    for ln, raw in raws:
        try:
            [float(x) for x in _split_line(raw, ln, src, dim)[1]]
        except ValueError:
            return ln
    return raws[0][0]


def _read_word2vec_bin(src: Path, writer: StoreWriter, limit: int | None, dtype: str) -> list[str]:
    """Stream a word2vec binary file into the writer's matrix, reading it in large blocks."""
    with _open(src) as fh:
        count, dim = _parse_header(fh.readline(), src)
        size = min(count, limit) if limit else count
        sink = _RowSink(writer, size, dim, dtype, src)
        nbytes = 4 * dim
        words: list[str] = []
        bar = _progress(src.stat().st_size, f"import {src.name}")
        block_rows = max(1, min(8192, (1 << 24) // nbytes))
        buf, pos, eof = b"", 0, False
        vectors: list[bytes] = []

        def refill() -> bool:
            nonlocal buf, pos, eof
            more = b"" if eof else fh.read(_READ_BYTES)
            eof = eof or not more
            buf, pos = buf[pos:] + more, 0
            return bool(more)

        try:
            for i in range(size):
                # Entries are "word" + " " + dim float32s, optionally after a newline.
                while True:
                    while pos < len(buf) and buf[pos] == 10:
                        pos += 1
                    space = buf.find(b" ", pos, pos + _MAX_WORD_BYTES + 1)
                    if space >= 0:
                        break
                    if len(buf) - pos > _MAX_WORD_BYTES:
                        raise VectorFormatError(f"{src}: entry {i + 1}: word longer than {_MAX_WORD_BYTES} bytes (not word2vec binary?)")
                    if not refill():
                        raise VectorFormatError(f"{src}: truncated: expected {size} vectors, found {i}")
                word = buf[pos:space]
                pos = space + 1
                while len(buf) - pos < nbytes and refill():
                    pass
                data = buf[pos : pos + nbytes]
                if len(data) != nbytes:
                    raise VectorFormatError(f"{src}: truncated: entry {i + 1} ({word[:40]!r}) has {len(data)} of {nbytes} bytes")
                pos += nbytes
                try:
                    words.append(word.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise VectorFormatError(f"{src}: entry {i + 1}: word is not valid UTF-8 ({exc.reason})") from exc
                vectors.append(data)
                if len(vectors) == block_rows:
                    sink.write(np.frombuffer(b"".join(vectors), dtype="<f4").reshape(-1, dim))
                    bar.update(len(vectors) * (nbytes + 8))
                    vectors = []
            if vectors:
                sink.write(np.frombuffer(b"".join(vectors), dtype="<f4").reshape(-1, dim))
        except (OSError, EOFError) as exc:
            raise VectorFormatError(f"{src}: cannot read ({exc})") from exc
        finally:
            bar.close()
            sink.close()
    return words


def _read_gensim_model(src: Path, writer: StoreWriter, limit: int | None, dtype: str, fmt: str) -> tuple[list[str], dict]:
    """Read a fastText .bin or gensim KeyedVectors file through gensim."""
    model = None
    if fmt == "fasttext-bin":
        from gensim.models.fasttext import load_facebook_model

        try:  # the whole model, output weights included, so the store can be fine-tuned (vectors/state.py)
            model = load_facebook_model(str(src))
        except Exception as exc:  # gensim raises assorted errors on bad .bin files
            raise VectorFormatError(f"{src}: not a readable fastText .bin model ({type(exc).__name__}: {exc})") from exc
        kv = model.wv
    else:
        from vecclf.training.vectors.safe_gensim import load_keyed_vectors

        kv = load_keyed_vectors(src)
    words = list(kv.index_to_key)
    vectors = kv.vectors
    size = min(len(words), limit) if limit else len(words)
    if vectors.ndim != 2 or vectors.shape[0] < size:
        raise VectorFormatError(f"{src}: vector matrix has shape {vectors.shape} for {len(words)} words")
    matrix = writer.matrix(size, vectors.shape[1], dtype)
    matrix[:] = vectors[:size]
    extra: dict = {}
    ngrams = getattr(kv, "vectors_ngrams", None)
    bucket = int(getattr(kv, "bucket", 0) or 0)
    if ngrams is not None and bucket > 0 and ngrams.shape[0] == bucket:
        writer.write_ngrams(ngrams, dtype)
        extra = {"minn": int(kv.min_n), "maxn": int(kv.max_n), "bucket": bucket}
    if model is not None:
        from vecclf.training.vectors.state import save_model_state

        extra["training_state"] = save_model_state(writer.tmp, model, rows=size)
    if not np.isfinite(matrix).all():
        raise VectorFormatError(f"{src}: contains values that are not finite (nan/inf) or overflow {dtype}")
    return words[:size], extra
