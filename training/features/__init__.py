"""Feature sets: pooled word vectors, alone or next to sparse n-gram blocks.

================ ===============================================================
``mean``         mean of word vectors (the plain transfer-learning baseline)
``sif``          SIF-weighted mean with the common component removed
``meanmax``      mean and max pooling concatenated
``dense``        mean and SIF embeddings, each L2-normalised, standardised
                 (the few-labels candidate: nothing to learn per word)
``hybrid``       NB-weighted word 1-2 grams + TF-IDF character 2-5 grams
                 (within word boundaries) + the standardised mean embedding
``hybrid-pos``   ``hybrid`` plus sentence start/end markers in the word n-grams
                 and the vectors of the first three words (question type,
                 imperative, ...: where a sentence starts carries its class)
================ ===============================================================

Why the hybrid works: the dense block carries meaning learned from billions of
words (it generalises from few labels and to unseen words), the NB-weighted
n-grams carry the exact phrases of the task (Wang & Manning 2012), the
character n-grams catch morphology and misspellings; one L2-regularised
logistic regression balances them. Each block is scaled to unit-ish row norm
so one C fits all. With ``encoder`` (``--encoder minilm``), every set gets a
sentence transformer's embedding as one more standardised dense block, at
twice the others' row norm (:mod:`~vecclf.training.features.encoded`): the
accuracy mode, at a few
milliseconds a text. ``auto`` (:mod:`vecclf.training.selection`) chooses among ``dense``,
``hybrid`` and ``hybrid-pos`` and C by cross-validation on the training data.

Each block lives in its own module beside its serving kernel (``compile``):
:mod:`~vecclf.training.features.words` (NB word n-grams),
:mod:`~vecclf.training.features.chars` (character n-grams),
:mod:`~vecclf.training.features.dense` (standardised embeddings, first
words) and :class:`~vecclf.training.embed.DocumentEmbedder` (pooling).
:func:`build_features` assembles a feature set; :func:`compile_features`
compiles a fitted one, block by block, in column order.
"""

from __future__ import annotations

from sklearn.pipeline import FeatureUnion, Pipeline

from vecclf.training.embed import DocumentEmbedder
from vecclf.training.features.chars import CharNgrams
from vecclf.training.features.dense import DenseScale, FirstWords, compile_source, dense_block
from vecclf.training.features.encoded import SentenceEncoder, encoder_block
from vecclf.training.features.sparse import pack_terms, unpack_terms
from vecclf.training.features.words import BOS, EOS, NBNgrams
from vecclf.training.kernels import Unsupported

__all__ = ["BOS", "EOS", "FEATURE_SETS", "CharNgrams", "DenseScale", "FirstWords", "NBNgrams", "SentenceEncoder",
           "build_features", "compile_features", "dense_block", "encoder_block", "pack_terms", "unpack_terms"]

FEATURE_SETS = ("mean", "sif", "meanmax", "dense", "hybrid", "hybrid-pos")
# The most frequent word n-grams a model keeps: bounds the model (and its bundle) on very large data;
# SST-2 has ~100k, 200k generated MR/SST-2 rows ~160k.
MAX_WORD_TERMS = 2_000_000


def build_features(name: str, vectors: str, store: str | None, lowercase: bool = True, dense_weight: float = 1.0,
                   encoder: str | None = None):
    """Return an unfitted transformer for feature set ``name``, with ``encoder``'s block beside it if given."""
    blocks = _blocks(name, vectors, store, lowercase, dense_weight)
    if encoder is None:
        return blocks
    pairs = blocks.transformer_list if isinstance(blocks, FeatureUnion) else [(name, blocks)]
    return FeatureUnion([*pairs, ("encoder", encoder_block(encoder, store=store))])


def _blocks(name: str, vectors: str, store: str | None, lowercase: bool, dense_weight: float):
    if name in ("mean", "sif", "meanmax"):
        return Pipeline([
            ("embed", DocumentEmbedder(vectors=vectors, store=store, pooling=name)),
            ("scale", DenseScale(weight=1.0)),
        ])
    if name == "dense":
        return dense_block(vectors, store, ("mean", "sif"))
    if name in ("hybrid", "hybrid-pos"):
        pos = name == "hybrid-pos"
        blocks = [
            ("words", NBNgrams(lowercase=lowercase, bos=pos, max_features=MAX_WORD_TERMS)),
            ("chars", CharNgrams(lowercase=lowercase)),
            ("dense", dense_block(vectors, store, ("mean",), weight=dense_weight)),
        ]
        if pos:
            blocks.append(("first", Pipeline([("embed", FirstWords(vectors=vectors, store=store, k=3)),
                                              ("scale", DenseScale(weight=1.0, per_feature=True))])))
        return FeatureUnion(blocks)
    raise ValueError(f"unknown feature set {name!r}; choose one of {', '.join(FEATURE_SETS)} or auto")


def compile_features(features, context) -> list:
    """Return the serving kernels of a fitted features transformer, in column order (or raise Unsupported)."""
    if isinstance(features, FeatureUnion):
        if features.transformer_weights:
            raise Unsupported("weighted feature union")
        kernels = []
        for _, part in features.transformer_list:
            if part != "drop":
                kernels.extend(compile_features(part, context))
        return kernels
    if type(features) in (NBNgrams, CharNgrams):
        return [features.compile(context)]
    if isinstance(features, Pipeline) and len(features.steps) == 2 and type(features.steps[1][1]) is DenseScale:
        return [features.steps[1][1].compile_over(compile_source(features.steps[0][1], context))]
    raise Unsupported(f"features {type(features).__name__}")
