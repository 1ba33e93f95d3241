"""Labels sent back as feedback: how they are checked against a model, stored and compared.

A model accepts only the labels it was trained on, unless its
``<store>/<model>/feedback.toml`` says ``allow_new_labels = true`` (a new
label then enters the model at its next retrain). A multi-label model takes a
list of labels (or one string); a single-label model takes one string.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from vecclf.training.errors import ConfigError, DataError

MAX_LABEL_CHARS = 200
SETTINGS_FILE = "feedback.toml"


class UnknownLabelError(DataError):
    """A label the model does not know, and its ``feedback.toml`` does not allow new ones."""


def allows_new_labels(store: str | os.PathLike, model: str) -> bool:
    """Return whether ``<store>/<model>/feedback.toml`` says ``allow_new_labels = true``.

    Raises:
        ConfigError: the file exists but is not valid TOML, or the value is not a boolean.
    """
    import tomllib

    path = Path(store) / model / SETTINGS_FILE
    try:
        settings = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    value = settings.get("allow_new_labels", False)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: allow_new_labels must be true or false, got {value!r}")
    return value


def check_label(label, known: Iterable[str], multilabel: bool, allow_new: bool):
    """Return ``label`` checked against a model: a string, or a sorted list of strings for a multi-label model.

    Raises:
        DataError: the label has the wrong shape, is empty or contains ``|``.
        UnknownLabelError: the model does not know the label and does not allow new ones.
    """
    if isinstance(label, list) and multilabel:
        labels = label
    elif isinstance(label, str):
        labels = [label]
    elif isinstance(label, list):
        raise DataError("the model is single-label: send one label as a string")
    else:
        raise DataError(f"label must be a string{' or a list of strings' if multilabel else ''}")
    if not labels:
        raise DataError("the label list is empty")
    if not all(isinstance(x, str) for x in labels):
        raise DataError("every label must be a string")
    labels = [x.strip() for x in labels]
    for x in labels:
        if not x:
            raise DataError("a label is empty")
        if len(x) > MAX_LABEL_CHARS or "|" in x:
            raise DataError(f"label {x[:40]!r} is longer than {MAX_LABEL_CHARS} characters or contains '|'")
    known = set(known)
    unknown = [x for x in labels if x not in known]
    if unknown and not allow_new:
        raise UnknownLabelError(f"unknown label {unknown[0]!r}; the model knows {', '.join(sorted(known))} "
                        f"(allow_new_labels = true in the model's {SETTINGS_FILE} accepts new ones)")
    return sorted(set(labels)) if multilabel else labels[0]


def encode_label(label) -> str | None:
    """Return the stored form of a label: the string itself, or a JSON list for several labels."""
    if isinstance(label, (list, tuple)):
        return json.dumps(list(label), ensure_ascii=False)
    return label


def decode_label(stored: str | None):
    """Return a stored label as a string, or a list of strings for a multi-label row."""
    if stored and stored.startswith("[") and stored.endswith("]"):
        try:
            value = json.loads(stored)
        except ValueError:
            return stored
        if isinstance(value, list):
            return [str(v) for v in value]
    return stored


def agrees(predicted, label) -> bool | None:
    """Return whether a prediction matches a label (label sets for multi-label), None without a prediction."""
    if predicted is None:
        return None

    def as_set(v):
        return set(v) if isinstance(v, (list, tuple)) else {v}

    return as_set(predicted) == as_set(label)
