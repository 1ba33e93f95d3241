"""``vecclf vectors finetune``: adapt pretrained vectors to in-domain text, and keep every word they had.

Two ways, chosen by what the base store keeps:

- **continue** — the base keeps its training state (a fastText ``.bin``
  import, or a store from ``vectors train``/``finetune``): gensim's model is
  rebuilt from it, the corpus's new words join by gensim's vocabulary update
  (``build_vocab(update=True)``), and training simply continues for
  ``epochs``. fastText stores keep their n-gram buckets.
- **vectors-only** — the base is vectors alone (GloVe, word2vec): a skip-gram
  word2vec model is started from the pretrained vectors of the corpus words
  the base has, the corpus's other words join by gensim's vocabulary update
  (random vectors), and the model trains with the pretrained rows under a
  **lock factor** (their updates are scaled by it; new words learn at the
  full rate; :data:`LOCK_FACTOR` says how the default was chosen). The output
  weights start at zero, so the first updates fit them to the pretrained
  space before the words move.

Either way the new store holds every base word — in vectors-only mode those
the corpus does not use (or uses fewer than ``min_count`` times) keep their
pretrained vector — plus the corpus's new words. Its manifest records the
base (name, sha256), the corpus fingerprint and the settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass

import numpy as np

from vecclf.training.corpus import Corpus
from vecclf.training.errors import BundleError, DataError
from vecclf.training.vectors.state import has_state, rebuild_model
from vecclf.training.vectors.store import VectorStore, list_stores, open_store
from vecclf.training.vectors.trainer import check_vocabulary, train_passes, write_model
from vecclf.training.vectors.writer import StoreWriter

log = logging.getLogger(__name__)

#: How fast pretrained rows move in vectors-only fine-tuning, relative to new words: 0 freezes them (the new
#: words are only placed among them), 1 lets them move as freely. Chosen on held-out data (SST-2's dev set with
#: MR as the corpus, and a validation part of the tweets' training rows; never a benchmark's test set): accuracy
#: rose with it from 0 through 0.1 and 0.5 to 1 (docs/cli.md has the figures), so by default the
#: pretrained rows move freely and the mechanism is there for a corpus large enough to wash them out.
LOCK_FACTOR = 1.0
_COPY_ROWS = 65536


@dataclass(frozen=True)
class FinetuneSettings:
    """How ``vectors finetune`` trains; ``epochs=None`` means the base model's own (5 for vectors-only)."""

    epochs: int | None = None
    min_count: int = 5
    window: int = 5
    lock_factor: float = LOCK_FACTOR
    workers: int = 1
    seed: int = 0

    def check(self) -> "FinetuneSettings":
        """Return self, or raise DataError naming the first bad setting."""
        for flag, value in (("--epochs", self.epochs if self.epochs is not None else 1), ("--min-count", self.min_count),
                            ("--window", self.window), ("--workers", self.workers)):
            if value < 1:
                raise DataError(f"{flag} must be at least 1, not {value}")
        if not 0.0 <= self.lock_factor <= 1.0:
            raise DataError(f"--lock-factor must be between 0 and 1, not {self.lock_factor}")
        return self


def finetune_vectors(store, base: str, corpus_paths, name: str, settings: FinetuneSettings = FinetuneSettings(), *,
                     text_column: str = "text", fmt: str = "auto", encoding: str = "auto", force: bool = False) -> dict:
    """Fine-tune vector store ``base`` on the corpus files into store ``name``; return its manifest.

    Raises:
        NotFoundError: no store ``base``.
        BundleError: ``base`` has subword buckets but no training state, or its state is corrupt.
        DataError: a corpus file is unusable, or no corpus word is frequent enough.
        VecclfError: ``name`` exists (without ``force``) or is invalid.
    """
    vstore = open_store(store, base)
    with StoreWriter(store, name, force=force) as writer:  # refuses a taken name before any training
        corpus = Corpus(corpus_paths, vstore.tokenizer, text_column=text_column, fmt=fmt, encoding=encoding)
        return _finetune(vstore, corpus, writer, settings)


def _finetune(vstore: VectorStore, corpus: Corpus, writer: StoreWriter, settings: FinetuneSettings,
              extra: dict | None = None) -> dict:
    """Fine-tune ``vstore`` on ``corpus``, commit ``writer`` and return the published manifest."""
    settings.check()
    started = time.monotonic()
    continuing = has_state(vstore)
    if vstore.subword and not continuing:
        raise BundleError(f"vector store {vstore.name!r} has fastText subwords but no training state (imported "
                          "before vecclf kept it): import its .bin again to fine-tune it")
    if continuing:
        fields, vocabulary, epochs, wps = _continue(vstore, corpus, settings, writer)
    else:
        fields, vocabulary, epochs, wps = _vectors_only(vstore, corpus, settings, writer)
    method = {"method": "continue"} if continuing else {"method": "vectors-only", "algorithm": "word2vec",
                                                         "architecture": "skipgram"}
    chosen = {k: v for k, v in asdict(settings).items() if not (continuing and k == "lock_factor")}
    manifest = {
        **fields,
        "source": f"{vstore.name} fine-tuned by vecclf on {len(corpus.files)} corpus file(s)",
        "source_format": "finetuned",
        "lowercase": vstore.lowercase,
        "base": {"name": vstore.name, "sha256": vstore.sha256, "size": vstore.size, "dim": vstore.dim,
                 "source": vstore.manifest.get("source")},
        "corpus": corpus.fingerprint(),
        "settings": {**chosen, "epochs": epochs, **method},
        "vocabulary": vocabulary,
        "seconds": round(time.monotonic() - started, 2),
        "words_per_second": round(wps),
        **(extra or {}),
    }
    path = writer.commit(manifest)
    log.info("fine-tuned %r on %s words into %r (%d words, %d new)", vstore.name, f"{corpus.words:,}", writer.name,
             manifest["size"], vocabulary["added"])
    return {**writer.manifest, "path": str(path)}


def _continue(vstore: VectorStore, corpus: Corpus, settings: FinetuneSettings, writer: StoreWriter):
    model = rebuild_model(vstore, workers=settings.workers, seed=settings.seed)
    before = len(model.wv)
    model.min_count = settings.min_count
    model.build_vocab(corpus, update=True)
    epochs = settings.epochs or model.epochs
    passes = train_passes(model, corpus, epochs, model.corpus_total_words, model.corpus_count)
    vocabulary = {"base": before, "added": len(model.wv) - before}
    return write_model(writer, model), vocabulary, epochs, passes.words_per_second()


def _vectors_only(vstore: VectorStore, corpus: Corpus, settings: FinetuneSettings, writer: StoreWriter):
    from gensim.models import Word2Vec

    epochs = settings.epochs or 5
    model = Word2Vec(vector_size=vstore.dim, window=settings.window, min_count=settings.min_count, sg=1,
                     workers=settings.workers, seed=settings.seed, epochs=epochs)
    total_words, documents = model.scan_vocab(corpus)
    counts = {w: c for w, c in model.raw_vocab.items() if c >= settings.min_count}
    words = list(counts)
    rows = vstore.rows_array(words)
    shared = {w: counts[w] for w, r in zip(words, rows) if r >= 0}
    new = {w: counts[w] for w, r in zip(words, rows) if r < 0}
    if not counts:
        check_vocabulary(model, corpus, settings.min_count)  # raises: the model has no word yet
    if not shared:
        raise DataError(f"the corpus shares no word (seen --min-count {settings.min_count} times) with {vstore.name!r}: "
                        "check its language and casing, or train vectors of its own with 'vecclf vectors train'")
    total = sum(counts.values())
    _add_words(model, shared, total, update=False)
    model.wv.vectors[:] = vstore.vectors[vstore.rows_array(model.wv.index_to_key)]
    if new:
        _add_words(model, new, total, update=True)
    lockf = np.ones(len(model.wv), dtype=np.float32)
    lockf[: len(shared)] = settings.lock_factor
    model.wv.vectors_lockf = lockf
    log.info("vocabulary: %s pretrained words to adapt, %s new words, of %s words in %s documents",
             f"{len(shared):,}", f"{len(new):,}", f"{total_words:,}", f"{documents:,}")
    passes = train_passes(model, corpus, epochs, total_words, documents)
    fields = _merge(vstore, model, len(shared), writer)
    vocabulary = {"base": vstore.size, "added": len(new), "adapted": len(shared)}
    return fields, vocabulary, epochs, passes.words_per_second()


def _add_words(model, counts: dict, total: int, update: bool) -> None:
    """Add ``counts``' words to ``model`` with gensim's vocabulary building, subsampled as in the whole corpus.

    gensim sets the subsampling threshold from the counts it is given; each part
    is only a share of the corpus, so the sample rate is scaled by the part's
    share to keep the threshold the whole corpus's.
    """
    sample = model.sample
    part = sum(counts.values())
    scaled = sample * total / part if sample and sample < 1.0 else sample
    model.sample = scaled if scaled < 1.0 else 0  # 0: the part is too small for any word to reach the threshold
    try:
        model.build_vocab_from_freq(counts, update=update)
    finally:
        model.sample = sample


def _merge(vstore: VectorStore, model, n_shared: int, writer: StoreWriter) -> dict:
    """Write the base's words (adapted rows replaced) followed by the new words."""
    new_words = model.wv.index_to_key[n_shared:]
    size = vstore.size + len(new_words)
    trained = np.asarray(model.wv.vectors, dtype=np.float32)
    if not np.isfinite(trained).all():
        raise DataError("training diverged: some vectors are not finite (nan/inf); try fewer --epochs")
    matrix = writer.matrix(size, vstore.dim, "float32")
    for start in range(0, vstore.size, _COPY_ROWS):
        end = min(start + _COPY_ROWS, vstore.size)
        matrix[start:end] = vstore.vectors[start:end]
    matrix[vstore.rows_array(model.wv.index_to_key[:n_shared])] = trained[:n_shared]
    matrix[vstore.size :] = trained[n_shared:]
    writer.write_vocab(vstore.words + list(new_words))
    return {"dim": vstore.dim, "size": size, "dtype": "float32", "subword": False, "training_state": None}


# ---------------------------------------------------------------- vecclf train --unlabelled
#: What ``vecclf train --unlabelled`` fine-tunes with: the defaults, on one thread so ``--seed`` reproduces it.
TRAIN_SETTINGS = FinetuneSettings(workers=1)


def finetuned_for_training(store, base: str, corpus_paths, *, text_column: str = "text", seed: int = 0) -> dict:
    """Return ``{"name", "reused", "seconds"}`` of ``base`` fine-tuned on the corpus, built once per input.

    The store's name carries a digest of the base's sha256, the corpus fingerprint
    and the settings, so a rerun on the same input reuses it and a model version
    never sees the vectors it was trained on replaced.
    """
    vstore = open_store(store, base)
    settings = FinetuneSettings(**{**asdict(TRAIN_SETTINGS), "seed": seed})
    corpus = Corpus(corpus_paths, vstore.tokenizer, text_column=text_column)
    key = hashlib.sha256(json.dumps({"base": vstore.sha256, "corpus": corpus.fingerprint()["sha256"],
                                     "settings": asdict(settings)}, sort_keys=True).encode()).hexdigest()
    name = f"{vstore.name[:80]}-ft-{key[:12]}"
    for manifest in list_stores(store):
        if manifest["name"] == name and manifest.get("finetune_key") == key:
            log.info("reusing %r: %r already fine-tuned on these files", name, base)
            return {"name": name, "reused": True, "seconds": 0.0}
    started = time.monotonic()
    with StoreWriter(store, name, force=True) as writer:  # the corpus is checked already: no second pass
        _finetune(vstore, corpus, writer, settings, {"finetune_key": key})
    return {"name": name, "reused": False, "seconds": round(time.monotonic() - started, 2)}
