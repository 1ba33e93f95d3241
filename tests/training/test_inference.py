"""The fast inference path gives the model's own numbers, or steps aside."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import NEGATIVE, NEUTRAL, POSITIVE, make_corpus, reseal_store, write_csv
from vecclf.training import embed, kernels
from vecclf.training.embed import PoolKernel
from vecclf.training.features import chars, sparse, words
from vecclf.training.features.chars import CharNgramsKernel
from vecclf.training.features.dense import ScaledDenseKernel
from vecclf.training.features.words import WordNgramsKernel
from vecclf.training.inference import PROBE_TEXTS, SMALL_BATCH, Predictor
from vecclf.training.registry import ModelRegistry
from vecclf.training.tokens import Tokenizer
from vecclf.training.train import train

TEXTS = ["A great and wonderful film!", "Awful, boring plot.", "", "zzz unknown", "Good good bad. The film!"]
# Digits, punctuation, non-ASCII, whitespace only, empty, unseen words, and a very long text.
TABLE = TEXTS + [
    "the 2 best films of 2024: 10/10, $5 well spent!!!",
    "Naïve café — ΣΊΣΥΦΟΣ 日本語 🎉 ｆｕｌｌ ﬁne",
    "   \t\n ",
    "it was not good , it was bad",
    "w1 w2 w3 w4 w5 w6 w7 w8 w9",
    "Movie story actor excellent superb terrible sad; a well-acted, one-note film -- so-so; well--acted w1-w2-w3 -",
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
    np.testing.assert_allclose(predictor._batch_proba(TABLE), model.predict_proba(TABLE), atol=1e-5)  # batch path
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
    # Small requests go text by text, larger ones through the batch arithmetic: both give the pipeline's numbers.
    np.testing.assert_allclose(predictor._batch_proba(TABLE), expected, rtol=0, atol=1e-5)
    many = TABLE * 3
    assert len(many) > SMALL_BATCH >= len(TABLE)
    np.testing.assert_allclose(predictor.predict_proba(many), np.vstack([expected] * 3), rtol=0, atol=1e-5)
    big, small = predictor.explain(many), predictor.explain(TABLE)
    assert [p["label"] for p in big] == [p["label"] for p in small] * 3
    for a, b in zip(big, small * 3):
        assert a["confidence"] == pytest.approx(b["confidence"], abs=1e-6) and a["scores"].keys() == b["scores"].keys()


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


def test_a_disagreeing_compile_is_dropped(tiny_vectors, sentiment_csv, monkeypatch, caplog):
    """When the compiled numbers differ from the model's on the probes, the pipeline serves."""
    store, _, _ = tiny_vectors
    model = _load(store, data=str(sentiment_csv), features="hybrid")
    right = CharNgramsKernel.bind

    def wrong(self, W):  # numbers that compute, but are not the model's
        bias = right(self, W)
        self._M[:, 1:] *= 2.0
        return bias

    monkeypatch.setattr(CharNgramsKernel, "bind", wrong)
    with caplog.at_level("INFO", logger="vecclf.training.inference"):
        predictor = Predictor(model)
    assert predictor.compiled is False
    assert "disagrees with the pipeline" in caplog.text  # dropped by the self-check, not by an error
    assert "disagrees" in predictor.fallback
    np.testing.assert_allclose(predictor.predict_proba(TEXTS), model.predict_proba(TEXTS), atol=1e-12)


def test_words_come_from_the_shared_index(tiny_vectors, sentiment_csv):
    """Serving never builds the store's per-process word dict."""
    store, _, _ = tiny_vectors
    model = _load(store, data=str(sentiment_csv), features="hybrid-pos")
    predictor = Predictor(model)
    vectors = model.embedder().vector_store()
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


@pytest.mark.parametrize("cls", [WordNgramsKernel, CharNgramsKernel, ScaledDenseKernel])
def test_a_disagreeing_one_text_path_is_dropped(tiny_vectors, sentiment_csv, monkeypatch, cls):
    """The self-check covers the one-text path too: if only it is wrong, the pipeline serves."""
    store, _, _ = tiny_vectors
    model = _load(store, data=str(sentiment_csv), features="hybrid")
    right = cls.logits1
    monkeypatch.setattr(cls, "logits1", lambda self, batch: right(self, batch) + 0.01)
    predictor = Predictor(model)
    assert predictor.compiled is False
    for text in TEXTS:
        np.testing.assert_allclose(predictor.predict_proba([text]), model.predict_proba([text]), atol=1e-12)


def test_a_disagreeing_one_text_dense_path_is_dropped(tiny_vectors, sentiment_csv, monkeypatch):
    """A wrong one-text embedding sum is caught by the self-check as well."""
    store, _, _ = tiny_vectors
    model = _load(store, data=str(sentiment_csv), features="hybrid")
    right = PoolKernel.sum_of

    def wrong(self, batch):
        total, count = right(self, batch)
        return (None if total is None else np.ones_like(total)), count

    monkeypatch.setattr(PoolKernel, "sum_of", wrong)
    assert Predictor(model).compiled is False


# ---------------------------------------------------------------- the one-text path, case by case
# Texts the one-text path treats specially: nothing at all, no known word, repeated words and n-grams (term
# frequencies above one), contractions (the tokenizer's n't rule), non-ASCII, and texts past max_chars.
ONE_TEXTS = [
    "",
    "   \t\n ",
    "zzqx qqqq xkcd!",
    "good good good good bad bad good",
    "the the the the the film film film . . . !!!",
    "It DOESN'T work, I don't care; they can't, won't",
    "Naïve café — ΣΊΣΥΦΟΣ İstanbul 日本語 🎉 ｆｕｌｌ ﬁne don’t",
    "aaaa aaaaaaaa a aa aaa",
    "great",
    " ".join(["the film was great but the plot was dull and the actor poor"] * 40),
    " ".join(f"w{i} good" for i in range(60)) + " " + "x" * 3000,
]


def _softmax_model(model, texts, labels):
    """Replace a 3-class model's one-vs-rest head with a multinomial logistic regression on the same features."""
    from sklearn.linear_model import LogisticRegression

    pipe = model.pipeline_
    X = pipe.named_steps["features"].transform(texts)
    target = np.asarray(labels, dtype=object)
    clf = LogisticRegression(solver="lbfgs", max_iter=500)
    pipe.steps[-1] = ("clf", clf.fit(X, target))
    assert list(clf.classes_) == list(model.classes_)
    return model


def _assert_one_text_agrees(predictor, model, texts):
    for text in texts:
        expected = model.predict_proba([text])
        alone = predictor.predict_proba([text])
        assert alone.shape == expected.shape
        np.testing.assert_allclose(alone, expected, rtol=0, atol=1e-5)
        [fast], [slow] = predictor.explain([text]), model.explain([text])
        assert fast["label"] == slow["label"]
        assert fast["confidence"] == pytest.approx(slow["confidence"], abs=1e-5)
        assert fast["scores"] == pytest.approx(slow["scores"], abs=1e-5)
        assert all(type(v) is float for v in fast["scores"].values()) and type(fast["confidence"]) is float
        assert sum(fast["scores"].values()) == pytest.approx(1.0)


@pytest.mark.parametrize("head", ["sigmoid", "one-vs-rest", "softmax"])
@pytest.mark.parametrize("features", ["hybrid", "hybrid-pos", "mean"])
def test_one_text_matches_the_model_for_every_head(tiny_vectors, sentiment_csv, topics_csv, head, features):
    """One text alone gives the pipeline's scores for binary, one-vs-rest and softmax heads."""
    import csv

    store, _, _ = tiny_vectors
    data = sentiment_csv if head == "sigmoid" else topics_csv
    model = _load(store, data=str(data), features=features)
    if head == "softmax":
        with open(data, encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        model = _softmax_model(model, [r["text"] for r in rows], [r["label"] for r in rows])
    predictor = Predictor(model)
    assert predictor.compiled is True
    assert predictor._link == {"sigmoid": "sigmoid", "softmax": "softmax"}.get(head, "ovr")
    _assert_one_text_agrees(predictor, model, ONE_TEXTS + TABLE)
    for _ in range(2):  # once learned, the per-process caches give the same numbers
        _assert_one_text_agrees(predictor, model, ONE_TEXTS)


@pytest.mark.parametrize("task", ["binary", "three classes"])
def test_one_text_fallbacks_for_long_texts_agree(tiny_vectors, sentiment_csv, topics_csv, monkeypatch, task):
    """Texts with more terms than the one-text tables cover take the general sums, with the same result."""
    store, _, _ = tiny_vectors
    model = _load(store, data=str(sentiment_csv if task == "binary" else topics_csv), features="hybrid")
    predictor = Predictor(model)
    assert predictor.compiled is True
    for module in (embed, sparse, chars):  # every kernel that sums short runs with dot products
        monkeypatch.setattr(module, "RUN", 3)
    _assert_one_text_agrees(predictor, model, ONE_TEXTS + TABLE)


def test_one_text_with_tiny_caches(tiny_vectors, sentiment_csv, monkeypatch):
    """Per-process caches that keep clearing still give the pipeline's numbers."""
    store, _, _ = tiny_vectors
    monkeypatch.setattr(kernels, "ROW_CACHE_SIZE", 3)
    monkeypatch.setattr(words, "ROW_CACHE_SIZE", 3)
    monkeypatch.setattr(chars, "WORD_CACHE_SIZE", 2)
    model = _load(store, data=str(sentiment_csv), features="hybrid-pos")
    predictor = Predictor(model)
    assert predictor.compiled is True
    for _ in range(2):
        _assert_one_text_agrees(predictor, model, ONE_TEXTS + TABLE)
    # A cache holds at most its bound plus what one text taught it.
    texts = ONE_TEXTS + TABLE
    row_cache = predictor._context.rows_for(model.embedder().vector_store())._cache
    assert 0 < len(row_cache) <= 3 + max(len(set(Tokenizer(True)(t))) for t in texts)
    kernel = next(b for b in predictor._kernels if isinstance(b, CharNgramsKernel))
    assert len(kernel._word_cols) <= 2 + max(len(set(t[:1000].lower().split())) for t in texts)


@pytest.mark.parametrize("layout", ["fortran", "float16"])
def test_one_text_on_other_matrix_layouts(tiny_vectors, sentiment_csv, layout):
    """A Fortran-ordered or float16 vectors.npy (as some imports ship it) gives the same one-text numbers."""
    store, _, _ = tiny_vectors
    path = store / "vectors" / "tiny" / "vectors.npy"
    matrix = np.load(path)
    path.unlink()  # store files are replaced, never rewritten in place
    np.save(path, np.asfortranarray(matrix) if layout == "fortran" else matrix.astype(np.float16))
    reseal_store(path.parent)
    model = _load(store, data=str(sentiment_csv), features="hybrid")
    predictor = Predictor(model)
    assert predictor.compiled is True
    pooled = predictor._kernels[-1]._pooled
    assert isinstance(pooled, PoolKernel)
    assert (pooled._by_row is None) and ((pooled._by_col is not None) == (layout == "fortran"))
    _assert_one_text_agrees(predictor, model, ONE_TEXTS + TABLE)
    np.testing.assert_allclose(predictor.predict_proba(TABLE), model.predict_proba(TABLE), rtol=0, atol=1e-5)


# ---------------------------------------------------------------- any text: one-text path == pipeline
_PIECES = NEUTRAL + POSITIVE + NEGATIVE + [
    "n't", "don't", "can't", "it's", "'s", "GOOD", "Bad", "café", "Naïve", "日本語", "🎉", "ﬁne", "’", "`",
    "w1", "w59", "zzz", "2024", "10/10", "$5", "...", "--", "'", "\"", "(", ")", "well-acted", "one", "note",
]
_SEPARATORS = st.sampled_from([" ", "  ", "\t", "\n", "", ", ", "-"])
_TEXTS = st.one_of(
    st.lists(st.tuples(st.sampled_from(_PIECES), _SEPARATORS), max_size=40).map(lambda ps: "".join(a + b for a, b in ps)),
    st.text(max_size=60),
)
_MODELS: dict = {}


@pytest.mark.parametrize("features,task", [("hybrid", "binary"), ("hybrid-pos", "three classes"), ("dense", "binary")])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_TEXTS)
def test_any_one_text_equals_the_pipeline(tiny_vectors, sentiment_csv, topics_csv, features, task, text):
    """For any text, the one-text path gives the pipeline's scores (and its label where they are not tied)."""
    key = (features, task, str(tiny_vectors[0]))
    if key not in _MODELS:  # fixtures are set up once per test, not per example: train once
        store, _, _ = tiny_vectors
        model = _load(store, data=str(sentiment_csv if task == "binary" else topics_csv), features=features)
        _MODELS.clear()
        _MODELS[key] = model, Predictor(model)
    model, predictor = _MODELS[key]
    assert predictor.compiled
    expected = model.predict_proba([text])[0]
    np.testing.assert_allclose(predictor.predict_proba([text])[0], expected, rtol=0, atol=1e-5)
    (got,) = predictor.explain([text])
    assert got["confidence"] == pytest.approx(expected.max(), abs=1e-5)
    if np.sort(expected)[-1] - np.sort(expected)[-2] > 1e-4:
        assert got["label"] == str(model.classes_[int(np.argmax(expected))])


def test_a_disagreeing_batch_path_is_dropped(tiny_vectors, sentiment_csv, monkeypatch):
    """The self-check runs the batch arithmetic itself, though the probes are few enough to go text by text."""
    assert len(PROBE_TEXTS) <= SMALL_BATCH
    store, _, _ = tiny_vectors
    model = _load(store, data=str(sentiment_csv), features="hybrid")
    right = CharNgramsKernel.entries

    def wrong(self, batch):
        doc, col, tf = right(self, batch)
        return doc, (col + 1) % self.width, tf  # every gram counted in its neighbour column

    monkeypatch.setattr(CharNgramsKernel, "entries", wrong)
    predictor = Predictor(model)
    assert predictor.compiled is False
