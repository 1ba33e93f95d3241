"""Versioned model bundles: write atomically, load safely, never unpickle.

A bundle is ``<store>/<model>/<version>/`` with

- ``model.skops``: the fitted :class:`~vecclf.training.model.TextModel`, in skops
  format, loaded with an explicit trusted-type list kept here in code, so a
  file cannot make the loader build anything else;
- ``manifest.json``: labels, metrics, data fingerprint, the vectors' name and
  sha256, the feature/classifier config, library versions, ``created_at``,
  and the sha256 of ``model.skops``;
- ``report/`` (versions made by ``vecclf retrain``, or added by ``vecclf models report``):
  the version's HTML report and its charts, never read when loading;
- ``COMPLETE``: written last. A folder without it is never loaded.

Bundles are written in a hidden temp folder and renamed into place, so a crash
mid-write leaves no loadable half-version (and the folder's name carries the
writer's pid, so the next write to the store removes it); a failed write is
one :class:`~vecclf.training.errors.StorageError` naming the path and the
free space. Vectors are referenced by name and
sha256, never copied; loading refuses a store whose sha256 differs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path

from vecclf.training.errors import BundleError, NotFoundError, VecclfError, storage_error
from vecclf.training.leftovers import temp_prefix

MODEL_FILE = "model.skops"
MANIFEST = "manifest.json"
COMPLETE = "COMPLETE"
BUNDLE_FORMAT = 1

# Types a bundle may contain beyond those skops trusts by default.
TRUSTED_TYPES = [
    "vecclf.training.model.TextModel",
    "vecclf.training.embed.DocumentEmbedder",
    "vecclf.training.features.dense.DenseScale",
    "vecclf.training.features.words.NBNgrams",
    "vecclf.training.features.dense.FirstWords",
    "vecclf.training.features.chars.CharNgrams",
    "vecclf.training.features.encoded.SentenceEncoder",
    "sklearn.preprocessing._data.Normalizer",
    "vecclf.training.fasttext_backend.FastTextClassifier",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.multiclass.OneVsRestClassifier",
    "sklearn.preprocessing._label.MultiLabelBinarizer",
    "sklearn.preprocessing._label.LabelBinarizer",
    "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.frozen._frozen.FrozenEstimator",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction.text.CountVectorizer",
    "collections.defaultdict",
    "numpy.float32",
    "numpy.float64",
    "numpy.int64",
    "numpy.dtype",
    "builtins.slice",
]


# Where the classes of bundles written before vecclf 0.2 (top-level ``training`` package, one features module)
# live now. Loading rewrites these names in the bundle's schema, in memory; nothing else is ever renamed.
LEGACY_MODULES = {
    ("training.model", "TextModel"): "vecclf.training.model",
    ("training.embed", "DocumentEmbedder"): "vecclf.training.embed",
    ("training.features", "DenseScale"): "vecclf.training.features.dense",
    ("training.features", "NBNgrams"): "vecclf.training.features.words",
    ("training.features", "FirstWords"): "vecclf.training.features.dense",
    ("training.features", "CharNgrams"): "vecclf.training.features.chars",
    ("training.fasttext_backend", "FastTextClassifier"): "vecclf.training.fasttext_backend",
    # vecclf 0.2 before the feature blocks got modules of their own (one development day on main).
    ("vecclf.training.features", "DenseScale"): "vecclf.training.features.dense",
    ("vecclf.training.features", "NBNgrams"): "vecclf.training.features.words",
    ("vecclf.training.features", "FirstWords"): "vecclf.training.features.dense",
    ("vecclf.training.features", "CharNgrams"): "vecclf.training.features.chars",
}
SCHEMA = "schema.json"


class _HideTorch:
    """A meta-path finder under which ``import torch`` fails (see :func:`skops_io`)."""

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is hidden while skops lists scikit-learn's estimators")
        return None


def skops_io():
    """Return ``skops.io``, imported without letting it import torch.

    skops lists scikit-learn's estimators by importing every sklearn package, and one of them
    (``sklearn.externals.array_api_compat.torch``) imports torch where it is installed: seconds and
    hundreds of MB in every process that loads a bundle, with an encoder or not. While torch is hidden
    that package fails to import and is skipped (it holds no estimator); torch imports as usual
    afterwards, when a model with an encoder needs it.
    """
    import sys

    if "skops.io" not in sys.modules and "torch" not in sys.modules:
        hide = _HideTorch()
        sys.meta_path.insert(0, hide)
        try:
            import skops.io  # noqa: F401
        finally:
            sys.meta_path.remove(hide)
    import skops.io as sio

    return sio


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict:
    """Return the versions of the libraries a bundle depends on."""
    import numpy
    import scipy
    import sklearn

    skops_io()
    import skops

    from vecclf import __version__

    return {"vecclf": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
            "scipy": scipy.__version__, "scikit-learn": sklearn.__version__, "skops": skops.__version__}


def write_bundle(model_dir: Path, version: str, model, manifest: dict, extras=None) -> Path:
    """Write ``model`` and ``manifest`` as ``model_dir/version`` atomically.

    ``extras(folder, version)``, if given, adds files (the retrain report) to the unfinished bundle
    before it is marked complete, so the version appears with them or not at all.
    """
    sio = skops_io()
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(version), dir=model_dir))
    except OSError as exc:
        raise storage_error(exc, model_dir) from exc
    try:
        sio.dump(model, tmp / MODEL_FILE)
        untrusted = set(sio.get_untrusted_types(file=tmp / MODEL_FILE)) - set(TRUSTED_TYPES)
        if untrusted:
            raise BundleError(f"model contains types vecclf would refuse to load: {sorted(untrusted)}")
        manifest = {
            **manifest,
            "version": version,
            "bundle_format": BUNDLE_FORMAT,
            "model_file": MODEL_FILE,
            "model_sha256": sha256_file(tmp / MODEL_FILE),
            "libraries": library_versions(),
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        _write_synced(tmp / MANIFEST, json.dumps(manifest, indent=2, default=str) + "\n")
        if extras is not None:
            extras(tmp, version)
        _write_synced(tmp / COMPLETE, manifest["model_sha256"] + "\n")
        final = model_dir / version
        try:
            os.rename(tmp, final)  # fails if the version exists: versions are immutable
        except OSError as exc:
            if final.exists():
                raise  # another writer took this number: the caller picks the next one
            raise storage_error(exc, final) from exc
        _fsync_dir(model_dir)
        return final
    except OSError as exc:
        error = None if isinstance(exc, VecclfError) or (model_dir / version).exists() else \
            storage_error(exc, Path(exc.filename) if exc.filename else tmp)  # free space before the cleanup
        shutil.rmtree(tmp, ignore_errors=True)
        if error is None:
            raise
        raise error from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_manifest(bundle: Path) -> dict:
    """Return a complete bundle's manifest, or raise BundleError."""
    if not bundle.is_dir():
        raise NotFoundError(f"no model version at {bundle}")
    if not (bundle / COMPLETE).is_file():
        raise BundleError(f"{bundle}: incomplete bundle (no {COMPLETE} marker); it was never fully written")
    try:
        return json.loads((bundle / MANIFEST).read_text("utf-8"))
    except FileNotFoundError as exc:
        raise BundleError(f"{bundle}: {MANIFEST} is missing") from exc
    except ValueError as exc:
        raise BundleError(f"{bundle}: {MANIFEST} is corrupted ({exc})") from exc


def load_bundle(bundle: Path, store: str | os.PathLike):
    """Load and check a bundle; return ``(model, manifest)``.

    Raises:
        BundleError: incomplete, corrupted, tampered with, its vectors changed, or its sentence encoder
            is missing or differs (:class:`~vecclf.training.encoder.EncoderMissing` when missing).
        NotFoundError: the bundle or its vector store does not exist.
    """
    from vecclf.training.model import TextModel
    from vecclf.training.vectors.store import open_store

    sio = skops_io()
    manifest = read_manifest(bundle)
    model_file = bundle / MODEL_FILE
    if not model_file.is_file():
        raise BundleError(f"{bundle}: {MODEL_FILE} is missing")
    if sha256_file(model_file) != manifest.get("model_sha256"):
        raise BundleError(f"{bundle}: {MODEL_FILE} does not match its recorded sha256 (corrupted or modified)")
    vec = manifest.get("vectors") or {}
    vstore = open_store(store, vec.get("name", ""))
    if vstore.sha256 != vec.get("sha256"):
        raise BundleError(
            f"{bundle}: trained on vectors {vec.get('name')!r} with sha256 {str(vec.get('sha256'))[:12]}..., "
            f"but the store now holds sha256 {vstore.sha256[:12]}...; retrain or restore the vectors"
        )
    try:
        data = migrate_legacy_types(model_file.read_bytes())
        untrusted = set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES)
        if untrusted:
            raise BundleError(f"{bundle}: {MODEL_FILE} contains untrusted types {sorted(untrusted)}; refusing to load")
        model = sio.loads(data, trusted=TRUSTED_TYPES)
    except BundleError:
        raise
    except Exception as exc:  # skops raises many types on a damaged file
        raise BundleError(f"{bundle}: {MODEL_FILE} cannot be loaded ({type(exc).__name__}: {exc})") from exc
    if not isinstance(model, TextModel):
        raise BundleError(f"{bundle}: {MODEL_FILE} holds a {type(model).__name__}, not a TextModel")
    point_at_store(model, store, vstore.path)
    from vecclf.training.features.encoded import check_encoders

    try:
        check_encoders(model)  # the weights are not in the bundle: the installed encoder must be the same
    except BundleError as exc:
        raise type(exc)(f"{bundle}: {exc}") from exc
    return model, manifest


def migrate_legacy_types(data: bytes) -> bytes:
    """Return a skops file's bytes with the class names of :data:`LEGACY_MODULES` moved to today's modules.

    Only the ``__module__`` of those exact (module, class) pairs changes; a file without them is returned as is.
    """
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        raw = archive.read(SCHEMA)
        if b'"training.' not in raw and b'"vecclf.training.features"' not in raw:
            return data
        changed = False

        def visit(node):
            nonlocal changed
            if isinstance(node, dict):
                moved = LEGACY_MODULES.get((node.get("__module__"), node.get("__class__")))
                if moved:
                    node["__module__"] = moved
                    changed = True
                for value in node.values():
                    visit(value)
            elif isinstance(node, list):
                for value in node:
                    visit(value)

        schema = json.loads(raw)
        visit(schema)
        if not changed:
            return data
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as rewritten:
            for info in archive.infolist():
                body = json.dumps(schema).encode() if info.filename == SCHEMA else archive.read(info.filename)
                rewritten.writestr(info, body)
        return out.getvalue()


def parts_of(model, kind: type) -> list:
    """Return every object of type ``kind`` inside a fitted model, depth first, each once (not looking inside them)."""
    from sklearn.base import BaseEstimator

    found, stack, seen = [], [model], set()
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, kind):
            found.append(obj)
        elif isinstance(obj, BaseEstimator):
            stack.extend(vars(obj).values())
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
    return found


def point_at_store(model, store, vectors_path: Path) -> None:
    """Make the model and every store-backed part of it read the store it was checked against."""
    from vecclf.training.embed import StoreBacked

    from vecclf.training.features.encoded import SentenceEncoder

    for part in parts_of(model, StoreBacked):
        part.repoint(store, vectors_path)
    for part in parts_of(model, SentenceEncoder):
        part.store = str(store)  # tuned encoders are found in this store's encoders/ folder
    model.store = str(store)
