"""Progress of word-vector training: a bar of words per epoch, and one line per epoch (through
:mod:`vecclf.training.progress`, so off a terminal each epoch is one plain line).

gensim reads the corpus in a producer thread; an error there would leave its
worker threads waiting forever, so :class:`TrainingPasses` catches it, ends
the pass, and :meth:`TrainingPasses.raise_failure` raises it once gensim returns.
"""

from __future__ import annotations

import time

from vecclf.training import progress
_UPDATE_EVERY = 2000  # documents between bar updates (each update costs more than a document)


class TrainingPasses:
    """Wrap a corpus for ``model.train``: count the epochs, show words/s, keep a reading error for later.

    Parameters:
        corpus: the re-iterable corpus of token lists.
        epochs: how many passes ``train`` makes.
        words: raw words in one pass (from the vocabulary scan), the bar's total.
    """

    def __init__(self, corpus, epochs: int, words: int):
        self.corpus = corpus
        self.epochs = epochs
        self.words = words
        self.epoch = 0
        self.failure: BaseException | None = None
        self.rates: list[float] = []
        self.read = 0  # words read in the latest pass

    def __iter__(self):
        self.epoch += 1
        bar = progress.bar(self.words, f"epoch {self.epoch}/{self.epochs}", unit="words")
        done, pending, docs = 0, 0, 0
        try:
            for tokens in self.corpus:
                yield tokens
                pending += len(tokens)
                docs += 1
                if docs % _UPDATE_EVERY == 0:
                    bar.update(pending)
                    done, pending = done + pending, 0
        except Exception as exc:  # noqa: BLE001  (raised again by raise_failure in the caller's thread)
            self.failure = exc
        finally:
            bar.update(pending)
            bar.close()
        self.read = done + pending

    def callback(self):
        """Return the gensim callback that times each epoch and logs its words/s."""
        from gensim.models.callbacks import CallbackAny2Vec

        passes = self

        class EpochLog(CallbackAny2Vec):
            def on_epoch_begin(self, model):
                self.started = time.monotonic()

            def on_epoch_end(self, model):
                seconds = max(time.monotonic() - self.started, 1e-9)
                passes.rates.append(passes.read / seconds)
                progress.step(f"epoch {passes.epoch}/{passes.epochs}: {passes.read:,} words in {seconds:.1f} s, "
                              f"{passes.read / seconds:,.0f} words/s")

        return EpochLog()

    def raise_failure(self) -> None:
        """Raise the error the corpus raised while gensim was reading it, if any."""
        if self.failure is not None:
            raise self.failure

    def words_per_second(self) -> float:
        """Return the median words/s over the epochs."""
        rates = sorted(self.rates)
        return rates[len(rates) // 2] if rates else 0.0
