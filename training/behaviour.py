"""Behavioural checks of a trained model: invariances and minimum functionality.

Accuracy on a test set says how often a model is right; these checks say
whether it is right *for the right reasons* on cases everyone agrees on
(Ribeiro et al. 2020, "Beyond Accuracy: Behavioral Testing of NLP Models").
They take a candidate model, so the same checks serve as tests and,
later, as a promotion gate.

- **Invariance**: changing what must not matter — casing (for stores that
  lowercase), extra or different whitespace, surrounding spaces — must not
  change the predicted label.
- **Minimum functionality**: obvious sentences get the obvious label. A
  built-in suite applies to sentiment models (labels like positive/negative,
  pos/neg); any model can be given a suite file of ``{"text", "expect"}``
  cases (JSON list or JSON Lines).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from vecclf.training.errors import DataError

POSITIVE_NAMES = ("positive", "pos", "good", "1")
NEGATIVE_NAMES = ("negative", "neg", "bad", "0")

SENTIMENT_CASES = [
    ("I love this, it is wonderful and brilliant.", "positive"),
    ("An excellent, moving film with superb acting.", "positive"),
    ("Great service, friendly staff, I am very happy.", "positive"),
    ("This is the best thing I have ever bought.", "positive"),
    ("Absolutely fantastic, a delight from start to finish.", "positive"),
    ("I hate this, it is awful and boring.", "negative"),
    ("A terrible, dull film with dreadful acting.", "negative"),
    ("Horrible service, rude staff, I am very angry.", "negative"),
    ("This is the worst thing I have ever bought.", "negative"),
    ("Completely useless, a waste of time and money.", "negative"),
]

INVARIANCE_TEXTS = [
    "The food was great but the service was slow.",
    "What is the capital city of Australia?",
    "I did not enjoy the movie at all.",
    "Stocks fell sharply after the central bank raised interest rates.",
    "Absolutely fantastic, a delight from start to finish!",
    "Who wrote the novel Pride and Prejudice?",
]


def _perturbations(text: str, lowercase: bool) -> dict[str, str]:
    variants = {
        "extra whitespace": re.sub(r" ", "   ", text),
        "tabs and newlines": text.replace(" ", "\t", 1).replace(" ", "\n", 1),
        "surrounding spaces": f"  {text}  ",
    }
    if lowercase:
        variants["upper case"] = text.upper()
        variants["lower case"] = text.lower()
        variants["title case"] = text.title()
    return variants


def sentiment_label_map(classes) -> dict[str, str] | None:
    """Map "positive"/"negative" to the model's own label names, or None if it is not a sentiment model."""
    names = {str(c).lower(): str(c) for c in classes}
    pos = next((names[n] for n in POSITIVE_NAMES if n in names), None)
    neg = next((names[n] for n in NEGATIVE_NAMES if n in names), None)
    if pos is None or neg is None:
        return None
    return {"positive": pos, "negative": neg}


def read_suite(path: str | Path, *, text_column: str = "text", label_column: str = "label",
               fmt: str = "auto") -> list[tuple[str, str]]:
    """Read ``(text, expected label)`` cases: ``{"text", "expect"}`` objects (JSON list or JSON Lines), or labelled data.

    A file that is not a list of ``expect`` objects is read as a data file
    with ``text_column``, ``label_column`` and ``fmt`` (the model's own, by
    default on the command line), each label being the expected one.
    """
    path = Path(path)
    try:
        raw = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        if path.suffix.lower() in (".json", ".jsonl"):
            raise DataError(f"{path}: cannot read the suite ({exc})") from exc
        raw = ""
    items = _expect_objects(raw)
    if items is None:
        return _labelled_cases(path, text_column, label_column, fmt)
    cases = []
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not isinstance(item.get("expect"), str):
            raise DataError(f"{path}: case {i}: expected an object with string fields 'text' and 'expect'")
        cases.append((item["text"], item["expect"]))
    return cases


def _expect_objects(raw: str) -> list | None:
    """Return the parsed suite if ``raw`` is JSON (Lines) of ``expect`` cases, else None."""
    try:
        items = json.loads(raw) if raw.lstrip().startswith("[") else [json.loads(l) for l in raw.splitlines() if l.strip()]
    except ValueError:
        return None
    if not items or not any(isinstance(item, dict) and "expect" in item for item in items):
        return None
    return items


def _labelled_cases(path: Path, text_column: str, label_column: str, fmt: str) -> list[tuple[str, str]]:
    from vecclf.training.data import read_dataset

    ds = read_dataset(path, text_column=text_column, label_column=label_column, fmt=fmt)
    if ds.multilabel:
        raise DataError(f"{path}: column {label_column!r} holds several labels in a row; a check case expects one")
    return list(zip(ds.texts, ds.labels))


def check_model(model, *, lowercase: bool = True, suite: list[tuple[str, str]] | None = None,
                min_pass_rate: float = 0.9) -> dict:
    """Run every applicable check on ``model``; return a JSON-ready report with ``passed``."""
    classes = [str(c) for c in model.classes_]
    report: dict = {"checks": []}

    texts = list(INVARIANCE_TEXTS) + [t for t, _ in (suite or [])][:20]
    base = [str(p) for p in _top_labels(model, texts)]
    failures = []
    total = 0
    for text, label in zip(texts, base):
        variants = _perturbations(text, lowercase)
        preds = _top_labels(model, list(variants.values()))
        for (kind, variant), pred in zip(variants.items(), preds):
            total += 1
            if str(pred) != label:
                failures.append({"text": text, "perturbation": kind, "expected": label, "got": str(pred)})
    report["checks"].append({"name": "invariance", "cases": total, "failures": failures, "passed": not failures})

    cases: list[tuple[str, str]] = []
    if suite is not None:
        unknown = sorted({e for _, e in suite} - set(classes))
        if unknown:
            raise DataError(f"the suite expects labels the model does not know: {unknown} (it knows {classes})")
        cases = suite
        name = "suite"
    else:
        mapping = sentiment_label_map(classes)
        if mapping is not None:
            cases = [(t, mapping[e]) for t, e in SENTIMENT_CASES]
            name = "sentiment minimum functionality"
    if cases:
        preds = [str(p) for p in _top_labels(model, [t for t, _ in cases])]
        wrong = [{"text": t, "expected": e, "got": p} for (t, e), p in zip(cases, preds) if p != e]
        rate = 1 - len(wrong) / len(cases)
        report["checks"].append({"name": name, "cases": len(cases), "pass_rate": rate, "min_pass_rate": min_pass_rate,
                                 "failures": wrong, "passed": rate >= min_pass_rate})
    report["passed"] = all(c["passed"] for c in report["checks"])
    return report


def _top_labels(model, texts):
    """Return the single top label per text (multi-label models included)."""
    import numpy as np

    proba = model.predict_proba(texts)
    return [model.classes_[int(i)] for i in np.argmax(proba, axis=1)]
