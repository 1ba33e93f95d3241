"""What the folds of a search share: each feature block's label-free work, done once for all the texts.

``--features auto`` (:mod:`vecclf.training.selection`) fits every block on the
training part of each fold, and the final model fits the chosen blocks again
on all the rows. Most of that work does not depend on which rows a block is
fitted on: tokenizing, finding each text's word and character n-grams,
pooling word vectors. :class:`SharedBlocks` does it once for all the texts and
keeps it; fitting a block on some rows is then only what depends on those
rows, so every statistic learned from the rows (document frequencies, the NB
ratios of the labels, idf, the standardisation of a dense block) is still
learned inside its fold:

- word n-grams (:class:`NBNgrams`) and character n-grams (:class:`CharNgrams`):
  every text's distinct terms and their counts as
  :class:`~vecclf.training.features.sparse.Occurrences`; a fold counts over its
  training rows, keeps their terms and takes those columns (``fit_occurrences``);
- dense blocks (a :class:`DenseScale` after steps that learn nothing from the
  texts: mean pooling, first words, a sentence encoder, L2 norms): the rows
  before the scaling, once; a fold fits the scaling on its training rows.

The matrices are those of ``fit`` on the rows and ``transform``, to the bit
(the tests compare them); any other block is fitted on the fold's texts as usual.
"""

from __future__ import annotations

import threading

from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import Normalizer

from vecclf.training.embed import DocumentEmbedder
from vecclf.training.features.chars import CharNgrams
from vecclf.training.features.dense import DenseScale, FirstWords
from vecclf.training.features.encoded import SentenceEncoder
from vecclf.training.features.words import NBNgrams

# Poolings whose embedder learns nothing from the texts it is fitted on (sif and tfidf learn from them).
_LABEL_FREE_POOLINGS = ("mean", "meanmax")


class SharedBlocks:
    """The label-free work of the feature blocks on ``texts``, done on first use and kept; thread-safe."""

    def __init__(self, texts: list[str]):
        self.texts = texts
        self._done: dict = {}
        self._locks: dict = {}
        self._lock = threading.Lock()

    def covers(self, texts) -> bool:
        """Return whether ``texts`` are this object's texts (the same list, or an equal one)."""
        return texts is self.texts or (len(texts) == len(self.texts) and list(texts) == self.texts)

    def fold(self, block, train_rows, test_rows, y):
        """Fit ``block`` as ``block.fit`` on the texts ``train_rows`` with labels ``y`` does; return its matrices of
        the texts ``train_rows`` and ``test_rows`` (None for no test rows)."""
        if type(block) in (NBNgrams, CharNgrams):
            occurrences = self._shared(block.occurrences_key(), lambda: block.occurrences(self.texts))
            transform = block.fit_occurrences(occurrences, train_rows, y)
            if transform is not None:
                return transform(train_rows), transform(test_rows) if len(test_rows) else None
        elif _label_free_prefix(block):
            prefix = Pipeline(block.steps[:-1])
            fitted, rows = self._shared(("dense", _params_key(prefix)), lambda: (prefix, prefix.fit_transform(self.texts)))
            # The prefix learns nothing from the texts: fitted on all of them, it is fitted on any rows.
            block.set_params(steps=[*fitted.steps, block.steps[-1]])
            scale = block.steps[-1][1]
            return (scale.fit(rows[train_rows]).transform(rows[train_rows]),
                    scale.transform(rows[test_rows]) if len(test_rows) else None)
        train = [self.texts[i] for i in train_rows]
        out = block.fit_transform(train, y)
        return out, block.transform([self.texts[i] for i in test_rows]) if len(test_rows) else None

    def _shared(self, key, make):
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # blocks needing the same work in two threads: one does it, the other waits
            if key not in self._done:
                self._done[key] = make()
            return self._done[key]


def _label_free_prefix(block) -> bool:
    """Return whether ``block`` is a pipeline ending in DenseScale whose earlier steps learn nothing from texts."""
    return (isinstance(block, Pipeline) and len(block.steps) > 1 and type(block.steps[-1][1]) is DenseScale
            and all(_label_free(step) for _, step in block.steps[:-1]))


def _label_free(step) -> bool:
    if type(step) is DocumentEmbedder:
        return step.pooling in _LABEL_FREE_POOLINGS
    if type(step) in (FirstWords, SentenceEncoder, Normalizer):
        return True
    if isinstance(step, Pipeline):
        return all(_label_free(s) for _, s in step.steps)
    if isinstance(step, FeatureUnion):
        return not step.transformer_weights and all(_label_free(s) for _, s in step.transformer_list)
    return False


def _params_key(estimator) -> str:
    """Return what identifies an unfitted estimator: its class and every parameter."""
    params = estimator.get_params(deep=True)
    shown = sorted((k, repr(v)) for k, v in params.items() if not hasattr(v, "get_params"))
    return f"{type(estimator).__name__}:{shown}"
