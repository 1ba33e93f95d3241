"""Long commands report progress on stderr: one plain line per step off a terminal, nothing when off."""

import numpy as np
import pytest

from tests.conftest import make_corpus, write_csv


@pytest.fixture
def data(tmp_path):
    """Write 60 labelled reviews to train.csv; return its path."""
    texts, labels = make_corpus(60)
    return write_csv(tmp_path / "train.csv", [{"text": t, "label": l} for t, l in zip(texts, labels)])


def steps(err: str) -> list[str]:
    """Return the progress messages of stderr, without their time prefix."""
    return [line.split("] ", 1)[1] for line in err.splitlines() if line.startswith("vecclf [")]


def test_train_prints_a_line_per_step(cli, tiny_vectors, data):
    """train off a terminal: reading, read, search, fitting, evaluating and saved, each one plain line."""
    store, _, _ = tiny_vectors
    code, _, err = cli("train", "--name", "m", "--data", data, "--vectors", "tiny", "--store", store, progress="auto")
    assert code == 0, err
    shown = steps(err)
    assert shown[0] == f"reading {data}" and shown[1].startswith("read 60 rows, 2 labels")
    assert any(s.startswith("choosing features and C on 48 training rows") for s in shown)
    assert any(s.startswith("auto: fold 1 of ") and "dense C=0.3: " in s for s in shown)
    assert any(s.startswith("fitting ") for s in shown) and any(s.startswith("evaluating on 12") for s in shown)
    assert shown[-1].startswith("saved m v1 (current), accuracy ")
    assert "\r" not in err


def test_train_cv_says_which_outer_fold_it_is_in(cli, tiny_vectors, data):
    """train --cv K: each outer fold's search lines are prefixed with it, and each fold ends with its accuracy."""
    store, _, _ = tiny_vectors
    code, _, err = cli("train", "--name", "m", "--data", data, "--vectors", "tiny", "--store", store, "--cv", "3",
                       progress="lines")
    assert code == 0, err
    shown = steps(err)
    for k in (1, 2, 3):
        assert f"cross-validation: outer fold {k} of 3: choosing and fitting on 40 rows, scoring 20" in shown
        assert any(s.startswith(f"outer fold {k} of 3: auto: fold 1 of ") for s in shown)
        assert any(s.startswith(f"cross-validation: outer fold {k} of 3: accuracy ") for s in shown)
    # Then the model itself, on every row, without a prefix.
    assert any(s.startswith("choosing features and C on 60 training rows") for s in shown)


def test_embed_in_chunks_gives_the_same_matrix(cli, tiny_vectors, data, tmp_path, monkeypatch):
    """Embedding in progress-bar chunks writes exactly what one pass writes, and says how far it got."""
    from vecclf.training import cli as cli_module

    store, _, _ = tiny_vectors
    whole, chunked = tmp_path / "whole.npy", tmp_path / "chunked.npy"
    assert cli("embed", "--vectors", "tiny", "--input", data, "--output", whole, "--store", store)[0] == 0
    monkeypatch.setattr(cli_module, "EMBED_CHUNK", 7)
    code, _, err = cli("embed", "--vectors", "tiny", "--input", data, "--output", chunked, "--store", store,
                       progress="lines")
    assert code == 0, err
    np.testing.assert_array_equal(np.load(whole), np.load(chunked))
    assert "embedding with tiny (60 texts)" in steps(err)


@pytest.mark.parametrize("value", ["loud", "1", "bar"])
def test_bad_progress_setting_is_one_line_error(cli, value):
    """VECCLF_PROGRESS outside auto/bars/lines/json/off is refused naming the variable, exit 2."""
    code, out, err = cli("models", "list", progress=value)
    assert (code, out) == (2, "")
    assert err.startswith("vecclf: error: VECCLF_PROGRESS must be one of auto, bars, lines, json, off") and \
        err.count("\n") == 1


def test_vectors_import_reports_what_it_reads_and_writes(cli, tmp_path, store_dir):
    """vectors import off a terminal: a line naming the file and format, and one for the matrix it writes."""
    from tests.conftest import make_vectors, write_glove

    words, vecs = make_vectors()
    src = write_glove(tmp_path / "v.txt", words, vecs)
    code, _, err = cli("vectors", "import", src, "--name", "v", "--store", store_dir, progress="lines")
    assert code == 0, err
    shown = steps(err)
    assert shown[0] == f"importing {src} (glove) as 'v'"
    assert shown[1] == f"writing vectors.npy, {len(words):,} x {vecs.shape[1]} float32 ({len(words):,} rows)"
