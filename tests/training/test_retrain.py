"""vecclf retrain: the gate on a shared holdout, the decision JSON, errors that change nothing, lock, retention."""

import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_corpus, write_csv, write_jsonl
from vecclf.training import progress
from vecclf.training.errors import BusyError
from vecclf.training.lock import model_lock
from vecclf.training.registry import ModelRegistry
from vecclf.training.retrain import retrain
from vecclf.training.retrain_config import load_config
from vecclf.training.train import train

# Cases the tiny fixture vocabulary can answer, so the behavioural checks are exercised, not skipped.
SUITE = [{"text": "a great and wonderful film", "expect": "pos"}, {"text": "i love it, superb", "expect": "pos"},
         {"text": "an awful and boring film", "expect": "neg"}, {"text": "i hate it, the worst", "expect": "neg"}]


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(v)


def write_config(folder: Path, data: dict, name: str = "job.toml", **sections) -> Path:
    """Write a retrain config for model 'demo' on the tiny vectors; ``sections`` override per section."""
    write_jsonl(folder / "suite.jsonl", SUITE)
    base = {"model": {"name": "demo"}, "data": data,
            "training": {"vectors": "tiny", "features": "mean", "holdout": 0.25, "seed": 13},
            "gate": {"min_score": 0.7, "suite": "suite.jsonl"}, "retention": {"keep": 10}}
    for key, values in sections.items():
        base[key] = {**base[key], **values}
    text = "".join(f"[{s}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items()) for s, table in base.items())
    path = folder / name
    path.write_text(text, "utf-8")
    return path


def corpus_csv(path: Path, n: int = 200, relabel: bool = False, seed: int = 0) -> Path:
    texts, labels = make_corpus(n, seed=seed)
    if relabel:
        rng = random.Random(7)
        labels = [rng.choice(["pos", "neg"]) for _ in labels]
    return write_csv(path, [{"text": t, "label": l} for t, l in zip(texts, labels)])


def run(config: Path, store: Path, **kw) -> tuple[dict, list[dict]]:
    """Run the job in process; return its result and its JSON log lines."""
    log = io.StringIO()
    previous = progress.configure(log, "json")
    try:
        result = retrain(load_config(config), store=str(store), **kw)
    finally:
        progress.restore(previous)
    return result, [json.loads(line) for line in log.getvalue().splitlines()]


def snapshot(store: Path) -> dict:
    """Return every file under the store (but the lock folder) with its size and mtime."""
    return {str(p.relative_to(store)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(store.rglob("*"))
            if p.is_file() and ".locks" not in p.parts}


@pytest.fixture
def good(tmp_path):
    return corpus_csv(tmp_path / "good.csv")


@pytest.fixture
def relabelled(tmp_path):
    return corpus_csv(tmp_path / "relabelled.csv", relabel=True)


def test_gate_promotes_a_better_model(tiny_vectors, tmp_path, good, relabelled, cli):
    """Against a current version trained on noise, the candidate wins on the same holdout and is promoted."""
    store, _, _ = tiny_vectors
    train(store=str(store), name="demo", data=str(relabelled), vectors="tiny", features="mean")
    result, lines = run(write_config(tmp_path, {"paths": ["good.csv"]}), store)
    assert result["decision"] == "promoted" and result["version"] == "v2" and result["current"] == "v2"
    cand, prev = result["candidate"]["metrics"], result["previous"]["metrics"]
    assert result["previous"]["version"] == "v1" and cand["n"] == prev["n"] == result["holdout"]["rows"] == 50
    assert cand["accuracy"] > prev["accuracy"] + 0.2 and result["gate"]["checks"]["passed"]
    assert result["reason"].startswith("promoted: accuracy") and "behavioural checks passed" in result["reason"]
    assert result["rows_by_source"] == {"files": 200} and result["feedback_rows"] == 0
    assert result["holdout"]["stratified"] and set(result["seconds"]) >= {"load", "train", "evaluate", "total"}
    steps = [line for line in lines if "step" in line]
    assert [line["step"] for line in steps] == ["load", "split", "train", "evaluate", "checks", "save", "retention"]
    assert all(line["status"] == "done" and line["model"] == "demo" and "seconds" in line for line in steps)
    assert steps[0]["rows"] == 200 and steps[0]["rows_by_source"] == {"files": 200}
    page = Path(result["report"])
    assert page == store.resolve() / "demo" / "v2" / "report" / "index.html"
    assert page.read_text("utf-8").count("data:image/png;base64,") == 2
    code, out, _ = cli("models", "show", "demo", "--store", store)
    assert code == 0 and json.loads(out)["report"] == str(page)


def test_gate_keeps_current_against_relabelled_data_and_says_why(tiny_vectors, tmp_path, good, relabelled):
    """Randomly relabelled data scores near chance: the job saves the candidate, keeps v1 and names the rule."""
    store, _, _ = tiny_vectors
    train(store=str(store), name="demo", data=str(good), vectors="tiny", features="mean")
    result, _ = run(write_config(tmp_path, {"paths": ["relabelled.csv"]}), store)
    assert result["decision"] == "kept" and result["version"] == "v2" and result["current"] == "v1"
    assert ModelRegistry(store).current("demo") == "v1"
    assert result["candidate"]["metrics"]["accuracy"] < 0.7
    assert result["reason"].startswith("kept the current version: accuracy") and "below min_score 0.7" in result["reason"]
    assert result["gate"]["failures"] and not result["gate"]["passed"]
    report = json.loads((store / "demo" / "v2" / "report" / "report.json").read_text())
    assert report["decision"] == "kept" and report["current"]["version"] == "v1" and report["errors"]


def test_first_run_failing_the_gate_saves_nothing(tiny_vectors, tmp_path, relabelled):
    """With no current version, a failing candidate is not saved (a model must always have a current version)."""
    store, _, _ = tiny_vectors
    result, _ = run(write_config(tmp_path, {"paths": ["relabelled.csv"]}), store)
    assert result["decision"] == "kept" and result["version"] is None and result["current"] is None
    assert result["reason"].startswith("saved nothing") and ModelRegistry(store).models() == []


def test_first_run_passing_the_gate_becomes_current(tiny_vectors, tmp_path, good):
    """A model's first candidate that passes becomes its current version; feedback with no rows is an empty source."""
    store, _, _ = tiny_vectors
    result, _ = run(write_config(tmp_path, {"paths": ["good.csv"], "include_feedback": True}), store)
    assert result["decision"] == "promoted" and result["current"] == "v1" and result["previous"] is None
    assert result["rows_by_source"] == {"files": 200, "feedback": 0} and result["feedback_rows"] == 0


def test_retrain_learns_from_the_feedback_in_the_store(tiny_vectors, tmp_path, good):
    """include_feedback merges the store's feedback rows (newest label per text) and reports them as feedback_rows."""
    from vecclf.training.database import database_url
    from vecclf.training.feedback import FeedbackStore

    store, _, _ = tiny_vectors
    texts, labels = make_corpus(30, seed=5)
    base_text = make_corpus(200)[0][0]
    with FeedbackStore(database_url(store, None)) as fs:
        fs.add_many([{"model": "demo", "text": t, "label": lab} for t, lab in zip(texts, labels)])
        fs.add_many([{"model": "demo", "text": base_text, "label": "neg"}, {"model": "demo", "text": base_text,
                                                                           "label": "pos"}])
        fs.add({"model": "other", "text": "not ours", "label": "pos"})
    result, _ = run(write_config(tmp_path, {"paths": ["good.csv"], "include_feedback": True}), store)
    distinct = len(set(texts) | {base_text})
    assert result["feedback_rows"] == distinct and result["rows_by_source"] == {"files": 200, "feedback": distinct}
    assert result["rows"] == len({" ".join(t.split()) for t in make_corpus(200)[0] + texts})
    assert result["decision"] == "promoted"
    sources = ModelRegistry(store).manifest("demo")["data"]["sources"]
    assert sources[-1] == {"name": "feedback", "model": "demo", "url": f"sqlite:///{store.resolve() / 'vecclf.db'}",
                           "rows": distinct}


@pytest.mark.parametrize("data,sections,code,message", [
    ({"paths": ["missing.csv"]}, {}, 2, "missing.csv: no such file"),
    ({"paths": ["nightly/*.csv"]}, {}, 2, "matches no file"),
    ({"paths": ["bad.csv"]}, {}, 2, "bad.csv: column 'label' not found"),
    ({"paths": ["one-class.csv"]}, {}, 2, "has a single class ('pos')"),
    ({"sql_url": "postgresql://postgres@127.0.0.1:1/test", "sql_query": "SELECT 1"}, {}, 6, "is unreachable"),
    ({"sql_url": "sqlite:///absent.db", "sql_query": "SELECT 1"}, {}, 2, "no such SQLite database file"),
    ({"paths": ["good.csv"], "pahts": ["x"]}, {}, 2, "unknown key data.pahts"),
    ({"paths": ["good.csv"]}, {"training": {"vectors": "nope"}}, 3, "nope"),
])
def test_errors_exit_non_zero_and_change_nothing(tiny_vectors, tmp_path, good, cli, data, sections, code, message):
    """Missing data, a bad config or an unreachable database: one error line, the exit code, the store untouched."""
    store, _, _ = tiny_vectors
    train(store=str(store), name="demo", data=str(good), vectors="tiny", features="mean")
    write_csv(tmp_path / "bad.csv", [{"text": "good", "sentiment": "pos"}])
    write_csv(tmp_path / "one-class.csv", [{"text": f"good {i}", "label": "pos"} for i in range(5)])
    before = snapshot(store)
    rc, out, err = cli("retrain", "--config", write_config(tmp_path, data, **sections), "--store", store)
    assert rc == code and out == ""
    errors = [line for line in err.splitlines() if line.startswith("vecclf: error:")]
    assert len(errors) == 1 and message in errors[0], err
    assert snapshot(store) == before and not (tmp_path / "absent.db").exists()


def test_a_held_lock_makes_the_next_run_wait_then_give_up(tiny_vectors, tmp_path, good, cli):
    """While a run holds the model's lock, another waits --wait seconds, exits 7 naming the holder, changes nothing."""
    store, _, _ = tiny_vectors
    config = write_config(tmp_path, {"paths": ["good.csv"]})
    with model_lock(store, "demo"):
        with pytest.raises(BusyError):
            with model_lock(store, "demo", wait=0.2):
                pass
        rc, out, err = cli("retrain", "--config", config, "--store", store, "--wait", "0.3")
    assert rc == 7 and out == ""
    assert f"model 'demo' is locked by another retrain (pid {os.getpid()}" in err and "--wait" in err
    assert ModelRegistry(store).models() == []
    rc, out, _ = cli("retrain", "--config", config, "--store", store)  # released: the next run goes ahead
    assert rc == 0 and json.loads(out)["decision"] == "promoted"


@pytest.mark.slow
def test_two_runs_started_together_both_finish(tiny_vectors, tmp_path, good):
    """Two real processes on one model: the second waits for the first; both exit 0 with a decision."""
    store, _, _ = tiny_vectors
    train(store=str(store), name="demo", data=str(good), vectors="tiny", features="mean")
    config = write_config(tmp_path, {"paths": ["good.csv"]})
    cmd = [sys.executable, "-m", "vecclf", "retrain", "--config", str(config), "--store", str(store), "--wait", "120"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(r["version"] for r in results) == ["v2", "v3"]
    assert all(r["decision"] in ("promoted", "kept") for r in results)
    assert ModelRegistry(store).versions("demo") == ["v1", "v2", "v3"]
    assert not [p for p in (store / "demo").iterdir() if p.name.startswith(".")]


def test_retention_prunes_old_versions_but_never_current_or_previous(tiny_vectors, tmp_path, good, relabelled):
    """keep = 1: after runs that promote and keep, only the newest, the current and the one before it remain."""
    store, _, _ = tiny_vectors
    train(store=str(store), name="demo", data=str(relabelled), vectors="tiny", features="mean")  # v1
    keep1 = {"keep": 1}
    promoted, _ = run(write_config(tmp_path, {"paths": ["good.csv"]}, retention=keep1), store)  # v2
    kept, _ = run(write_config(tmp_path, {"paths": ["relabelled.csv"]}, retention=keep1), store)  # v3
    assert (promoted["decision"], kept["decision"]) == ("promoted", "kept")
    assert kept["removed"] == [] and ModelRegistry(store).versions("demo") == ["v1", "v2", "v3"]
    last, _ = run(write_config(tmp_path, {"paths": ["good.csv"]}, retention=keep1), store)  # v4, promoted
    assert last["decision"] == "promoted" and last["removed"] == ["v1", "v3"]
    reg = ModelRegistry(store)
    assert reg.versions("demo") == ["v2", "v4"] and reg.current("demo") == "v4" and reg.previous("demo") == "v2"


def test_sqlite_table_as_the_source(tiny_vectors, tmp_path, cli):
    """A SQLite table (relative to the config's folder) trains and promotes through the CLI."""
    from tests.training.test_label_sources import fill_table

    store, _, _ = tiny_vectors
    texts, labels = make_corpus(200)
    fill_table(f"sqlite:///{tmp_path / 'labels.db'}", list(zip(texts, labels)))
    config = write_config(tmp_path, {"sql_url": "sqlite:///labels.db", "sql_chunk_rows": 64,
                                     "sql_query": "SELECT body AS text, sentiment AS label FROM labelled"})
    rc, out, _ = cli("retrain", "--config", config, "--store", store)
    result = json.loads(out)
    assert rc == 0 and result["decision"] == "promoted" and result["rows_by_source"] == {"sql": 200}
    source = ModelRegistry(store).manifest("demo")["data"]["sources"][0]
    assert source["name"] == "sql" and source["rows"] == 200 and source["url"].endswith("labels.db")


def test_postgresql_table_as_the_source(tiny_vectors, tmp_path, postgres_url, cli):
    """A PostgreSQL table on the real server trains and promotes through the CLI."""
    from tests.training.test_label_sources import fill_table

    store, _, _ = tiny_vectors
    texts, labels = make_corpus(200)
    fill_table(postgres_url, list(zip(texts, labels)))
    config = write_config(tmp_path, {"sql_url": postgres_url, "sql_chunk_rows": 64,
                                     "sql_query": "SELECT body AS text, sentiment AS label FROM labelled"})
    rc, out, err = cli("retrain", "--config", config, "--store", store)
    assert rc == 0, err
    result = json.loads(out)
    assert result["decision"] == "promoted" and result["rows_by_source"] == {"sql": 200}


def test_retrain_keeps_the_sentence_encoder_it_is_given(tiny_vectors, tmp_path, good, tiny_encoder):
    """[training] encoder trains the candidate with that encoder's block and records it, as train --encoder does."""
    store, _, _ = tiny_vectors
    config = write_config(tmp_path, {"paths": ["good.csv"]}, training={"encoder": str(tiny_encoder)},
                          gate={"min_score": 0.0, "checks": False})
    result, _ = run(config, store)
    assert result["decision"] == "promoted"
    manifest = json.loads((Path(store) / "demo" / result["version"] / "manifest.json").read_text("utf-8"))
    from vecclf.training import encoder as enc

    assert manifest["encoder"]["name"] == str(tiny_encoder)
    assert manifest["encoder"]["sha256"] == enc.describe(str(tiny_encoder))["sha256"]
    assert manifest["config"]["encoder"] == str(tiny_encoder)
    model, _ = ModelRegistry(str(store)).load("demo", result["version"])
    from vecclf.training.features.encoded import encoders_of

    assert encoders_of(model)


def test_retrain_tunes_the_encoder_on_its_training_part(tiny_vectors, tmp_path, good, tiny_encoder):
    """[training] tune_encoder = true tunes the encoder on the training part (not the holdout) and uses it."""
    store, _, _ = tiny_vectors
    config = write_config(tmp_path, {"paths": ["good.csv"]},
                          training={"encoder": str(tiny_encoder), "tune_encoder": True, "holdout": 0.25},
                          gate={"min_score": 0.0, "checks": False})
    result, _ = run(config, store)
    assert result["decision"] == "promoted"
    manifest = json.loads((Path(store) / "demo" / result["version"] / "manifest.json").read_text("utf-8"))
    tuned = manifest["encoder"]
    assert tuned["name"].startswith("demo-") and (Path(store) / "encoders" / tuned["name"]).is_dir()
    assert tuned["tuned_from"]["name"] == str(tiny_encoder) and tuned["tuned_on"]["rows"] == manifest["n_train"]
    ModelRegistry(str(store)).load("demo", result["version"])


def test_tune_encoder_without_an_encoder_is_refused(tiny_vectors, tmp_path, good, cli):
    store, _, _ = tiny_vectors
    config = write_config(tmp_path, {"paths": ["good.csv"]}, training={"tune_encoder": True})
    code, _, err = cli("--store", str(store), "retrain", "--config", str(config))
    assert code == 2 and "tune_encoder needs training.encoder" in err


def test_an_unknown_encoder_in_the_config_is_refused_before_any_work(tiny_vectors, tmp_path, good, cli):
    """A missing encoder folder is one line and a non-zero exit; nothing is saved."""
    store, _, _ = tiny_vectors
    config = write_config(tmp_path, {"paths": ["good.csv"]}, training={"encoder": "no-such-encoder-folder"})
    code, out, err = cli("--store", str(store), "retrain", "--config", str(config))
    assert code != 0 and "encoder" in err and "Traceback" not in err
    assert not (Path(store) / "demo").exists() or not list((Path(store) / "demo").glob("v*"))
