"""Partitions of large inputs: every row read exactly once, whatever the split, with its line as id."""

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import write_jsonl
from vecclf.training.data import read_dataset
from vecclf.training.errors import DataError
from vecclf.training.partitions import plan, read_partition

TEXTS = [f"text {i}" + (' with "quotes", a comma\nand a newline' if i % 5 == 0 else "") for i in range(200)]


def read_all(parts):
    """Return (ids, texts) of every partition, in order."""
    ids, texts = [], []
    for part in parts:
        part_ids, part_texts = read_partition(part)
        ids += part_ids.to_pylist()
        texts += part_texts
    return ids, texts


def write_rows(path, rows, delimiter=",", encoding="utf-8"):
    """Write dict rows as CSV/TSV in ``encoding``."""
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("block", [1, 37, 500, 10**9])
def test_csv_splits_never_break_a_quoted_newline(tmp_path, block):
    """Any partition size gives back every CSV row once, as the whole-file reader sees it, ids = start lines."""
    path = write_rows(tmp_path / "in.csv", [{"label": "x", "text": t} for t in TEXTS])
    parts = plan(path, block_bytes=block)
    assert (len(parts) > 1) == (block < 10**9)
    ids, texts = read_all(parts)
    assert texts == read_dataset(path, label_column=None, require_labels=False).texts
    expected, line = [], 2
    for text in TEXTS:
        expected.append(line)
        line += text.count("\n") + 1
    assert ids == expected


def test_tsv_and_an_id_column_are_kept(tmp_path):
    """A TSV file's own id column is the output id, as text."""
    path = write_rows(tmp_path / "in.tsv", [{"id": f"doc-{i}", "text": t.replace("\n", " ")} for i, t in
                                            enumerate(TEXTS)], delimiter="\t")
    ids, texts = read_all(plan(path, block_bytes=300))
    assert ids == [f"doc-{i}" for i in range(len(TEXTS))] and len(texts) == len(TEXTS)


def test_jsonl_ids_blank_lines_and_null_texts(tmp_path):
    """JSON Lines: ids kept as text, blank lines skipped, a null text read as the empty text."""
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": 7, "text": "a"}\n\n{"id": "x", "text": null}\n{"id": 9, "text": "c"}\n')
    parts = plan(path, block_bytes=5)
    assert len(parts) == 3
    assert read_all(parts) == (["7", "x", "9"], ["a", "", "c"])


def test_jsonl_without_ids_numbers_lines(tmp_path):
    """Without an id column, a JSON line's id is its line number."""
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in TEXTS])
    ids, texts = read_all(plan(path, block_bytes=256))
    assert ids == list(range(1, len(TEXTS) + 1)) and texts == TEXTS


def test_parquet_is_split_at_row_groups(tmp_path):
    """Parquet partitions are whole row groups; ids are 1-based row numbers, or the id column with its type."""
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": TEXTS, "key": list(range(100, 300))}), path, row_group_size=30)
    parts = plan(path, block_bytes=1)
    assert len(parts) == 7
    assert read_all(parts) == (list(range(1, 201)), TEXTS)
    assert read_all(plan(path, id_column="key", block_bytes=10**9))[0] == list(range(100, 300))


def test_encodings_follow_the_whole_file_reader(tmp_path):
    """A Latin-1 file and a UTF-8 file with a BOM decode as vecclf's data reader decodes them."""
    latin = write_rows(tmp_path / "latin.csv", [{"text": "café crème ÿ"}] * 50, encoding="latin-1")
    (part_latin,) = plan(latin)
    assert part_latin.encoding == read_dataset(latin, label_column=None, require_labels=False).encoding
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufefftext,id\nnaïve,1\n".encode())
    assert read_all(plan(bom)) == (["1"], ["naïve"])
    assert read_all(plan(latin, block_bytes=64))[1] == ["café crème ÿ"] * 50


PLAN_ERRORS = [
    ("missing.csv", None, {}, "no such file"),
    ("in.csv.gz", b"x", {}, "compressed"),
    ("in.txt", b"__label__a x\n", {}, "reads csv, tsv, jsonl, parquet"),
    ("in.csv", b"", {}, "the file is empty"),
    ("in.csv", b"text,label\n", {}, "no data rows"),
    ("in.csv", b'text,label\nok,a\n"never closed,x\n', {}, "opened at line 2 or later is never closed"),
    ("in.csv", b"text,label", {}, "no data rows"),
    ("in.csv", b"body,label\nx,y\n", {}, "column 'text' not found"),
    ("in.csv", b"text,label\nx,y\n", {"id_column": "doc"}, "id column 'doc' not found"),
    ("in.jsonl", b'{"body": "x"}\n', {}, "line 1: column 'text' not found"),
    ("in.jsonl", b"[1, 2]\n", {}, "line 1: expected a JSON object"),
    ("in.jsonl", b"\n\n", {}, "no data rows"),
    ("in.parquet", b"not parquet", {}, "not a readable Parquet file"),
]


@pytest.mark.parametrize("name,content,options,message", PLAN_ERRORS)
def test_bad_inputs_are_refused_when_planned(tmp_path, name, content, options, message):
    """Files that cannot be split or lack a column are refused with one line naming the file."""
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        plan(path, **options)


READ_ERRORS = [
    ("in.csv", "text,label\nok,a\nragged,a,b\n", "line 3: has 3 fields, the header has 2"),
    ("in.jsonl", '{"text": "ok"}\n{"text": "x"\n', "line 2: not valid JSON"),
    ("in.jsonl", '{"text": "ok", "id": 1}\n{"text": "no id"}\n', "line 2: column 'id' not found"),
    ("in.jsonl", '{"text": "ok"}\n"just a string"\n', "line 2: expected a JSON object"),
]


@pytest.mark.parametrize("name,content,message", READ_ERRORS)
def test_bad_rows_are_refused_with_their_line(tmp_path, name, content, message):
    """A malformed row found while reading a partition names the file and its line."""
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_all(plan(path, block_bytes=1))


def test_a_quoted_field_spanning_the_chunk_size_stays_whole(tmp_path, monkeypatch):
    """Quote parity carries across the planner's read chunks."""
    import vecclf.training.partitions as partitions

    monkeypatch.setattr(partitions, "_CHUNK", 7)
    rows = [{"text": 'a "long"\n\nfield, with newlines\n' * 3, "n": str(i)} for i in range(20)]
    path = write_rows(tmp_path / "in.csv", rows)
    ids, texts = read_all(plan(path, block_bytes=3))
    assert texts == [r["text"] for r in rows] and len(set(ids)) == 20


def test_the_plan_does_not_depend_on_json_order(tmp_path):
    """Partitions are plain values: equal plans compare equal (reruns rely on it)."""
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in TEXTS])
    assert plan(path, block_bytes=100) == plan(path, block_bytes=100)
    assert json.dumps([p.index for p in plan(path, block_bytes=100)])
