"""Load gensim ``KeyedVectors.save`` files without running arbitrary pickled code.

gensim's native format is a pickle plus ``.npy`` side files. A pickle can run
any code on load, so this module unpickles with an allow-list of the handful
of classes a KeyedVectors file legitimately contains, refuses files that
would make gensim unpickle further side files, and loads the ``.npy`` side
files with ``allow_pickle=False`` (gensim's own default). Compressed files
(``KeyedVectors.save("x.kv.gz")``) are recognised by content, as gensim reads
them by name; their large arrays sit in ``.npz`` side files.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from vecclf.training.errors import VectorFormatError
from vecclf.training.vectors.sources import open_source

ALLOWED_GLOBALS = frozenset(
    {
        ("gensim.models.keyedvectors", "KeyedVectors"),
        ("gensim.models.fasttext", "FastTextKeyedVectors"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("collections", "defaultdict"),
        ("collections", "OrderedDict"),
        ("builtins", "dict"),
        ("builtins", "list"),
        ("builtins", "set"),
        ("builtins", "int"),
        ("builtins", "float"),
        ("builtins", "str"),
        ("datetime", "datetime"),
    }
)


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise VectorFormatError(f"refusing to unpickle {module}.{name}: not a class a gensim KeyedVectors file needs")
        return super().find_class(module, name)


def load_keyed_vectors(path: str | Path):
    """Return the KeyedVectors saved at ``path``, loaded with the allow-list.

    Raises:
        VectorFormatError: the file is not a gensim KeyedVectors file or asks
            for a class outside the allow-list.
    """
    from gensim.models.keyedvectors import KeyedVectors
    from gensim.utils import SaveLoad

    path = Path(path)
    try:
        with open_source(path) as fh:
            obj = _AllowListUnpickler(fh).load()
    except VectorFormatError as exc:
        raise VectorFormatError(f"{path}: {exc}") from exc
    except Exception as exc:  # truncated or corrupt pickles raise many types
        raise VectorFormatError(f"{path}: not a readable gensim KeyedVectors file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, KeyedVectors):
        raise VectorFormatError(f"{path}: holds a {type(obj).__name__}, not KeyedVectors")
    for attr in ("__scipys", "__recursive_saveloads"):
        if getattr(obj, attr, None):
            raise VectorFormatError(f"{path}: uses gensim side files ({attr}) that would be unpickled; refusing")
    compress, subname = SaveLoad._adapt_by_suffix(str(path))
    try:
        obj._load_specials(str(path), None, compress, subname)
    except Exception as exc:
        raise VectorFormatError(f"{path}: a side file is missing or corrupt ({type(exc).__name__}: {exc})") from exc
    return obj
