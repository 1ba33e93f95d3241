"""The fast paths (byte tokenizer, array word index, batched pooling, block import) give the reference results."""

import re

import json
import random
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_corpus, unavailable, write_glove
from vecclf.training import pooling
from vecclf.training.pooling import pool, token_rows
from vecclf.training.tokens import TOKEN_PATTERN, Tokenizer, normalize
from vecclf.training.vectors import importers, vocabindex, word2vec_files
from vecclf.training.vectors.importers import import_vectors
from vecclf.training.vectors.store import VectorStore
from vecclf.training.vectors.vocabindex import VocabIndex

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "sentences"
CORPORA = ["rt-polarity.all", "stsa.binary.train", "stsa.binary.test", "TREC.train.all", "TREC.test.all"]

# Texts that exercise every rule of the token pattern and the non-ASCII path.
EDGE_TEXTS = [
    "", "   ", "\t\n", "don't", "Don't PANIC", "can't won't isn't", "n't", "nn't", "'don't", "x'don't",
    "n'tn't", "don'tx", "dan'tx", "doN'T", "DON'T", "it's", "'s", "''x", "'", "a'", "rock 'n' roll",
    "`quoted'", "``double''", "a,b;c", "under_score __init__", "x\x0by\x1cz\x1fw", "\x00\x7f", "3.14 1,000",
    "Don't PANIC — café!", "It\u2019s ｆｕｌｌ width", "naïve 日本語 text", "a\u0301 e\u0301", "Ünïcödé DON\u2019T",
    "emoji 🎉 don't", "ﬁne ligature", "İstanbul ΣΊΣΥΦΟΣ", "tab\tsep", "line\nbreak", "trailing   ",
]


def _reference_tokens(texts, lowercase):
    """The tokenizer's definition, as slowly and plainly as it can be said: the pattern over the normalised text."""
    return [re.findall(TOKEN_PATTERN, normalize(t, lowercase)) for t in texts]


def _flat_tokens(texts, lowercase):
    """Return ``Tokenizer.flat``'s tokens regrouped per text, checking its counts on the way."""
    tokens, counts = Tokenizer(lowercase).flat(texts)
    flat, out, pos = tokens.to_pylist(), [], 0
    assert len(counts) == len(texts) and int(counts.sum()) == len(flat)
    for c in counts.tolist():
        out.append(flat[pos : pos + c])
        pos += c
    return out


def _random_ascii(n, seed):
    rnd = random.Random(seed)
    tricky = "nN't'`T aA_0.,\t\n\x0b\x1c\x1f\x00-!x"
    every = "".join(map(chr, range(128)))
    return ["".join(rnd.choice(tricky if i % 2 else every) for _ in range(rnd.randint(0, 14))) for i in range(n)]


def _corpus_texts(name):
    path = SHARED / name
    if not path.is_file():
        unavailable(f"{path} not available")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return [line.split(" ", 1)[-1] for line in text.split("\n")]


@pytest.mark.parametrize("lowercase", [True, False])
def test_byte_tokenizer_matches_regex_on_random_ascii(lowercase):
    """On 20k random ASCII strings built from the characters the rules hinge on, both tokenizers agree."""
    texts = _random_ascii(20000, seed=7)
    assert _flat_tokens(texts, lowercase) == _reference_tokens(texts, lowercase)


@pytest.mark.parametrize("lowercase", [True, False])
def test_byte_tokenizer_matches_regex_on_edge_cases(lowercase):
    """Contractions, apostrophes, backticks, control characters and empty texts split the same way."""
    texts = [t for t in EDGE_TEXTS if t.isascii()]
    assert _flat_tokens(texts, lowercase) == _reference_tokens(texts, lowercase)


@pytest.mark.parametrize("name", CORPORA)
def test_byte_tokenizer_matches_regex_on_shared_corpora(name):
    """Every ASCII sentence of MR, SST-2 and TREC tokenizes identically."""
    texts = [t for t in _corpus_texts(name) if t.isascii()]
    assert _flat_tokens(texts, True) == _reference_tokens(texts, True)


def test_byte_tokenizer_empty_batch():
    """An empty batch gives no tokens and no counts."""
    tokens, counts = Tokenizer(True).flat([])
    assert len(tokens) == 0 and len(counts) == 0


@pytest.mark.parametrize("lowercase", [True, False])
def test_every_tokenizer_entry_point_matches_the_reference(lowercase):
    """One text, many texts and a flat batch mixing ASCII and non-ASCII texts all give the pattern's tokens."""
    texts = EDGE_TEXTS + _random_ascii(300, seed=3) + ["It DOESN'T work, I don't care; they can't, won't",
                                                      "o'clock rock'n'roll N'T alone a`b``c ÉCOLE ﬃ Ⅻ ½"]
    ref = _reference_tokens(texts, lowercase)
    tokenizer = Tokenizer(lowercase)
    assert [tokenizer(t) for t in texts] == ref
    assert tokenizer.many(texts) == ref
    assert _flat_tokens(texts, lowercase) == ref


# ---------------------------------------------------------------- word index
def _reference_index(words):
    index = {}
    for i, w in enumerate(words):
        index.setdefault(w, i)
    return index


VOCAB = ["the", "Cat", "café", "日本", "", "n't", "the", "x" * 300, "a b", "ünï"] + [f"w{i}" for i in range(500)]


@pytest.mark.parametrize("trailing_newline", [True, False])
def test_vocab_index_matches_dict(trailing_newline):
    """Every word, duplicate (first row wins), empty word and unknown word maps as a dict would map it."""
    data = ("\n".join(VOCAB) + ("\n" if trailing_newline else "")).encode("utf-8")
    index = VocabIndex(data)
    ref = _reference_index(VOCAB)
    queries = VOCAB + ["THE", "cafe", "unknown", "x" * 299, "\ud800", "w500"]
    assert index.rows_of(queries).tolist() == [ref.get(q, -1) for q in queries]
    assert [index.word(r) for r in range(len(VOCAB))] == VOCAB


def test_vocab_index_is_exact_when_every_hash_collides(monkeypatch):
    """With a hash that maps every word to one value, lookups still return the right rows."""
    monkeypatch.setattr(vocabindex, "hash_spans", lambda data, starts, lengths: np.zeros(len(starts), dtype=np.uint64))
    index = VocabIndex("\n".join(VOCAB[:40]).encode("utf-8"))
    ref = _reference_index(VOCAB[:40])
    queries = VOCAB[:40] + ["nope"]
    assert index.rows_of(queries).tolist() == [ref.get(q, -1) for q in queries]


def test_store_row_scan_and_index_agree(tiny_vectors):
    """The byte scan used for the first few lookups and the index give the same rows."""
    store_dir, words, _ = tiny_vectors
    store = VectorStore(store_dir / "vectors" / "tiny")
    scanned = [store._scan_row(w) for w in words + ["missing", ""]]
    assert scanned == store.rows(words + ["missing", ""]) == [words.index(w) if w in words else -1 for w in words + ["missing", ""]]
    assert store.index == _reference_index(words)


# ---------------------------------------------------------------- token rows and pooling
@pytest.fixture
def glove_store(tmp_path, store_dir):
    """Import a GloVe file whose vocabulary covers the corpus and the edge texts; return the store."""
    rng = np.random.default_rng(3)
    texts, _ = make_corpus(200)
    tok = Tokenizer(True)
    words = sorted({w for t in texts + EDGE_TEXTS for w in tok(t)})[::2] + ["zz-unused"]
    vecs = rng.normal(size=(len(words), 12)).astype(np.float32)
    import_vectors(write_glove(tmp_path / "g.txt", words, vecs), store_dir, "g")
    return VectorStore(store_dir / "vectors" / "g")


def _batch():
    texts, _ = make_corpus(300)
    return (texts + EDGE_TEXTS) * 3 + _random_ascii(200, seed=3)


def _reference_rows(store, texts):
    index = _reference_index(store.words)
    return [[index.get(w, -1) for w in Tokenizer(store.lowercase)(t)] for t in texts]


@pytest.mark.parametrize("threshold", [0, 10**12], ids=["batch-path", "small-path"])
def test_token_rows_match_reference(glove_store, monkeypatch, threshold):
    """Both token_rows paths give the rows, offsets and OOV words of tokenize-then-dict-lookup."""
    monkeypatch.setattr(pooling, "FLAT_MIN_CHARS", threshold)
    texts = _batch()
    ref = _reference_rows(glove_store, texts)
    tr = token_rows(glove_store, texts, keep_oov=True)
    assert tr.rows.tolist() == [r for doc in ref for r in doc]
    assert np.diff(tr.offsets).tolist() == [len(doc) for doc in ref]
    flat_tokens = [w for t in texts for w in Tokenizer(True)(t)]
    assert tr.oov_words == [flat_tokens[i] for i in tr.oov_offsets]
    assert all(r == -1 for r in tr.rows[tr.oov_offsets])


def _reference_pool(store, texts, with_max=False):
    dim = store.dim
    out = np.zeros((len(texts), 2 * dim if with_max else dim), dtype=np.float64)
    vecs = np.asarray(store.vectors, dtype=np.float64)
    for i, rows in enumerate(_reference_rows(store, texts)):
        known = [r for r in rows if r >= 0]
        if known:
            out[i, :dim] = vecs[known].mean(axis=0)
            if with_max:
                out[i, dim:] = vecs[known].max(axis=0)
    return out


@pytest.mark.parametrize("direct", [0, 10**12], ids=["sparse-sum", "direct-sum"])
@pytest.mark.parametrize("threshold", [0, 10**12], ids=["batch-path", "small-path"])
@pytest.mark.parametrize("pooling_name", ["mean", "meanmax"])
def test_pool_matches_straightforward_mean(glove_store, monkeypatch, threshold, pooling_name, direct):
    """Pooled vectors equal a per-document numpy mean (and max) of the word vectors within 1e-5, either sum."""
    monkeypatch.setattr(pooling, "FLAT_MIN_CHARS", threshold)
    monkeypatch.setattr(pooling, "_DIRECT_FLOATS", direct)
    texts = _batch()
    got = pool(glove_store, texts, pooling=pooling_name)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _reference_pool(glove_store, texts, pooling_name == "meanmax"), rtol=0, atol=1e-5)


def test_pool_long_documents_and_small_chunks(glove_store, monkeypatch):
    """Documents of thousands of tokens, split across pooling chunks, still match within 1e-5."""
    monkeypatch.setattr(pooling, "_CHUNK_FLOATS", 12 * 7)
    monkeypatch.setattr(pooling, "_DIRECT_FLOATS", 0)  # the sparse path, whose maxima are chunked
    texts, _ = make_corpus(40)
    long_texts = [" ".join(texts) * 5, "", texts[0], " ".join(texts[::-1]) * 3]
    got = pool(glove_store, long_texts, pooling="meanmax")
    np.testing.assert_allclose(got, _reference_pool(glove_store, long_texts, True), rtol=0, atol=1e-5)


def test_float16_store_pools_like_its_float32_values(tmp_path, store_dir, monkeypatch):
    """A float16 store pools to the mean of its (float16-rounded) vectors."""
    monkeypatch.setattr(pooling, "FLAT_MIN_CHARS", 0)
    texts, _ = make_corpus(100)
    words = sorted({w for t in texts for w in Tokenizer(True)(t)})
    vecs = np.random.default_rng(0).normal(size=(len(words), 8)).astype(np.float32)
    import_vectors(write_glove(tmp_path / "h.txt", words, vecs), store_dir, "h", dtype="float16")
    store = VectorStore(store_dir / "vectors" / "h")
    assert store.vectors.dtype == np.float16
    np.testing.assert_allclose(pool(store, texts), _reference_pool(store, texts), rtol=0, atol=1e-5)


def test_cli_embed_equals_document_embedder(glove_store, tmp_path, cli):
    """`vecclf embed` writes what DocumentEmbedder.fit_transform computes."""
    from vecclf.training.embed import DocumentEmbedder

    texts = _batch()
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts if t.strip()), encoding="utf-8")
    kept = [t for t in texts if t.strip()]
    for name in ("mean", "tfidf"):
        out = tmp_path / f"{name}.npy"
        code, _, err = cli("embed", "--store", glove_store.path.parents[1], "--vectors", "g", "--input", src,
                           "--output", out, "--pooling", name)
        assert code == 0, err
        emb = DocumentEmbedder(vectors=str(glove_store.path), pooling=name).fit(kept)
        np.testing.assert_allclose(np.load(out), emb.transform(kept), rtol=0, atol=1e-5)


# ---------------------------------------------------------------- word2vec binary import
def _write_word2vec_bin(path, words, vecs, newline):
    with open(path, "wb") as fh:
        fh.write(f"{len(words)} {vecs.shape[1]}\n".encode())
        for w, v in zip(words, vecs):
            fh.write(w.encode("utf-8") + b" " + v.astype("<f4").tobytes() + (b"\n" if newline else b""))


@pytest.mark.parametrize("newline", [True, False], ids=["c-tool-layout", "gensim-layout"])
def test_word2vec_bin_block_reader_across_block_edges(tmp_path, store_dir, monkeypatch, newline):
    """Reading in tiny blocks (words and vectors cut at every offset) imports the exact vectors."""
    monkeypatch.setattr(word2vec_files, "_READ_BYTES", 7)
    rng = np.random.default_rng(5)
    words = ["the", "Cat", "café", "日本", "x" * 40] + [f"w{i}" for i in range(50)]
    vecs = rng.normal(size=(len(words), 5)).astype(np.float32)
    src = tmp_path / "v.bin"
    _write_word2vec_bin(src, words, vecs, newline)
    import_vectors(src, store_dir, "b", fmt="word2vec-bin")
    store = VectorStore(store_dir / "vectors" / "b")
    assert store.words == words
    np.testing.assert_array_equal(np.asarray(store.vectors), vecs)


def test_word2vec_bin_overflowing_float16_is_refused(tmp_path, store_dir):
    """A value beyond float16's range is refused when importing as float16, and nothing is left."""
    src = tmp_path / "big.bin"
    _write_word2vec_bin(src, ["a", "b"], np.array([[1.0, 2.0], [1e6, 0.0]], dtype=np.float32), newline=True)
    with pytest.raises(importers.VectorFormatError, match="not finite"):
        import_vectors(src, store_dir, "h", fmt="word2vec-bin", dtype="float16")
    assert not (store_dir / "vectors" / "h").exists()


def test_word2vec_bin_header_is_parsed_before_blocks(tmp_path, store_dir):
    """A header announcing more entries than the file holds is reported as truncated."""
    src = tmp_path / "short.bin"
    _write_word2vec_bin(src, ["a", "b"], np.ones((2, 3), dtype=np.float32), newline=True)
    data = src.read_bytes().replace(b"2 3\n", b"3 3\n", 1)
    src.write_bytes(data)
    with pytest.raises(importers.VectorFormatError, match="truncated: expected 3 vectors, found 2"):
        import_vectors(src, store_dir, "t", fmt="word2vec-bin")


def test_vectors_lookup_imports_nothing_heavy(tiny_vectors):
    """`vecclf vectors lookup` runs without importing scikit-learn, gensim, scipy, pandas or pyarrow."""
    import subprocess
    import sys

    store_dir, _, _ = tiny_vectors
    code = (
        "import sys, io, contextlib\n"
        "from vecclf.training.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['vectors', 'lookup', '--store', {str(store_dir)!r}, 'tiny', 'good', 'nope']) == 0\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'gensim', 'scipy', 'pandas', 'pyarrow'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("pooling_name", ["sif", "tfidf", "meanmax"])
def test_direct_and_sparse_sums_agree_with_weights(glove_store, monkeypatch, pooling_name):
    """Weighted poolings give the same document vectors whether a batch is summed directly or sparsely."""
    from vecclf.training.embed import DocumentEmbedder

    texts = _batch()
    emb = DocumentEmbedder(vectors=str(glove_store.path), pooling=pooling_name).use_store(glove_store).fit(texts)
    monkeypatch.setattr(pooling, "_DIRECT_FLOATS", 0)
    sparse_sum = emb.transform(texts)
    monkeypatch.setattr(pooling, "_DIRECT_FLOATS", 10**12)
    np.testing.assert_allclose(emb.transform(texts), sparse_sum, rtol=0, atol=1e-5)
