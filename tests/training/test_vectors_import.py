"""Importing vectors written by gensim in every supported format, and refusing broken files."""

import gzip
import os
import pickle
import shutil

import numpy as np
import pytest

from tests.conftest import GENSIM_WORDS, gensim_reading, store_leftovers
from vecclf.training.errors import VectorFormatError
from vecclf.training.vectors.importers import FORMATS, detect_format, import_vectors
from vecclf.training.vectors.store import VectorStore
from vecclf.training.vectors.integrity import sha256_files

OOV_WORDS = ["catsat", "unseenword", "crèmes", "日本語", "Zz"]


def _assert_same_as_gensim(store: VectorStore, ref, fmt: str) -> None:
    assert store.size == len(ref.index_to_key)
    assert store.words == list(ref.index_to_key)
    for word in ref.index_to_key:
        got = store.lookup(word)
        if fmt == "fasttext-bin":
            np.testing.assert_allclose(got, ref[word], rtol=0, atol=1e-6, err_msg=word)
        else:
            np.testing.assert_array_equal(got, ref[word], err_msg=word)


@pytest.mark.parametrize("fmt", FORMATS)
def test_import_matches_gensim_for_every_word(fmt, vector_files, store_dir):
    """Auto-detected import gives, for every word, exactly the vector gensim reads from the same file."""
    src = vector_files[fmt]
    manifest = import_vectors(src, store_dir, "v")
    assert manifest["source_format"] == fmt
    store = VectorStore(store_dir / "vectors" / "v")
    _assert_same_as_gensim(store, gensim_reading(fmt, src), fmt)
    assert isinstance(store.vectors, np.memmap)
    assert store.subword is (fmt == "fasttext-bin")


def test_fasttext_bin_oov_words_match_gensim_subwords(vector_files, store_dir):
    """Words missing from a fastText .bin vocabulary get gensim's subword vector, not None."""
    src = vector_files["fasttext-bin"]
    import_vectors(src, store_dir, "ft")
    store = VectorStore(store_dir / "vectors" / "ft")
    ref = gensim_reading("fasttext-bin", src)
    for word in OOV_WORDS:
        assert word not in ref.key_to_index
        np.testing.assert_allclose(store.lookup(word), ref[word], rtol=0, atol=1e-6, err_msg=word)


def test_non_subword_store_gives_none_for_oov(vector_files, store_dir):
    """A store without subword buckets answers None for a word it does not hold."""
    import_vectors(vector_files["word2vec-bin"], store_dir, "w")
    assert VectorStore(store_dir / "vectors" / "w").lookup("unseenword") is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_detect_format(fmt, vector_files):
    """Sniffing the first bytes names the format gensim wrote."""
    assert detect_format(vector_files[fmt]) == fmt


@pytest.mark.parametrize("fmt", FORMATS)
def test_explicit_format_equals_auto(fmt, vector_files, store_dir):
    """Giving the format explicitly imports the same vectors as auto-detection."""
    a = import_vectors(vector_files[fmt], store_dir, "auto")
    b = import_vectors(vector_files[fmt], store_dir, "explicit", fmt=fmt)
    assert a["sha256"] == b["sha256"]


def test_manifest_records_shape_casing_and_digest(vector_files, store_dir):
    """The manifest holds dims, size, dtype, casing, and the sha256 of the stored files."""
    m = import_vectors(vector_files["word2vec-text"], store_dir, "w")
    folder = store_dir / "vectors" / "w"
    assert (m["dim"], m["size"], m["dtype"]) == (6, len(GENSIM_WORDS), "float32")
    assert m["lowercase"] is False  # "Cat" is in the vocabulary: a cased set
    assert m["sha256"] == sha256_files([folder / "vectors.npy", folder / "vocab.txt"])


def test_uncased_vocabulary_lowercases_text(vector_files, store_dir):
    """A vocabulary without capitals (the fastText toy model) is recorded as lowercasing."""
    m = import_vectors(vector_files["fasttext-bin"], store_dir, "ft")
    assert m["lowercase"] is True
    assert VectorStore(store_dir / "vectors" / "ft").tokenizer("The CAT") == ["the", "cat"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_limit_keeps_the_first_words(fmt, vector_files, store_dir):
    """--limit K keeps the first K words of the file, with their gensim vectors."""
    m = import_vectors(vector_files[fmt], store_dir, "small", limit=3)
    ref = gensim_reading(fmt, vector_files[fmt])
    store = VectorStore(store_dir / "vectors" / "small")
    assert m["size"] == 3 and store.words == list(ref.index_to_key[:3])
    for word in store.words:
        np.testing.assert_allclose(store.lookup(word), ref[word], rtol=0, atol=1e-6)


@pytest.mark.parametrize("fmt", ["word2vec-bin", "glove", "fasttext-bin"])
def test_float16_halves_the_matrix(fmt, vector_files, store_dir):
    """--dtype float16 stores half the bytes and keeps vectors within float16 precision."""
    import_vectors(vector_files[fmt], store_dir, "f32")
    m = import_vectors(vector_files[fmt], store_dir, "f16", dtype="float16")
    assert m["dtype"] == "float16"
    f16 = VectorStore(store_dir / "vectors" / "f16")
    assert f16.vectors.dtype == np.float16
    assert f16.vectors.nbytes * 2 == VectorStore(store_dir / "vectors" / "f32").vectors.nbytes
    ref = gensim_reading(fmt, vector_files[fmt])
    for word in ref.index_to_key:
        np.testing.assert_allclose(f16.lookup(word), ref[word], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("fmt", ["word2vec-bin", "word2vec-text", "glove"])
def test_gzipped_input(fmt, vector_files, store_dir, tmp_path):
    """A .gz file imports to the same vectors as the plain file."""
    plain = vector_files[fmt]
    gz = tmp_path / (plain.name + ".gz")
    with open(plain, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert detect_format(gz) == fmt
    a = import_vectors(plain, store_dir, "plain")
    b = import_vectors(gz, store_dir, "gz")
    assert a["sha256"] == b["sha256"]


def test_existing_name_needs_force(vector_files, store_dir):
    """Importing over an existing store is refused unless forced, and force replaces it."""
    from vecclf.training.errors import VecclfError

    import_vectors(vector_files["glove"], store_dir, "v")
    with pytest.raises(VecclfError, match="already exists"):
        import_vectors(vector_files["glove"], store_dir, "v")
    m = import_vectors(vector_files["word2vec-bin"], store_dir, "v", force=True, limit=2)
    assert m["size"] == 2 and store_leftovers(store_dir) == ["v"]


# ---------------------------------------------------------------- broken files
class _RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _truncated_binary(files, tmp_path):
    data = files["word2vec-bin"].read_bytes()
    path = tmp_path / "cut.bin"
    path.write_bytes(data[:-10])
    return path, "auto"


def _wrong_field_count(files, tmp_path):
    path = tmp_path / "fields.txt"
    path.write_text("a 0.1 0.2 0.3\nb 0.4 0.5\nc 0.7 0.8 0.9\n", encoding="utf-8")
    return path, "auto"


def _not_a_number(files, tmp_path):
    path = tmp_path / "nan.txt"
    path.write_text("2 3\na 0.1 0.2 0.3\nb 0.4 oops 0.6\n", encoding="utf-8")
    return path, "auto"


def _empty(files, tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    return path, "auto"


def _header_too_large(files, tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("5 3\na 0.1 0.2 0.3\nb 0.4 0.5 0.6\n", encoding="utf-8")
    return path, "auto"


def _evil_pickle(files, tmp_path):
    path = tmp_path / "evil.kv"
    path.write_bytes(pickle.dumps(_RunsShell(tmp_path / "pwned"), protocol=4))
    return path, "auto"


def _truncated_gensim(files, tmp_path):
    path = tmp_path / "cut.kv"
    path.write_bytes(files["gensim"].read_bytes()[:200])
    return path, "gensim"


def _truncated_fasttext_bin(files, tmp_path):
    path = tmp_path / "cut_ft.bin"
    data = files["fasttext-bin"].read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path, "auto"


def _infinite_value(files, tmp_path):
    path = tmp_path / "inf.txt"
    path.write_text("a 0.1 0.2\nb 1e999 0.3\n", encoding="utf-8")
    return path, "glove"


BROKEN = [
    (_truncated_binary, "truncated"),
    (_wrong_field_count, "line 2: expected a word and 3 numbers separated by single spaces (as on line 1), got 3 fields"),
    (_not_a_number, "line 3: a vector value is not a number"),
    (_empty, "file is empty"),
    (_header_too_large, "truncated: expected 5 vectors, found 2"),
    (_evil_pickle, "refusing to unpickle posix.system"),
    (_truncated_gensim, "not a readable gensim KeyedVectors file"),
    (_truncated_fasttext_bin, "truncated: the file ends inside the input matrix"),
    (_infinite_value, "not finite"),
]


@pytest.mark.parametrize("make, message", BROKEN, ids=[m.__name__.strip("_") for m, _ in BROKEN])
def test_broken_file_is_refused_and_leaves_nothing(make, message, vector_files, store_dir, tmp_path):
    """A malformed or truncated file raises VectorFormatError with a clear one-line message; no store or temp folder remains."""
    path, fmt = make(vector_files, tmp_path)
    with pytest.raises(VectorFormatError) as info:
        import_vectors(path, store_dir, "broken", fmt=fmt)
    text = str(info.value)
    assert message in text and str(path) in text and "\n" not in text
    assert store_leftovers(store_dir) == []
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("body", [
    "a 0.5 -1.0\nb 2.0 0.25\n\n",
    "a 0.5 -1.0\n\nb 2.0 0.25\n",
    "a 0.5 -1.0\r\nb 2.0 0.25\r\n",
    "a 0.5 -1.0\nb 2.0 0.25",
])
def test_glove_tolerates_blank_lines_and_line_endings(body, store_dir, tmp_path):
    """Blank lines, CRLF endings and a missing final newline do not break a GloVe import."""
    path = tmp_path / "g.txt"
    path.write_bytes(body.encode())
    m = import_vectors(path, store_dir, "g", fmt="glove")
    store = VectorStore(store_dir / "vectors" / "g")
    assert m["size"] == 2 and store.words == ["a", "b"]
    np.testing.assert_array_equal(store.lookup("b"), np.array([2.0, 0.25], dtype=np.float32))
