"""``vecclf vectors distill``: static word vectors distilled from a sentence transformer (model2vec).

model2vec runs the transformer once on each word of a vocabulary, alone, and
keeps the mean of its output token vectors; PCA then reduces them to
``dims`` columns and weighs each word by its frequency rank (SIF: rarer words
count more). The result is written as a normal vector store (``vectors.npy``,
``vocab.txt``, ``manifest.json``), so training and serving with it need
nothing new: torch, transformers and model2vec (the extra ``vecclf[encoder]``)
are needed only here.

The vocabulary decides which words get a vector, and vecclf's word tokenizer
looks up whole words, so it is given in whole words:

- ``--vocabulary NAME``: the words of vector store ``NAME`` (in its order,
  which is a frequency ranking for word2vec, GloVe and fastText files), the
  first ``--limit`` of them;
- ``--vocabulary FILE...``: the words of a corpus (one text a line, or a data
  file's ``--text-column``) as vecclf tokenizes it, most frequent first,
  those seen at least ``--min-count`` times, the first ``--limit``;
- neither: the whole words of the transformer's own WordPiece vocabulary
  (about 23k for MiniLM; no ``##`` pieces, no special tokens).

Rows are stored most frequent first, as pooling with ``sif`` expects.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path

import numpy as np

from vecclf.training import progress
from vecclf.training.errors import DataError
from vecclf.training.vectors.writer import StoreWriter

log = logging.getLogger(__name__)

DEFAULT_DIMS = 256
DEFAULT_LIMIT = 100_000
# model2vec's default: the weight of a word of frequency rank r is SIF_COEFFICIENT / (SIF_COEFFICIENT + p(r)).
SIF_COEFFICIENT = 1e-4


def distill_vectors(store, name: str, *, source: str = "minilm", vocabulary: list[str] | None = None,
                    dims: int = DEFAULT_DIMS, limit: int = DEFAULT_LIMIT, min_count: int = 2,
                    text_column: str = "text", force: bool = False) -> dict:
    """Distil static word vectors from sentence transformer ``source``; write them as store ``name``.

    ``vocabulary``: None (the transformer's whole words), ``[store name]`` or corpus files (see the module).

    Raises:
        DataError: a bad setting, an empty vocabulary or an unreadable corpus.
        NotFoundError: the vocabulary's vector store does not exist.
        BundleError: the encoder or the libraries to distil with are not installed (EncoderMissing).
    """
    from vecclf.training.encoder import describe, locate

    if dims < 2:
        raise DataError(f"--dims must be at least 2, not {dims}")
    if limit < 1:
        raise DataError(f"--limit must be at least 1, not {limit}")
    folder = locate(source)
    _need_model2vec()
    started = time.monotonic()
    with StoreWriter(store, name, force=force) as writer:  # refuses a taken name before any work
        tokenizer, model, lowercase = _load(folder)
        words, described = _vocabulary(store, vocabulary, tokenizer, lowercase, limit, min_count, text_column)
        if not words:
            raise DataError(f"the vocabulary ({described}) has no word to distil")
        dims_used = min(dims, len(words), int(model.config.hidden_size))
        progress.step(f"distilling {len(words):,} words from {source} to {dims_used} dimensions")
        matrix = _distil(model, tokenizer, words, dims_used)
        out = writer.matrix(len(words), matrix.shape[1], "float32")
        out[:] = matrix
        writer.write_vocab(words)
        record = describe(source)
        manifest = {
            "dim": int(matrix.shape[1]), "size": len(words), "dtype": "float32",
            "source": f"distilled by model2vec from {_title(record)}",
            "source_format": "distilled", "lowercase": lowercase, "subword": False,
            "distilled": {"encoder": record, "vocabulary": described, "dims": int(matrix.shape[1]),
                          "sif_coefficient": SIF_COEFFICIENT, "model2vec": _version("model2vec")},
            "seconds": round(time.monotonic() - started, 2),
        }
        path = writer.commit(manifest)
    log.info("distilled %d x %d vectors from %s as %r into %s", len(words), matrix.shape[1], source, name, path)
    return {**writer.manifest, "path": str(path)}


def _need_model2vec() -> None:
    import importlib.util

    from vecclf.training.encoder import INSTALL, EncoderMissing

    if importlib.util.find_spec("model2vec") is None:
        raise EncoderMissing(f"distilling needs model2vec, which is not installed; {INSTALL}")


def _load(folder: Path):
    """Return the transformer's fast tokenizer, its model, and whether it lowercases."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    # One thread: on a shared machine torch's spinning thread pool made distilling 30x slower.
    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), use_fast=True)
    model = AutoModel.from_pretrained(str(folder)).eval()
    normalizer = tokenizer.backend_tokenizer.normalizer
    lowercase = normalizer is not None and normalizer.normalize_str("ABC") == "abc"
    return tokenizer, model, lowercase


def _vocabulary(store, vocabulary, tokenizer, lowercase: bool, limit: int, min_count: int, text_column: str):
    """Return (words, a description of where they came from)."""
    if not vocabulary:
        special = set(tokenizer.all_special_tokens)
        pieces = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])  # id order: BERT's is roughly frequency
        words = [w for w, _ in pieces if w not in special and not w.startswith("##")
                 and not (w.startswith("[") and w.endswith("]"))]
        return _unique(words, lowercase)[:limit], "the transformer's own whole words"
    paths = [Path(v) for v in vocabulary]
    if len(vocabulary) == 1 and not paths[0].is_file():
        from vecclf.training.vectors.store import open_store

        vstore = open_store(store, vocabulary[0])
        words = vstore.words[: limit * 2]
        return _unique(list(words), lowercase)[:limit], f"the first {limit:,} words of vector store {vstore.name!r}"
    return _corpus_words(paths, lowercase, limit, min_count, text_column)


def _corpus_words(paths, lowercase: bool, limit: int, min_count: int, text_column: str):
    from vecclf.training.corpus import Corpus
    from vecclf.training.tokens import Tokenizer

    for path in paths:
        if not path.is_file():
            raise DataError(f"{path}: no such corpus file (and more than one --vocabulary names files, not a store)")
    counts: Counter = Counter()
    for tokens in Corpus(paths, Tokenizer(lowercase=lowercase), text_column=text_column):
        counts.update(tokens)
    words = [w for w, n in counts.most_common() if n >= min_count and any(ch.isalnum() for ch in w)]
    return words[:limit], f"{len(paths)} corpus file(s), words seen {min_count}+ times, most frequent first"


def _unique(words: list[str], lowercase: bool) -> list[str]:
    """Return ``words`` (lowercased if the transformer lowercases) without repeats, in order; no blanks."""
    out = dict.fromkeys((w.lower() if lowercase else w) for w in words if w and not any(c.isspace() for c in w))
    return list(out)


def _distil(model, tokenizer, words: list[str], dims: int) -> np.ndarray:
    """Return the (len(words), dims) float32 distilled vectors of ``words``, in that order."""
    from model2vec.distill import distill_from_model

    # model2vec warns about every word already in the transformer's vocabulary: expected here, not news.
    logging.getLogger("model2vec").setLevel(logging.ERROR)
    static = distill_from_model(model=model, tokenizer=tokenizer, vocabulary=words, device="cpu", pca_dims=dims,
                                sif_coefficient=None, quantize_to="float32")
    rows = {token: i for i, token in enumerate(static.tokens)}
    vectors = np.asarray(static.embedding, dtype=np.float32)
    out = np.zeros((len(words), vectors.shape[1]), dtype=np.float32)
    missing = 0
    for i, word in enumerate(words):
        row = rows.get(word)
        if row is None:
            missing += 1
            continue
        out[i] = vectors[row]
    if missing:
        log.info("%d of %d words got no vector from model2vec (zeros)", missing, len(words))
    # SIF weighting by the rank in *our* order (model2vec's own order is its tokenizer's): rarer words count more.
    ranks = np.arange(1, len(words) + 1, dtype=np.float64)
    p = 1.0 / (ranks * (np.log(len(words)) + 0.5772156649))
    out *= (SIF_COEFFICIENT / (SIF_COEFFICIENT + p)).astype(np.float32)[:, None]
    return out


def _title(record: dict) -> str:
    if record.get("package"):
        return f"{record['name']} ({record['package']} {record.get('version')})"
    return str(record["name"])


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None
