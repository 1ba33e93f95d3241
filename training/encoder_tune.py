"""``vecclf encoders finetune``: a sentence transformer fine-tuned on labelled texts, kept as a new encoder.

The accuracy mode's encoder block (``--encoder minilm``) uses the packaged
all-MiniLM-L6-v2 as it was pretrained: a general-purpose sentence embedding.
Fine-tuning it on the task's own labels moves the embedding towards what
separates those labels. The recipe is the usual one for BERT-like encoders
(Devlin et al. 2019 recommend 2-4 epochs at a learning rate of 2e-5 to 5e-5,
batches of 16 or 32):

- the encoder's mean-pooled output (the pooling it is served with), dropout
  0.1, and a linear layer with one output per label, trained end to end with
  cross-entropy;
- AdamW, learning rate :data:`LEARNING_RATE`, weight decay
  :data:`WEIGHT_DECAY` (not on biases and LayerNorm weights), batches of
  :data:`BATCH_SIZE`, a linear warm-up over the first :data:`WARMUP` of the
  steps then a linear decay to zero;
- :data:`DEFAULT_EPOCHS` passes over the rows (``--epochs``);
- texts truncated to ``--max-length`` WordPiece tokens (default
  :data:`MAX_LENGTH`; the new encoder keeps that limit when it is served, so
  training and serving see the same tokens); each batch is padded only to
  its longest text, and batches are cut from runs of similar lengths, so
  short sentences cost what short sentences cost.

The result is a normal sentence-transformer folder under
``<store>/encoders/<name>/``: the source's tokenizer and pooling files, the
new weights as ``model.safetensors`` (no pickle is written or read), and
``vecclf-encoder.json`` saying what it was tuned from and on. The linear head
is not kept: ``vecclf train --encoder <name>`` uses the tuned embedding as its
encoder block, beside the other features, like any encoder; bundles name it and
its sha256, never copy it. Writing goes to a temp folder renamed into place at
the end, so a failed or interrupted run leaves nothing that could be served.

torch, transformers and tokenizers (the extra ``vecclf[encoder]``) are needed
here and wherever a model that uses the tuned encoder embeds text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from vecclf.training import progress
from vecclf.training.errors import BundleError, DataError, NotFoundError, VecclfError, storage_error
from vecclf.training.leftovers import collect_quietly, temp_prefix
from vecclf.training.vectors.store import check_name

log = logging.getLogger(__name__)

DEFAULT_EPOCHS = 2
LEARNING_RATE = 3e-5
WEIGHT_DECAY = 0.01
BATCH_SIZE = 32
WARMUP = 0.1
DROPOUT = 0.1
MAX_LENGTH = 128
# Batches are cut from runs of this many batches' rows sorted by length: little padding, still shuffled.
RUN_BATCHES = 50
MANIFEST = "vecclf-encoder.json"
# Files of the source folder not copied: its weights (written anew), formats we do not serve, and its model card
# and training-data list, which describe the source, not the tuned encoder.
WEIGHT_SUFFIXES = (".bin", ".safetensors", ".onnx", ".h5", ".msgpack", ".ot", ".pt", ".pth", ".ckpt")
NOT_COPIED = ("config.json", MANIFEST, "README.md", ".gitattributes", "data_config.json")
SKIPPED_DIRS = ("onnx", "openvino", "__pycache__")
# Names --encoder reads as something else.
RESERVED_NAMES = ("none", "auto", "minilm")


def encoders_root(store) -> Path:
    """Return the folder of a store's tuned encoders."""
    return Path(store) / "encoders"


def list_encoders(store) -> list[dict]:
    """Return the tuned encoders of ``store``: their manifests, each with ``used_by`` (the versions naming it)."""
    root = encoders_root(store)
    found = []
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            try:
                entry = json.loads((folder / MANIFEST).read_text("utf-8"))
            except (OSError, ValueError):
                entry = {"name": folder.name, "error": f"{MANIFEST} is missing or unreadable"}
            found.append({**entry, "used_by": versions_using(store, folder.name)})
    return found


def remove_encoder(store, name: str) -> dict:
    """Remove tuned encoder ``name`` unless a model version names it; return what was removed."""
    folder = encoders_root(store) / check_name(name, "encoder name")
    if not folder.is_dir():
        raise NotFoundError(f"no tuned encoder {name!r} in {encoders_root(store)}")
    users = versions_using(store, name)
    if users:
        raise VecclfError(f"encoder {name!r} is used by {', '.join(users[:5])}; remove or prune those versions first")
    doomed = folder.with_name(temp_prefix(name) + "deleting")  # store gc takes it if this process dies here
    folder.rename(doomed)  # readers see it whole or not at all
    shutil.rmtree(doomed, ignore_errors=True)
    return {"removed": name}


def remove_unused(store, model: str, min_age: float = 86400.0) -> list[str]:
    """Remove the encoders ``train --tune-encoder`` made for ``model`` that no version names, if older than ``min_age``.

    The age keeps an encoder a concurrent training run has just tuned, and not yet saved a version with.
    """
    root = encoders_root(store)
    removed = []
    if not root.is_dir():
        return removed
    for folder in sorted(root.glob(f"{model}-*")):
        suffix = folder.name[len(model) + 1 :]
        if len(suffix) != 12 or any(c not in "0123456789abcdef" for c in suffix):
            continue
        if time.time() - folder.stat().st_mtime < min_age or versions_using(store, folder.name):
            continue
        try:
            remove_encoder(store, folder.name)
        except VecclfError:
            continue
        removed.append(folder.name)
    return removed


def versions_using(store, name: str) -> list[str]:
    """Return the model versions (``model/vN``) of ``store`` whose bundle uses tuned encoder ``name``.

    A version uses it if it names it, or names any encoder with its sha256 (the folder given by its path, say).
    """
    from vecclf.training.encoder import fingerprint
    from vecclf.training.registry import ModelRegistry

    folder = encoders_root(store) / name
    sha = fingerprint(folder) if folder.is_dir() else None
    registry = ModelRegistry(store)
    found = []
    for model in registry.models():
        for version in registry.versions(model):
            try:
                recorded = registry.manifest(model, version).get("encoder") or {}
            except VecclfError:
                continue  # a damaged bundle does not load anyway
            if recorded.get("name") == name or (sha is not None and recorded.get("sha256") == sha):
                found.append(f"{model}/{version}")
    return found


def finetune_encoder(store, name: str, data: str, *, source: str = "minilm", epochs: int = DEFAULT_EPOCHS,
                     text_column: str = "text", label_column: str = "label", data_format: str = "auto",
                     max_length: int = MAX_LENGTH, seed: int = 0, threads: int | None = None,
                     force: bool = False) -> dict:
    """Fine-tune encoder ``source`` on the labelled ``data``; write it as encoder ``name``; return its manifest.

    Raises:
        DataError: bad settings, or data that cannot train (one class, multi-label rows).
        VecclfError: ``name`` is taken and ``force`` is not given.
        NotFoundError: the source encoder or the libraries to run it are not installed.
    """
    from vecclf.training.data import read_dataset
    from vecclf.training.encoder import describe
    from vecclf.training.train import check_trainable, file_fingerprint

    name = check_name(name, "encoder name")
    if name in RESERVED_NAMES:
        raise DataError(f"encoder name {name!r} is taken by --encoder itself; choose another")
    check_settings(epochs, max_length, threads)
    root = encoders_root(store)
    final = root / name
    if final.exists() and not force:
        raise VecclfError(f"encoder {name!r} already exists at {final} (use --force to replace it)")
    if final.exists():
        users = versions_using(store, name)
        if users:
            raise VecclfError(f"encoder {name!r} is used by {', '.join(users[:5])}"
                              + (f" and {len(users) - 5} more" if len(users) > 5 else "")
                              + "; those would no longer load: tune under a new name, or remove them first")
    folder, origin = source_of(source, store)
    progress.step(f"reading {data}")
    ds = read_dataset(data, text_column=text_column, label_column=label_column, fmt=data_format)
    check_trainable(ds, label_column)
    if ds.multilabel:
        raise DataError(f"{data}: rows with several labels; fine-tuning takes one label a row")
    info = {"path": str(Path(data).resolve()), "sha256": file_fingerprint(data), "rows": len(ds),
            "encoding": ds.encoding}
    manifest = tune_rows(folder, origin, root, name, ds.texts, ds.labels, info, epochs=epochs, max_length=max_length,
                         seed=seed, threads=threads, replace=force, store=store)
    progress.step(f"encoder {name!r} written to {final}")
    return {**manifest, "path": str(final), "sha256": describe(name, store)["sha256"]}


class Tuning:
    """``train --tune-encoder``: encoder ``source`` fine-tuned on each training part, with the command's defaults.

    :meth:`fold` tunes on an outer fold's training rows into a temp folder (the previous fold's is removed
    first), so ``--cv`` scores rows the encoder never saw; :meth:`final` tunes on the model's training rows
    into the store as ``<model>-<digest>``, the digest covering the rows, the source and the settings: a
    rerun on the same rows finds it and does not tune again. :meth:`close` removes the folds' temp folder.
    """

    def __init__(self, store, source: str, model: str, *, seed: int = 0, threads: int | None = None):
        self.store, self.model, self.seed, self.threads = store, model, seed, threads
        check_name(f"{model}-{'0' * 12}", "model name (with the tuned encoder's digest)")  # before hours of work
        self.folder, self.origin = source_of(source, store)
        self._tmp: Path | None = None
        self._folds = 0

    def close(self) -> None:
        """Remove the folds' temp encoders (the store's stays)."""
        if self._tmp is not None:
            self._forget_folds()
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _forget_folds(self) -> None:
        from vecclf.training.encoder import forget

        for old in self._tmp.iterdir():
            forget(old)
            shutil.rmtree(old, ignore_errors=True)

    def fold(self, texts: list[str], labels: list) -> str:
        """Tune on one fold's training rows; return the folder of the tuned encoder."""
        if self._tmp is None:  # in the store, named so that store gc takes it if this process dies
            root = encoders_root(self.store)
            try:
                root.mkdir(parents=True, exist_ok=True)
                self._tmp = Path(tempfile.mkdtemp(prefix=temp_prefix("folds"), dir=root))
            except OSError as exc:
                raise storage_error(exc, root) from exc
        self._forget_folds()
        self._folds += 1
        name = f"fold-{self._folds}"
        tune_rows(self.folder, self.origin, self._tmp, name, texts, labels, {"rows": len(texts)}, seed=self.seed,
                  threads=self.threads)
        return str(self._tmp / name)

    def final(self, texts: list[str], labels: list, data: str, data_sha256: str | None = None) -> str:
        """Tune on the model's training rows into the store; return the encoder's name.

        ``data``, ``data_sha256``: the file the rows come from, as the encoder's manifest records it.
        """
        digest = hashlib.sha256(json.dumps([self.origin["sha256"], DEFAULT_EPOCHS, MAX_LENGTH, LEARNING_RATE,
                                            BATCH_SIZE, self.seed, list(texts), [str(y) for y in labels]]).encode())
        name = check_name(f"{self.model}-{digest.hexdigest()[:12]}", "encoder name")
        folder = encoders_root(self.store) / name
        if not (folder / MANIFEST).is_file():
            try:
                tune_rows(self.folder, self.origin, encoders_root(self.store), name, texts, labels,
                          {"path": str(Path(data).resolve()), "sha256": data_sha256, "rows": len(texts),
                           "rows_sha256": digest.hexdigest()}, seed=self.seed, threads=self.threads, store=self.store)
                progress.step(f"encoder {name!r} written to {folder}")
                return name
            except Taken:
                pass  # another run tuned on the same rows meanwhile: use theirs, so their version keeps loading
        progress.step(f"encoder {name!r}: tuned on these rows already, reused")
        try:
            os.utime(folder)  # in use again: the nightly clean-up counts a day from now
        except OSError:
            pass
        return name


def check_settings(epochs: int, max_length: int, threads: int | None = None) -> None:
    """Raise DataError for an epoch count, a length limit or a thread count out of range."""
    if threads is not None and threads < 1:
        raise DataError(f"--threads must be at least 1, not {threads}")
    if epochs < 1 or epochs > 20:
        raise DataError(f"--epochs must be between 1 and 20, not {epochs}")
    if max_length < 8 or max_length > 512:
        raise DataError(f"--max-length must be between 8 and 512, not {max_length}")


def source_of(source: str, store) -> tuple[Path, dict]:
    """Return the folder and the :func:`~vecclf.training.encoder.describe` entry of encoder ``source``.

    Raises NotFoundError (exit 3, as ``train --encoder``) when it or the libraries to run it are missing.
    """
    from vecclf.training.encoder import describe, locate

    try:
        return locate(source, store), describe(source, store)
    except BundleError as exc:
        raise NotFoundError(str(exc)) from exc


def tune_rows(folder: Path, origin: dict, root: Path, name: str, texts: list[str], labels: list, data: dict, *,
              epochs: int = DEFAULT_EPOCHS, max_length: int = MAX_LENGTH, seed: int = 0,
              threads: int | None = None, replace: bool = False, store=None) -> dict:
    """Fine-tune the encoder at ``folder`` on (texts, labels); publish it as ``root/name``; return its manifest.

    ``origin``: the source's describe() entry; ``data``: what the manifest says of the rows (path, sha256, rows).
    The folder is built in a temp folder beside it and renamed into place. A folder of that name that appeared
    meanwhile is kept (:class:`Taken` is raised) unless ``replace``; then it is replaced unless a version of
    ``store`` uses it by then.
    """
    if any(isinstance(y, (list, tuple)) for y in labels):
        raise DataError(f"{data.get('path')}: rows with several labels; fine-tuning takes one label a row")
    classes = sorted({str(y) for y in labels})
    started = time.monotonic()
    try:
        root.mkdir(parents=True, exist_ok=True)
        if store is not None:
            collect_quietly(store)  # what killed runs left
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(name), dir=root))
    except OSError as exc:
        raise storage_error(exc, root) from exc
    try:
        losses = _train(folder, tmp, texts, [classes.index(str(y)) for y in labels], len(classes), epochs=epochs,
                        max_length=max_length, seed=seed, threads=threads or os.cpu_count() or 1)
        _copy_support_files(folder, tmp, max_length)
        manifest = {
            "name": name, "source": origin, "labels": classes, "epochs": epochs, "max_length": max_length,
            "learning_rate": LEARNING_RATE, "batch_size": BATCH_SIZE, "seed": seed,
            "epoch_loss": [round(x, 4) for x in losses], "seconds": round(time.monotonic() - started, 1),
            "data": data, "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
        _publish(tmp, root / name, replace=replace, store=store)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, VecclfError):
            raise storage_error(exc, root) from exc
        raise
    return manifest


def _batches(lengths: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Return one epoch's batches of row indices: shuffled, cut from length-sorted runs, in shuffled order."""
    order = rng.permutation(len(lengths))
    run = BATCH_SIZE * RUN_BATCHES
    batches = []
    for a in range(0, len(order), run):
        part = order[a : a + run]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[b : b + BATCH_SIZE] for b in range(0, len(part), BATCH_SIZE))
    return [batches[i] for i in rng.permutation(len(batches))]


def _train(folder: Path, out: Path, texts: list[str], y: list[int], n_classes: int, *, epochs: int, max_length: int,
           seed: int, threads: int) -> list[float]:
    """Fine-tune the encoder at ``folder`` with a linear head; save its weights to ``out``; return each epoch's loss."""
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    from vecclf.training.encoder import mean_pooled, padded

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    ids = [e.ids for e in tokenizer.encode_batch(texts)]
    lengths = np.array([len(i) for i in ids])
    labels = torch.tensor(y, dtype=torch.long)
    model = AutoModel.from_pretrained(str(folder))
    model.train()
    head = torch.nn.Sequential(torch.nn.Dropout(DROPOUT), torch.nn.Linear(model.config.hidden_size, n_classes))
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    optimizer = torch.optim.AdamW([{"params": decay + list(head.parameters()), "weight_decay": WEIGHT_DECAY},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=LEARNING_RATE)
    steps = epochs * math.ceil(len(texts) / BATCH_SIZE)
    warm = max(1, int(WARMUP * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warm if s < warm else max(0.0, (steps - s) / max(1, steps - warm)))
    losses = []
    with progress.bar(steps, f"fine-tuning on {len(texts):,} texts, {epochs} epochs", unit="batches") as bar:
        for epoch in range(epochs):
            total, seen = 0.0, 0
            for batch in _batches(lengths, rng):
                pooled = mean_pooled(model, *padded([ids[i] for i in batch]))  # as the encoder serves it
                loss = torch.nn.functional.cross_entropy(head(pooled), labels[batch])
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                total += float(loss.detach()) * len(batch)
                seen += len(batch)
                bar.update(1)
            losses.append(total / seen)
            progress.step(f"epoch {epoch + 1} of {epochs}: mean loss {losses[-1]:.4f}")
    model.eval()
    model.save_pretrained(str(out), safe_serialization=True)
    return losses


def _copy_support_files(source: Path, out: Path, max_length: int) -> None:
    """Copy the source folder's tokenizer and pooling files (not its weights); record the new length limit."""
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if (not path.is_file() or path.suffix in WEIGHT_SUFFIXES or rel.as_posix() in NOT_COPIED
                or any(part in SKIPPED_DIRS for part in rel.parts)):
            continue
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out / rel)
    config = out / "sentence_bert_config.json"
    settings = json.loads(config.read_text("utf-8")) if config.is_file() else {}
    settings["max_seq_length"] = max_length
    config.write_text(json.dumps(settings, indent=2) + "\n", "utf-8")


class Taken(VecclfError):
    """An encoder of that name appeared while this one was being tuned (another run published it first)."""


def _publish(tmp: Path, final: Path, *, replace: bool = False, store=None) -> None:
    """Move the finished folder into place; an existing one only with ``replace``, and only if no version uses it.

    The folder and its files become readable by all, as an imported vector store is: a service may run as
    another user than the one who tuned the encoder.
    """
    for path in [tmp, *tmp.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    old = None
    if final.exists():
        if not replace:
            raise Taken(f"encoder {final.name!r} was written by another run meanwhile; this run's is dropped")
        users = versions_using(store, final.name) if store is not None else []
        if users:
            raise VecclfError(f"encoder {final.name!r} is used by {', '.join(users[:5])} by now; this run's is "
                              "dropped: tune under a new name")
        old = final.with_name(temp_prefix(final.name) + "old")
        final.rename(old)
    try:
        tmp.rename(final)  # fails if a folder of that name appeared since the check: never merged into it
    except OSError as exc:
        if old is not None:
            old.rename(final)
        if final.exists():
            raise Taken(f"encoder {final.name!r} was written by another run meanwhile; this run's is dropped") from exc
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
