"""``vecclf vectors train``: gensim's word2vec and fastText on a streamed corpus, written as a normal store."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, make_corpus, store_leftovers
from vecclf.training.tokens import Tokenizer
from vecclf.training.vectors.store import VectorStore, open_store
from vecclf.training.vectors.trainer import VectorSettings, train_vectors

SMALL = dict(dim=8, epochs=2, min_count=2, workers=1, seed=3, bucket=2000)
OOV = ["goodish", "awfulness", "filmmaking", "zzz"]


def write_corpus(path, n=400, seed=0, extra=()):
    """Write ``n`` synthetic reviews (and ``extra`` lines) one a line; return the path."""
    texts, _ = make_corpus(n, seed)
    path.write_text("\n".join([*texts, *extra]) + "\n", "utf-8")
    return path


@pytest.fixture
def corpus_file(tmp_path):
    """Return a small review corpus, one document a line."""
    return write_corpus(tmp_path / "reviews.txt")


def gensim_reference(algorithm: str, path):
    """Train gensim directly on the corpus's tokens with SMALL's settings."""
    from gensim.models import FastText, Word2Vec

    docs = [Tokenizer(lowercase=True)(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    common = dict(sentences=docs, vector_size=SMALL["dim"], epochs=SMALL["epochs"], min_count=SMALL["min_count"],
                  workers=1, seed=SMALL["seed"], sg=1, window=5)
    if algorithm == "fasttext":
        return FastText(bucket=SMALL["bucket"], min_n=3, max_n=6, **common)
    return Word2Vec(**common)


@pytest.mark.parametrize("algorithm", ["word2vec", "fasttext"])
def test_store_holds_exactly_what_gensim_trains(algorithm, corpus_file, store_dir):
    """Every word's vector (and, for fastText, every OOV word's) equals gensim's own training on the same tokens."""
    train_vectors(store_dir, "v", [corpus_file], VectorSettings(algorithm=algorithm, **SMALL))
    store = VectorStore(store_dir / "vectors" / "v")
    ref = gensim_reference(algorithm, corpus_file)
    assert store.words == list(ref.wv.index_to_key)
    np.testing.assert_array_equal(np.asarray(store.vectors), ref.wv.vectors)
    for word in OOV:
        if algorithm == "fasttext":
            np.testing.assert_allclose(store.lookup(word), ref.wv[word], rtol=0, atol=1e-6, err_msg=word)
        else:
            assert store.lookup(word) is None
    assert store.subword is (algorithm == "fasttext")


def test_manifest_records_corpus_settings_and_state(corpus_file, store_dir):
    """The manifest names the corpus (sha256 per file), the settings, words/s and the kept training state."""
    m = train_vectors(store_dir, "v", [corpus_file], VectorSettings(algorithm="fasttext", **SMALL))
    assert m["source_format"] == "trained" and m["lowercase"] is True
    assert m["corpus"]["files"][0]["path"] == str(corpus_file.resolve())
    assert m["corpus"]["documents"] == 400 and m["corpus"]["words"] > 2000
    assert m["settings"]["algorithm"] == "fasttext" and m["settings"]["seed"] == 3
    assert m["words_per_second"] > 0
    assert m["training_state"]["files"] == ["input.npy", "output.npy", "counts.npy"]
    assert m["files"] == ["vectors.npy", "vocab.txt", "ngrams.npy"]  # the serving digest leaves the state out


def test_fixed_seed_and_one_worker_reproduce_the_store(corpus_file, store_dir, cli):
    """Two runs with one worker and the same seed give the same bytes, in another process too; another seed does not."""
    argv = ["--store", store_dir, "vectors", "train", "--corpus", corpus_file, "--dim", 8, "--epochs", 2,
            "--min-count", 2, "--workers", 1, "--algorithm", "fasttext", "--bucket", 2000]
    shas = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        code, out, err = cli(*argv, "--name", name, "--seed", seed)
        assert code == 0, err
        shas.append(json.loads(out)["sha256"])
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-m", "vecclf", *map(str, argv), "--name", "d", "--seed", "5"],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert shas[0] == shas[1] == json.loads(done.stdout)["sha256"] != shas[2]


def test_progress_reports_epochs_and_words_per_second(corpus_file, store_dir):
    """Each epoch reports its number and its words/s as a progress line."""
    import io

    from vecclf.training import progress

    out = io.StringIO()
    saved = progress.configure(out, "lines")
    try:
        train_vectors(store_dir, "v", [corpus_file], VectorSettings(**SMALL))
    finally:
        progress.restore(saved)
    messages = [line.split("] ", 1)[1] for line in out.getvalue().splitlines()]
    lines = [m for m in messages if m.startswith("epoch") and "words/s" in m]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all("words/s" in line for line in lines)


def test_casing_keep_trains_cased_tokens(tmp_path, store_dir):
    """--casing keep keeps case in the vocabulary and the store's tokenizer."""
    path = tmp_path / "c.txt"
    path.write_text("Paris is big\nparis is small\n" * 20, "utf-8")
    train_vectors(store_dir, "v", [path], VectorSettings(**SMALL), lowercase=False)
    store = open_store(store_dir, "v")
    assert store.lowercase is False and {"Paris", "paris"} <= set(store.words)


@pytest.mark.parametrize("algorithm", ["word2vec", "fasttext"])
def test_trained_stores_work_like_any_other(algorithm, corpus_file, store_dir, cli, tmp_path):
    """vectors lookup, similar and list, and train, use a trained store as they use an imported one."""
    code, out, err = cli("--store", store_dir, "vectors", "train", "--corpus", corpus_file, "--name", "own",
                         "--algorithm", algorithm, "--dim", 8, "--epochs", 2, "--min-count", 2, "--bucket", 2000)
    assert code == 0, err
    code, out, _ = cli("--store", store_dir, "vectors", "lookup", "own", "good", "goodish")
    vectors = json.loads(out)
    assert len(vectors["good"]) == 8 and (vectors["goodish"] is None) is (algorithm == "word2vec")
    code, out, _ = cli("--store", store_dir, "vectors", "similar", "own", "good", "--top", 3)
    assert code == 0 and len(json.loads(out)["similar"]) == 3
    code, out, _ = cli("--store", store_dir, "vectors", "list")
    assert [v["name"] for v in json.loads(out)["vectors"]] == ["own"]
    texts, labels = make_corpus(80, seed=4)
    data = tmp_path / "train.csv"
    data.write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in zip(texts, labels)), "utf-8")
    code, out, err = cli("--store", store_dir, "train", "--name", "m", "--data", data, "--vectors", "own",
                         "--features", "mean")
    assert code == 0, err
    assert json.loads(out)["vectors"] == "own"


def test_nothing_frequent_enough_is_refused(tmp_path, store_dir, cli):
    """A corpus whose words all fall under --min-count gives one line naming the file and nothing is written."""
    path = tmp_path / "c.txt"
    path.write_text("every word once\n", "utf-8")
    code, out, err = cli("--store", store_dir, "vectors", "train", "--corpus", path, "--name", "v")
    assert code == 2 and out == ""
    assert err.startswith("vecclf: error: ") and err.count("\n") == 1
    assert str(path) in err and "--min-count 5" in err
    assert store_leftovers(store_dir) == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--dim", "0"], "--dim must be at least 1"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--min-n", "4", "--max-n", "3"], "--max-n (3) must be at least --min-n (4)"),
    ],
)
def test_bad_settings_are_refused(flags, message, corpus_file, store_dir, cli):
    """Impossible settings give one line naming the flag."""
    code, _, err = cli("--store", store_dir, "vectors", "train", "--corpus", corpus_file, "--name", "v", *flags)
    assert code == 2 and message in err and err.count("\n") == 1


def test_taken_name_is_refused_before_training(corpus_file, store_dir, cli):
    """An existing store name is refused (exit 1) unless --force replaces it."""
    argv = ["--store", store_dir, "vectors", "train", "--corpus", corpus_file, "--name", "v", "--dim", 4,
            "--epochs", 1, "--min-count", 2]
    assert cli(*argv)[0] == 0
    code, _, err = cli(*argv)
    assert code == 1 and "already exists" in err
    assert cli(*argv, "--force")[0] == 0
