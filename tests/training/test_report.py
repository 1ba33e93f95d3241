"""Version reports: one self-contained HTML page with its charts, written into the bundle."""

import json
import re

from vecclf.training.report import render_html, wrong_examples


def test_models_report_writes_a_report_for_a_trained_version_once(trained, cli):
    """`models report` writes the page of a `train`-made version, then finds it; `models show` prints its path."""
    store, _ = trained
    code, out, _ = cli("models", "show", "demo", "--store", store)
    assert code == 0 and json.loads(out)["report"] is None
    code, out, _ = cli("models", "report", "demo", "--store", store)
    first = json.loads(out)
    assert code == 0 and first["written"] is True and first["version"] == "v1" and first["opened"] is False
    folder = store / "demo" / "v1" / "report"
    assert sorted(p.name for p in folder.iterdir()) == ["confusion_matrix.png", "index.html", "per_class_f1.png",
                                                         "report.json"]
    assert (folder / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (folder / "index.html").read_text("utf-8")
    assert page.count("src='data:image/png;base64,") == 2 and "Classification report" in page
    assert not re.search(r"(src|href)=['\"](https?:|//|[^'\"d#])", page), "the page must not load anything"
    assert "made by `vecclf train`" in page
    code, out, _ = cli("models", "report", "demo", "v1", "--store", store)
    assert json.loads(out) == {**first, "written": False}
    code, out, _ = cli("models", "show", "demo", "--store", store)
    assert json.loads(out)["report"] == first["report"]


def test_models_report_of_an_unknown_version_is_not_found(trained, cli):
    """An unknown version exits 3 with one error line."""
    store, _ = trained
    code, out, err = cli("models", "report", "demo", "v9", "--store", store)
    assert code == 3 and out == "" and "has no version 'v9'" in err


def test_texts_are_escaped_and_mistakes_sorted_by_confidence():
    """Mistakes come most confident first, and a text holding HTML is shown, never run."""
    rows, n = wrong_examples(["<script>alert(1)</script>", "fine", "meh"], ["pos", "pos", "neg"],
                             ["neg", "pos", "pos"], [0.6, 0.9, 0.95], previous=["pos", "pos", "neg"])
    assert n == 2 and [r["text"] for r in rows] == ["meh", "<script>alert(1)</script>"]
    metrics = {"accuracy": 0.5, "macro_f1": 0.5, "n": 3,
               "per_class": {c: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 1} for c in ("neg", "pos")}}
    page = render_html({"model": "m", "version": "v2", "metrics": metrics, "errors": rows, "n_errors": n,
                        "current": {"version": "v1", "metrics": metrics}, "decision": "kept", "reason": "x < y"}, {})
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "x &lt; y" in page
    assert "previous predicted" in page and "v1 (previous)" in page
