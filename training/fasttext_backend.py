"""fastText's own supervised classifier, started from a vector store's pretrained vectors.

This is transfer learning the fastText way: the word embeddings of the
classifier start as the store's vectors (``pretrainedVectors``) and are tuned
together with word-bigram embeddings and a softmax over the labels
(``vecclf train --classifier fasttext``)::

    clf = FastTextClassifier(vectors="glove-6b-50d", store="models").fit(texts, labels)
    clf.predict_proba(["a gripping, beautifully shot film"])

The fitted fastText binary model is kept as bytes in ``model_bytes_`` (a numpy
``uint8`` array), so a :class:`~vecclf.training.model.TextModel` using it is still one
skops file without pickle; the native model is rebuilt from those bytes on
first use and never serialised itself.

The ``fasttext`` module comes from the optional extra ``vecclf[fasttext]``
(``fasttext-numpy2-wheel``) and is imported only when fitting or predicting.
Texts are tokenized with the store's :class:`~vecclf.training.tokens.Tokenizer`, so
training and serving see the same tokens. Labels are stored as indices, so
any label string (spaces included) works. Multi-label targets (tuples of
labels) train fastText's one-vs-all loss: one independent probability per label.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from vecclf.training.embed import StoreBacked
from vecclf.training.errors import DataError, VecclfError

INSTALL_HINT = "pip install 'vecclf[fasttext]'"
LABEL_PREFIX = "__label__"
MIN_BUCKET, MAX_BUCKET = 1024, 2_000_000


def import_fasttext():
    """Return the ``fasttext`` module, or raise VecclfError saying how to install it."""
    try:
        import fasttext
    except ImportError as exc:
        raise VecclfError(
            f"--classifier fasttext needs the fastText package, which is not installed ({exc}); "
            f"install it with: {INSTALL_HINT}"
        ) from exc
    return fasttext


def ngram_buckets(lines: list[str], word_ngrams: int) -> int:
    """Return a hash-bucket count for the word n-grams of ``lines`` (a power of two, at least their number).

    fastText's default (2M buckets x dim floats) would make every model hundreds
    of megabytes; sized to the n-grams that occur, SST-2 keeps its accuracy at 28 MB.
    """
    if word_ngrams <= 1:
        return 0
    grams = set()
    for line in lines:
        words = line.split() + ["</s>"]
        for n in range(2, word_ngrams + 1):
            grams.update(zip(*(words[i:] for i in range(n))))
    return int(min(MAX_BUCKET, max(MIN_BUCKET, 1 << max(len(grams) - 1, 1).bit_length())))


class FastTextClassifier(StoreBacked, ClassifierMixin, BaseEstimator):
    """fastText supervised training on tokenized texts, initialised from a vector store.

    Parameters:
        vectors: vector store name or folder (its vectors initialise the word embeddings).
        store: model store folder (None: ``./models``).
        epoch: passes over the training data.
        word_ngrams: longest word n-gram used as a feature (2: words and bigrams).
        lr: learning rate.
        bucket: n-gram hash buckets; None sizes them to the training data.
        seed: random seed.
        thread: training threads; 1 (the default) makes training reproducible.
        lowercase: tokenizer casing; None follows the vector store.
    """

    def __init__(self, vectors="glove-6b-50d", store=None, epoch=25, word_ngrams=2, lr=0.1, bucket=None,
                 seed=0, thread=1, lowercase=None):
        self.vectors = vectors
        self.store = store
        self.epoch = epoch
        self.word_ngrams = word_ngrams
        self.lr = lr
        self.bucket = bucket
        self.seed = seed
        self.thread = thread
        self.lowercase = lowercase

    # ------------------------------------------------------------ fitting
    def fit(self, X, y):
        """Train on texts ``X`` and labels ``y`` (strings, or tuples of strings for multi-label).

        Raises:
            DataError: texts and labels differ in number, fewer than two classes, or training diverged.
            VecclfError: the fastText package is not installed.
        """
        from vecclf.training.embed import as_text_list

        import_fasttext()  # fail early, with the install hint
        texts, y = as_text_list(X), list(y)
        if len(texts) != len(y):
            raise DataError(f"{len(texts)} texts but {len(y)} labels")
        self.multilabel_ = bool(y) and isinstance(y[0], (tuple, list))
        targets = [tuple(str(v) for v in labs) for labs in y] if self.multilabel_ else [(str(v),) for v in y]
        self.classes_ = np.asarray(sorted({lab for labs in targets for lab in labs}), dtype=object)
        if len(self.classes_) < 2:
            raise DataError(f"need at least two classes to train, got {list(self.classes_)}")
        store = self.vector_store()
        self.lowercase_ = store.lowercase if self.lowercase is None else bool(self.lowercase)
        self.dim_ = store.dim
        lines = self._lines(texts)
        column = {c: i for i, c in enumerate(self.classes_)}
        self.bucket_ = bucket = ngram_buckets(lines, self.word_ngrams) if self.bucket is None else int(self.bucket)
        with tempfile.TemporaryDirectory(prefix="vecclf-fasttext-") as tmp:
            train_file, vec_file, model_file = (Path(tmp) / n for n in ("train.txt", "vectors.vec", "model.bin"))
            with open(train_file, "w", encoding="utf-8") as fh:
                for labs, line in zip(targets, lines):
                    fh.write(" ".join(f"{LABEL_PREFIX}{column[lab]}" for lab in labs) + " " + line + "\n")
            self.n_pretrained_ = _write_restricted_vec(vec_file, store, lines)
            _train_in_fresh_process(dict(
                input=str(train_file), output=str(model_file), dim=store.dim, epoch=int(self.epoch),
                lr=float(self.lr), wordNgrams=int(self.word_ngrams), bucket=bucket, minCount=1,
                thread=int(self.thread), seed=int(self.seed), loss="ova" if self.multilabel_ else "softmax",
                pretrainedVectors=str(vec_file), verbose=0,
            ), self.lr)
            self.model_bytes_ = np.frombuffer(model_file.read_bytes(), dtype=np.uint8).copy()
        self._ft = None
        return self

    def _lines(self, texts: list[str]) -> list[str]:
        """Return each text as one line of space-joined tokens, as fastText reads it."""
        from vecclf.training.tokens import Tokenizer

        lines = []
        for tokens in Tokenizer(lowercase=self.lowercase_).many(texts):
            line = " ".join(tokens)
            if not line.isascii():
                # fastText splits on NUL too, and text from JSON may hold lone surrogates UTF-8 cannot encode.
                line = line.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8")
            lines.append(line)
        return lines

    # ------------------------------------------------------------ predicting
    def _model(self):
        """Return the native fastText model, rebuilt from ``model_bytes_`` on first use."""
        ft = getattr(self, "_ft", None)
        if ft is not None:
            return ft
        with _LOAD_LOCK:
            ft = getattr(self, "_ft", None)
            if ft is None:
                fasttext = import_fasttext()
                fd, path = tempfile.mkstemp(prefix="vecclf-fasttext-", suffix=".bin")
                try:
                    with os.fdopen(fd, "wb") as fh:
                        fh.write(np.asarray(self.model_bytes_, dtype=np.uint8).tobytes())
                    ft = fasttext.load_model(path)
                finally:
                    os.unlink(path)
                self._ft = ft
        return ft

    def predict_proba(self, X) -> np.ndarray:
        """Return an (n_texts, n_classes) matrix of probabilities in ``classes_`` order.

        Single-label rows sum to 1; multi-label columns are independent probabilities.
        """
        from vecclf.training.embed import as_text_list

        check_is_fitted(self, "model_bytes_")
        texts = as_text_list(X)
        proba = np.zeros((len(texts), len(self.classes_)), dtype=np.float64)
        if not texts:
            return proba
        all_labels, all_probs = self._model().predict(self._lines(texts), k=-1, threshold=0.0)
        skip = len(LABEL_PREFIX)
        for row, labels, probs in zip(proba, all_labels, all_probs):
            row[[int(lab[skip:]) for lab in labels]] = probs
        # fastText's float32 softmax can come out a hair above 1.
        np.clip(proba, 0.0, 1.0, out=proba)
        if not self.multilabel_:
            totals = proba.sum(axis=1, keepdims=True)
            np.divide(proba, totals, out=proba, where=totals > 0)
        return proba

    def predict(self, X):
        """Return the most probable label per text."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __getstate__(self):
        # The native model is not serialisable; model_bytes_ rebuilds it.
        state = BaseEstimator.__getstate__(self)
        state.pop("_ft", None)
        state.pop("_store", None)
        return state


_LOAD_LOCK = threading.Lock()


# Runs in a fresh interpreter: see _train_in_fresh_process.
_TRAIN_SCRIPT = """
import ctypes, json, sys
try:
    ctypes.CDLL(None).mallopt(-3, 4096)  # M_MMAP_THRESHOLD: big blocks are fresh zeroed pages
except (OSError, AttributeError):
    pass
import fasttext
args = json.loads(sys.argv[1])
output = args.pop("output")
try:
    model = fasttext.train_supervised(**args)
except RuntimeError as exc:
    sys.stderr.write(str(exc))
    sys.exit(3)
model.save_model(output)
"""


def _train_in_fresh_process(args: dict, lr) -> None:
    """Run ``fasttext.train_supervised(**args)`` in a new interpreter and save the model to ``args["output"]``.

    fastText 0.9.2's ``DenseMatrix::uniform`` initialises only ``thread/10`` of
    the input matrix (its block size is ``size/10``); the rest, the word n-gram
    buckets with ``thread=1``, keeps whatever the heap held. In a process that
    did other work that can be NaN bytes, and training stops with "Encountered
    NaN" on ordinary data, or starts from other garbage and is not reproducible.
    A fresh interpreter hands out fresh zeroed memory, a sound and repeatable start.

    Raises:
        DataError: training diverged (NaN).
        VecclfError: the training process failed otherwise.
    """
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _TRAIN_SCRIPT, json.dumps(args)], capture_output=True, text=True)
    message = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    if done.returncode == 3:
        raise DataError(
            f"fastText training failed ({message}): its weights diverged; this happens with a learning rate "
            f"too high (lr={lr}) or on degenerate data such as a few identical lines repeated many times; "
            "use more varied training texts, a lower lr or another --classifier"
        )
    if done.returncode != 0 or not Path(args["output"]).is_file():
        raise VecclfError(f"fastText training failed: {message}")


def _write_restricted_vec(path: Path, store, lines: list[str]) -> int:
    """Write the store's vectors of the words in ``lines`` as a ``.vec`` file; return how many.

    fastText adds every word of a pretrained file to its dictionary, so the whole
    store would make the model as large as the store; words absent from the
    training texts never get a gradient, and the accuracy is the same without them.
    """
    words = sorted({w for line in lines for w in line.split()})
    rows = store.rows_array(words) if words else np.zeros(0, dtype=np.int64)
    keep = np.flatnonzero(rows >= 0)
    matrix = np.asarray(store.vectors[rows[keep]], dtype=np.float32) if len(keep) else np.zeros((0, store.dim))
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"{len(keep)} {store.dim}\n")
        for i, vec in zip(keep.tolist(), matrix):
            fh.write(words[i] + " " + " ".join(map(repr, vec.tolist())) + "\n")
    return int(len(keep))
