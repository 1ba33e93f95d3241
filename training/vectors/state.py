"""A store's training state: what gensim needs, besides the word vectors, to continue training.

Stores trained by ``vecclf vectors train`` or ``finetune``, and stores imported
from a full fastText ``.bin`` model, keep in ``<store>/state/``:

- ``input.npy``: the input word rows (fastText only: the store's ``vectors.npy``
  holds each word's row averaged with its n-grams, as fastText serves it;
  word2vec's input rows *are* ``vectors.npy``);
- ``output.npy``: the output (hidden-to-word) weights, for negative sampling
  or hierarchical softmax;
- ``counts.npy``: each word's count in the corpus it was trained on (negative
  sampling draws words by these, subsampling thins frequent words by them).

The model's settings (architecture, loss, window, n-gram range...) go into the
manifest under ``training_state`` with a sha256 of these files, checked before
a model is rebuilt. None of this is read when a store serves: its sha256
(what trained classifiers record) covers only the serving files.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from vecclf.training.errors import BundleError
from vecclf.training.vectors.store import NGRAMS_FILE, VECTORS_FILE, VectorStore

log = logging.getLogger(__name__)

STATE_DIR = "state"
INPUT_FILE = "input.npy"
OUTPUT_FILE = "output.npy"
COUNTS_FILE = "counts.npy"


def model_settings(model) -> dict:
    """Return the settings of a gensim Word2Vec or FastText model that training would need again."""
    from gensim.models import FastText

    fasttext = isinstance(model, FastText)
    settings = {
        "algorithm": "fasttext" if fasttext else "word2vec",
        "architecture": "skipgram" if model.sg else "cbow",
        "loss": "hs" if model.hs else "negative",
        "negative": int(model.negative),
        "window": int(model.window),
        "sample": float(model.sample),
        "ns_exponent": float(model.ns_exponent),
        "alpha": float(model.alpha),
        "min_alpha": float(model.min_alpha),
        "min_count": int(model.min_count),
        "epochs": int(model.epochs),
        "cbow_mean": int(model.cbow_mean),
    }
    if fasttext:
        settings.update({"bucket": int(model.wv.bucket), "min_n": int(model.wv.min_n), "max_n": int(model.wv.max_n)})
    return settings


def save_model_state(folder: Path, model, rows: int | None = None) -> dict | None:
    """Write a gensim model's training state for its first ``rows`` words; return the manifest entry.

    Returns None (nothing written) when the state cannot be cut to ``rows``: a
    hierarchical-softmax tree spans the whole vocabulary.
    """
    size = len(model.wv)
    rows = size if rows is None else min(rows, size)
    if model.hs and rows < size:
        log.info("not keeping the training state: a hierarchical-softmax model cannot be cut to %d words", rows)
        return None
    settings = model_settings(model)
    counts = np.fromiter((model.wv.get_vecattr(i, "count") for i in range(rows)), dtype=np.int64, count=rows)
    output = model.syn1 if model.hs else model.syn1neg
    input_rows = model.wv.vectors_vocab[:rows] if settings["algorithm"] == "fasttext" else None
    return save_state(folder, settings, output=output[:rows], counts=counts, input_rows=input_rows)


def save_state(folder: Path, settings: dict, *, output: np.ndarray, counts: np.ndarray,
               input_rows: np.ndarray | None = None) -> dict:
    """Write a training state into ``folder``/state and return its manifest entry.

    ``settings`` are :func:`model_settings`' keys; ``output``, ``counts`` and
    (fastText) ``input_rows`` have one row per word of the store, in its order.
    """
    from vecclf.training.vectors.integrity import sha256_files

    state = folder / STATE_DIR
    state.mkdir()
    files = []
    if input_rows is not None:
        np.save(state / INPUT_FILE, np.asarray(input_rows, dtype=np.float32), allow_pickle=False)
        files.append(INPUT_FILE)
    np.save(state / OUTPUT_FILE, np.asarray(output, dtype=np.float32), allow_pickle=False)
    np.save(state / COUNTS_FILE, np.asarray(counts, dtype=np.int64), allow_pickle=False)
    files += [OUTPUT_FILE, COUNTS_FILE]
    return {**settings, "files": files, "sha256": sha256_files([state / f for f in files])}


def has_state(vstore: VectorStore) -> bool:
    """Return True when ``vstore`` keeps what is needed to continue training it."""
    return bool(vstore.manifest.get("training_state"))


def _load(vstore: VectorStore, entry: dict) -> dict[str, np.ndarray]:
    from vecclf.training.vectors.integrity import sha256_files

    state = vstore.path / STATE_DIR
    paths = [state / f for f in entry["files"]]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise BundleError(f"vector store {vstore.path}: training state file {missing[0]} is missing")
    if sha256_files(paths) != entry["sha256"]:
        raise BundleError(f"vector store {vstore.path}: the training state does not match its sha256 (changed or corrupt)")
    arrays = {p.name: np.load(p, allow_pickle=False) for p in paths}
    if INPUT_FILE not in arrays:
        arrays[INPUT_FILE] = np.load(vstore.path / VECTORS_FILE, allow_pickle=False)
    for name, array in arrays.items():
        if len(array) != vstore.size:
            raise BundleError(f"vector store {vstore.path}: {STATE_DIR}/{name} has {len(array)} rows for {vstore.size} words")
    return arrays


def rebuild_model(vstore: VectorStore, *, workers: int, seed: int):
    """Return the gensim model ``vstore`` was saved from, ready for ``build_vocab(update=True)`` and ``train``.

    Raises:
        BundleError: the store keeps no training state, or it is missing or corrupt.
    """
    from gensim.models import FastText, Word2Vec

    entry = vstore.manifest.get("training_state")
    if not entry:
        raise BundleError(f"vector store {vstore.name!r} keeps no training state")
    arrays = _load(vstore, entry)
    fasttext = entry["algorithm"] == "fasttext"
    params = dict(vector_size=vstore.dim, sg=int(entry["architecture"] == "skipgram"), hs=int(entry["loss"] == "hs"),
                  negative=0 if entry["loss"] == "hs" else entry["negative"], window=entry["window"],
                  sample=entry["sample"], ns_exponent=entry["ns_exponent"], alpha=entry["alpha"],
                  min_alpha=entry["min_alpha"], epochs=entry["epochs"], cbow_mean=entry["cbow_mean"],
                  min_count=1, sorted_vocab=0, seed=seed, workers=workers)
    if fasttext:
        params.update(bucket=entry["bucket"], min_n=entry["min_n"], max_n=entry["max_n"])
    model = (FastText if fasttext else Word2Vec)(**params)
    # min_count 1 and no sorting: every stored word keeps its row, in order.
    model.build_vocab_from_freq(dict(zip(vstore.words, arrays[COUNTS_FILE].tolist())))
    if len(model.wv) != vstore.size:
        raise BundleError(f"vector store {vstore.path}: its vocabulary has duplicate words; cannot continue training")
    if fasttext:
        model.wv.vectors_vocab[:] = arrays[INPUT_FILE]
        model.wv.vectors_ngrams[:] = np.load(vstore.path / NGRAMS_FILE, allow_pickle=False)
        model.wv.adjust_vectors()
    else:
        model.wv.vectors[:] = arrays[INPUT_FILE]
    (model.syn1 if model.hs else model.syn1neg)[:] = arrays[OUTPUT_FILE]
    model.min_count = entry["min_count"]
    return model
