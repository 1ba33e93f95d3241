"""Shared fixtures: tiny generated vector stores and corpora, never real downloads."""

from __future__ import annotations

import csv
import importlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

POSITIVE = ["good", "great", "excellent", "wonderful", "love", "superb", "fine", "happy", "brilliant", "best"]
NEGATIVE = ["bad", "awful", "terrible", "boring", "hate", "poor", "dull", "sad", "worst", "ugly"]
COMPOUNDS = ["well-acted", "one-note", "--"]
NEUTRAL = ["the", "a", "movie", "film", "story", "it", "is", "was", "plot", "actor", "and", "of", ".", ",", "!",
           "this", "that", "n't", "do", "not", "very", "really", "i", "we", "they"]


def make_vectors(dim: int = 16, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Return a vocabulary whose sentiment words sit in two separable clusters."""
    rng = np.random.default_rng(seed)
    # Hyphenated compounds last (appending keeps every other row's random draw): stores keep them whole.
    words = NEUTRAL + POSITIVE + NEGATIVE + [f"w{i}" for i in range(60)] + COMPOUNDS
    vecs = rng.normal(0, 0.3, size=(len(words), dim)).astype(np.float32)
    for i, w in enumerate(words):
        if w in POSITIVE:
            vecs[i, 0] += 2.0
        elif w in NEGATIVE:
            vecs[i, 0] -= 2.0
    return words, vecs


def write_glove(path: Path, words, vecs) -> Path:
    """Write vectors as a GloVe text file (no header)."""
    with open(path, "w", encoding="utf-8") as fh:
        for w, v in zip(words, vecs):
            fh.write(w + " " + " ".join(f"{x:.6f}" for x in v) + "\n")
    return path


def make_corpus(n: int = 120, seed: int = 0) -> tuple[list[str], list[str]]:
    """Return short positive/negative reviews built from the fixture vocabulary."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        pool = POSITIVE if label == "pos" else NEGATIVE
        words = list(rng.choice(NEUTRAL[:12], size=4)) + list(rng.choice(pool, size=2))
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + ".")
        labels.append(label)
    return texts, labels


NEW_WORDS = ["zorblax", "flimflam"]


def write_in_domain(path: Path, n: int = 300) -> Path:
    """Write unlabelled reviews, one a line, from the fixture vocabulary plus NEW_WORDS (no base store has them)."""
    texts, _ = make_corpus(n, seed=7)
    lines = [f"{t} {NEW_WORDS[i % 2]} really {NEW_WORDS[(i + 1) % 2]}" if i % 3 == 0 else t for i, t in enumerate(texts)]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def write_csv(path: Path, rows: list[dict], delimiter: str = ",") -> Path:
    """Write dict rows as CSV/TSV with a header."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write dict rows as JSON Lines."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def store_dir(tmp_path) -> Path:
    """Return an empty model store folder."""
    d = tmp_path / "models"
    d.mkdir()
    return d


@pytest.fixture
def tiny_vectors(tmp_path, store_dir):
    """Import a tiny GloVe file as store 'tiny'; return (store_dir, words, vecs)."""
    from vecclf.training.vectors.importers import import_vectors

    words, vecs = make_vectors()
    src = write_glove(tmp_path / "tiny.txt", words, vecs)
    import_vectors(src, store_dir, "tiny")
    return store_dir, words, vecs


@pytest.fixture
def sentiment_csv(tmp_path) -> Path:
    """Return a CSV of 120 labelled synthetic reviews."""
    texts, labels = make_corpus()
    return write_csv(tmp_path / "train.csv", [{"text": t, "label": l} for t, l in zip(texts, labels)])


# ---------------------------------------------------------------- vectors in every format, written by gensim
GENSIM_WORDS = ["the", "Cat", "dog", "café", "naïve", "日本", "x", "zebra"]


def gensim_keyed_vectors(dim: int = 6, seed: int = 0):
    """Return a small gensim KeyedVectors with mixed-case and non-ASCII words."""
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(seed)
    kv = KeyedVectors(vector_size=dim)
    kv.add_vectors(GENSIM_WORDS, rng.normal(size=(len(GENSIM_WORDS), dim)).astype(np.float32))
    return kv


def gensim_fasttext_model(seed: int = 1):
    """Return a tiny gensim FastText model trained on a toy corpus (subword buckets included)."""
    from gensim.models import FastText

    sents = [["the", "cat", "sat", "on", "the", "mat"], ["dogs", "chase", "cats"], ["café", "naïve", "crème"]] * 10
    model = FastText(vector_size=8, min_count=1, bucket=500, min_n=3, max_n=5, seed=seed, workers=1, epochs=2)
    model.build_vocab(sents)
    model.train(sents, total_examples=len(sents), epochs=2)
    return model


@pytest.fixture
def vector_files(tmp_path) -> dict[str, Path]:
    """Write the same tiny vectors in every supported format with gensim; return format -> path."""
    from gensim.models.fasttext import save_facebook_model

    kv = gensim_keyed_vectors()
    d = tmp_path / "src"
    d.mkdir()
    files = {
        "word2vec-bin": d / "w2v.bin",
        "word2vec-text": d / "w2v.txt",
        "glove": d / "glove.txt",
        "fasttext-vec": d / "wiki.vec",
        "gensim": d / "vectors.kv",
        "fasttext-bin": d / "ft.bin",
    }
    kv.save_word2vec_format(str(files["word2vec-bin"]), binary=True)
    kv.save_word2vec_format(str(files["word2vec-text"]), binary=False)
    kv.save_word2vec_format(str(files["glove"]), binary=False, write_header=False)
    kv.save_word2vec_format(str(files["fasttext-vec"]), binary=False)
    kv.save(str(files["gensim"]))
    save_facebook_model(gensim_fasttext_model(), str(files["fasttext-bin"]))
    return files


FASTTEXT_MAGIC = 793712314


def write_fasttext_bin(path: Path, words: list[str], matrix: np.ndarray, *, bucket: int, minn: int = 3, maxn: int = 5,
                       layout: str = "new", encoding: str = "utf-8", counts: list[int] | None = None,
                       loss: int = 2, output: np.ndarray | None = None) -> Path:
    """Write an unsupervised fastText .bin with struct, field by field as fastText's format describes.

    ``layout="new"`` starts with the magic number and version 12 (fastText >= 0.9) and has a
    pruned-index count and a quantization flag before each matrix; ``layout="old"`` is the
    2016-2017 layout without them. ``matrix`` holds the word rows, then the ``bucket`` n-gram rows.
    """
    import struct

    assert matrix.shape[0] == len(words) + bucket
    dim = matrix.shape[1]
    new = layout == "new"
    counts = counts or [len(words) + 1000 - i for i in range(len(words))]
    out = bytearray(struct.pack("<2i", FASTTEXT_MAGIC, 12) if new else b"")
    # args: dim ws epoch minCount neg wordNgrams loss(hs=1, ns=2) model(sg=2) bucket minn maxn lrUpdateRate, then t
    out += struct.pack("<12i", dim, 5, 5, 1, 5, 1, loss, 2, bucket, minn, maxn, 100) + struct.pack("<d", 1e-4)
    out += struct.pack("<3iq", len(words), len(words), 0, sum(counts))  # size, nwords, nlabels, ntokens
    if new:
        out += struct.pack("<q", -1)  # no pruned index
    for word, count in zip(words, counts):
        out += word.encode(encoding) + b"\0" + struct.pack("<qb", count, 0)  # entry type 0: a word
    output = np.zeros((len(words), dim)) if output is None else output
    for rows in (matrix, output):  # input matrix, then the output matrix
        out += (b"\0" if new else b"") + struct.pack("<2q", *rows.shape) + rows.astype("<f4").tobytes()
    path.write_bytes(bytes(out))
    return path


def gensim_reading(fmt: str, path: Path):
    """Return gensim's own reading of a vectors file."""
    from gensim.models import KeyedVectors
    from gensim.models.fasttext import load_facebook_vectors

    if fmt == "fasttext-bin":
        return load_facebook_vectors(str(path))
    if fmt == "gensim":
        return KeyedVectors.load(str(path))
    if fmt == "glove":
        # gensim's no_header path counts lines through a file it never closes.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            return KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=True)
    return KeyedVectors.load_word2vec_format(str(path), binary=fmt == "word2vec-bin")


def reseal_store(folder: Path) -> None:
    """Record the current files of a vector store in its manifest, as an import would (after a test rewrote one)."""
    from vecclf.training.vectors.integrity import sha256_files, store_files

    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    manifest["sha256"] = sha256_files([folder / name for name in store_files(folder, manifest)])
    (folder / "manifest.json").write_text(json.dumps(manifest), "utf-8")


def store_leftovers(store: Path) -> list[str]:
    """Return every entry under a store's vectors folder (temp folders included)."""
    root = store / "vectors"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


@pytest.fixture
def cli(capsys):
    """Run ``vecclf.training.cli.main`` and return ``(exit_code, stdout, stderr)``; progress off unless asked."""
    from vecclf.training.cli import main

    def run(*argv, progress="off"):
        code = main([str(a) for a in argv], {**os.environ, "VECCLF_PROGRESS": progress})
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def trained(tiny_vectors, sentiment_csv):
    """Train model 'demo' (v1, mean features) on the synthetic reviews; return (store, report)."""
    from vecclf.training.train import train

    store, _, _ = tiny_vectors
    report = train(store=str(store), name="demo", data=str(sentiment_csv), vectors="tiny", features="mean", seed=0)
    return store, report


REPO_ROOT = Path(__file__).resolve().parents[1]
SENTENCES = REPO_ROOT.parent / "shared" / "data" / "sentences"


@pytest.fixture(scope="session")
def default_store(tmp_path_factory) -> Path:
    """Install the real bundled GloVe 6B 50d with `vecclf vectors default` once per session; return the store."""
    from vecclf.training.cli import main

    store = tmp_path_factory.mktemp("default-store")
    assert main(["vectors", "default", "--store", str(store)]) == 0
    return store


def in_ci() -> bool:
    """Return True under CI (``CI=true``, as .ci/run and most CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(reason: str):
    """Skip the test for want of data, a browser or a tool; under CI, fail instead: CI must never test less."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing prerequisite fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def need_module(name: str):
    """Return the imported module ``name``, or :func:`unavailable` when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        unavailable(f"{name} is not installed")


def sentences_csv(name: str, out: Path) -> Path:
    """Convert a `<label> <text>` file from ../shared/data/sentences to CSV (unavailable when absent)."""
    src = SENTENCES / name
    if not src.is_file():
        unavailable(f"{src} is not available")
    from vecclf.training.data import decode_bytes

    text, _ = decode_bytes(src.read_bytes())
    rows = []
    for line in text.split("\n"):  # MR holds NEL characters inside sentences: split on \n only
        label, _, sentence = line.strip().partition(" ")
        if sentence:
            rows.append({"text": sentence, "label": label})
    return write_csv(out, rows)


# PostgreSQL for the tests that need a real server (this machine kind runs one; CI must not skip them).
POSTGRES_URL = os.environ.get("VECCLF_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def postgres_url():
    """Return a URL to a fresh PostgreSQL schema of its own (dropped afterwards); unavailable if the server is down.

    Each test gets its own schema (``search_path``), so concurrent test runs on one server never meet.
    """
    import uuid

    from sqlalchemy import text

    from vecclf.training.database import connect, redact
    from vecclf.training.errors import StorageError

    admin = connect(POSTGRES_URL)
    schema = f"vecclf_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001  (any driver error means: no server to test against)
        admin.dispose()
        unavailable(f"PostgreSQL at {redact(POSTGRES_URL)} is unreachable ({type(exc).__name__}); "
                    "set VECCLF_TEST_POSTGRES_URL")
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    except StorageError:
        pass
    finally:
        admin.dispose()


def pytest_addoption(parser):
    """``--candidate STORE:MODEL[:VERSION]`` runs the behavioural tests against a real trained model."""
    parser.addoption("--candidate", default=None, help="behavioural tests on this model: STORE:MODEL[:VERSION]")


def pytest_collection_modifyitems(config, items):
    """Leave out the ``candidate`` tests unless ``--candidate`` names a model: opt-in, never a silent skip."""
    if config.getoption("--candidate"):
        return
    kept = [item for item in items if "candidate" not in item.keywords]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if "candidate" in item.keywords])
        items[:] = kept



# ---------------------------------------------------------------- a tiny sentence transformer (the encoder extra)
def write_tiny_encoder(folder: Path, words: list[str], seed: int = 0, dim: int = 16) -> Path:
    """Write a sentence-transformer-shaped folder (a 1-layer BERT, WordPiece over ``words``) into ``folder``."""
    need_module("torch")
    need_module("transformers")
    need_module("tokenizers")
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(w.lower() for w in words)]
    ids = {w: i for i, w in enumerate(vocab)}
    tok = Tokenizer(models.WordPiece(ids, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "unk_token": "[UNK]", "pad_token": "[PAD]",
        "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]", "model_max_length": 48}))
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=dim, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=2 * dim, max_position_embeddings=64)
    BertModel(config).save_pretrained(str(folder))
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": dim,
                                                                  "pooling_mode_mean_tokens": True}))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 48, "do_lower_case": False}))
    return folder


@pytest.fixture
def tiny_encoder(tmp_path) -> Path:
    """Return the folder of a tiny sentence transformer over the fixture vocabulary."""
    words, _ = make_vectors()
    return write_tiny_encoder(tmp_path / "tiny-encoder", words)
