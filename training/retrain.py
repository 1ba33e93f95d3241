"""``vecclf retrain``: the nightly job. Load, hold out, train, compare on one holdout, gate, save, prune.

Steps, under the model's lock (:mod:`vecclf.training.lock`):

1. ``load``: read every source of the config (:mod:`vecclf.training.label_sources`),
   deduplicate by text and validate, with the errors of ``vecclf train``;
2. ``split``: a stratified holdout of ``training.holdout`` of the rows;
3. ``train``: the candidate, on the rest (``features = "auto"`` chooses by CV);
4. ``evaluate``: the candidate and the current version on the same holdout;
5. ``checks``: the behavioural checks of ``vecclf check`` on the candidate;
6. ``save``: the candidate as a new version with its report inside, promoted
   only if the gate passed (:mod:`vecclf.training.gate`). A model's very
   first candidate that fails the gate is not saved: a model must never have
   versions but no current one;
7. ``retention``: keep the newest ``retention.keep`` versions, never the
   current one or the one before it.

Any error before ``save`` leaves the store as it was. The result is one JSON
object (see docs/retrain.md).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from pathlib import Path

from vecclf.training import progress
from vecclf.training.behaviour import check_model, read_suite
from vecclf.training.errors import ConfigError, VecclfError
from vecclf.training.gate import decide, score, summary
from vecclf.training.lock import model_lock
from vecclf.training.model import TextModel
from vecclf.training.registry import ModelRegistry
from vecclf.training.report import wrong_examples, write_report
from vecclf.training.retrain_config import RetrainConfig
from vecclf.training.label_sources import build_sources, merge
from vecclf.training.encoder import describe as describe_encoder
from vecclf.training.encoder import resolve as resolve_encoder
from vecclf.training.train import (
    check_trainable, choose_training, encoders_entry, name_vectors, shared_blocks, split, subset, vectors_entry,
)
from vecclf.training.vectors.store import open_store

STEPS = ("load", "split", "train", "evaluate", "checks", "save", "retention")


def _stratified(ds, fraction: float) -> bool:
    """Whether :func:`~vecclf.training.train.split` stratifies ``ds`` (its own rule)."""
    if ds.multilabel:
        return False
    counts = Counter(ds.labels)
    return min(counts.values()) >= 2 and int(len(ds) * fraction) >= len(counts)


class _Steps:
    """Time the job's steps; report each as one progress line when it ends (a bar of steps on a terminal)."""

    def __init__(self, model: str, total: int):
        self.model, self.seconds = model, {}
        self._bar = progress.bar(total, f"retrain {model}", unit="steps") if progress.mode() == "bars" else None

    @contextlib.contextmanager
    def step(self, name: str):
        """Time the ``with`` block; the dict it yields adds fields to the step's line. A failing step adds none."""
        info: dict = {}
        started = time.monotonic()
        yield info
        self.seconds[name] = round(time.monotonic() - started, 3)
        progress.step(f"retrain {self.model}: {name} done", job="retrain", model=self.model, step=name,
                      status="done", seconds=self.seconds[name], **info)
        if self._bar is not None:
            self._bar.update(1)

    def rows(self, desc: str):
        """Return a bar counting rows read (None off a terminal: the load step's line has the count)."""
        return progress.bar(None, desc, unit="rows") if self._bar is not None else None

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def retrain(cfg: RetrainConfig, *, store: str, wait: float = 0.0, database: str | None = None) -> dict:
    """Run the job of ``cfg`` on the model store ``store``; return the decision (see the module docs).

    Progress goes through :mod:`vecclf.training.progress`: one line per finished step (a JSON object in
    its ``json`` mode), under a bar of the steps on a terminal. ``database`` is vecclf's own database
    (feedback): None means the SQLite file in the store.

    Raises:
        BusyError: another retrain of the model still runs after ``wait`` seconds.
        ConfigError, DataError, NotFoundError, StorageError: nothing was changed.
    """
    started = time.monotonic()
    name, t, gate = cfg.model, cfg.training, cfg.gate
    steps = _Steps(name, len(STEPS) - (0 if gate.checks else 1))
    registry = ModelRegistry(store)
    registry.model_dir(name)  # a bad name fails before any work
    vstore = open_store(store, t.vectors)
    encoder = resolve_encoder(t.encoder)
    if encoder is not None:
        if t.classifier == "fasttext":
            raise ConfigError(f"{cfg.path}: training.encoder does not go with classifier = \"fasttext\"")
        describe_encoder(encoder, store)  # a missing encoder fails before the data is read
    elif t.tune_encoder:
        raise ConfigError(f"{cfg.path}: training.tune_encoder needs training.encoder (the encoder to start from)")
    suite = read_suite(gate.suite) if gate.checks and gate.suite else None
    try:
        with model_lock(store, name, wait):
            with steps.step("load") as info:
                sources = build_sources(cfg, store=store, database=database)
                rows = steps.rows("reading labelled rows")
                try:
                    ds, merged = merge(sources, rows.update if rows is not None else None)
                finally:
                    if rows is not None:
                        rows.close()
                check_trainable(ds, cfg.data.label_column)
                info.update(rows=len(ds), rows_by_source=merged["rows_by_source"], duplicates=merged["duplicates"])
            with steps.step("split") as info:
                train_idx, test_idx = split(ds, t.holdout, t.seed)
                train_ds, holdout = subset(ds, train_idx), subset(ds, test_idx)
                check_trainable(train_ds, cfg.data.label_column)
                info.update(train=len(train_ds), holdout=len(holdout))
            with steps.step("train") as info:
                shared = shared_blocks(train_ds.texts) if t.features == "auto" else None  # search's work, reused
                if t.tune_encoder:  # on the training part only: the holdout scores rows the encoder never saw
                    from vecclf.training.encoder_tune import Tuning

                    encoder = Tuning(store, encoder, name, seed=t.seed).final(train_ds.texts, train_ds.labels,
                                                                             cfg.path)
                    info.update(encoder=encoder)
                config, selection = choose_training(train_ds, vstore=vstore, store=store, features=t.features,
                                                    classifier=t.classifier, class_weight=t.class_weight,
                                                    seed=t.seed, budget=t.budget, encoder=encoder, shared=shared)
                model = TextModel(**config).fit(train_ds.texts, train_ds.labels, shared=shared)
                info.update(features=config.get("features"), C=config.get("C"))
            with steps.step("evaluate") as info:
                cand_metrics, cand_preds, cand_conf = score(model, holdout)
                before = registry.current(name)
                previous, prev_preds = None, None
                if before is not None:
                    try:
                        prev_model, _ = registry.load(name, before)
                        prev_metrics, prev_preds, _ = score(prev_model, holdout)
                        previous = {"version": before, "metrics": prev_metrics}
                        del prev_model
                    except VecclfError as exc:  # broken or incompatible: nothing to compare with
                        previous = {"version": before, "error": str(exc)}
                info.update(candidate=cand_metrics[gate.metric],
                            previous=(previous or {}).get("metrics", {}).get(gate.metric))
            checks = None
            if gate.checks:
                with steps.step("checks") as info:
                    checks = check_model(model, lowercase=vstore.lowercase, suite=suite,
                                         min_pass_rate=gate.min_pass_rate)
                    info["passed"] = checks["passed"]
            passed, reason, failures = decide(gate, {"metrics": cand_metrics}, previous, checks)
            decision = "promoted" if passed else "kept"
            version, report = None, None
            with steps.step("save") as info:
                if before is None and not passed:
                    reason = f"saved nothing (the model has no current version to keep): {reason.split(': ', 1)[1]}"
                else:
                    name_vectors(model, vstore.name)
                    errors, n_errors = wrong_examples(holdout.texts, list(holdout.labels), cand_preds, cand_conf,
                                                      prev_preds)
                    report_facts = {"model": name, "evaluation": "holdout", "metrics": cand_metrics,
                                    "current": previous, "decision": decision, "reason": reason,
                                    "sources": merged["rows_by_source"], "errors": errors, "n_errors": n_errors}

                    def add_report(folder: Path, new_version: str) -> None:
                        created = json.loads((folder / "manifest.json").read_text("utf-8"))["created_at"]
                        write_report(folder, {**report_facts, "version": new_version, "created_at": created})

                    manifest = {
                        "labels": [str(c) for c in model.classes_],
                        "multilabel": bool(model.multilabel_),
                        "metrics": cand_metrics,
                        "evaluation": "holdout",
                        "data": {"sources": [s.describe() for s in sources], "rows": len(ds),
                                 "sha256": merged["sha256"], "duplicates": merged["duplicates"],
                                 "conflicts": merged["conflicts"], "text_column": cfg.data.text_column,
                                 "label_column": cfg.data.label_column},
                        "test_data": None,
                        "vectors": vectors_entry(vstore),
                        **({"encoder": encoders_entry(model)} if encoder is not None else {}),
                        "config": {k: v for k, v in config.items() if k not in ("vectors", "store", "n_jobs")},
                        "selection": selection,
                        "n_train": len(train_ds),
                        "n_test": len(holdout),
                        "retrain": {"config": str(Path(cfg.path).resolve()), "decision": decision, "reason": reason,
                                    "previous": _brief(previous), "checks_passed": None if checks is None
                                    else checks["passed"]},
                    }
                    version, _ = registry.save(name, model, manifest, promote=passed, extras=add_report)
                    report = str(registry.model_dir(name).resolve() / version / "report" / "index.html")
                info.update(version=version, decision=decision)
            with steps.step("retention") as info:
                removed = registry.prune(name, cfg.keep) if version is not None else []
                info["removed"] = removed
                if t.tune_encoder:  # the tuned encoders no version names any more (a day old at least)
                    from vecclf.training.encoder_tune import remove_unused

                    info["removed_encoders"] = remove_unused(store, name)
    finally:
        steps.close()
    counts = merged["rows_by_source"]
    return {
        "model": name,
        "decision": decision,
        "reason": reason,
        "version": version,
        "current": registry.current(name),
        "candidate": {"version": version, "metrics": summary(cand_metrics)},
        "previous": _brief(previous),
        "gate": {"metric": gate.metric, "min_score": gate.min_score, "max_regression": gate.max_regression,
                 "checks": checks, "passed": passed, "failures": failures},
        "holdout": {"rows": len(holdout), "train_rows": len(train_ds), "fraction": t.holdout, "seed": t.seed,
                    "stratified": _stratified(ds, t.holdout)},
        "rows": len(ds),
        "rows_by_source": counts,
        "feedback_rows": counts.get("feedback", 0),
        "duplicates": merged["duplicates"],
        "conflicts": merged["conflicts"],
        "removed": removed,
        "report": report,
        "seconds": {**steps.seconds, "total": round(time.monotonic() - started, 3)},
    }


def _brief(previous: dict | None) -> dict | None:
    if previous is None or "metrics" not in previous:
        return previous
    return {"version": previous["version"], "metrics": summary(previous["metrics"])}
