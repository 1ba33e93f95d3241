"""``vecclf vectors train``: word2vec or fastText vectors learned from in-domain text with gensim.

The corpus is streamed from disk (:class:`~vecclf.training.corpus.Corpus`) and
tokenized as classification will tokenize (the store's casing), then gensim
counts the words in one pass and trains for ``epochs`` more. The result is a
normal vector store, written by :class:`~vecclf.training.vectors.writer.StoreWriter`:
``vectors.npy`` (for fastText each word's vector averaged with its n-grams,
as gensim and fastText give it), ``vocab.txt``, for fastText ``ngrams.npy``
(the subword buckets, so unseen words get vectors), and the training state
(:mod:`~vecclf.training.vectors.state`) so ``vecclf vectors finetune`` can
continue from it.

With ``workers=1`` and a fixed ``seed`` the store is the same, byte for byte,
on every run; more workers train faster but in an order that varies.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np

from vecclf.training import progress
from vecclf.training.corpus import Corpus
from vecclf.training.errors import DataError
from vecclf.training.tokens import Tokenizer
from vecclf.training.vectors.progress import TrainingPasses
from vecclf.training.vectors.state import model_settings, save_model_state
from vecclf.training.vectors.writer import StoreWriter

log = logging.getLogger(__name__)

ALGORITHMS = ("word2vec", "fasttext")
ARCHITECTURES = ("skipgram", "cbow")


@dataclass(frozen=True)
class VectorSettings:
    """How ``vectors train`` trains (defaults: gensim's, except skip-gram and a smaller n-gram table)."""

    algorithm: str = "word2vec"
    dim: int = 100
    epochs: int = 5
    window: int = 5
    min_count: int = 5
    workers: int = 1
    seed: int = 0
    # Skip-gram learns rarer words better than CBOW from the small corpora in-domain text usually is.
    architecture: str = "skipgram"
    # fastText's own table has 2M rows (800 MB at 100 dims); 200k keeps small corpora's n-grams apart.
    bucket: int = 200_000
    min_n: int = 3
    max_n: int = 6

    def check(self) -> "VectorSettings":
        """Return self, or raise DataError naming the first bad setting."""
        if self.algorithm not in ALGORITHMS:
            raise DataError(f"--algorithm must be one of {', '.join(ALGORITHMS)}, not {self.algorithm!r}")
        if self.architecture not in ARCHITECTURES:
            raise DataError(f"--architecture must be one of {', '.join(ARCHITECTURES)}, not {self.architecture!r}")
        for flag, value, low in (("--dim", self.dim, 1), ("--epochs", self.epochs, 1), ("--window", self.window, 1),
                                 ("--min-count", self.min_count, 1), ("--workers", self.workers, 1),
                                 ("--bucket", self.bucket, 1), ("--min-n", self.min_n, 1)):
            if value < low:
                raise DataError(f"{flag} must be at least {low}, not {value}")
        if self.max_n < self.min_n:
            raise DataError(f"--max-n ({self.max_n}) must be at least --min-n ({self.min_n})")
        return self


def new_model(settings: VectorSettings):
    """Return an untrained gensim model for ``settings``."""
    from gensim.models import FastText, Word2Vec

    common = dict(vector_size=settings.dim, window=settings.window, min_count=settings.min_count,
                  workers=settings.workers, seed=settings.seed, epochs=settings.epochs,
                  sg=int(settings.architecture == "skipgram"))
    if settings.algorithm == "fasttext":
        return FastText(bucket=settings.bucket, min_n=settings.min_n, max_n=settings.max_n, **common)
    return Word2Vec(**common)


def train_passes(model, corpus, epochs: int, total_words: int, total_examples: int) -> TrainingPasses:
    """Train ``model`` on ``corpus`` for ``epochs``, with progress; return the passes (words/s per epoch)."""
    passes = TrainingPasses(corpus, epochs, total_words)
    model.train(passes, total_examples=total_examples, total_words=total_words, epochs=epochs,
                callbacks=[passes.callback()])
    passes.raise_failure()
    return passes


def check_vocabulary(model, corpus: Corpus, min_count: int) -> None:
    """Raise DataError when no word of ``corpus`` occurs ``min_count`` times."""
    if len(model.wv) == 0:
        names = ", ".join(str(f.path) for f in corpus.files)
        raise DataError(f"{names}: no word occurs --min-count {min_count} times ({corpus.words:,} words in all); "
                        "give more text or a lower --min-count")


def write_model(writer: StoreWriter, model) -> dict:
    """Write ``model``'s vectors (and n-grams, and training state) into ``writer``; return the manifest fields."""
    words = list(model.wv.index_to_key)
    vectors = np.asarray(model.wv.vectors, dtype=np.float32)
    if not np.isfinite(vectors).all():
        raise DataError("training diverged: some vectors are not finite (nan/inf); try fewer --epochs")
    matrix = writer.matrix(len(words), vectors.shape[1], "float32")
    matrix[:] = vectors
    writer.write_vocab(words)
    fields: dict = {"dim": int(vectors.shape[1]), "size": len(words), "dtype": "float32"}
    if model_settings(model)["algorithm"] == "fasttext":
        writer.write_ngrams(model.wv.vectors_ngrams, "float32")
        fields.update({"subword": True, "minn": int(model.wv.min_n), "maxn": int(model.wv.max_n),
                       "bucket": int(model.wv.bucket)})
    else:
        fields["subword"] = False
    fields["training_state"] = save_model_state(writer.tmp, model)
    return fields


def train_vectors(store, name: str, corpus_paths, settings: VectorSettings = VectorSettings(), *,
                  lowercase: bool = True, text_column: str = "text", fmt: str = "auto", encoding: str = "auto",
                  force: bool = False) -> dict:
    """Train vectors on the corpus files and write them as store ``name``; return its manifest.

    Raises:
        DataError: a corpus file is unusable, or no word is frequent enough.
        VecclfError: the store exists (without ``force``) or the name is invalid.
    """
    settings.check()
    started = time.monotonic()
    with StoreWriter(store, name, force=force) as writer:  # refuses a taken name before any training
        corpus = Corpus(corpus_paths, Tokenizer(lowercase=lowercase), text_column=text_column, fmt=fmt,
                        encoding=encoding)
        model = new_model(settings)
        model.build_vocab(corpus)
        check_vocabulary(model, corpus, settings.min_count)
        progress.step(f"vocabulary: {len(model.wv):,} words of {corpus.words:,} in {corpus.documents:,} documents")
        passes = train_passes(model, corpus, settings.epochs, model.corpus_total_words, model.corpus_count)
        fields = write_model(writer, model)
        manifest = {
            **fields,
            "source": f"trained by vecclf ({settings.algorithm}) on {len(corpus.files)} corpus file(s)",
            "source_format": "trained",
            "lowercase": lowercase,
            "corpus": corpus.fingerprint(),
            "settings": asdict(settings),
            "seconds": round(time.monotonic() - started, 2),
            "words_per_second": round(passes.words_per_second()),
        }
        path = writer.commit(manifest)
    log.info("trained %d x %d %s vectors as %r into %s", fields["size"], fields["dim"], settings.algorithm, name, path)
    return {**writer.manifest, "path": str(path)}
