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


def encoders_root(store) -> Path:
    """Return the folder of a store's tuned encoders."""
    return Path(store) / "encoders"


def list_encoders(store) -> list[dict]:
    """Return the tuned encoders of ``store``: name and what each was tuned from and on."""
    root = encoders_root(store)
    found = []
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            try:
                found.append(json.loads((folder / MANIFEST).read_text("utf-8")))
            except (OSError, ValueError):
                found.append({"name": folder.name, "error": f"{MANIFEST} is missing or unreadable"})
    return found


def versions_using(store, name: str) -> list[str]:
    """Return the model versions (``model/vN``) of ``store`` whose bundle names tuned encoder ``name``."""
    from vecclf.training.registry import ModelRegistry

    registry = ModelRegistry(store)
    found = []
    for model in registry.models():
        for version in registry.versions(model):
            try:
                recorded = registry.manifest(model, version).get("encoder") or {}
            except VecclfError:
                continue  # a damaged bundle does not load anyway
            if recorded.get("name") == name:
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
    from vecclf.training.encoder import describe, locate
    from vecclf.training.train import check_trainable, file_fingerprint

    name = check_name(name, "encoder name")
    if epochs < 1 or epochs > 20:
        raise DataError(f"--epochs must be between 1 and 20, not {epochs}")
    if max_length < 8 or max_length > 512:
        raise DataError(f"--max-length must be between 8 and 512, not {max_length}")
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
    try:
        folder = locate(source, store)
        origin = describe(source, store)
    except BundleError as exc:  # as `train --encoder`: a missing encoder or library is not found (exit 3)
        raise NotFoundError(str(exc)) from exc
    progress.step(f"reading {data}")
    ds = read_dataset(data, text_column=text_column, label_column=label_column, fmt=data_format)
    check_trainable(ds, label_column)
    if ds.multilabel:
        raise DataError(f"{data}: rows with several labels; fine-tuning takes one label a row")
    classes = ds.classes()
    started = time.monotonic()
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    except OSError as exc:
        raise storage_error(exc, root) from exc
    try:
        losses = _train(folder, tmp, ds.texts, [classes.index(y) for y in ds.labels], len(classes), epochs=epochs,
                        max_length=max_length, seed=seed, threads=threads or os.cpu_count() or 1)
        _copy_support_files(folder, tmp, max_length)
        manifest = {
            "name": name, "source": origin, "labels": classes, "epochs": epochs, "max_length": max_length,
            "learning_rate": LEARNING_RATE, "batch_size": BATCH_SIZE, "seed": seed,
            "epoch_loss": [round(x, 4) for x in losses], "seconds": round(time.monotonic() - started, 1),
            "data": {"path": str(Path(data).resolve()), "sha256": file_fingerprint(data), "rows": len(ds),
                     "encoding": ds.encoding},
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
        _publish(tmp, final)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, VecclfError):
            raise storage_error(exc, root) from exc
        raise
    progress.step(f"encoder {name!r} written to {final}")
    return {**manifest, "path": str(final), "sha256": describe(name, store)["sha256"]}


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
                width = int(lengths[batch].max())
                ids_t = torch.zeros((len(batch), width), dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for j, i in enumerate(batch):
                    ids_t[j, : lengths[i]] = torch.tensor(ids[i])
                    mask[j, : lengths[i]] = 1
                hidden = model(input_ids=ids_t, attention_mask=mask).last_hidden_state
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
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


def _publish(tmp: Path, final: Path) -> None:
    """Move the finished folder into place (an existing one only after the new one is complete).

    The folder and its files become readable by all, as an imported vector store is: a service may run as
    another user than the one who tuned the encoder.
    """
    for path in [tmp, *tmp.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        final.rename(old)
    try:
        tmp.rename(final)
    except OSError:
        if old is not None:
            old.rename(final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
