"""Open an imported vector store: memory-mapped matrix, vocabulary, manifest.

A store is a folder ``<store>/vectors/<name>/`` holding

- ``vectors.npy``: the (size, dim) matrix, opened with ``mmap_mode="r"`` so
  every process (and every gunicorn worker) shares the same page-cache pages;
- ``vocab.txt``: one word per line, UTF-8, row ``i`` is word ``i``;
- ``ngrams.npy`` (fastText ``.bin`` sources only): the subword bucket matrix;
- ``manifest.json``: dims, size, dtype, source format, casing, subword
  parameters and ``sha256``, the digest of the files above.

Opening reads only the manifest and the ``.npy`` headers; the vocabulary is
read on first lookup. Nothing here imports gensim, scikit-learn or pandas.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from training.errors import BundleError, NotFoundError
from training.tokenize import Tokenizer
from training.vectors.subword import oov_vector

MANIFEST = "manifest.json"
VECTORS_FILE = "vectors.npy"
VOCAB_FILE = "vocab.txt"
NGRAMS_FILE = "ngrams.npy"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a safe single path component, else raise."""
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        raise NotFoundError(
            f"invalid {what} {name!r}: use letters, digits, '.', '_' or '-' (no '..', at most 100 characters)"
        )
    return name


def vectors_root(store: str | os.PathLike) -> Path:
    """Return the folder holding every vector store of a model store."""
    return Path(store) / "vectors"


def store_path(store: str | os.PathLike, name_or_path: str | os.PathLike) -> Path:
    """Resolve a vector-store name (or an explicit folder path) to its folder."""
    candidate = Path(name_or_path)
    if candidate.is_dir() and (candidate / MANIFEST).is_file():
        return candidate
    return vectors_root(store) / check_name(str(name_or_path), "vectors name")


def list_stores(store: str | os.PathLike) -> list[dict]:
    """Return the manifests of every complete vector store, sorted by name."""
    root = vectors_root(store)
    if not root.is_dir():
        return []
    out = []
    for child in sorted(root.iterdir()):
        manifest = child / MANIFEST
        if child.name.startswith(".") or not manifest.is_file():
            continue
        out.append(json.loads(manifest.read_text("utf-8")))
    return out


class VectorStore:
    """A read-only, memory-mapped word-vector set.

    Raises:
        NotFoundError: the folder holds no store.
        BundleError: a file is missing or does not match the manifest.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        manifest_file = self.path / MANIFEST
        if not manifest_file.is_file():
            raise NotFoundError(f"no vector store at {self.path} (run 'vecclf vectors import' or 'vecclf vectors default')")
        try:
            self.manifest = json.loads(manifest_file.read_text("utf-8"))
            self.name = self.manifest["name"]
            self.dim = int(self.manifest["dim"])
            self.size = int(self.manifest["size"])
            self.lowercase = bool(self.manifest["lowercase"])
            self.sha256 = self.manifest["sha256"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BundleError(f"{manifest_file}: unreadable vector manifest ({exc})") from exc
        self.vectors = self._open_matrix(VECTORS_FILE, (self.size, self.dim))
        self.subword = bool(self.manifest.get("subword"))
        self.ngrams = None
        if self.subword:
            self.minn = int(self.manifest["minn"])
            self.maxn = int(self.manifest["maxn"])
            self.ngrams = self._open_matrix(NGRAMS_FILE, (int(self.manifest["bucket"]), self.dim))
        self.tokenizer = Tokenizer(lowercase=self.lowercase)
        self._index: dict[str, int] | None = None
        self._words: list[str] | None = None

    def _open_matrix(self, filename: str, shape: tuple[int, int]) -> np.ndarray:
        path = self.path / filename
        try:
            matrix = np.load(path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError as exc:
            raise BundleError(f"vector store {self.path}: {filename} is missing") from exc
        except ValueError as exc:
            raise BundleError(f"vector store {self.path}: {filename} is corrupted ({exc})") from exc
        if matrix.shape != shape:
            raise BundleError(f"vector store {self.path}: {filename} has shape {matrix.shape}, manifest says {shape}")
        return matrix

    @property
    def words(self) -> list[str]:
        """Return the vocabulary in row order."""
        if self._words is None:
            text = (self.path / VOCAB_FILE).read_text("utf-8")
            words = text.split("\n")
            if words and words[-1] == "":
                words.pop()
            if len(words) != self.size:
                raise BundleError(f"vector store {self.path}: {VOCAB_FILE} has {len(words)} words, manifest says {self.size}")
            self._words = words
        return self._words

    @property
    def index(self) -> dict[str, int]:
        """Return the word -> row mapping (built once, then shared copy-on-write)."""
        if self._index is None:
            words = self.words
            # Iterate in reverse so the first occurrence of a duplicated word wins.
            self._index = dict(zip(reversed(words), range(len(words) - 1, -1, -1)))
        return self._index

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __len__(self) -> int:
        return self.size

    def lookup(self, word: str) -> np.ndarray | None:
        """Return the vector of ``word`` (float32), subword-built if OOV, else None."""
        row = self.index.get(word)
        if row is not None:
            return np.asarray(self.vectors[row], dtype=np.float32)
        if self.ngrams is not None:
            return oov_vector(self.ngrams, word, self.minn, self.maxn)
        return None

    def similar(self, word: str, top: int = 10) -> list[tuple[str, float]] | None:
        """Return the ``top`` nearest words to ``word`` by cosine, or None if it has no vector."""
        query = self.lookup(word)
        if query is None:
            return None
        qn = float(np.linalg.norm(query))
        if qn == 0.0:
            return []
        scores = np.empty(self.size, dtype=np.float32)
        # Chunked so a 3M-word float16 store never needs a full float32 copy.
        step = 262144
        for start in range(0, self.size, step):
            block = np.asarray(self.vectors[start : start + step], dtype=np.float32)
            norms = np.linalg.norm(block, axis=1)
            norms[norms == 0] = np.inf
            scores[start : start + step] = block @ query / (norms * qn)
        own = self.index.get(word)
        if own is not None:
            scores[own] = -np.inf
        top = max(0, min(int(top), self.size))
        best = np.argpartition(-scores, top - 1)[:top] if top else np.array([], dtype=int)
        best = best[np.argsort(-scores[best])]
        words = self.words
        return [(words[i], float(scores[i])) for i in best if np.isfinite(scores[i])]

    def rows(self, tokens: list[str]) -> list[int]:
        """Return the row of each token, -1 where the word has no row."""
        get = self.index.get
        return [get(t, -1) for t in tokens]

    def info(self) -> dict:
        """Return the manifest as a plain dict."""
        return dict(self.manifest)

    def __repr__(self) -> str:
        return f"VectorStore({self.name!r}, size={self.size}, dim={self.dim})"


_OPEN: dict[tuple[str, str], VectorStore] = {}


def open_store(store: str | os.PathLike, name_or_path: str | os.PathLike) -> VectorStore:
    """Open a vector store by name or folder, reusing one already open in this process."""
    path = store_path(store, name_or_path)
    key = (str(path.resolve()), _manifest_stamp(path))
    cached = _OPEN.get(key)
    if cached is None:
        cached = VectorStore(path)
        _OPEN[key] = cached
    return cached


def _manifest_stamp(path: Path) -> str:
    try:
        st = (path / MANIFEST).stat()
    except FileNotFoundError:
        return ""
    return f"{st.st_ino}:{st.st_mtime_ns}"
