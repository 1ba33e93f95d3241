"""``vecclf vectors finetune`` and ``train --unlabelled``: pretrained vectors adapted to in-domain text."""

import json

import numpy as np
import pytest

from tests.conftest import NEW_WORDS as NEW
from tests.conftest import make_corpus, store_leftovers, write_csv, write_in_domain
from vecclf.training.errors import BundleError, DataError
from vecclf.training.tokens import Tokenizer
from vecclf.training.vectors.finetune import FinetuneSettings, finetune_vectors
from vecclf.training.vectors.importers import import_vectors
from vecclf.training.vectors.store import VectorStore, open_store
from vecclf.training.vectors.trainer import VectorSettings, train_vectors

ONE = dict(workers=1, seed=1, min_count=2)


@pytest.fixture
def corpus(tmp_path):
    """Return the in-domain corpus file."""
    return write_in_domain(tmp_path / "domain.txt")


def test_vectors_only_base_grows_and_adapts(tiny_vectors, corpus):
    """From GloVe-like vectors: every base word stays, new words are appended, words the corpus lacks keep their vector."""
    store, words, _ = tiny_vectors
    base = np.asarray(open_store(store, "tiny").vectors)
    m = finetune_vectors(store, "tiny", [corpus], "tuned", FinetuneSettings(epochs=3, **ONE))
    tuned = VectorStore(store / "vectors" / "tuned")
    assert tuned.words[: len(words)] == words and sorted(tuned.words[len(words):]) == sorted(NEW)
    used = {t for line in corpus.read_text().splitlines() for t in Tokenizer()(line)}
    for i, word in enumerate(words):
        same = np.array_equal(tuned.vectors[i], base[i])
        assert same is (word not in used), word
    assert m["vocabulary"] == {"base": len(words), "added": 2, "adapted": len(used - set(NEW))}
    assert m["settings"]["method"] == "vectors-only" and m["settings"]["lock_factor"] == 1.0
    assert m["base"]["name"] == "tiny" and m["base"]["sha256"] == open_store(store, "tiny").sha256
    assert len(m["corpus"]["sha256"]) == 64 and m["corpus"]["files"][0]["sha256"]
    assert m["training_state"] is None and m["lowercase"] is True


def test_lock_factor_zero_freezes_the_pretrained_rows(tiny_vectors, corpus):
    """With --lock-factor 0 only the new words learn: the pretrained rows are the base's, bit for bit."""
    store, words, _ = tiny_vectors
    finetune_vectors(store, "tiny", [corpus], "frozen", FinetuneSettings(lock_factor=0.0, epochs=2, **ONE))
    frozen = VectorStore(store / "vectors" / "frozen")
    np.testing.assert_array_equal(frozen.vectors[: len(words)], open_store(store, "tiny").vectors)
    good, new = frozen.lookup("good"), frozen.lookup(NEW[0])
    assert np.linalg.norm(new) > 0 and not np.array_equal(new, good)


def test_fasttext_bin_training_simply_continues(vector_files, store_dir, tmp_path):
    """A fastText .bin import keeps its output weights; fine-tuning equals gensim's own continued training."""
    from gensim.models.fasttext import load_facebook_model

    m = import_vectors(vector_files["fasttext-bin"], store_dir, "fb")
    assert m["training_state"]["files"] == ["input.npy", "output.npy", "counts.npy"]
    assert m["files"] == ["vectors.npy", "vocab.txt", "ngrams.npy"]
    text = tmp_path / "cats.txt"
    text.write_text("the cat sat on the catty mat\ndogs chase catty cats\n" * 10, "utf-8")
    tuned = finetune_vectors(store_dir, "fb", [text], "fb-tuned", FinetuneSettings(epochs=3, **ONE))
    assert tuned["settings"]["method"] == "continue" and tuned["vocabulary"]["added"] == 1

    ref = load_facebook_model(str(vector_files["fasttext-bin"]))
    ref.workers, ref.min_count = 1, 2
    docs = [Tokenizer()(line) for line in text.read_text().splitlines()]
    ref.build_vocab(docs, update=True)
    ref.train(docs, total_examples=len(docs), epochs=3)
    store = VectorStore(store_dir / "vectors" / "fb-tuned")
    assert store.words == list(ref.wv.index_to_key)
    np.testing.assert_allclose(store.vectors, ref.wv.vectors, rtol=0, atol=1e-6)
    for word in ("catsat", "cattish", "crèmes"):
        np.testing.assert_allclose(store.lookup(word), ref.wv[word], rtol=0, atol=1e-6, err_msg=word)


def test_trained_store_continues_and_can_continue_again(corpus, store_dir, tmp_path):
    """A vectors-train store fine-tunes by continuing, and the result keeps the state to continue once more."""
    base_text = tmp_path / "base.txt"
    base_text.write_text("\n".join(make_corpus(200, seed=1)[0]) + "\n", "utf-8")
    train_vectors(store_dir, "own", [base_text], VectorSettings(dim=8, epochs=1, min_count=2, workers=1))
    first = finetune_vectors(store_dir, "own", [corpus], "own-2", FinetuneSettings(epochs=1, **ONE))
    assert first["settings"]["method"] == "continue" and first["vocabulary"]["base"] == open_store(store_dir, "own").size
    assert set(NEW) <= set(open_store(store_dir, "own-2").words) - set(open_store(store_dir, "own").words)
    second = finetune_vectors(store_dir, "own-2", [corpus], "own-3", FinetuneSettings(epochs=1, **ONE))
    assert second["vocabulary"] == {"base": first["size"], "added": 0}
    assert second["base"]["sha256"] == first["sha256"]


def test_old_subword_import_without_state_is_refused(vector_files, store_dir, corpus):
    """A fastText store without training state cannot continue and would lose its subwords: refused, one line."""
    import_vectors(vector_files["fasttext-bin"], store_dir, "fb")
    manifest_file = store_dir / "vectors" / "fb" / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest.pop("training_state")
    manifest_file.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="no training state .* import its .bin again"):
        finetune_vectors(store_dir, "fb", [corpus], "x")
    assert store_leftovers(store_dir) == ["fb"]


def test_corrupt_training_state_is_refused(vector_files, store_dir, corpus):
    """A training-state file that no longer matches its sha256 stops fine-tuning."""
    import_vectors(vector_files["fasttext-bin"], store_dir, "fb")
    counts = store_dir / "vectors" / "fb" / "state" / "counts.npy"
    np.save(counts, np.load(counts) + 1)
    with pytest.raises(BundleError, match="does not match its sha256"):
        finetune_vectors(store_dir, "fb", [corpus], "x")


def test_corpus_sharing_no_word_is_refused(tiny_vectors, tmp_path):
    """A corpus with no word of the base (another language, other casing) says so instead of training from nothing."""
    store, _, _ = tiny_vectors
    path = tmp_path / "c.txt"
    path.write_text("ein zwei drei\n" * 10, "utf-8")
    with pytest.raises(DataError, match="shares no word"):
        finetune_vectors(store, "tiny", [path], "x", FinetuneSettings(**ONE))


BAD_CORPORA = [
    ("empty", b"", "the corpus is empty"),
    ("binary", np.arange(4096, dtype=np.uint16).tobytes(), "binary file, not text"),
    ("wrong encoding", "good film\n".encode("utf-16"), "UTF-16 text"),
]


@pytest.mark.parametrize("command", ["train", "finetune"])
@pytest.mark.parametrize(("case", "data", "message"), BAD_CORPORA, ids=[c[0] for c in BAD_CORPORA])
def test_bad_corpora_give_one_line_and_write_nothing(command, case, data, message, tiny_vectors, tmp_path, cli):
    """Empty, binary and wrongly encoded corpora stop both commands with one line naming the file, exit 2."""
    store, _, _ = tiny_vectors
    path = tmp_path / "corpus.txt"
    path.write_bytes(data)
    base = ["--base", "tiny"] if command == "finetune" else []
    code, out, err = cli("--store", store, "vectors", command, *base, "--corpus", path, "--name", "new")
    assert (code, out) == (2, "")
    assert err.startswith(f"vecclf: error: {path}: ") and message in err and err.count("\n") == 1
    assert store_leftovers(store) == ["tiny"]


def test_train_unlabelled_finetunes_then_trains_and_reuses(tiny_vectors, corpus, tmp_path, cli):
    """train --unlabelled fine-tunes the vectors first, records the store it made, and reuses it on a rerun."""
    store, _, _ = tiny_vectors
    texts, labels = make_corpus(80, seed=3)
    data = write_csv(tmp_path / "train.csv", [{"text": t, "label": l} for t, l in zip(texts, labels)])
    argv = ["--store", store, "train", "--name", "m", "--data", data, "--vectors", "tiny", "--features", "mean",
            "--unlabelled", corpus]
    code, out, err = cli(*argv)
    assert code == 0, err
    first = json.loads(out)
    assert first["vectors"].startswith("tiny-ft-") and first["finetuned"]["reused"] is False
    manifest = json.loads((store / "m" / first["version"] / "manifest.json").read_text())
    assert manifest["vectors"]["name"] == first["vectors"]
    assert manifest["finetuned"]["base"] == "tiny"
    assert manifest["finetuned"]["corpus"]["files"][0]["path"] == str(corpus.resolve())
    code, out, _ = cli(*argv)
    again = json.loads(out)
    assert (again["vectors"], again["finetuned"]["reused"]) == (first["vectors"], True)
    assert again["metrics"]["accuracy"] == first["metrics"]["accuracy"]
