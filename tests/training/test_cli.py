"""The vecclf CLI end to end on tiny data: JSON on stdout, one-line errors on stderr."""

import json

import numpy as np
import pytest

from tests.conftest import make_corpus, write_csv, write_jsonl
from vecclf.training.registry import ModelRegistry


@pytest.fixture
def data(tmp_path):
    """Write train.csv (120 rows) and test.csv (40 rows) of synthetic reviews; return the folder."""
    texts, labels = make_corpus(120, seed=0)
    write_csv(tmp_path / "train.csv", [{"text": t, "label": l} for t, l in zip(texts, labels)])
    texts, labels = make_corpus(40, seed=1)
    write_csv(tmp_path / "test.csv", [{"text": t, "label": l} for t, l in zip(texts, labels)])
    return tmp_path


@pytest.fixture
def run(cli, tiny_vectors):
    """Run the CLI against the tiny store; return a function giving (code, stdout, stderr)."""
    store, _, _ = tiny_vectors

    def go(*argv):
        return cli(*argv, "--store", store)

    go.store = store
    return go


def _json(out):
    return json.loads(out)


def _train(run, data, *extra, name="m"):
    code, out, err = run("train", "--name", name, "--data", data / "train.csv", "--vectors", "tiny",
                         "--features", "mean", *extra)
    assert code == 0, err
    return _json(out)


def test_train_prints_the_metrics_json(run, data):
    """train prints one JSON object with the version, counts, and accuracy, macro-F1, per-class and confusion matrix."""
    report = _train(run, data, "--test", data / "test.csv")
    assert (report["model"], report["version"], report["n_train"], report["n_test"]) == ("m", "v1", 120, 40)
    m = report["metrics"]
    assert m["accuracy"] > 0.9 and 0 <= m["macro_f1"] <= 1
    assert set(m["per_class"]) == {"neg", "pos"}
    assert set(m["per_class"]["pos"]) == {"precision", "recall", "f1", "support"}
    assert m["confusion_matrix"]["labels"] == ["neg", "pos"]
    assert np.sum(m["confusion_matrix"]["matrix"]) == 40


def test_evaluate_agrees_with_train(run, data):
    """evaluate on train's test file reproduces train's metrics exactly."""
    report = _train(run, data, "--test", data / "test.csv")
    code, out, err = run("evaluate", "--name", "m", "--data", data / "test.csv")
    assert code == 0, err
    result = _json(out)
    assert result["version"] == "v1" and result["encoding"] == "utf-8"
    assert result["metrics"] == report["metrics"]


def test_default_auto_features_train(run, data):
    """Without --features, the auto search picks a candidate and records it."""
    code, out, err = run("train", "--name", "auto", "--data", data / "train.csv", "--vectors", "tiny")
    assert code == 0, err
    report = _json(out)
    assert report["selection"]["mode"] == "auto"
    assert report["config"]["features"] == report["selection"]["chosen"]["features"]


def test_test_size_holds_out_a_fraction(run, data):
    """--test-size F holds out that fraction of the data for the metrics."""
    report = _train(run, data, "--test-size", "0.25")
    assert (report["n_train"], report["n_test"]) == (90, 30)
    assert report["metrics"]["n"] == 30


def test_cv_reports_mean_fold_accuracy(run, data):
    """--cv K reports the mean K-fold accuracy as accuracy, with each fold's score."""
    report = _train(run, data, "--cv", "4")
    m = report["metrics"]
    assert m["folds"] == 4 and len(m["fold_accuracy"]) == 4
    assert m["accuracy"] == pytest.approx(np.mean(m["fold_accuracy"]))
    assert report["n_test"] == 0 and report["n_train"] == 120


def test_cv_lists_each_folds_choice(run, data):
    """--cv K with auto selection reports the choice each fold made, in the output and the manifest."""
    code, out, err = run("train", "--name", "m", "--data", data / "train.csv", "--vectors", "tiny", "--cv", "3",
                         "--budget", "0")
    assert code == 0, err
    report = _json(out)
    choices = report["metrics"]["fold_choices"]
    assert len(choices) == 3 and all(set(c) == {"features", "C"} for c in choices)
    assert ModelRegistry(run.store).manifest("m")["metrics"]["fold_choices"] == choices
    assert _train(run, data, "--cv", "3", "--C", "2", name="fixed")["metrics"]["fold_choices"] == \
        [{"features": "mean", "C": 2.0}] * 3


def test_seed_makes_training_reproducible(run, data):
    """Two trainings with the same --seed give identical probabilities."""
    args = ("--test-size", "0.3", "--classifier", "mlp", "--seed", "7")
    a = _train(run, data, *args, name="a")
    b = _train(run, data, *args, name="b")
    assert a["metrics"] == b["metrics"]
    reg = ModelRegistry(run.store)
    texts = ["good film", "boring plot", "it was the movie"]
    ma, _ = reg.load("a")
    mb, _ = reg.load("b")
    np.testing.assert_array_equal(ma.predict_proba(texts), mb.predict_proba(texts))


def test_class_weight_balanced_is_used(run, data, tmp_path):
    """--class-weight balanced reaches the classifier; auto turns it on for a 1:4 imbalance."""
    report = _train(run, data, "--class-weight", "balanced", name="bal")
    assert report["config"]["class_weight"] == "balanced"
    model, _ = ModelRegistry(run.store).load("bal")
    assert model.pipeline_.named_steps["clf"].class_weight == "balanced"
    texts, labels = make_corpus(100)
    rows = [{"text": t, "label": l} for t, l in zip(texts, labels) if l == "neg" or int(t.__hash__() % 1) == 0]
    rows = [r for r in rows if r["label"] == "neg"][:40] + [r for r in rows if r["label"] == "pos"][:10]
    write_csv(tmp_path / "imb.csv", rows)
    code, out, err = run("train", "--name", "imb", "--data", tmp_path / "imb.csv", "--vectors", "tiny",
                         "--features", "mean")
    assert code == 0, err
    assert _json(out)["config"]["class_weight"] == "balanced"


def test_multilabel_end_to_end(run, tmp_path):
    """Multi-label data trains, predicts label lists, and evaluates with multi-label metrics."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(90):
        kind = i % 3
        pos = list(rng.choice(["good", "great", "love"], 2))
        neg = list(rng.choice(["bad", "awful", "hate"], 2))
        words = pos if kind == 0 else neg if kind == 1 else pos + neg
        labels = ["happy"] if kind == 0 else ["sad"] if kind == 1 else ["happy", "sad"]
        rows.append({"text": " ".join(words + ["the", "film"]), "label": labels})
    write_jsonl(tmp_path / "ml.jsonl", rows)
    code, out, err = run("train", "--name", "ml", "--data", tmp_path / "ml.jsonl", "--vectors", "tiny",
                         "--features", "meanmax", "--C", "10")
    assert code == 0, err
    report = _json(out)
    assert set(report["metrics"]) >= {"accuracy", "macro_f1", "micro_f1", "hamming_loss", "per_class"}
    assert report["metrics"]["micro_f1"] > 0.8
    code, out, err = run("predict", "--name", "ml", "good great the film", "bad awful the film")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [p["labels"] for p in lines] == [["happy"], ["sad"]]
    code, out, err = run("evaluate", "--name", "ml", "--data", tmp_path / "ml.jsonl")
    assert code == 0 and _json(out)["metrics"]["micro_f1"] > 0.8


def test_predict_prints_json_lines(run, data, tmp_path):
    """predict prints one JSON object per text with label, confidence and every label's score."""
    _train(run, data)
    code, out, err = run("predict", "--name", "m", "a great film", "awful and boring")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [p["label"] for p in lines] == ["pos", "neg"]
    for p in lines:
        assert set(p) == {"text", "label", "confidence", "scores"}
        assert p["confidence"] == max(p["scores"].values())
        assert sum(p["scores"].values()) == pytest.approx(1)
    write_csv(tmp_path / "in.csv", [{"text": "a great film"}, {"text": "awful and boring"}])
    code, out2, _ = run("predict", "--name", "m", "--input", tmp_path / "in.csv")
    assert code == 0 and out2 == out


def test_embed_writes_npy(run, data, tmp_path):
    """embed writes an (n, dim) float32 .npy of document vectors equal to the embedder's output."""
    from vecclf.training.embed import DocumentEmbedder

    out_file = tmp_path / "emb.npy"
    code, out, err = run("embed", "--vectors", "tiny", "--input", data / "test.csv", "--output", out_file,
                         "--pooling", "meanmax")
    assert code == 0, err
    assert _json(out)["n"] == 40 and _json(out)["dim"] == 32
    matrix = np.load(out_file, allow_pickle=False)
    from vecclf.training.data import read_dataset

    texts = read_dataset(data / "test.csv", label_column=None, require_labels=False).texts
    expected = DocumentEmbedder("tiny", store=str(run.store), pooling="meanmax").fit(texts).transform(texts)
    np.testing.assert_array_equal(matrix, expected)
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_models_list_show_promote_rollback(run, data):
    """models list/show/promote/rollback report and move the current pointer."""
    _train(run, data)
    second = _train(run, data)
    assert (second["version"], second["current"]) == ("v2", False)
    code, out, _ = run("models", "list")
    listed = _json(out)["models"]
    assert [(m["name"], m["current"], m["versions"]) for m in listed] == [("m", "v1", ["v1", "v2"])]
    assert listed[0]["accuracy"] > 0.9 and listed[0]["evaluation"] == "holdout" and listed[0]["n_test"] == 24
    assert listed[0]["data"] == str((data / "train.csv").resolve())
    code, out, _ = run("models", "show", "m")
    shown = _json(out)
    assert (shown["version"], shown["current"], shown["labels"]) == ("v1", "v1", ["neg", "pos"])
    code, out, _ = run("models", "promote", "m", "v2")
    assert code == 0 and _json(out)["current"] == "v2" and _json(out)["previous"] == "v1"
    code, out, _ = run("models", "show", "m")
    assert _json(out)["version"] == "v2"
    code, out, _ = run("models", "rollback", "m")
    assert code == 0 and _json(out)["current"] == "v1"
    third = _train(run, data, "--promote")
    assert (third["version"], third["current"]) == ("v3", True)


def test_vectors_commands(cli, vector_files, store_dir):
    """vectors import/list/lookup/similar print JSON; lookup gives null for unknown words and subwords for fastText."""
    from tests.conftest import gensim_reading

    code, out, err = cli("vectors", "import", vector_files["fasttext-bin"], "--name", "ft", "--store", store_dir)
    assert code == 0, err
    assert _json(out)["source_format"] == "fasttext-bin" and len(_json(out)["sha256"]) == 64
    code, out, _ = cli("vectors", "import", vector_files["word2vec-bin"], "--name", "w2v", "--store", store_dir,
                       "--limit", "4", "--dtype", "float16")
    assert code == 0 and (_json(out)["size"], _json(out)["dtype"]) == (4, "float16")
    code, out, _ = cli("vectors", "list", "--store", store_dir)
    assert [m["name"] for m in _json(out)["vectors"]] == ["ft", "w2v"]
    code, out, _ = cli("vectors", "lookup", "ft", "cat", "catsat", "--store", store_dir)
    ref = gensim_reading("fasttext-bin", vector_files["fasttext-bin"])
    result = _json(out)
    np.testing.assert_allclose(result["catsat"], ref["catsat"], atol=1e-5)
    np.testing.assert_allclose(result["cat"], ref["cat"], atol=1e-5)
    code, out, _ = cli("vectors", "lookup", "w2v", "the", "nope", "--store", store_dir)
    assert _json(out)["nope"] is None and len(_json(out)["the"]) == 6
    code, out, _ = cli("vectors", "similar", "ft", "cat", "--top", "3", "--store", store_dir)
    assert code == 0 and len(_json(out)["similar"]) == 3


# ---------------------------------------------------------------- bad data: one line, non-zero, no version
def _write(path, text, encoding="utf-8"):
    path.write_text(text, encoding=encoding)
    return path


BAD_TRAIN = [
    ("missing_column", lambda d: _write(d / "bad.csv", "review,label\ngood,pos\nbad,neg\n"),
     ["bad.csv", "column 'text' not found"]),
    ("empty_file", lambda d: _write(d / "bad.csv", ""), ["bad.csv", "empty"]),
    ("single_class", lambda d: _write(d / "bad.csv", "text,label\ngood,pos\ngreat,pos\n"),
     ["bad.csv", "column 'label'", "single class ('pos')"]),
    ("blank_texts", lambda d: _write(d / "bad.csv", "text,label\n ,pos\n\"\",neg\n"),
     ["bad.csv", "column 'text' is blank in every row"]),
    ("malformed_json", lambda d: _write(d / "bad.jsonl", '{"text": "a", "label": "x"}\n{"text": \n'),
     ["bad.jsonl", "line 2", "not valid JSON"]),
    ("ragged_row", lambda d: _write(d / "bad.csv", "text,label\ngood,pos\nbad,neg,oops\n"),
     ["bad.csv", "row 3", "3 fields"]),
    ("no_such_file", lambda d: d / "absent.csv", ["absent.csv", "no such file"]),
]


@pytest.mark.parametrize("case, make, expected", BAD_TRAIN, ids=[c for c, _, _ in BAD_TRAIN])
def test_bad_training_data(case, make, expected, run, tmp_path):
    """Bad training data exits non-zero with one 'vecclf: error:' line naming the file/row/column, and no version."""
    path = make(tmp_path)
    code, out, err = run("train", "--name", "m", "--data", path, "--vectors", "tiny", "--features", "mean")
    _assert_one_line_error(code, out, err, expected)
    assert _no_version(run.store, "m")


def test_unknown_test_labels_at_training(run, data, tmp_path):
    """A --test file with a label the training data lacks is refused before any version is written."""
    _write(tmp_path / "odd.csv", "text,label\ngood,pos\nbad,meh\n")
    code, out, err = run("train", "--name", "m", "--data", data / "train.csv", "--test", tmp_path / "odd.csv",
                         "--vectors", "tiny", "--features", "mean")
    _assert_one_line_error(code, out, err, ["odd.csv", "row 3", "column 'label'", "'meh'"])
    assert _no_version(run.store, "m")


BAD_EVAL = [
    ("unknown_label", lambda d: _write(d / "ev.csv", "text,label\ngood,pos\nbad,meh\n"),
     ["ev.csv", "row 3", "column 'label'", "label 'meh', which the model does not know"]),
    ("missing_column", lambda d: _write(d / "ev.csv", "text,stars\ngood,pos\n"), ["ev.csv", "column 'label'"]),
    ("empty_file", lambda d: _write(d / "ev.csv", "\n"), ["ev.csv", "empty"]),
    ("ragged_row", lambda d: _write(d / "ev.csv", "text,label\ngood\n"), ["ev.csv", "row 2"]),
    ("several_labels", lambda d: _write(d / "ev.csv", "text,label\ngood,pos\nbad,pos|neg\n"),
     ["ev.csv", "row 3", "column 'label' holds several labels (pos|neg)"]),
]


@pytest.mark.parametrize("case, make, expected", BAD_EVAL, ids=[c for c, _, _ in BAD_EVAL])
def test_bad_evaluation_data(case, make, expected, run, data, tmp_path):
    """Bad evaluation data exits non-zero with one error line naming the file/row/column."""
    _train(run, data)
    code, out, err = run("evaluate", "--name", "m", "--data", make(tmp_path))
    _assert_one_line_error(code, out, err, expected)


NOT_FOUND = [
    (("train", "--name", "m", "--data", "{data}/train.csv", "--vectors", "nope"), "no vector store"),
    (("train", "--name", "../x", "--data", "{data}/train.csv", "--vectors", "tiny"), "invalid model name '../x'"),
    (("evaluate", "--name", "ghost", "--data", "{data}/test.csv"), "unknown model 'ghost'"),
    (("predict", "--name", "m", "--version", "v7", "hi"), "no version 'v7'"),
    (("models", "promote", "m", "v9"), "no version 'v9'"),
    (("models", "rollback", "m"), "nothing to roll back to"),
    (("vectors", "lookup", "nope", "x"), "no vector store"),
]


@pytest.mark.parametrize("argv, message", NOT_FOUND, ids=[" ".join(a[:2]) + "-" + m for a, m in NOT_FOUND])
def test_unknown_names_give_one_line_errors(argv, message, run, data):
    """Unknown vectors, models and versions exit non-zero with one error line saying what is missing."""
    _train(run, data)
    code, out, err = run(*[a.format(data=data) for a in argv])
    _assert_one_line_error(code, out, err, [message])
    assert ModelRegistry(run.store).versions("m") == ["v1"]


def _assert_one_line_error(code, out, err, expected):
    assert code != 0
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("vecclf: error: ")
    for part in expected:
        assert part in lines[0], (part, lines[0])


def _no_version(store, name):
    folder = store / name
    return not folder.exists() or list(folder.iterdir()) == []


@pytest.mark.slow
def test_sst2_with_default_vectors(default_store, cli, tmp_path):
    """Done-when check: default vectors, train on SST-2 with --test, evaluate agrees, accuracy above 0.7."""
    from tests.conftest import sentences_csv

    train_csv = sentences_csv("stsa.binary.train", tmp_path / "sst2-train.csv")
    test_csv = sentences_csv("stsa.binary.test", tmp_path / "sst2-test.csv")
    code, out, err = cli("train", "--name", "sst2", "--data", train_csv, "--test", test_csv, "--features", "mean",
                         "--store", default_store)
    assert code == 0, err
    report = json.loads(out)
    assert (report["n_train"], report["n_test"]) == (6920, 1821)
    assert report["metrics"]["accuracy"] > 0.7
    code, out, err = cli("evaluate", "--name", "sst2", "--data", test_csv, "--store", default_store)
    assert code == 0, err
    assert json.loads(out)["metrics"] == report["metrics"]


def test_latin1_and_fasttext_data_train(run, tmp_path):
    """A Latin-1 CSV and a fastText-format file both train; the report names the encoding used."""
    texts, labels = make_corpus(60)
    body = "text,label\n" + "".join(f"{t} café,{l}\n" for t, l in zip(texts, labels))
    (tmp_path / "l1.csv").write_bytes(body.encode("latin-1"))
    code, out, err = run("train", "--name", "l1", "--data", tmp_path / "l1.csv", "--vectors", "tiny",
                         "--features", "mean")
    assert code == 0, err
    assert json.loads(out)["encoding"] == "cp1252"
    (tmp_path / "ft.txt").write_text("".join(f"__label__{l} {t}\n" for t, l in zip(texts, labels)), encoding="utf-8")
    code, out, err = run("train", "--name", "ft", "--data", tmp_path / "ft.txt", "--vectors", "tiny",
                         "--features", "mean")
    assert code == 0, err
    assert json.loads(out)["metrics"]["accuracy"] > 0.9


def test_predict_reads_stdin(run, data, monkeypatch):
    """Without texts or --input, predict classifies one text per stdin line."""
    import io

    _train(run, data)
    monkeypatch.setattr("sys.stdin", io.StringIO("a great film\n\nawful and boring\n"))
    code, out, err = run("predict", "--name", "m")
    assert code == 0, err
    assert [json.loads(line)["label"] for line in out.splitlines()] == ["pos", "neg"]


def test_store_flag_before_the_subcommand_is_kept(tmp_path, capsys, monkeypatch):
    """`vecclf --store X vectors list` reads X, not the default store."""
    from vecclf.training.cli import main
    from vecclf.training.vectors.importers import import_vectors

    from tests.conftest import make_vectors, write_glove

    words, vecs = make_vectors()
    store = tmp_path / "elsewhere"
    import_vectors(write_glove(tmp_path / "v.txt", words, vecs), store, "tiny")
    monkeypatch.chdir(tmp_path)
    assert main(["--store", str(store), "vectors", "list"]) == 0
    listed = json.loads(capsys.readouterr().out)["vectors"]
    assert [m["name"] for m in listed] == ["tiny"]
    assert main(["vectors", "list", "--store", str(store)]) == 0
    assert [m["name"] for m in json.loads(capsys.readouterr().out)["vectors"]] == ["tiny"]
