"""The fast inference path gives the model's own numbers, or steps aside."""

import numpy as np
import pytest

from tests.conftest import NEUTRAL, make_corpus, write_csv
from training.inference import PROBE_TEXTS, Predictor
from training.registry import ModelRegistry
from training.train import train

TEXTS = ["A great and wonderful film!", "Awful, boring plot.", "", "zzz unknown", "Good good bad. The film!"]
# Digits, punctuation, non-ASCII, whitespace only, empty, unseen words, and a very long text.
TABLE = TEXTS + [
    "the 2 best films of 2024: 10/10, $5 well spent!!!",
    "Naïve café — ΣΊΣΥΦΟΣ 日本語 🎉 ｆｕｌｌ ﬁne",
    "   \t\n ",
    "it was not good , it was bad",
    "w1 w2 w3 w4 w5 w6 w7 w8 w9",
    "Movie story actor excellent superb terrible sad",
    " ".join(["the film was great but the plot was dull and the actor poor"] * 80),
]
TOPICS = {"sports": ["good", "great", "best", "fine"], "politics": ["bad", "poor", "sad", "worst"],
          "arts": ["love", "superb", "brilliant", "happy"]}


@pytest.fixture
def topics_csv(tmp_path):
    """Return a CSV of 90 synthetic texts in three classes."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(90):
        label = list(TOPICS)[i % 3]
        words = list(rng.choice(NEUTRAL[:12], size=4)) + list(rng.choice(TOPICS[label], size=2))
        rng.shuffle(words)
        rows.append({"text": " ".join(words).capitalize() + ".", "label": label})
    return write_csv(tmp_path / "topics.csv", rows)


def _load(store, **kwargs):
    train(store=str(store), name="m", vectors="tiny", seed=1, **kwargs)
    return ModelRegistry(store).load("m")[0]


@pytest.mark.parametrize("features,compiled", [("mean", True), ("meanmax", True), ("sif", True), ("hybrid", True)])
def test_predictor_matches_the_model(tiny_vectors, sentiment_csv, features, compiled):
    """Scores, labels and embeddings equal TextModel's for every feature set."""
    store, _, _ = tiny_vectors
    model = _load(store, data=str(sentiment_csv), features=features)
    predictor = Predictor(model)
    assert predictor.compiled is compiled
    np.testing.assert_allclose(predictor.predict_proba(TEXTS), model.predict_proba(TEXTS), atol=1e-6)
    for i, text in enumerate(TABLE):  # the one-text path
        np.testing.assert_allclose(predictor.predict_proba([text]), model.predict_proba([text]), rtol=0, atol=1e-5)
    for fast, slow in zip(predictor.explain(TEXTS), model.explain(TEXTS)):
        assert fast["label"] == slow["label"]
        assert fast["confidence"] == pytest.approx(slow["confidence"], abs=1e-6)
    np.testing.assert_allclose(predictor.embed(TEXTS), model.embedder().transform(TEXTS), atol=1e-6)
    assert predictor.embed(TEXTS[:1]).shape == (1, predictor.dim)


@pytest.mark.parametrize("features", ["dense", "hybrid", "hybrid-pos"])
@pytest.mark.parametrize("task", ["binary", "three classes"])
def test_default_models_are_compiled(tiny_vectors, sentiment_csv, topics_csv, features, task):
    """The models `auto` chooses from run compiled and give predict_proba within 1e-5, alone and in a batch."""
    store, _, _ = tiny_vectors
    data = sentiment_csv if task == "binary" else topics_csv
    model = _load(store, data=str(data), features=features)
    predictor = Predictor(model)
    assert predictor.compiled is True
    expected = model.predict_proba(TABLE)
    assert expected.shape == (len(TABLE), 2 if task == "binary" else 3)
    np.testing.assert_allclose(predictor.predict_proba(TABLE), expected, rtol=0, atol=1e-5)
    for i, text in enumerate(TABLE):
        np.testing.assert_allclose(predictor.predict_proba([text])[0], expected[i], rtol=0, atol=1e-5)
    assert [p["label"] for p in predictor.explain(TABLE)] == [p["label"] for p in model.explain(TABLE)]


def test_auto_model_is_compiled(tiny_vectors, sentiment_csv):
    """Whatever `--features auto` picks is served compiled."""
    store, _, _ = tiny_vectors
    model = _load(store, data=str(sentiment_csv), features="auto")
    predictor = Predictor(model)
    assert predictor.compiled is True
    np.testing.assert_allclose(predictor.predict_proba(TABLE), model.predict_proba(TABLE), rtol=0, atol=1e-5)


def test_probe_texts_cover_the_hard_cases():
    """The self-check probes include digits, punctuation, non-ASCII, empty and very long texts."""
    assert "" in PROBE_TEXTS
    assert any(any(c.isdigit() for c in t) for t in PROBE_TEXTS)
    assert any(not t.isascii() for t in PROBE_TEXTS)
    assert any(len(t) > 2000 for t in PROBE_TEXTS)


@pytest.mark.parametrize("kwargs", [
    {"features": "hybrid", "classifier": "svm"},
    {"features": "mean", "classifier": "mlp"},
    {"features": "dense", "classifier": "svm"},
])
def test_other_classifiers_fall_back(tiny_vectors, sentiment_csv, kwargs):
    """SVM and MLP models stay on the pipeline and give its numbers."""
    store, _, _ = tiny_vectors
    model = _load(store, data=str(sentiment_csv), **kwargs)
    predictor = Predictor(model)
    assert predictor.compiled is False
    np.testing.assert_allclose(predictor.predict_proba(TEXTS), model.predict_proba(TEXTS), atol=1e-12)
    assert [p["label"] for p in predictor.explain(TEXTS)] == [p["label"] for p in model.explain(TEXTS)]


def test_multilabel_falls_back(tiny_vectors, tmp_path):
    """A multi-label model stays on the pipeline and keeps its `labels` field."""
    store, _, _ = tiny_vectors
    texts, labels = make_corpus(60)
    rows = [{"text": t, "label": f"{lab}|film" if i % 3 else lab} for i, (t, lab) in enumerate(zip(texts, labels))]
    model = _load(store, data=str(write_csv(tmp_path / "multi.csv", rows)), features="hybrid")
    assert model.multilabel_
    predictor = Predictor(model)
    assert predictor.compiled is False
    assert predictor.explain(TEXTS) == model.explain(TEXTS)


def test_a_disagreeing_compile_is_dropped(tiny_vectors, sentiment_csv, monkeypatch):
    """When the compiled numbers differ from the model's on the probes, the pipeline serves."""
    from training import inference

    store, _, _ = tiny_vectors
    model = _load(store, data=str(sentiment_csv), features="hybrid")
    monkeypatch.setattr(inference._CharNgrams, "bind", lambda self, W: np.zeros(W.shape[1]) + 0.5)
    predictor = Predictor(model)
    assert predictor.compiled is False
    np.testing.assert_allclose(predictor.predict_proba(TEXTS), model.predict_proba(TEXTS), atol=1e-12)


def test_words_come_from_the_shared_index(tiny_vectors, sentiment_csv):
    """Serving never builds the store's per-process word dict."""
    store, _, _ = tiny_vectors
    model = _load(store, data=str(sentiment_csv), features="hybrid-pos")
    predictor = Predictor(model)
    vectors = model.embedder()._open()
    vectors._index = None  # the pipeline's self-check may have built it; the compiled path must not
    predictor.explain(TABLE)
    predictor.embed(TABLE)
    assert predictor.compiled is True
    assert vectors._index is None


@pytest.mark.parametrize("features", ["mean", "dense", "hybrid", "hybrid-pos"])
@pytest.mark.parametrize("task", ["binary", "three classes"])
def test_single_and_batch_agree(tiny_vectors, sentiment_csv, topics_csv, features, task):
    """A text scores the same alone (the one-text path) and inside a batch, and as TextModel scores it."""
    store, _, _ = tiny_vectors
    model = _load(store, data=str(sentiment_csv if task == "binary" else topics_csv), features=features)
    predictor = Predictor(model)
    assert predictor.compiled is True
    batch = predictor.predict_proba(TABLE + PROBE_TEXTS)
    for i, text in enumerate(TABLE + PROBE_TEXTS):
        alone = predictor.predict_proba([text])
        assert alone.shape == (1, len(predictor.classes))
        # 1e-5: a batch sums long texts' float32 vectors in another order (~2e-6 off the model at most here).
        np.testing.assert_allclose(alone[0], batch[i], rtol=0, atol=1e-5)
        np.testing.assert_allclose(alone, model.predict_proba([text]), rtol=0, atol=1e-5)
        assert alone.sum() == pytest.approx(1.0)
    for _ in range(2):  # the per-process caches give the same numbers once warm
        np.testing.assert_allclose(np.vstack([predictor.predict_proba([t]) for t in TABLE]), batch[: len(TABLE)],
                                   rtol=0, atol=1e-5)
    assert predictor.predict_proba([]).shape == (0, len(predictor.classes))


@pytest.mark.parametrize("block", ["_WordNgrams", "_CharNgrams"])
def test_a_disagreeing_one_text_path_is_dropped(tiny_vectors, sentiment_csv, monkeypatch, block):
    """The self-check covers the one-text path too: if only it is wrong, the pipeline serves."""
    from training import inference

    store, _, _ = tiny_vectors
    model = _load(store, data=str(sentiment_csv), features="hybrid")
    cls = getattr(inference, block)
    wrong = cls.one
    monkeypatch.setattr(cls, "one", lambda self, batch: (wrong(self, batch)[0][:1], None))
    predictor = Predictor(model)
    assert predictor.compiled is False
    for text in TEXTS:
        np.testing.assert_allclose(predictor.predict_proba([text]), model.predict_proba([text]), atol=1e-12)


def test_a_disagreeing_one_text_dense_path_is_dropped(tiny_vectors, sentiment_csv, monkeypatch):
    """A wrong one-text embedding sum is caught by the self-check as well."""
    from training import inference

    store, _, _ = tiny_vectors
    model = _load(store, data=str(sentiment_csv), features="hybrid")
    right = inference._Pooled.sum_of

    def wrong(self, batch):
        total, count = right(self, batch)
        return (None if total is None else np.ones_like(total)), count

    monkeypatch.setattr(inference._Pooled, "sum_of", wrong)
    assert Predictor(model).compiled is False
