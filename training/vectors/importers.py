"""Import word vectors from every supported format into a vector store.

Formats (``--format``; ``auto`` sniffs the content, see
:mod:`~vecclf.training.vectors.sources`; gzip, bzip2 and xz are read transparently):

=============== ==========================================================
word2vec-bin    Mikolov's binary: ``count dim`` header, then word + float32s
word2vec-text   ``count dim`` header, then ``word v1 ... vd`` per line
fasttext-vec    the same text layout, as fastText writes ``.vec`` files
glove           text without a header line
fasttext-bin    Facebook fastText ``.bin`` models of either layout: word
                vectors *and* the subword n-gram buckets, so OOV words
                still get vectors
gensim          gensim ``KeyedVectors.save`` files (read with a restricted
                unpickler that only builds gensim/numpy objects)
=============== ==========================================================

An import stores exactly the words and vectors gensim reads from the same file
with the same ``encoding``/``unicode_errors``, or is refused with
:class:`VectorFormatError`: one line naming the file, the row and, where one
exists, the option that would help; nothing is kept. Every row is checked
against the header (or the first row), every word must decode, every value
must be finite. A word repeated later in the file keeps its first vector (as
gensim intends); the result reports how many words were replaced, skipped or
deduplicated.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np

from vecclf.training import progress
from vecclf.training.errors import VecclfError, VectorFormatError
from vecclf.training.vectors.decoding import WordDecoder
from vecclf.training.vectors.fasttext_bin import read_fasttext_bin
from vecclf.training.vectors.sources import READ_ERRORS, detect_format, is_plain, open_source
from vecclf.training.vectors.word2vec_files import count_rows, read_text, read_word2vec_bin
from vecclf.training.vectors.writer import RowSink, StoreWriter

log = logging.getLogger(__name__)

FORMATS = ("word2vec-bin", "word2vec-text", "glove", "fasttext-bin", "fasttext-vec", "gensim")
__all__ = ["FORMATS", "detect_format", "import_vectors"]
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")  # tabs aside: gensim writes them in words
_SURROGATE = re.compile("[\ud800-\udfff]")
# Searched in words joined by newlines: anything but the separators.
_TEXT_BAD = re.compile("[\r\ud800-\udfff]")
_BINARY_BAD = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
_CHECK_BLOCK = 100_000


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
    encoding: str = "utf-8",
    unicode_errors: str = "strict",
    words_with_spaces: bool = False,
) -> dict:
    """Import ``src`` as vector store ``name`` and return its manifest.

    Raises:
        VectorFormatError: the file is malformed, truncated, of another format, or holds
            a word that does not decode under ``encoding`` with ``unicode_errors``.
        VecclfError: the name exists (without ``force``) or is invalid.
    """
    src = Path(src)
    if not src.is_file():
        raise VectorFormatError(f"{src}: no such file")
    if dtype not in ("float32", "float16"):
        raise VectorFormatError(f"--dtype must be float32 or float16, not {dtype!r}")
    if limit is not None and limit <= 0:
        raise VectorFormatError(f"--limit must be positive, not {limit}")
    decoder = WordDecoder(encoding, unicode_errors)
    if fmt == "auto":
        fmt = detect_format(src)
        log.info("detected format %s for %s", fmt, src)
    if fmt not in FORMATS:
        raise VectorFormatError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "gensim" and (decoder.encoding != "utf-8" or unicode_errors != "strict"):
        raise VectorFormatError(f"{src}: --encoding and --unicode-errors do not apply to gensim KeyedVectors files "
                                "(their words are stored as text)")
    if words_with_spaces and fmt not in ("word2vec-text", "fasttext-vec", "glove"):
        raise VectorFormatError(f"{src}: --words-with-spaces applies to text formats only, not {fmt}")
    with StoreWriter(store, name, force=force) as writer:
        progress.step(f"importing {src} ({fmt}) as {name!r}")
        reader = _READERS[fmt]
        try:
            words, where, extra = reader(src, writer, limit, dtype, decoder, words_with_spaces)
        except VecclfError:  # a StorageError is an OSError too
            raise
        except READ_ERRORS as exc:
            raise VectorFormatError(f"{src}: cannot read ({exc})") from exc
        words, dropped = _keep_first(words, where, writer, src)
        writer.write_vocab(words)
        dim = writer.vectors.shape[1]
        spaced = extra.pop("with_spaces", 0)
        manifest = {
            "dim": int(dim),
            "size": len(words),
            "dtype": dtype,
            "source": str(src.resolve()),
            "source_format": fmt,
            "lowercase": _casing(words, casing),
            "subword": "bucket" in extra,
            "encoding": None if fmt == "gensim" else decoder.encoding,
            "unicode_errors": None if fmt == "gensim" else unicode_errors,
            "words": {"read": len(words) + dropped, "replaced": decoder.replaced, "skipped": decoder.skipped,
                      "deduplicated": dropped, "with_spaces": spaced},
            **extra,
        }
        path = writer.commit(manifest)
    log.info("imported %d x %d vectors as %r into %s", len(words), dim, name, path)
    return {**writer.manifest, "path": str(path)}


def _check_words(words: list, where, binary: bool) -> None:
    """Refuse words the store cannot hold (line breaks, non-text) and, in binary files, control characters.

    A control character in a word2vec binary word means the entries were misread: the
    word before held a space, or the header's dimension is wrong.
    """
    pattern = _BINARY_BAD if binary else _TEXT_BAD
    for start in range(0, len(words), _CHECK_BLOCK):  # joined a block at a time: one regex pass, little memory
        block = words[start : start + _CHECK_BLOCK]
        try:
            text = "\n".join(block)
            if text.count("\n") == len(block) - 1 and not pattern.search(text):
                continue
        except TypeError:
            pass
        for i, word in enumerate(block, start):
            if not isinstance(word, str):
                raise VectorFormatError(f"{where(i)}: the key {word!r} is of type {type(word).__name__}, not a word")
            if _SURROGATE.search(word):
                raise VectorFormatError(f"{where(i)}: the word {word!r} cannot be stored as UTF-8 (a lone surrogate)")
            if binary and _CONTROL.search(word):
                raise VectorFormatError(f"{where(i)}: the word {word!r} holds control characters: the entries are "
                                        "misaligned (an earlier word with a space, or a wrong header dimension)")
            if "\n" in word or "\r" in word:
                raise VectorFormatError(f"{where(i)}: the word {word!r} holds a line break; vecclf cannot store it")


def repeated(words: list[str]) -> np.ndarray:
    """Return a boolean mask of the words that repeat an earlier word."""
    mask = np.zeros(len(words), dtype=bool)
    hashes = np.fromiter(map(hash, words), dtype=np.int64, count=len(words))
    order = np.argsort(hashes, kind="stable")
    ties = np.flatnonzero(hashes[order[1:]] == hashes[order[:-1]])
    rows = np.unique(np.concatenate([order[ties], order[ties + 1]]))  # every word sharing its hash, in file order
    seen: set[str] = set()
    for row in rows.tolist():
        if words[row] in seen:
            mask[row] = True
        seen.add(words[row])
    return mask


def _keep_first(words: list[str], where, writer: StoreWriter, src: Path) -> tuple[list[str], int]:
    """Drop every repeat of an earlier word (rows and words); return the words kept and how many were dropped."""
    again = repeated(words)
    dropped = int(again.sum())
    if not dropped:
        return words, 0
    first = int(np.flatnonzero(again)[0])
    log.warning("%s: %d repeated words dropped, keeping the first vector of each (as gensim does); the first "
                "repeat is %r at %s", src, dropped, words[first], where(first).rsplit(": ", 1)[-1])
    keep = np.flatnonzero(~again)
    writer.keep_rows(keep)
    return [words[i] for i in keep], dropped


def _sink(writer: StoreWriter, dtype: str, src: Path):
    return lambda size, dim: RowSink(writer, size, dim, dtype, source=src)


def _read_text_file(src, writer, limit, dtype, decoder, words_with_spaces, header):
    count = None
    if not header:
        with open_source(src) as fh:
            count = count_rows(fh)
    with open_source(src) as fh:
        words, lines, spaced = read_text(fh, src, _sink(writer, dtype, src), header=header, count=count, limit=limit,
                                         decoder=decoder, words_with_spaces=words_with_spaces)
    where = lambda i: f"{src}: line {lines[i]}"  # noqa: E731
    _check_words(words, where, binary=False)
    return words, where, {"with_spaces": spaced}


def _read_word2vec(src, writer, limit, dtype, decoder, words_with_spaces):
    with open_source(src) as fh:
        words = read_word2vec_bin(fh, src, _sink(writer, dtype, src), limit=limit, decoder=decoder)
    where = lambda i: f"{src}: entry {i + 1}"  # noqa: E731
    _check_words(words, where, binary=True)
    return words, where, {}


def _read_fasttext(src, writer, limit, dtype, decoder, words_with_spaces):
    with open_source(src) as fh:
        model = read_fasttext_bin(fh, src, decoder, src if is_plain(fh) else None)
    where = lambda i: f"{src}: entry {i + 1}"  # noqa: E731
    words = model.words[:limit] if limit else model.words
    _check_words(words, where, binary=False)
    sink = RowSink(writer, len(words), model.dim, dtype)
    try:
        step = model.block_rows()
        for start in range(0, len(words), step):
            rows = np.arange(start, min(len(words), start + step))
            sink.write(model.word_vectors(rows), lambda i, start=start: where(start + i))
    finally:
        sink.close()
    extra: dict = {"training_state": _fasttext_state(writer, model, np.flatnonzero(~repeated(words)))}
    if model.bucket:  # (with maxn 0 no word has an n-gram: out-of-vocabulary words get no vector)
        nwords = len(model.words)
        writer.write_ngrams(model.ngrams, dtype, lambda i: f"{src}: subword bucket {i} (input matrix row {nwords + i})")
        extra.update(minn=model.minn, maxn=model.maxn, bucket=model.bucket)
    return words, where, extra


def _fasttext_state(writer: StoreWriter, model, keep: np.ndarray) -> dict | None:
    """Keep what training needs to continue (vectors/state.py), as gensim's load_facebook_model has it."""
    from gensim.models import FastText

    from vecclf.training.vectors.state import model_settings, save_state

    if model.output is None:
        log.warning("not keeping the training state: the output matrix does not have a row per word")
        return None
    if model.args["loss"] == 1 and len(keep) < len(model.words):
        log.info("not keeping the training state: a hierarchical-softmax model cannot be cut to %d words", len(keep))
        return None
    a = model.args  # the arguments as gensim's loader hands them to FastText (no vocabulary is built)
    settings = model_settings(FastText(
        vector_size=a["dim"], window=a["ws"], epochs=a["epoch"], negative=a["neg"], hs=int(a["loss"] == 1),
        sg=int(a["model"] == 2), bucket=a["bucket"], min_count=a["min_count"], sample=a["t"], min_n=a["minn"],
        max_n=a["maxn"]))
    whole = len(keep) and int(keep[-1]) == len(keep) - 1  # the first rows, uncut: views, not copies

    def rows(matrix):
        return matrix[: len(keep)] if whole else matrix[keep]

    return save_state(writer.tmp, settings, output=rows(model.output), counts=model.counts[keep],
                      input_rows=rows(model.matrix))


def _read_gensim(src, writer, limit, dtype, decoder, words_with_spaces):
    from vecclf.training.vectors.safe_gensim import load_keyed_vectors

    kv = load_keyed_vectors(src)
    words = list(kv.index_to_key)
    where = lambda i: f"{src}: entry {i + 1}"  # noqa: E731
    _check_words(words, where, binary=False)
    vectors = kv.vectors
    size = min(len(words), limit) if limit else len(words)
    if vectors.ndim != 2 or vectors.shape[0] < size:
        raise VectorFormatError(f"{src}: vector matrix has shape {vectors.shape} for {len(words)} words")
    sink = RowSink(writer, size, vectors.shape[1], dtype)
    try:
        step = max(1, (1 << 24) // (4 * vectors.shape[1]))
        for start in range(0, size, step):
            sink.write(vectors[start : min(size, start + step)], lambda i, start=start: where(start + i))
    finally:
        sink.close()
    extra: dict = {}
    ngrams = getattr(kv, "vectors_ngrams", None)
    bucket = int(getattr(kv, "bucket", 0) or 0)
    if ngrams is not None and bucket > 0:
        if ngrams.shape != (bucket, vectors.shape[1]):
            raise VectorFormatError(f"{src}: subword matrix has shape {ngrams.shape}, expected {bucket} buckets")
        writer.write_ngrams(ngrams, dtype, lambda i: f"{src}: subword bucket {i}")
        extra = {"minn": int(kv.min_n), "maxn": int(kv.max_n), "bucket": bucket}
    return words[:size], where, extra


_READERS = {
    "word2vec-text": lambda *a: _read_text_file(*a, header=True),
    "fasttext-vec": lambda *a: _read_text_file(*a, header=True),
    "glove": lambda *a: _read_text_file(*a, header=False),
    "word2vec-bin": _read_word2vec,
    "fasttext-bin": _read_fasttext,
    "gensim": _read_gensim,
}
