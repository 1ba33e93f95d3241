"""Streaming in-domain corpora from disk: formats, encodings, long documents and refused files."""

import gzip

import pytest

from tests.conftest import write_csv, write_jsonl
from vecclf.training.corpus import MAX_DOC_TOKENS, Corpus, inspect_file
from vecclf.training.errors import DataError
from vecclf.training.tokens import Tokenizer

LOWER = Tokenizer(lowercase=True)
DOCS = ["Don't PANIC, it's fine.", "A café — naïve!"]
TOKENS = [LOWER(d) for d in DOCS]


def _parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({k: [r[k] for r in rows] for k in rows[0]}), path)
    return path


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("docs.txt", lambda p: p.write_text("\n".join(DOCS) + "\n", "utf-8")),
        ("docs.corpus", lambda p: p.write_text("\r\n".join(DOCS), "utf-8")),
        ("docs.ft", lambda p: p.write_text("".join(f"__label__x __label__y {d}\n" for d in DOCS), "utf-8")),
        ("docs.txt.gz", lambda p: p.write_bytes(gzip.compress("\n\n".join(DOCS).encode()))),
        ("docs.csv", lambda p: write_csv(p, [{"id": i, "text": d} for i, d in enumerate(DOCS)])),
        ("docs.tsv", lambda p: write_csv(p, [{"text": d, "label": "a"} for d in DOCS], delimiter="\t")),
        ("docs.jsonl", lambda p: write_jsonl(p, [{"text": d} for d in DOCS] + [{"text": None}])),
        ("docs.parquet", lambda p: _parquet(p, [{"text": d, "n": 1} for d in DOCS])),
    ],
)
def test_every_format_gives_the_documents_tokens(name, write, tmp_path):
    """Each format yields the same token lists, tokenized as classification tokenizes, pass after pass."""
    path = tmp_path / name
    write(path)
    corpus = Corpus([path], LOWER)
    assert list(corpus) == TOKENS
    assert list(corpus) == TOKENS
    assert (corpus.documents, corpus.words) == (2, sum(map(len, TOKENS)))


def test_line_separators_inside_a_text_stay_inside_it(tmp_path):
    """Only \\n ends a document: U+2028 and NEL inside a line (MR has them) do not split it."""
    path = tmp_path / "docs.txt"
    path.write_text("one\u2028two\u0085three\nfour\n", "utf-8")
    assert list(Corpus([path], LOWER)) == [["one", "two", "three"], ["four"]]


def test_long_documents_are_passed_on_in_pieces(tmp_path):
    """A document over gensim's 10,000-token limit is split, not cut."""
    path = tmp_path / "long.txt"
    path.write_text(" ".join(f"w{i}" for i in range(MAX_DOC_TOKENS + 5)) + "\nshort\n", "utf-8")
    corpus = Corpus([path], LOWER)
    assert [len(d) for d in corpus] == [MAX_DOC_TOKENS, 5, 1]
    assert corpus.documents == 2


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("café".encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + "café".encode("utf-8"), "utf-8-sig"),
        ("café “quoted”".encode("cp1252"), "cp1252"),
        (b"caf\xe9 \x81", "latin-1"),
    ],
)
def test_auto_encoding_is_the_data_readers(data, encoding, tmp_path):
    """auto reads UTF-8, else Windows-1252, else Latin-1, and says which."""
    path = tmp_path / "c.txt"
    path.write_bytes(data + b"\n")
    assert inspect_file(path).encoding == encoding
    assert list(Corpus([path], LOWER))[0][0] == "café"


def test_fingerprint_follows_the_bytes(tmp_path):
    """The corpus sha256 changes when a file's bytes change and is stable otherwise."""
    path = tmp_path / "c.txt"
    path.write_text("a b c\n", "utf-8")
    first = Corpus([path], LOWER).fingerprint()
    assert Corpus([path], LOWER).fingerprint()["sha256"] == first["sha256"]
    path.write_text("a b d\n", "utf-8")
    assert Corpus([path], LOWER).fingerprint()["sha256"] != first["sha256"]
    assert first["files"][0]["encoding"] == "utf-8" and first["files"][0]["bytes"] == 6


def test_a_file_changed_between_passes_is_refused(tmp_path):
    """A corpus file rewritten after it was checked stops the next pass with a one-line error."""
    path = tmp_path / "c.txt"
    path.write_text("a b c\n", "utf-8")
    corpus = Corpus([path], LOWER)
    list(corpus)
    path.write_text("a b c d e\n", "utf-8")
    with pytest.raises(DataError, match="changed while training"):
        list(corpus)


BAD = [
    ("empty", "c.txt", b"", None, "the corpus is empty"),
    ("blank lines", "c.txt", b"\n \n\t\n", None, "the corpus is empty"),
    ("binary", "c.txt", bytes(range(256)) * 40, None, "binary file, not text"),
    ("control bytes", "c.txt", b"\x01\x02\x03\x04ab\x05\x06" * 100, None, "binary file, not text"),
    ("gzip without .gz", "c.txt", gzip.compress(b"hello world\n" * 50), None, "gzip-compressed"),
    ("UTF-16 with BOM", "c.txt", "hello world\n".encode("utf-16"), None, "UTF-16 text"),
    ("UTF-16 without BOM", "c.txt", "hello world\n".encode("utf-16-le") * 20, None, "UTF-16 text without a byte-order"),
    ("not the encoding given", "c.txt", b"ok\ncaf\xe9\n", "utf-8", "line 2: not valid utf-8"),
    ("unknown encoding", "c.txt", b"ok\n", "klingon", "unknown encoding 'klingon'"),
    ("broken gzip", "c.txt.gz", b"\x1f\x8b\x08\x00broken", None, "cannot read the corpus"),
    ("CSV without the column", "c.csv", b"id,body\n1,hello\n", None, "column 'text' not found"),
    ("CSV with a header only", "c.csv", b"id,text\n", None, "no words in column 'text'"),
    ("ragged CSV", "c.csv", b"id,text\n1,hello\n2,a,b\n", None, "row 3: has 3 fields"),
    ("bad JSON line", "c.jsonl", b'{"text": "a"}\n{"text": \n', None, "line 2: not valid JSON"),
    ("JSON without the column", "c.jsonl", b'{"body": "a"}\n', None, "line 1: column 'text' not found"),
    ("form feeds only", "c.txt", b"   \x0c  \n", None, "the corpus is empty"),
    ("not parquet", "c.parquet", b"PAR1 not really", None, "not a readable Parquet file"),
]


@pytest.mark.parametrize(("case", "name", "data", "encoding", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_corpora_are_refused_with_one_line(case, name, data, encoding, message, tmp_path):
    """Each unusable corpus raises one DataError line naming the file."""
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DataError) as info:
        list(Corpus([path], LOWER, encoding=encoding or "auto"))
    text = str(info.value)
    assert message in text and "\n" not in text
    assert str(path) in text or case == "unknown encoding"


def test_missing_file_and_no_file(tmp_path):
    """A missing corpus file, or none at all, is refused."""
    with pytest.raises(DataError, match="no such file"):
        Corpus([tmp_path / "absent.txt"], LOWER)
    with pytest.raises(DataError, match="at least one corpus file"):
        Corpus([], LOWER)
