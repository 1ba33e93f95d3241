"""Train a model from a data file: read, split, select, fit, evaluate, save."""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np

from vecclf.training import progress
from vecclf.training.data import Dataset, read_dataset
from vecclf.training.errors import BundleError, DataError, NotFoundError
from vecclf.training.evaluate import check_known_labels, check_label_kind, evaluate_model, metrics
from vecclf.training.model import TextModel
from vecclf.training.registry import ModelRegistry
from vecclf.training.vectors.store import open_store


def file_fingerprint(path: str | os.PathLike) -> str:
    """Return the sha256 of a data file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_trainable(ds: Dataset, label_column: str) -> None:
    """Raise DataError when ``ds`` cannot train a classifier."""
    classes = ds.classes()
    if len(classes) < 2:
        only = classes[0] if classes else "none"
        raise DataError(f"{ds.path}: column {label_column!r} has a single class ({only!r}); need at least two to train")


def resolve_class_weight(labels, requested: str) -> str | None:
    """Map ``auto|balanced|none`` to sklearn's class_weight (auto: balanced if the largest class is 3x the smallest)."""
    if requested == "balanced":
        return "balanced"
    if requested == "none":
        return None
    counts = Counter(lab for labs in labels for lab in (labs if isinstance(labs, tuple) else (labs,)))
    return "balanced" if max(counts.values()) >= 3 * min(counts.values()) else None


def split(ds: Dataset, test_size: float, seed: int):
    """Return (train_idx, test_idx), stratified when every class has two or more rows."""
    from sklearn.model_selection import train_test_split

    if not 0 < test_size < 1:
        raise DataError(f"--test-size must be between 0 and 1, got {test_size}")
    idx = np.arange(len(ds))
    strat = None
    if not ds.multilabel:
        counts = Counter(ds.labels)
        if min(counts.values()) >= 2 and int(len(ds) * test_size) >= len(counts):
            strat = ds.labels
    train_idx, test_idx = train_test_split(idx, test_size=test_size, random_state=seed, stratify=strat)
    if not ds.multilabel:
        # Without stratification a rare class can land wholly in the test part; the model could then
        # never predict it and evaluation would fail on an "unknown" label. Keep one row of it for training.
        seen = {ds.labels[i] for i in train_idx}
        moved = []
        for i in test_idx:
            if ds.labels[i] not in seen:
                seen.add(ds.labels[i])
                moved.append(i)
        if moved:
            train_idx = np.concatenate([train_idx, moved])
            test_idx = np.asarray([i for i in test_idx if i not in set(moved)], dtype=test_idx.dtype)
    if len(test_idx) == 0:
        raise DataError(f"{ds.path}: {len(ds)} rows are too few to hold out a test part; pass --test FILE or --cv K")
    return train_idx, test_idx


def subset(ds: Dataset, idx) -> Dataset:
    """Return the rows ``idx`` of ``ds`` as a new Dataset."""
    return Dataset(ds.path, [ds.texts[i] for i in idx], [ds.labels[i] for i in idx], ds.encoding, ds.fmt,
                   ds.multilabel, 0, [ds.rows[i] for i in idx])


def train(
    *,
    store: str,
    name: str,
    data: str,
    vectors: str = "glove-6b-50d",
    text_column: str = "text",
    label_column: str = "label",
    data_format: str = "auto",
    test: str | None = None,
    test_size: float | None = None,
    cv: int | None = None,
    features: str = "auto",
    classifier: str = "logreg",
    C: float | None = None,
    class_weight: str = "auto",
    seed: int = 0,
    promote: bool = False,
    budget: float | None = None,
    unlabelled: list[str] | None = None,
    jobs: int = 1,
    encoder: str | None = None,
    tune_encoder: bool = False,
) -> dict:
    """Train, evaluate and save a new version of model ``name``; return the report.

    ``unlabelled`` files fine-tune ``vectors`` first (:func:`~vecclf.training.vectors.finetune.finetuned_for_training`);
    the model then uses the fine-tuned store. ``jobs`` processes or threads work side by side (selection's
    classifier fits, feature blocks). ``encoder`` (``minilm``, a folder, ``auto``: minilm if installed, or
    ``none``) adds a sentence encoder's block (:mod:`vecclf.training.features.encoded`); ``tune_encoder``
    fine-tunes it on the training rows first (:class:`~vecclf.training.encoder_tune.Tuning`: with ``cv``, on each
    outer fold's training rows too).
    """
    from vecclf.training.encoder import describe, resolve

    started = time.monotonic()
    encoder = resolve(encoder)
    tuned_on = None
    if tune_encoder and encoder is None:
        raise DataError("--tune-encoder needs --encoder: the encoder to start from (minilm, say)")
    if encoder is not None:
        if classifier == "fasttext":
            raise DataError("--encoder does not go with --classifier fasttext (fastText builds its own features)")
        try:
            tuned_on = describe(encoder, store).get("tuned_on")  # a missing encoder fails before the data is read
        except BundleError as exc:
            raise NotFoundError(str(exc)) from exc
    registry = ModelRegistry(store)
    registry.model_dir(name)  # validates the name before any work
    vstore = open_store(store, vectors)
    progress.step(f"reading {data}")
    ds = read_dataset(data, text_column=text_column, label_column=label_column, fmt=data_format)
    check_trainable(ds, label_column)
    progress.step(f"read {len(ds):,} rows, {len(ds.classes())} labels (encoding {ds.encoding}, "
                  f"{ds.skipped_blank} blank skipped)")
    if sum(x is not None for x in (test, test_size, cv)) > 1:
        raise DataError("give at most one of --test, --test-size and --cv")
    test_ds = None
    if test is not None:
        test_ds = read_dataset(test, text_column=text_column, label_column=label_column, fmt=data_format)
        check_known_labels(test_ds, ds.classes(), label_column)
        check_label_kind(test_ds, ds.multilabel, label_column)
        train_ds = ds
    elif cv is not None:
        train_ds = ds
        cv_folds(ds, cv, seed)  # refuse a bad K before any work
    else:
        train_idx, test_idx = split(ds, test_size if test_size is not None else 0.2, seed)
        train_ds, test_ds = subset(ds, train_idx), subset(ds, test_idx)
        check_trainable(train_ds, label_column)
    finetuned = None
    if unlabelled:  # last, so a mistake in the other arguments fails before the long part
        from vecclf.training.vectors.finetune import finetuned_for_training

        finetuned = finetuned_for_training(store, vstore.name, unlabelled, text_column=text_column, seed=seed)
        vstore = open_store(store, finetuned["name"])

    tuning = None
    if tune_encoder:
        from vecclf.training.encoder_tune import Tuning

        tuning = Tuning(store, encoder, name, seed=seed, threads=jobs)

    def choose(part: Dataset, shared=None, final: bool = False) -> tuple[dict, dict]:
        # The whole choice in one place: --cv repeats it inside every fold, the model takes it on all the rows.
        spec = encoder
        if tuning is not None:
            spec = tuning.final(part.texts, part.labels, data, file_fingerprint(data)) if final else tuning.fold(part.texts, part.labels)
        return choose_training(part, vstore=vstore, store=store, features=features, classifier=classifier, C=C,
                               class_weight=class_weight, seed=seed, budget=budget, jobs=jobs,
                               encoder=spec, shared=shared)

    report: dict = {}
    if cv is not None:
        try:
            report["metrics"] = cross_validate(train_ds, choose, cv, seed)
        finally:
            if tuning is not None:
                tuning.close()  # the folds' encoders
    shared = shared_blocks(train_ds.texts) if features == "auto" and classifier != "fasttext" else None
    config, selection = choose(train_ds, shared, final=True)
    progress.step(f"fitting {_describe(config)} on {len(train_ds):,} rows")
    import_bundle_writer_aside()
    model = TextModel(**config).fit(train_ds.texts, train_ds.labels, shared=shared)
    if test_ds is not None:
        progress.step(f"evaluating on {len(test_ds):,} held-out rows")
        report["metrics"] = evaluate_model(model, test_ds, label_column)
    seen = seen_by_encoder(tuned_on, test if test is not None else data)
    if seen:
        progress.step(seen)
    name_vectors(model, vstore.name)
    manifest = {
        "labels": [str(c) for c in model.classes_],
        "multilabel": bool(model.multilabel_),
        "metrics": report["metrics"],
        "evaluation": "cv" if cv is not None else ("test-file" if test is not None else "holdout"),
        "data": {"path": str(Path(data).resolve()), "sha256": file_fingerprint(data), "rows": len(ds),
                 "encoding": ds.encoding, "format": ds.fmt, "skipped_blank": ds.skipped_blank,
                 "text_column": text_column, "label_column": label_column},
        "test_data": ({"path": str(Path(test).resolve()), "sha256": file_fingerprint(test), "rows": len(test_ds)}
                      if test is not None else None),
        "vectors": vectors_entry(vstore),
        **({"encoder": encoders_entry(model)} if encoder is not None else {}),
        "config": {k: v for k, v in config.items() if k not in ("vectors", "store", "n_jobs")},
        "selection": selection,
        "n_train": len(train_ds),
        "n_test": len(test_ds) if test_ds is not None else 0,
        "finetuned": {"base": vectors, "corpus": vstore.manifest["corpus"]} if finetuned else None,
        **({"evaluation_warning": seen} if seen else {}),
    }
    version, current = registry.save(name, model, manifest, promote=promote)
    progress.step(f"saved {name} {version}{' (current)' if current else ''}, "
                  f"accuracy {100 * report['metrics']['accuracy']:.1f} %")
    return {
        "model": name,
        "version": version,
        "current": current,
        "metrics": report["metrics"],
        "n_train": len(train_ds),
        "n_test": manifest["n_test"],
        "encoding": ds.encoding,
        "config": manifest["config"],
        "selection": selection,
        "vectors": vstore.name,
        **({"finetuned": finetuned} if finetuned else {}),
        **({"evaluation_warning": seen} if seen else {}),
        "seconds": round(time.monotonic() - started, 2),
    }


def import_bundle_writer_aside() -> None:
    """Import the bundle writer (skops, which imports every scikit-learn estimator: about 2 s of CPU) in a thread.

    Started before the final fit, whose solver runs without the interpreter lock, so the import takes the core
    the fit leaves idle; saving the bundle then finds it imported, or waits for the import to end. SST-2, train
    with --features auto, 4 runs each in turn at load 1.3-1.5: median 9.0 s against 9.5 s without.
    """
    import threading

    from vecclf.training.bundle import skops_io

    threading.Thread(target=skops_io, daemon=True, name="import-skops").start()


def _describe(config: dict) -> str:
    if config.get("classifier") == "fasttext":
        return "fastText's classifier"
    return f"{config.get('features')} features, {config.get('classifier')} C={config.get('C')}"


def choose_training(train_ds: Dataset, *, vstore, store: str, features: str = "auto", classifier: str = "logreg",
                    C: float | None = None, class_weight: str = "auto", seed: int = 0,
                    budget: float | None = None, jobs: int = 1, encoder: str | None = None,
                    shared=None) -> tuple[dict, dict]:
    """Return ``(TextModel params, selection report)`` for ``train_ds``: fixed, or chosen by ``--features auto``.

    ``jobs`` processes or threads work side by side, in the search and in the model's fit (``n_jobs``).
    ``shared`` (:func:`shared_blocks` of the texts) keeps the search's label-free work for the final fit.
    """
    from vecclf.training.selection import choose_config

    if classifier == "fasttext":
        # fastText builds its own features; there is nothing for --features auto to choose.
        config = {"vectors": str(vstore.path), "store": store, "classifier": classifier, "seed": seed}
        return config, {"mode": "fixed", "classifier": "fasttext"}
    cw = resolve_class_weight(train_ds.labels, class_weight)
    if features == "auto":
        progress.step(f"choosing features and C on {len(train_ds):,} training rows"
                      + (f" (budget {budget:g} s)" if budget is not None else ""))
    config, selection = choose_config(train_ds.texts, train_ds.labels, vectors=str(vstore.path), store=store,
                                      features=features, classifier=classifier, C=C, class_weight=cw, seed=seed,
                                      budget=budget, multilabel=train_ds.multilabel, jobs=jobs, encoder=encoder,
                                      shared=shared)
    return {**config, "n_jobs": jobs}, selection


def shared_blocks(texts: list[str]):
    """Return an empty :class:`~vecclf.training.features.shared.SharedBlocks` of ``texts`` for the search and then
    ``TextModel.fit``, so the final fit reuses the search's label-free work (tokens, n-grams, pooled vectors);
    None where the search samples the rows (it then keeps its own, of the sample)."""
    from vecclf.training.features.shared import SharedBlocks
    from vecclf.training.selection import MAX_SELECTION_ROWS

    return SharedBlocks(texts) if len(texts) <= MAX_SELECTION_ROWS else None


def vectors_entry(vstore) -> dict:
    """Return the manifest's record of the vector store a model was trained on."""
    return {"name": vstore.name, "sha256": vstore.sha256, "dim": vstore.dim, "lowercase": vstore.lowercase}


def seen_by_encoder(tuned_on: dict | None, evaluated: str | os.PathLike) -> str | None:
    """Return a warning when the rows scored (``evaluated``'s file) are the file a tuned encoder learnt from."""
    if not tuned_on or tuned_on.get("sha256") != file_fingerprint(evaluated):
        return None
    return (f"warning: the encoder was fine-tuned on {tuned_on.get('path')}, the same file these metrics score, "
            "so they are optimistic; give --test a file the encoder has not seen")


def encoders_entry(model: TextModel) -> dict | None:
    """Return the manifest's record of the model's sentence encoder (name, package, version, sha256, width)."""
    from vecclf.training.features.encoded import encoders_of

    found = encoders_of(model)
    return found[0].encoder_ if found else None


def name_vectors(model: TextModel, name: str) -> None:
    """Record the store *name* (not this machine's path) in every embedder; call after the last prediction."""
    from vecclf.training.bundle import point_at_store

    store = model.store
    point_at_store(model, store, Path(name))
    model.vectors = name


def cv_folds(ds: Dataset, k: int, seed: int) -> list:
    """Return the ``(train, test)`` row indices of K-fold CV on ``ds`` (stratified for single-label data)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if k < 2:
        raise DataError(f"--cv needs at least 2 folds, got {k}")
    if ds.multilabel:
        return list(KFold(n_splits=k, shuffle=True, random_state=seed).split(ds.texts))
    smallest = min(Counter(ds.labels).values())
    if smallest < k:
        raise DataError(f"{ds.path}: --cv {k} needs at least {k} rows of every class; the smallest class has {smallest}")
    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(ds.texts, ds.labels))


def cross_validate(ds: Dataset, choose, k: int, seed: int) -> dict:
    """Return nested K-fold CV metrics of the whole training procedure on ``ds``.

    ``choose(part)`` returns ``(TextModel params, selection report)`` for a
    Dataset, as :func:`choose_training` does; it runs on each fold's training
    rows only, so the held-out rows take no part in the choice they score.
    ``accuracy`` is the mean fold accuracy; ``fold_choices`` lists what each
    fold's selection chose.
    """
    folds = cv_folds(ds, k, seed)
    labels = ds.labels
    accs, f1s, choices, all_true, all_pred = [], [], [], [], []
    for fold, (tr, te) in enumerate(folds, start=1):
        part = subset(ds, tr)
        where = f"outer fold {fold} of {k}"
        progress.step(f"cross-validation: {where}: choosing and fitting on {len(tr):,} rows, scoring {len(te):,}")
        with progress.prefixed(where):
            config, selection = choose(part)
            model = TextModel(**config).fit(part.texts, part.labels)
        pred = list(model.predict([ds.texts[i] for i in te]))
        truth = [labels[i] for i in te]
        m = metrics(truth, pred, model.classes_, ds.multilabel)
        accs.append(m["accuracy"])
        f1s.append(m["macro_f1"])
        choices.append(fold_choice(selection))
        all_true += truth
        all_pred += pred
        progress.step(f"cross-validation: {where}: accuracy {m['accuracy']:.4f} with {_describe(config)}")
    progress.step(f"cross-validation: accuracy {np.mean(accs):.4f} ± {np.std(accs):.4f} over {k} folds")
    classes = ds.classes()
    out = metrics(all_true, all_pred, classes, ds.multilabel)
    out.update({"accuracy": float(np.mean(accs)), "macro_f1": float(np.mean(f1s)), "folds": k,
                "fold_accuracy": [float(a) for a in accs], "accuracy_std": float(np.std(accs)),
                "fold_choices": choices})
    return out


def fold_choice(selection: dict) -> dict:
    """Return what a selection report says was chosen: ``features`` and ``C``, or the fixed classifier."""
    if "chosen" in selection:
        return dict(selection["chosen"])
    return {k: v for k, v in selection.items() if k != "mode"}
