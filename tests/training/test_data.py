"""Data readers: every format, column flags, encodings, multi-label, and a table of bad files."""

import json

import pytest

from tests.conftest import write_csv, write_jsonl
from vecclf.training.data import decode_bytes, read_dataset
from vecclf.training.errors import DataError

ROWS = [{"text": "good film", "label": "pos"}, {"text": "bad film", "label": "neg"},
        {"text": "great, really", "label": "pos"}]


def _parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _fasttext(path, rows):
    path.write_text("".join(f"__label__{r['label']} {r['text']}\n" for r in rows), encoding="utf-8")
    return path


WRITERS = {
    "data.csv": lambda p, rows: write_csv(p, rows),
    "data.tsv": lambda p, rows: write_csv(p, rows, delimiter="\t"),
    "data.jsonl": write_jsonl,
    "data.parquet": _parquet,
    "data.txt": _fasttext,
}


@pytest.mark.parametrize("filename", WRITERS)
def test_every_format_reads_texts_and_labels(filename, tmp_path):
    """CSV, TSV, JSON Lines, Parquet and fastText files give the same texts and labels."""
    path = WRITERS[filename](tmp_path / filename, ROWS)
    ds = read_dataset(path)
    assert ds.texts == [r["text"] for r in ROWS]
    assert ds.labels == [r["label"] for r in ROWS]
    assert ds.classes() == ["neg", "pos"] and not ds.multilabel


@pytest.mark.parametrize("filename", ["data.csv", "data.tsv", "data.jsonl", "data.parquet"])
def test_column_flags(filename, tmp_path):
    """--text-column and --label-column pick the named columns; other columns are ignored."""
    rows = [{"id": i, "review": r["text"], "stars": r["label"]} for i, r in enumerate(ROWS)]
    path = WRITERS[filename](tmp_path / filename, rows)
    ds = read_dataset(path, text_column="review", label_column="stars")
    assert ds.texts == [r["text"] for r in ROWS] and ds.labels == [r["label"] for r in ROWS]


def test_unlabelled_read_needs_only_the_text_column(tmp_path):
    """Reading for prediction needs no label column."""
    path = write_csv(tmp_path / "x.csv", [{"text": "a"}, {"text": "b"}])
    ds = read_dataset(path, label_column=None, require_labels=False)
    assert ds.texts == ["a", "b"] and ds.labels is None


def test_latin1_file_loads_and_reports_its_encoding(tmp_path):
    """A Latin-1 file (like MR) loads with its accents intact and says which encoding was used."""
    path = tmp_path / "mr.csv"
    path.write_bytes("text,label\ncafé crème,pos\nnaïve plot,neg\n".encode("latin-1"))
    ds = read_dataset(path)
    assert ds.texts == ["café crème", "naïve plot"]
    assert ds.encoding == "cp1252"  # Windows-1252 is tried first; it decodes Latin-1 text identically


@pytest.mark.parametrize("data, text, encoding", [
    ("café".encode("utf-8"), "café", "utf-8"),
    (b"\xef\xbb\xbf" + "café".encode("utf-8"), "café", "utf-8-sig"),
    ("café".encode("latin-1"), "café", "cp1252"),
    (b"\x81caf\xe9", "\x81café", "latin-1"),
])
def test_decode_bytes(data, text, encoding):
    """Bytes decode as UTF-8 (with or without BOM), else Windows-1252, else Latin-1."""
    assert decode_bytes(data) == (text, encoding)


def test_multilabel_from_pipe_cells_and_json_lists(tmp_path):
    """'a|b' cells and JSON list cells both give label tuples; one such row makes the whole set multi-label."""
    path = write_csv(tmp_path / "ml.csv", [
        {"text": "t1", "label": "sport|politics"},
        {"text": "t2", "label": '["tech", "business"]'},
        {"text": "t3", "label": "tech"},
    ])
    ds = read_dataset(path)
    assert ds.multilabel
    assert ds.labels == [("sport", "politics"), ("tech", "business"), ("tech",)]
    assert ds.classes() == ["business", "politics", "sport", "tech"]


def test_multilabel_jsonl_lists_and_fasttext_prefixes(tmp_path):
    """List values in JSON Lines and repeated __label__ prefixes are multi-label too."""
    j = write_jsonl(tmp_path / "ml.jsonl", [{"text": "t1", "label": ["a", "b"]}, {"text": "t2", "label": "a"}])
    assert read_dataset(j).labels == [("a", "b"), ("a",)]
    f = tmp_path / "ml.txt"
    f.write_text("__label__a __label__b t1\n__label__b t2\n", encoding="utf-8")
    assert read_dataset(f).labels == [("a", "b"), ("b",)]


def test_blank_texts_are_skipped_and_counted(tmp_path):
    """Rows with blank text are skipped and counted, not trained on."""
    path = write_csv(tmp_path / "b.csv", ROWS + [{"text": "  ", "label": "pos"}])
    ds = read_dataset(path)
    assert len(ds) == 3 and ds.skipped_blank == 1


def test_numeric_labels_become_strings(tmp_path):
    """Integer labels (0/1 in Parquet) are read as the strings '0'/'1'."""
    path = _parquet(tmp_path / "n.parquet", [{"text": "a", "label": 0}, {"text": "b", "label": 1}])
    assert read_dataset(path).labels == ["0", "1"]


# ---------------------------------------------------------------- bad data
def _missing_column(d):
    return write_csv(d / "nolabel.csv", [{"text": "a", "sentiment": "pos"}])


def _empty_file(d):
    p = d / "empty.csv"
    p.write_text("")
    return p


def _header_only(d):
    p = d / "header.csv"
    p.write_text("text,label\n")
    return p


def _blank_texts(d):
    return write_csv(d / "blank.csv", [{"text": " ", "label": "pos"}, {"text": "", "label": "neg"}])


def _malformed_json(d):
    p = d / "bad.jsonl"
    p.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": \n', encoding="utf-8")
    return p


def _ragged_row(d):
    p = d / "ragged.csv"
    p.write_text("text,label\ngood,pos\nbad,neg,extra\n", encoding="utf-8")
    return p


def _empty_label(d):
    p = d / "nolab.csv"
    p.write_text("text,label\ngood,pos\nbad,\n", encoding="utf-8")
    return p


def _json_not_object(d):
    p = d / "list.jsonl"
    p.write_text('["a", "b"]\n', encoding="utf-8")
    return p


def _jsonl_missing_key(d):
    return write_jsonl(d / "key.jsonl", [{"text": "a", "label": "x"}, {"text": "b"}])


def _fasttext_without_label(d):
    p = d / "ft.txt"
    p.write_text("__label__a fine\nno label here\n", encoding="utf-8")
    return p


def _unknown_extension(d):
    p = d / "data.xlsx"
    p.write_text("x")
    return p


def _not_parquet(d):
    p = d / "fake.parquet"
    p.write_text("not parquet")
    return p


def _no_such_file(d):
    return d / "absent.csv"


BAD = [
    (_missing_column, "nolabel.csv: column 'label' not found (columns: text, sentiment)"),
    (_empty_file, "empty.csv: the file is empty"),
    (_header_only, "header.csv: the file has no data rows"),
    (_blank_texts, "blank.csv: column 'text' is blank in every row (2 rows)"),
    (_malformed_json, "bad.jsonl: line 2: not valid JSON"),
    (_ragged_row, "ragged.csv: row 3: has 3 fields, the header has 2"),
    (_empty_label, "nolab.csv: row 3: column 'label' is empty"),
    (_json_not_object, "list.jsonl: line 1: expected a JSON object, got list"),
    (_jsonl_missing_key, "key.jsonl: line 2: column 'label' not found"),
    (_fasttext_without_label, "ft.txt: line 2: no __label__ label"),
    (_unknown_extension, "data.xlsx: cannot tell the format from the extension '.xlsx'"),
    (_not_parquet, "fake.parquet: not a readable Parquet file"),
    (_no_such_file, "absent.csv: no such file"),
]


@pytest.mark.parametrize("make, message", BAD, ids=[m.__name__.strip("_") for m, _ in BAD])
def test_bad_data_gives_one_line_error(make, message, tmp_path):
    """Each bad file raises DataError with one line naming the file and the row/line/column."""
    path = make(tmp_path)
    with pytest.raises(DataError) as info:
        read_dataset(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("sep", ["\u2028", "\u0085", "\u2029", "\x1c"])
def test_unicode_line_separators_inside_texts_do_not_split_rows(tmp_path, sep):
    """Only \\n ends a row: U+2028, NEL and friends inside a text stay part of it."""
    rows = [{"text": f"one{sep}two", "label": "a"}, {"text": "three", "label": "b"}]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    ds = read_dataset(jsonl)
    assert ds.texts == [f"one{sep}two", "three"]
    ft = tmp_path / "d.txt"
    ft.write_text(f"__label__a one{sep}two\r\n__label__b three\n", encoding="utf-8")
    assert [t.split() for t in read_dataset(ft).texts] == [["one", "two"] if sep.isspace() else [f"one{sep}two"], ["three"]]


@pytest.mark.parametrize("content", [
    "a good film\n\nbad one\r\n  spaced\tout  \n",
    "no newline at the end",
    "\n\n first after blanks\n \t \nlast\u2028with\u0085separators\u00a0nbsp\n",
    "one\r\ntwo\r\n\r\nthree",
])
def test_plain_text_lines_read_as_the_general_reader_reads_them(content, tmp_path):
    """The list-pass reader of unlabelled text lines gives the general fastText reader's texts and row numbers."""
    from vecclf.training.data import _collect, _read_fasttext

    path = tmp_path / "docs.txt"
    path.write_bytes(content.encode("utf-8"))
    fast = read_dataset(path, label_column=None, fmt="fasttext")
    general = _collect(path, _read_fasttext(path, content, "fasttext", "text", None), "utf-8", "fasttext", "text", None)
    assert (fast.texts, fast.rows, fast.labels, fast.fmt) == (general.texts, general.rows, None, "fasttext")
    assert fast.texts and all(t == " ".join(t.split()) for t in fast.texts)


def test_plain_text_lines_without_text_is_an_error(tmp_path):
    """A file of whitespace lines only is refused with a one-line error."""
    path = tmp_path / "blank.txt"
    path.write_text("\u00a0\n\u3000\n \n", encoding="utf-8")  # not blank bytes, but only Unicode spaces
    with pytest.raises(DataError, match="no data rows"):
        read_dataset(path, label_column=None, fmt="fasttext")
