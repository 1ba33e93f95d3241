"""Metrics for a model on labelled texts: accuracy, macro-F1, per-class, confusion."""

from __future__ import annotations

import numpy as np

from vecclf.training.data import Dataset
from vecclf.training.errors import DataError


def check_known_labels(dataset: Dataset, classes, column: str) -> None:
    """Raise DataError naming the first row whose label the model does not know."""
    known = set(str(c) for c in classes)
    for row, lab in zip(dataset.rows, dataset.labels or []):
        labs = lab if isinstance(lab, tuple) else (lab,)
        for one in labs:
            if one not in known:
                raise DataError(
                    f"{dataset.path}: row {row}: column {column!r} has label {one!r}, which the model does not know "
                    f"(it knows: {', '.join(sorted(known))})"
                )


def check_label_kind(dataset: Dataset, multilabel: bool, column: str) -> None:
    """Raise DataError when multi-label rows meet a single-label model."""
    if multilabel or not dataset.multilabel:
        return
    for row, lab in zip(dataset.rows, dataset.labels or []):
        if len(lab) > 1:
            raise DataError(
                f"{dataset.path}: row {row}: column {column!r} holds several labels ({'|'.join(lab)}), "
                f"but the model was trained with one label per text"
            )


def metrics(y_true, y_pred, classes, multilabel: bool = False) -> dict:
    """Return a JSON-ready metrics dict for true and predicted labels."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    classes = [str(c) for c in classes]
    if multilabel:
        from sklearn.preprocessing import MultiLabelBinarizer

        mlb = MultiLabelBinarizer(classes=classes)
        t = mlb.fit_transform([tuple(x) for x in y_true])
        p = mlb.transform([tuple(x) for x in y_pred])
        prec, rec, f1, sup = precision_recall_fscore_support(t, p, zero_division=0)
        out = {
            "accuracy": float(accuracy_score(t, p)),
            "macro_f1": float(f1_score(t, p, average="macro", zero_division=0)),
            "micro_f1": float(f1_score(t, p, average="micro", zero_division=0)),
            "hamming_loss": float(np.mean(t != p)),
        }
    else:
        t = [str(x) for x in y_true]
        p = [str(x) for x in y_pred]
        prec, rec, f1, sup = precision_recall_fscore_support(t, p, labels=classes, zero_division=0)
        out = {
            "accuracy": float(accuracy_score(t, p)),
            "macro_f1": float(f1_score(t, p, labels=classes, average="macro", zero_division=0)),
            "confusion_matrix": {"labels": classes,
                                 "matrix": confusion_matrix(t, p, labels=classes).astype(int).tolist()},
        }
    out["per_class"] = {c: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
                            "support": int(sup[i])} for i, c in enumerate(classes)}
    out["n"] = len(y_true)
    return out


def evaluate_model(model, dataset: Dataset, label_column: str = "label") -> dict:
    """Score ``model`` on a labelled dataset (labels must be known to the model)."""
    check_known_labels(dataset, model.classes_, label_column)
    check_label_kind(dataset, model.multilabel_, label_column)
    pred = model.predict(dataset.texts)
    truth = dataset.labels
    if dataset.multilabel and not model.multilabel_:
        truth = [lab[0] for lab in truth]  # every row holds one label (checked above)
    if model.multilabel_:
        truth = [lab if isinstance(lab, tuple) else (lab,) for lab in truth]
    return metrics(truth, list(pred), model.classes_, model.multilabel_)
