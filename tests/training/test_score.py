"""`vecclf score` on Dask: one row per input row, the model opened once per worker, reruns resume."""

import json
import logging

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import make_corpus, sentences_csv, write_csv, write_jsonl
from vecclf.training.inference import Predictor
from vecclf.training.registry import ModelRegistry

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scheduler():
    """An in-process Dask cluster of 2 single-threaded workers; yield its address (what --scheduler takes)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def texts_csv(tmp_path):
    """A CSV of 300 unlabelled reviews with an `id` column."""
    texts, _ = make_corpus(300, seed=3)
    return write_csv(tmp_path / "reviews.csv", [{"id": f"r{i}", "text": t} for i, t in enumerate(texts)])


def output_table(folder):
    """Read every part file of one input's output folder, in partition order."""
    return pq.read_table(folder).to_pydict()


def test_local_cluster_scores_every_row_once_opening_the_model_per_worker(cli, trained, texts_csv, tmp_path):
    """Without --scheduler: 2 local workers, many partitions, each row once with the model's own prediction."""
    store, _ = trained
    out = tmp_path / "scored"
    code, stdout, stderr = cli("score", "--store", store, "--model", "demo", "--input", texts_csv, "--output", out,
                               "--workers", "2", "--partition-size", "0.002")
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["workers"] == 2 and summary["partitions"] > 4 and summary["rows"] == 300
    assert 1 <= summary["model_loads"] <= 2  # once per worker, never once per partition
    parts = sorted((out / "reviews.csv").glob("part-*.parquet"))
    assert len(parts) == summary["partitions"] and not list((out / "reviews.csv").glob(".*"))
    table = output_table(out / "reviews.csv")
    assert table["id"] == [f"r{i}" for i in range(300)]
    model, _ = ModelRegistry(store).load("demo")
    texts = make_corpus(300, seed=3)[0]
    expected = Predictor(model).explain(texts)
    assert table["label"] == [e["label"] for e in expected]
    assert table["score_pos"] == pytest.approx([e["scores"]["pos"] for e in expected])
    # A rerun finds every partition complete and starts no cluster.
    code, stdout, _ = cli("score", "--store", store, "--model", "demo", "--input", texts_csv, "--output", out,
                          "--workers", "2", "--partition-size", "0.002")
    assert code == 0 and json.loads(stdout)["written"] == 0 and json.loads(stdout)["skipped"] == len(parts)


def test_a_rerun_writes_only_missing_partitions(cli, trained, texts_csv, tmp_path, scheduler):
    """Deleting one part file and a leftover temp file: the rerun rewrites that part only, the same rows."""
    store, _ = trained
    out = tmp_path / "scored"
    args = ("score", "--store", store, "--model", "demo", "--input", texts_csv, "--output", out,
            "--scheduler", scheduler, "--partition-size", "0.004")
    assert cli(*args)[0] == 0
    folder = out / "reviews.csv"
    before = output_table(folder)
    victim = sorted(folder.glob("part-*.parquet"))[1]
    victim.unlink()
    (folder / f".{victim.name}.dead.tmp").write_bytes(b"half")
    code, stdout, stderr = cli(*args)
    summary = json.loads(stdout)
    assert code == 0 and summary["written"] == 1 and summary["rows"] == 300, stderr
    assert output_table(folder) == before and not list(folder.glob(".*"))


def test_embed_writes_the_document_vectors(cli, trained, tmp_path, scheduler):
    """--embed writes one vector per row, equal to the model's document embedding, ids numbered by line."""
    store, _ = trained
    texts = make_corpus(40, seed=5)[0]
    data = write_jsonl(tmp_path / "docs.jsonl", [{"text": t} for t in texts])
    code, _, stderr = cli("score", "--store", store, "--model", "demo", "--input", data, "--output", tmp_path / "e",
                          "--embed", "--scheduler", scheduler, "--partition-size", "0.001")
    assert code == 0, stderr
    table = output_table(tmp_path / "e" / "docs.jsonl")
    assert table["id"] == list(range(1, 41))
    expected = Predictor(ModelRegistry(store).load("demo")[0]).embed(texts)
    np.testing.assert_allclose(np.array(table["vector"]), expected, atol=1e-6)


def test_sst2_test_file_gets_one_prediction_per_row(cli, trained, tmp_path, scheduler):
    """The SST-2 test sentences as CSV: exactly one prediction per input row, ids the CSV lines."""
    store, _ = trained
    data = sentences_csv("stsa.binary.test", tmp_path / "sst2-test.csv")
    n = len(data.read_text("utf-8").splitlines()) - 1
    code, stdout, stderr = cli("score", "--store", store, "--model", "demo", "--input", data,
                               "--output", tmp_path / "out", "--scheduler", scheduler, "--partition-size", "0.05")
    assert code == 0, stderr
    table = output_table(tmp_path / "out" / "sst2-test.csv")
    assert json.loads(stdout)["rows"] == n == len(table["id"]) == 1821
    assert table["id"] == list(range(2, n + 2)) and set(table["label"]) <= {"pos", "neg"}


def test_a_bad_row_fails_the_run_naming_its_line(cli, trained, tmp_path, scheduler):
    """A malformed row deep in the file: exit 2, the file and line named, no partial file left."""
    store, _ = trained
    lines = [json.dumps({"text": f"good film {i}"}) for i in range(50)] + ['{"text": broken'] + ['{"text": "ok"}']
    data = tmp_path / "in.jsonl"
    data.write_text("\n".join(lines) + "\n")
    code, stdout, stderr = cli("score", "--store", store, "--model", "demo", "--input", data, "--output",
                               tmp_path / "out", "--scheduler", scheduler, "--partition-size", "0.0005")
    assert code == 2 and stdout == ""
    assert stderr.startswith("vecclf: error: ") and f"{data}: line 51: not valid JSON" in stderr
    assert not list((tmp_path / "out" / "in.jsonl").glob(".*"))


BAD_RUNS = [
    (["--model", "nope"], 3, "unknown model 'nope'"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:9"], 2, "--workers sizes the local cluster"),
    (["--workers", "0"], 2, "--workers must be at least 1"),
    (["--partition-size", "0"], 2, "--partition-size must be positive"),
    (["--input", "missing.csv"], 2, "missing.csv: no such file"),
    (["--text-column", "body"], 2, "column 'body' not found"),
]


@pytest.mark.parametrize("extra,code,message", BAD_RUNS)
def test_bad_runs_fail_before_any_work(cli, trained, texts_csv, tmp_path, extra, code, message):
    """Wrong model, flags or inputs: one error line and the exit code, before any cluster starts."""
    store, _ = trained
    args = {"--model": "demo", "--input": str(texts_csv), "--output": str(tmp_path / "out")}
    flags = [a for k, v in args.items() if k not in extra for a in (k, v)]
    got, stdout, stderr = cli("score", "--store", store, *flags, *extra)
    assert got == code and stdout == "" and message in stderr and len(stderr.strip().splitlines()) == 1


def test_an_output_of_another_run_is_refused(cli, trained, texts_csv, tmp_path, scheduler):
    """The same --output with other settings, or a folder of unrelated files, is refused unchanged."""
    store, _ = trained
    out = tmp_path / "out"
    base = ("score", "--store", store, "--model", "demo", "--input", texts_csv, "--output", out, "--scheduler", scheduler)
    assert cli(*base)[0] == 0
    code, _, stderr = cli(*base, "--embed")
    assert code == 2 and "holds the results of another run (different mode)" in stderr
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    code, _, stderr = cli("score", "--store", store, "--model", "demo", "--input", texts_csv, "--output",
                          tmp_path / "other", "--scheduler", scheduler)
    assert code == 2 and "is not empty" in stderr
    assert [p.name for p in (tmp_path / "other").iterdir()] == ["notes.txt"]  # not even a lock file left


def test_an_unreachable_scheduler_is_one_error_line(cli, trained, texts_csv, tmp_path, monkeypatch):
    """--scheduler at an address where nothing listens: exit 1 and one line naming the address."""
    import vecclf.training.score as score

    monkeypatch.setattr(score, "CONNECT_TIMEOUT", "1s")
    store, _ = trained
    code, _, stderr = cli("score", "--store", store, "--model", "demo", "--input", texts_csv, "--output",
                          tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9")
    assert code == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in stderr


def test_progress_reports_planning_loading_and_partitions(trained, texts_csv, tmp_path, scheduler):
    """Progress (plain lines, as off a terminal) says what is planned, when the model is open, and the parts done."""
    import io

    from vecclf.training import progress
    from vecclf.training.score import score

    store, _ = trained
    out = io.StringIO()
    saved = progress.configure(out, "lines", interval=0)  # a line for every partition done
    try:
        summary = score(str(store), "demo", [str(texts_csv)], str(tmp_path / "out"), scheduler=scheduler,
                        block_bytes=3000)
    finally:
        progress.restore(saved)
    text = out.getvalue()
    n = summary["partitions"]
    assert n > 2 and f"{n} of {n} partitions to score with demo v1" in text
    assert "opening the model on every worker" in text and f"scoring: 100%, {n} of {n} partitions" in text


def test_a_model_that_cannot_load_fails_once_in_one_line(cli, trained, texts_csv, tmp_path, scheduler):
    """A damaged bundle fails when the workers open it: exit 4, one error line, no part file."""
    store, _ = trained
    model_file = store / "demo" / "v1" / "model.skops"
    model_file.write_bytes(model_file.read_bytes() + b"tampered")
    code, stdout, stderr = cli("score", "--store", store, "--model", "demo", "--input", texts_csv, "--output",
                               tmp_path / "out", "--scheduler", scheduler)
    assert code == 4 and stdout == "" and len(stderr.strip().splitlines()) == 1
    assert "does not match its recorded sha256" in stderr
    assert not list((tmp_path / "out" / "reviews.csv").glob("*.parquet"))
