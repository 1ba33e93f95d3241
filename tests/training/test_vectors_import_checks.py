"""Files written by other tools and older versions: each imports to exactly gensim's reading or is refused."""

import gzip
import re
import warnings

import numpy as np
import pytest

from tests.conftest import gensim_keyed_vectors, store_leftovers, write_fasttext_bin
from vecclf.training.errors import VectorFormatError
from vecclf.training.vectors.importers import detect_format, import_vectors
from vecclf.training.vectors.store import VectorStore

CZECH = ["the", "který", "žluťoučký", "kůň", "a", "úpěl", "ďábelské", "ódy", "and", "of"]
OOV = ["kterých", "koně", "zebra", "日本語", "Zz"]


def _gensim_text(path, **options):
    from gensim.models import KeyedVectors

    with warnings.catch_warnings():  # gensim's header-less reader leaves a file open
        warnings.simplefilter("ignore", ResourceWarning)
        return KeyedVectors.load_word2vec_format(str(path), **options)


def _gensim_fasttext(path, **options):
    from gensim.models.fasttext import load_facebook_vectors

    return load_facebook_vectors(str(path), **options)


def _open(store_dir, name="v") -> VectorStore:
    return VectorStore(store_dir / "vectors" / name)


def _assert_equals_gensim(store: VectorStore, ref, oov=()) -> None:
    """Assert the store holds gensim's words in gensim's order, each with gensim's exact vector."""
    assert store.words == list(ref.index_to_key)
    for word in [*ref.index_to_key, *oov]:
        np.testing.assert_array_equal(store.lookup(word), ref[word], err_msg=word)


def _refused(src, store_dir, *needles, **options) -> str:
    """Import ``src``, expect a one-line refusal holding every needle, and nothing left in the store."""
    with pytest.raises(VectorFormatError) as info:
        import_vectors(src, store_dir, "v", **options)
    text = str(info.value)
    assert "\n" not in text and str(src) in text
    for needle in needles:
        assert needle in text
    assert store_leftovers(store_dir) == []
    return text


def _czech_fasttext(path, layout="new", encoding="utf-8"):
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(len(CZECH) + 40, 6)).astype(np.float32)
    return write_fasttext_bin(path, CZECH, matrix, bucket=40, minn=2, maxn=4, layout=layout, encoding=encoding)


# ---------------------------------------------------------------- lying headers
def test_header_dimension_smaller_than_rows_is_refused(tmp_path, store_dir):
    """A word2vec text header '2 9' over rows of 10 numbers is refused at line 2, never read as words with spaces."""
    rows = [f"{w} " + " ".join(f"{x:.6f}" for x in np.linspace(-1, 1, 10) + i) for i, w in enumerate(["the", "of"])]
    src = tmp_path / "lying.txt"
    src.write_text("2 9\n" + "\n".join(rows) + "\n", encoding="utf-8")
    _refused(src, store_dir, "line 2", "9", "11 fields")


# ---------------------------------------------------------------- fastText .bin layouts
@pytest.mark.parametrize("layout", ["old", "new"])
def test_fasttext_bin_of_every_layout_is_detected_and_equals_gensim(layout, tmp_path, store_dir):
    """A fastText .bin of the pre-magic (2016-2017) or the current layout is auto-detected and equals gensim, OOV words too."""
    src = _czech_fasttext(tmp_path / f"{layout}.bin", layout=layout)
    assert detect_format(src) == "fasttext-bin"
    manifest = import_vectors(src, store_dir, "v")
    assert manifest["source_format"] == "fasttext-bin" and manifest["subword"] is True
    _assert_equals_gensim(_open(store_dir), _gensim_fasttext(src), OOV)


def test_fasttext_bin_in_cp852_is_refused_then_read_with_encoding(tmp_path, store_dir):
    """cp852 words in a fastText .bin are refused naming the entry and --encoding; with it they equal gensim's encoding= reading."""
    src = _czech_fasttext(tmp_path / "cz.bin", encoding="cp852")
    _refused(src, store_dir, "entry 2", "--encoding")
    import_vectors(src, store_dir, "v", encoding="cp852")
    _assert_equals_gensim(_open(store_dir), _gensim_fasttext(src, encoding="cp852"), OOV)


@pytest.mark.parametrize("layout, loss", [("old", 2), ("new", 1)], ids=["old-negative", "new-hs"])
def test_fasttext_bin_keeps_gensims_training_state(layout, loss, tmp_path, store_dir):
    """The training state kept from a .bin (settings, counts, input and output rows) is gensim's load_facebook_model's."""
    from gensim.models.fasttext import load_facebook_model

    from vecclf.training.vectors.state import model_settings

    rng = np.random.default_rng(5)
    matrix = rng.normal(size=(len(CZECH) + 40, 6)).astype(np.float32)
    output = rng.normal(size=(len(CZECH), 6)).astype(np.float32)
    src = write_fasttext_bin(tmp_path / "ft.bin", CZECH, matrix, bucket=40, minn=2, maxn=4, layout=layout, loss=loss,
                             counts=[50 - i for i in range(len(CZECH))], output=output)
    entry = import_vectors(src, store_dir, "v")["training_state"]
    ref = load_facebook_model(str(src))
    settings = model_settings(ref)
    assert {k: entry[k] for k in settings} == settings and entry["loss"] == ("hs" if loss == 1 else "negative")
    state = store_dir / "vectors" / "v" / "state"
    np.testing.assert_array_equal(np.load(state / "input.npy"), ref.wv.vectors_vocab)
    np.testing.assert_array_equal(np.load(state / "output.npy"), ref.syn1 if loss == 1 else ref.syn1neg)
    assert np.load(state / "counts.npy").tolist() == [ref.wv.get_vecattr(w, "count") for w in ref.wv.index_to_key]


# ---------------------------------------------------------------- invalid UTF-8 in word2vec / .vec files
def _write_with_bad_words(path, binary: bool):
    """Write word2vec text or binary where 2 of 6 words are cp1250 bytes, not UTF-8."""
    words = [b"the", "ďábel".encode("cp1250"), b"of", "čaj".encode("cp1250"), b"caf\xc3\xa9", b"x"]
    rng = np.random.default_rng(4)
    vecs = rng.normal(size=(len(words), 5)).astype(np.float32)
    with open(path, "wb") as fh:
        fh.write(f"{len(words)} 5\n".encode())
        for word, vec in zip(words, vecs):
            if binary:
                fh.write(word + b" " + vec.astype("<f4").tobytes() + b"\n")
            else:
                fh.write(word + b" " + " ".join(repr(float(x)) for x in vec).encode() + b"\n")
    return path


@pytest.mark.parametrize("name, binary", [("w2v.txt", False), ("wiki.vec", False), ("w2v.bin", True)])
def test_invalid_utf8_words_are_refused_by_default(name, binary, tmp_path, store_dir):
    """Words that are not UTF-8 refuse the file naming the first bad line or entry and both flags that would help."""
    src = _write_with_bad_words(tmp_path / name, binary)
    _refused(src, store_dir, "line 3" if not binary else "entry 2", "--encoding", "--unicode-errors")


@pytest.mark.parametrize("errors", ["replace", "ignore"])
@pytest.mark.parametrize("name, binary", [("w2v.txt", False), ("wiki.vec", False), ("w2v.bin", True)])
def test_unicode_errors_option_equals_gensim(errors, name, binary, tmp_path, store_dir):
    """--unicode-errors replace|ignore imports exactly gensim's unicode_errors= reading and reports the words it changed."""
    src = _write_with_bad_words(tmp_path / name, binary)
    manifest = import_vectors(src, store_dir, "v", unicode_errors=errors)
    _assert_equals_gensim(_open(store_dir), _gensim_text(src, binary=binary, unicode_errors=errors))
    expected = {"replaced": 2, "skipped": 0} if errors == "replace" else {"replaced": 0, "skipped": 2}
    assert {k: manifest["words"][k] for k in expected} == expected
    assert manifest["encoding"] == "utf-8" and manifest["unicode_errors"] == errors


# ---------------------------------------------------------------- gzipped gensim files
def test_gzipped_gensim_keyed_vectors(tmp_path, store_dir):
    """A KeyedVectors.save('x.kv.gz') file is detected as gensim and equals gensim's own load."""
    from gensim.models import KeyedVectors

    src = tmp_path / "x.kv.gz"
    gensim_keyed_vectors().save(str(src))
    with open(src, "rb") as fh:
        assert fh.read(2) == b"\x1f\x8b"
    assert detect_format(src) == "gensim"
    import_vectors(src, store_dir, "v")
    _assert_equals_gensim(_open(store_dir), KeyedVectors.load(str(src)))


@pytest.mark.parametrize("layout", ["old", "new"])
def test_gzipped_fasttext_bin(layout, tmp_path, store_dir):
    """A gzipped fastText .bin of either layout is detected by content and equals gensim's reading of the plain file.

    (gensim's own reader cannot read a gzipped .bin: it hands the gzip stream to numpy.fromfile.)
    """
    plain = _czech_fasttext(tmp_path / "ft.bin", layout=layout)
    src = tmp_path / "ft.bin.gz"
    src.write_bytes(gzip.compress(plain.read_bytes()))
    assert detect_format(src) == "fasttext-bin"
    import_vectors(src, store_dir, "v")
    _assert_equals_gensim(_open(store_dir), _gensim_fasttext(plain), OOV)


def test_fasttext_bin_replace_equals_gensim_decoding_the_same_way(tmp_path, store_dir):
    """--unicode-errors replace on a fastText .bin gives what gensim computes from words decoded with 'replace'."""
    import codecs

    def find(name):  # gensim has no unicode_errors for .bin: an encoding that replaces stands in for it
        if name == "utf_8_replace_for_test":
            utf8 = codecs.lookup("utf-8")
            return codecs.CodecInfo(utf8.encode, lambda data, errors="strict": utf8.decode(data, "replace"), name=name)
        return None

    codecs.register(find)
    try:
        src = _czech_fasttext(tmp_path / "cz.bin", encoding="cp852")
        manifest = import_vectors(src, store_dir, "v", unicode_errors="replace")
        _assert_equals_gensim(_open(store_dir), _gensim_fasttext(src, encoding="utf_8_replace_for_test"), OOV)
        assert manifest["words"]["replaced"] == sum(w != w.encode("cp852").decode("utf-8", "replace") for w in CZECH)
    finally:
        codecs.unregister(find)


# ---------------------------------------------------------------- every row checked: refusals
def _text(rows: list[str], header: str | None = None, eol: str = "\n") -> bytes:
    return ((header + eol if header else "") + eol.join(rows) + eol).encode("utf-8")


def _bin(words: list[bytes], vecs: np.ndarray, header: str | None = None, newline=b"") -> bytes:
    out = (header or f"{len(words)} {vecs.shape[1]}").encode() + b"\n"
    return out + b"".join(w + b" " + v.astype("<f4").tobytes() + newline for w, v in zip(words, vecs))


ROWS = ["the 0.5 -1.0 0.25", "of 2.0 0.125 -3.5", "and 1.5 1.5 0.0"]
VECS = np.array([[0.5, -1, 0.25], [2, 0.125, -3.5], [1.5, 1.5, 0]], dtype=np.float32)


REFUSED = [
    # (file name, content, options, what the message must hold)
    ("dim-larger.txt", _text(ROWS, "3 4"), {}, ["line 2", "the header says 4", "got 4 fields"]),
    ("count-smaller.txt", _text(ROWS, "2 3"), {}, ["line 4", "count of 2", "--limit 2"]),
    ("count-larger.vec", _text(ROWS, "4 3"), {}, ["truncated: expected 4 vectors, found 3"]),
    ("absurd.txt", _text(ROWS, "99999999999 99999"), {}, ["line 1", "the header says 99999999999 words"]),
    ("absurd.bin", _bin([b"the"], VECS[:1], "3 2000000000"), {}, ["line 1", "the header says 3 words"]),
    ("absurd.txt.gz", gzip.compress(_text(ROWS, "99999999999 99999")), {}, []),
    ("cut.txt.gz", gzip.compress(_text(ROWS, "3 3"))[:-12], {}, ["cannot read"]),
    ("cut.bin.gz", gzip.compress(_bin([b"the", b"of", b"and"], VECS))[:-12], {"fmt": "word2vec-bin"}, ["cannot read"]),
    ("cut-row.txt", _text(ROWS[:2] + ["and 1.5"], "3 3"), {}, ["line 4", "got 2 fields"]),
    ("header-row.txt", _text(["1 5", "2 6"]), {}, ["line 2", "--format glove"]),
    ("tabs.txt", _text([r.replace(" ", "\t") for r in ROWS], "3 3"), {}, ["line 2", "tabs"]),
    ("two-spaces.txt", _text([r.replace(" ", "  ") for r in ROWS], "3 3"), {}, ["line 2", "two spaces"]),
    ("space-word.txt", _text(["new york 0.5 -1.0 0.25"] + ROWS[1:], "3 3"), {}, ["line 2", "--words-with-spaces"]),
    ("spaces-lying.txt", _text(ROWS, "3 2"), {"words_with_spaces": True}, ["line 2", "end in the number"]),
    ("glove-short-first.txt", _text(["the 0.5 -1.0"] + ROWS[1:]), {}, ["line 2", "as on line 1"]),
    ("nan.txt", _text([ROWS[0], "of nan 0.125 -3.5", ROWS[2]], "3 3"), {}, ["line 3", "not finite"]),
    ("inf.glove", _text([ROWS[0], ROWS[1], "and 1.5 -inf 0.0"]), {}, ["line 3", "not finite"]),
    ("bom.txt", b"\xef\xbb\xbf" + _text(ROWS, "3 3"), {}, ["line 1", "--encoding utf-8-sig"]),
    ("bom.glove", b"\xef\xbb\xbf" + _text(ROWS), {}, ["line 1", "--encoding utf-8-sig"]),
    ("utf16.txt", _text(ROWS, "3 3").decode().encode("utf-16"), {}, ["UTF-16", "convert it to UTF-8"]),
    ("cr-word.txt", _text(["t\rhe 0.5 -1.0 0.25"] + ROWS[1:], "3 3"), {}, ["line 2", "line break"]),
    ("count-smaller.bin", _bin([b"the", b"of", b"and"], VECS, "2 3"), {}, ["entry 3", "--limit 2"]),
    ("trailing.bin", _bin([b"the", b"of", b"and"], VECS) + b"junk", {}, ["entry 4", "after the header's 3 entries"]),
    ("lying-dim.bin", _bin([b"the", b"of", b"and"], VECS, "3 2"), {}, ["entry 2", "not valid utf-8"]),
    ("space-word.bin", _bin([b"the", b"of", b"new york"], VECS), {}, ["entry 4", "holds a space"]),
    ("nan.bin", _bin([b"the", b"of", b"and"], np.where(VECS == 2, np.nan, VECS)), {}, ["entry 2", "not finite"]),
    ("cut.bin", _bin([b"the", b"of", b"and"], VECS)[:-3], {}, ["truncated: entry 3"]),
]


@pytest.mark.parametrize("name, content, options, needles", REFUSED, ids=[f"{r[0]}-{i}" for i, r in enumerate(REFUSED)])
def test_mismatching_file_is_refused_naming_row_and_flag(name, content, options, needles, tmp_path, store_dir):
    """A file that disagrees with its header, first row, encoding or format is refused in one line; nothing is kept."""
    src = tmp_path / name
    src.write_bytes(content)
    _refused(src, store_dir, *needles, **options)


@pytest.mark.parametrize("options, needle", [
    ({"encoding": "utf-16"}, "--encoding utf-16: vector files are split on ASCII"),
    ({"encoding": "no-such-codec"}, "--encoding 'no-such-codec': unknown encoding"),
    ({"unicode_errors": "backslashreplace"}, "--unicode-errors must be one of strict, replace, ignore"),
])
def test_unusable_decoding_options_are_refused(options, needle, tmp_path, store_dir):
    """An unknown encoding, one that does not read ASCII as ASCII, or an unknown handler is refused before reading."""
    src = tmp_path / "ok.txt"
    src.write_bytes(_text(ROWS, "3 3"))
    with pytest.raises(VectorFormatError, match=re.escape(needle)):
        import_vectors(src, store_dir, "v", **options)
    assert store_leftovers(store_dir) == []


def _patched_fasttext(tmp_path, layout, patch):
    src = _czech_fasttext(tmp_path / "ft.bin", layout=layout)
    data = bytearray(src.read_bytes())
    src.write_bytes(bytes(patch(data)))
    return src


def _at(data: bytearray, offset: int, fmt: str, *values) -> bytearray:
    import struct

    struct.pack_into(fmt, data, offset, *values)
    return data


_DICT_AT = {"new": 8 + 56, "old": 56}
FASTTEXT_REFUSED = [
    ("trailing bytes", lambda d, lay: d + b"\0\0\0\0", ["bytes after the end of the model"]),
    ("cut in the output matrix", lambda d, lay: d[:-10], ["truncated", "output matrix"]),
    ("cut in the input matrix", lambda d, lay: d[:-(10 * 6 * 4 + 100)], ["truncated", "input matrix"]),
    ("cut in the dictionary", lambda d, lay: d[: _DICT_AT[lay] + 40], ["truncated", "entry"]),
    ("supervised", lambda d, lay: _at(d, _DICT_AT[lay], "<3i", 10, 9, 1), ["supervised"]),
    ("words and size disagree", lambda d, lay: _at(d, _DICT_AT[lay], "<3i", 10, 9, 0), ["not a fastText .bin"]),
    ("no words", lambda d, lay: _at(d, _DICT_AT[lay], "<3i", 0, 0, 0), ["holds no words"]),
    ("count 0", lambda d, lay: d.replace(b"the\0" + (len(CZECH) + 1000).to_bytes(8, "little"), b"the\0" + bytes(8)), ["entry 1", "count 0"]),
    ("repeated word", lambda d, lay: d.replace("ódy\0".encode(), "the\0".encode()[:4].ljust(len("ódy\0".encode()), b"\0")),
     ["entry 8", "repeats"]),
]


@pytest.mark.parametrize("layout", ["old", "new"])
@pytest.mark.parametrize("what, patch, needles", FASTTEXT_REFUSED, ids=[r[0] for r in FASTTEXT_REFUSED])
def test_damaged_fasttext_bin_is_refused(what, patch, needles, layout, tmp_path, store_dir):
    """A truncated, supervised or inconsistent fastText .bin of either layout is refused, naming the part."""
    src = _patched_fasttext(tmp_path, layout, lambda d: patch(d, layout))
    _refused(src, store_dir, *needles, fmt="fasttext-bin")


@pytest.mark.parametrize("what, offset, fmt, value, needle", [
    ("quantized", None, "<b", 1, "quantized"),
    ("version 13", 4, "<i", 13, "version 13"),
])
def test_fasttext_bin_of_unknown_kind_is_refused(what, offset, fmt, value, needle, tmp_path, store_dir):
    """A quantized (.ftz) or future-version fastText file is refused rather than misread."""
    def patch(data):
        at = offset if offset is not None else data.index(b"of\0") + 3 + 9  # the input matrix's quantization flag
        return _at(data, at, fmt, value)

    _refused(_patched_fasttext(tmp_path, "new", patch), store_dir, needle)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_non_finite_subword_bucket_is_refused(dtype, tmp_path, store_dir):
    """A nan in a bucket row no vocabulary word uses (only OOV words would meet it), or a float16 overflow, is refused."""
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(2 + 30, 3)).astype(np.float32)
    src = write_fasttext_bin(tmp_path / "ft.bin", ["a", "b"], matrix, bucket=30, minn=3, maxn=3)
    from gensim.models.fasttext import ft_ngram_hashes

    used = {h for w in ("a", "b") for h in ft_ngram_hashes(w, 3, 3, 30)}
    unused = min(set(range(30)) - used)
    matrix[2 + unused, 1] = np.nan if dtype == "float32" else 1e6
    write_fasttext_bin(src, ["a", "b"], matrix, bucket=30, minn=3, maxn=3)
    _refused(src, store_dir, f"subword bucket {unused}", "not finite", dtype=dtype)


def test_gensim_file_refuses_decoding_options_and_non_word_keys(tmp_path, store_dir):
    """--encoding does not apply to gensim files, and integer keys are refused rather than stored as words."""
    from gensim.models import KeyedVectors

    src = tmp_path / "x.kv"
    gensim_keyed_vectors().save(str(src))
    _refused(src, store_dir, "do not apply", encoding="latin-1")
    kv = KeyedVectors(vector_size=3)
    kv.add_vectors([7, 8], np.ones((2, 3), dtype=np.float32))
    kv.save(str(src))
    _refused(src, store_dir, "entry 1", "of type int")


# ---------------------------------------------------------------- accepted: exactly gensim's reading
def _gensim_words(ref) -> list:
    # gensim 4.4 leaves a None key (and a zero row) for every repeated word it drops; vecclf drops the row too.
    return [w for w in ref.index_to_key if w is not None]


ACCEPTED = [
    # (file name, content, gensim options, vecclf options, gensim kind)
    ("crlf.txt", _text([r + "  " for r in ROWS], "3 3", eol="\r\n"), {}, {}, "text"),
    ("bom.txt", b"\xef\xbb\xbf" + _text(ROWS, "3 3"), {"encoding": "utf-8-sig"}, {"encoding": "utf-8-sig"}, "text"),
    ("bom.glove", b"\xef\xbb\xbf" + _text(ROWS), {"encoding": "utf-8-sig"}, {"encoding": "utf-8-sig"}, "glove"),
    ("bom.bin", b"\xef\xbb\xbf" + _bin([b"the", b"of", b"and"], VECS), {"encoding": "utf-8-sig"},
     {"encoding": "utf-8-sig"}, "bin"),
    ("latin1.vec", _text(["café 1 2 3", "naïve 4 5 6"], "2 3").decode().encode("latin-1"), {"encoding": "latin-1"},
     {"encoding": "latin-1"}, "text"),
    ("count-smaller.txt", _text(ROWS, "2 3"), {}, {"limit": 2}, "text"),
    ("c-tool.bin", _bin([b"the", b"of", b"and"], VECS, newline=b"\n"), {}, {}, "bin"),
    ("tab-word.bin", _bin([b"a\tb", b"of", b"and"], VECS), {}, {}, "bin"),
    ("odd-numbers.txt", _text(["the 1_0 +.5 1e-50", "of 0.5\u00a0 -0 7"], "2 3"), {}, {}, "text"),
    ("repeats.txt", _text(ROWS + ["of 9 9 9", "the 8 8 8"], "5 3"), {}, {}, "text"),
    ("repeats.glove", _text(ROWS + ["of 9 9 9"]), {}, {}, "glove"),
    ("repeats.bin", _bin([b"the", b"of", b"the"], VECS), {}, {}, "bin"),
]


@pytest.mark.parametrize("name, content, gensim_options, options, kind", ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_accepted_file_equals_gensim(name, content, gensim_options, options, kind, tmp_path, store_dir):
    """CRLF, trailing spaces, BOMs with utf-8-sig, other encodings, --limit and repeated words give gensim's vectors."""
    src = tmp_path / name
    src.write_bytes(content)
    manifest = import_vectors(src, store_dir, "v", **options)
    ref = _gensim_text(src, binary=kind == "bin", no_header=kind == "glove", **gensim_options)
    store = _open(store_dir)
    assert store.words == _gensim_words(ref)
    for word in store.words:
        np.testing.assert_array_equal(store.lookup(word), ref[word], err_msg=word)
    assert manifest["words"]["deduplicated"] == len(ref.index_to_key) - len(store.words)


def test_words_with_spaces_are_kept_whole_when_asked(tmp_path, store_dir):
    """--words-with-spaces keeps GloVe entries like '. . .' whole (gensim cannot read such files) and counts them."""
    src = tmp_path / "840b.txt"
    src.write_bytes(_text([ROWS[0], ". . . 1 2 3", "at name@domain.com 4 5 6"]))
    manifest = import_vectors(src, store_dir, "v", words_with_spaces=True)
    store = _open(store_dir)
    assert store.words == ["the", ". . .", "at name@domain.com"] and manifest["words"]["with_spaces"] == 2
    np.testing.assert_array_equal(store.lookup(". . ."), np.array([1, 2, 3], dtype=np.float32))


@pytest.mark.parametrize("compress", ["gzip", "bz2", "lzma"])
@pytest.mark.parametrize("fmt", ["word2vec-bin", "fasttext-vec", "glove"])
def test_compression_is_detected_by_content(compress, fmt, vector_files, store_dir, tmp_path):
    """A gzip, bzip2 or xz file imports like the plain one whatever its name."""
    import importlib

    plain = vector_files[fmt]
    packed = tmp_path / ("packed" + "".join(plain.suffixes))  # no compression suffix
    packed.write_bytes(importlib.import_module(compress).compress(plain.read_bytes()))
    assert detect_format(packed) == fmt
    assert import_vectors(packed, store_dir, "z")["sha256"] == import_vectors(plain, store_dir, "p")["sha256"]


def test_cli_import_options_and_refusal(cli, tmp_path, store_dir):
    """`vecclf vectors import` refuses invalid UTF-8 with exit 2 and one line; --unicode-errors replace reports counts."""
    import json

    src = _write_with_bad_words(tmp_path / "bad.vec", binary=False)
    code, out, err = cli("vectors", "import", src, "--name", "v", "--store", store_dir)
    assert (code, out) == (2, "") and err.count("\n") == 1 and err.startswith("vecclf: error: ")
    assert "line 3" in err and "--unicode-errors" in err and store_leftovers(store_dir) == []
    code, out, err = cli("vectors", "import", src, "--name", "v", "--store", store_dir, "--encoding", "UTF8",
                         "--unicode-errors", "replace")
    result = json.loads(out)
    assert code == 0 and (result["encoding"], result["unicode_errors"]) == ("utf-8", "replace")
    assert result["words"] == {"read": 6, "replaced": 2, "skipped": 0, "deduplicated": 0, "with_spaces": 0}
