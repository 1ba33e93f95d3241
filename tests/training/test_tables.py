"""pyarrow's batch readers give what the Python readers give: texts, labels, rows, encoding and errors."""

import json

import pytest

from vecclf.training import data, tables
from vecclf.training.data import read_dataset
from vecclf.training.errors import DataError

CASES = [
    ("plain.csv", "text,label\ngood film,pos\nbad film,neg\n".encode()),
    ("numbers.csv", b"text,label\ngood film,1\nbad film,0\nmeh,1.0\n"),
    ("quoted.csv", b'text,label\n"a, quoted ""film""",pos\n"two\nlines",neg\n'),
    ("crlf.csv", b"text,label\r\ngood,pos\r\nbad,neg\r\n"),
    ("bom.csv", b"\xef\xbb\xbftext,label\ngood,pos\nbad,neg\n"),
    ("cp1252.csv", "text,label\ncaf\u00e9 \u2019s,pos\nbad,neg\n".encode("cp1252")),
    ("latin1.csv", b"text,label\ncaf\xe9 \x81,pos\nbad,neg\n"),
    ("spaced-header.csv", b" text , label \ngood,pos\nbad,neg\n"),
    ("multi.csv", b'text,label\ngood,a|b\nbad,"[""c""]"\nok, d \n'),
    ("blank-text.csv", b"text,label\n   ,pos\ngood,pos\nbad,neg\n"),
    ("extra-columns.csv", b"id,text,other,label\n1,good,x,pos\n2,bad,y,neg\n"),
    ("blank-lines.csv", b"text,label\ngood,pos\n\nbad,neg\n"),
    ("tabs.tsv", b"text\tlabel\ngood film\tpos\nbad \"film\tneg\n"),
    ("lines.jsonl", b'{"text": "good", "label": "pos"}\n{"text": "bad", "label": 0}\n'),
    ("lists.jsonl", b'{"text": "good", "label": ["a", "b"]}\n{"text": "bad", "label": ["c"]}\n'),
    ("bools.jsonl", b'{"text": "good", "label": true}\n{"text": "bad", "label": false}\n'),
    ("null.jsonl", b'{"text": null, "label": "a"}\n{"text": "bad", "label": "b"}\n'),
]
BAD = [
    ("short-row.csv", b"text,label\ngood,pos\nbad\n", "row 3: has 1 fields"),
    ("no-column.csv", b"words,label\ngood,pos\n", "column 'text' not found"),
    ("empty-label.csv", b"text,label\ngood,pos\nbad,\n", "row 3: column 'label' is empty"),
    ("missing-key.jsonl", b'{"text": "a", "label": "x"}\n{"label": "y"}\n', "line 2: column 'text' not found"),
    ("not-json.jsonl", b'{"text": "a", "label": "x"}\n{oops\n', "line 2: not valid JSON"),
    ("array.jsonl", b'{"text": "a", "label": "x"}\n[1, 2]\n', "line 2: expected a JSON object"),
]


def _python_reader(monkeypatch):
    monkeypatch.setattr(data, "_read_fast", lambda *args: None)


@pytest.mark.parametrize("name, content", CASES)
def test_pyarrow_and_python_readers_agree(tmp_path, monkeypatch, name, content):
    """Each file reads to the same texts, labels, row numbers and encoding through pyarrow and through Python."""
    path = tmp_path / name
    path.write_bytes(content)
    fast = read_dataset(path)
    _python_reader(monkeypatch)
    slow = read_dataset(path)
    assert (fast.texts, fast.labels, fast.rows, fast.encoding, fast.multilabel, fast.skipped_blank) == (
        slow.texts, slow.labels, slow.rows, slow.encoding, slow.multilabel, slow.skipped_blank)


@pytest.mark.parametrize("name, content, message", BAD)
def test_bad_rows_are_named_as_before(tmp_path, name, content, message):
    """A file pyarrow cannot read exactly is read by the Python reader, whose one-line error names the row."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_dataset(path)


def test_parquet_reads_in_batches(tmp_path, monkeypatch):
    """Parquet columns read batch by batch equal the whole-table reader's."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["good", None, "bad"] * 50_000, "label": ["a", "b", "c"] * 50_000}), path)
    fast = read_dataset(path)
    _python_reader(monkeypatch)
    slow = read_dataset(path)
    assert (fast.texts, fast.labels, fast.rows) == (slow.texts, slow.labels, slow.rows)
    assert len(fast) == 100_000 and fast.skipped_blank == 50_000


def test_unlabelled_csv_reads_only_the_text_column(tmp_path):
    """Reading texts only (embed, predict) ignores the label column altogether."""
    path = tmp_path / "t.csv"
    path.write_text("text,label\ngood,\nbad,\n", "utf-8")
    ds = read_dataset(path, label_column=None, require_labels=False)
    assert (ds.texts, ds.labels) == (["good", "bad"], None)


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"plain ascii\n", "utf-8"),
        ("caf\u00e9\n".encode(), "utf-8"),
        (b"\xef\xbb\xbfbom\n", "utf-8-sig"),
        (b"caf\xe9\n", "cp1252"),
        (b"caf\xe9 \x9d\n", "latin-1"),
        (b"\xef\xbb\xbfcaf\xe9\n", None),
    ],
)
def test_encoding_detection_matches_whole_file_decoding(tmp_path, content, expected):
    """Streaming detection picks the encoding decode_bytes picks (None: invalid after a byte-order mark)."""
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    assert tables.detect_encoding(path).encoding == expected
    if expected is not None:
        assert data.decode_bytes(content)[1] == expected


def test_a_split_multibyte_character_is_still_utf8(tmp_path, monkeypatch):
    """A UTF-8 character across two read pieces does not make the file look like another encoding."""
    monkeypatch.setattr(tables, "_PIECE", 4)
    path = tmp_path / "f.jsonl"
    path.write_bytes(json.dumps({"text": "ab\u00e9\u00e9\u00e9", "label": "x"}, ensure_ascii=False).encode() + b"\n")
    assert tables.detect_encoding(path).encoding == "utf-8"


@pytest.mark.parametrize("name, content", [c for c in CASES if c[0] not in ("blank-lines.csv", "lines.jsonl",
                                                                            "null.jsonl")])
def test_ordinary_files_take_the_pyarrow_path(tmp_path, name, content):
    """Files without blank lines, nulls or mixed types are read by pyarrow, not handed to the Python reader."""
    path = tmp_path / name
    path.write_bytes(content)
    assert data._read_fast(path, data.detect_format(path), "text", "label", True) is not None
