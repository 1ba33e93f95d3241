"""Open an imported vector store: memory-mapped matrix, vocabulary, manifest.

A store is a folder ``<store>/vectors/<name>/`` holding

- ``vectors.npy``: the (size, dim) matrix, opened with ``mmap_mode="r"`` so
  every process (and every gunicorn worker) shares the same page-cache pages;
- ``vocab.txt``: one word per line, UTF-8, row ``i`` is word ``i``;
- ``ngrams.npy`` (fastText ``.bin`` sources only): the subword bucket matrix;
- ``manifest.json``: dims, size, dtype, source format, casing, subword
  parameters and ``sha256``, the digest of the files above.

The files are written once, in a hidden folder renamed into place, and
never rewritten in place (they are left read-only): every process maps
them, and a file truncated or rewritten under a mapping changes what
running workers read, or kills them with SIGBUS when a mapped page no
longer exists. A new version of a store is a new folder renamed over the
old one; processes that mapped the old files keep them until they reopen.

Opening for use (:func:`open_store`) checks the files against ``sha256``
(:mod:`~vecclf.training.vectors.integrity`: hashed once per file version,
then a few ``stat`` calls). Otherwise opening reads only the manifest and the ``.npy`` headers. Words are found
through a :class:`~vecclf.training.vectors.vocabindex.VocabIndex` (flat numpy arrays
over the memory-mapped ``vocab.txt``, built on first use in well under a second
for 400k words, about a second for 3M); a single lookup before that scans the
file instead. :meth:`VectorStore.warm` builds it up front, e.g. in a gunicorn
master before the workers fork, so they all share it. The Python ``dict`` of
:attr:`VectorStore.index` is still there for callers that want one, but
nothing in vecclf's hot paths builds it. Nothing here imports gensim,
scikit-learn, scipy or pandas.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from vecclf.training.errors import BundleError, NotFoundError
from vecclf.training.tokens import HYPHEN_RULES, Tokenizer
from vecclf.training.vectors import integrity
from vecclf.training.vectors.subword import oov_vector
from vecclf.training.vectors.vocabindex import VocabIndex

MANIFEST = "manifest.json"
VECTORS_FILE = "vectors.npy"
VOCAB_FILE = "vocab.txt"
NGRAMS_FILE = "ngrams.npy"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# Single-word lookups answered by scanning vocab.txt before the index is built.
_MAX_SCANS = 8


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

    def __init__(self, path: str | os.PathLike, *, verify: bool = False):
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
        if verify:
            self.verify()
        self.vectors = self._open_matrix(VECTORS_FILE, (self.size, self.dim))
        self.subword = bool(self.manifest.get("subword"))
        self.ngrams = None
        if self.subword:
            self.minn = int(self.manifest["minn"])
            self.maxn = int(self.manifest["maxn"])
            self.ngrams = self._open_matrix(NGRAMS_FILE, (int(self.manifest["bucket"]), self.dim))
        # Stores made before the hyphen rule existed split every hyphen, as their models were trained to.
        self.hyphens = self.manifest.get("hyphens", "split")
        if self.hyphens not in HYPHEN_RULES:
            raise BundleError(f"{manifest_file}: unknown hyphen rule {self.hyphens!r}")
        self._tokenizers: dict[str, Tokenizer] = {}
        self.tokenizer = self.tokenizer_for(self.hyphens)
        self._index: dict[str, int] | None = None
        self._words: list[str] | None = None
        self._vocab_index: VocabIndex | None = None
        self._scans = 0

    def verify(self, force: bool = False) -> dict:
        """Check the files against the manifest's sha256 (cached by file identity unless ``force``).

        Raises:
            BundleError: a file is missing or changed since import.
        """
        return integrity.verify(self.path, self.manifest, force=force)

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

    def tokenizer_for(self, hyphens: str) -> Tokenizer:
        """Return this store's tokenizer under hyphen rule ``hyphens`` (``split`` or ``known``), made once."""
        tokenizer = self._tokenizers.get(hyphens)
        if tokenizer is None:
            if hyphens not in HYPHEN_RULES:
                raise ValueError(f"hyphens={hyphens!r}; choose one of {', '.join(HYPHEN_RULES)}")
            tokenizer = Tokenizer(lowercase=self.lowercase, known=self.has_words if hyphens == "known" else None)
            self._tokenizers[hyphens] = tokenizer
        return tokenizer

    def has_words(self, words: list[str]) -> list[bool]:
        """Return, for each of ``words``, whether it has a vector of its own."""
        return (self.vocab_index.rows_of(words) >= 0).tolist() if words else []

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
        """Return the word -> row mapping as a dict (built on first use; prefer :meth:`rows_array`)."""
        if self._index is None:
            words = self.words
            # Iterate in reverse so the first occurrence of a duplicated word wins.
            self._index = dict(zip(reversed(words), range(len(words) - 1, -1, -1)))
        return self._index

    @property
    def vocab_index(self) -> VocabIndex:
        """Return the array-based word -> row index (built once per process)."""
        if self._vocab_index is None:
            vocab_index = VocabIndex.from_file(self.path / VOCAB_FILE)
            if vocab_index.size != self.size:
                raise BundleError(f"vector store {self.path}: {VOCAB_FILE} has {vocab_index.size} words, manifest says {self.size}")
            self._vocab_index = vocab_index
        return self._vocab_index

    def warm(self) -> "VectorStore":
        """Build the word index now, so processes forked later share it instead of each building one."""
        _ = self.vocab_index
        return self

    def row(self, word: str) -> int:
        """Return the row of ``word``, -1 if it has none."""
        if self._vocab_index is None and self._scans < _MAX_SCANS:
            self._scans += 1
            return self._scan_row(word)
        return int(self.vocab_index.rows_of([word])[0])

    def _scan_row(self, word: str) -> int:
        # A few lookups (the CLI's) are cheaper as a byte search than building the index.
        if "\n" in word or "\r" in word:
            return -1
        needle = b"\n" + word.encode("utf-8", "surrogatepass") + b"\n"
        with open(self.path / VOCAB_FILE, "rb") as fh:
            data = b"\n" + fh.read()
        if not data.endswith(b"\n"):
            data += b"\n"
        at = data.find(needle)
        return -1 if at < 0 else data.count(b"\n", 0, at)

    def rows_array(self, tokens: list[str]) -> np.ndarray:
        """Return the row of each token as an int64 array, -1 where the word has no row."""
        return self.vocab_index.rows_of(tokens)

    def word(self, row: int) -> str:
        """Return the word at ``row``."""
        if self._words is not None:
            return self._words[row]
        return self.vocab_index.word(row)

    def __contains__(self, word: str) -> bool:
        return self.row(word) >= 0

    def __len__(self) -> int:
        return self.size

    def lookup(self, word: str) -> np.ndarray | None:
        """Return the vector of ``word`` (float32): its row, else (fastText stores) built from its n-grams, else None.

        A fastText store gives every word a vector, as fastText and gensim do: one too short to have an
        n-gram of the store's lengths gets zeros (document pooling skips such words: they carry nothing).
        """
        row = self.row(word)
        if row >= 0:
            return np.asarray(self.vectors[row], dtype=np.float32)
        if self.ngrams is not None:
            vector = oov_vector(self.ngrams, word, self.minn, self.maxn)
            return np.zeros(self.dim, dtype=np.float32) if vector is None else vector
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
        own = self.row(word)
        if own >= 0:
            scores[own] = -np.inf
        top = max(0, min(int(top), self.size))
        best = np.argpartition(-scores, top - 1)[:top] if top else np.array([], dtype=int)
        best = best[np.argsort(-scores[best])]
        return [(self.word(int(i)), float(scores[i])) for i in best if np.isfinite(scores[i])]

    def rows(self, tokens: list[str]) -> list[int]:
        """Return the row of each token, -1 where the word has no row."""
        return self.rows_array(tokens).tolist()

    def info(self) -> dict:
        """Return the manifest as a plain dict."""
        return dict(self.manifest)

    def __repr__(self) -> str:
        return f"VectorStore({self.name!r}, size={self.size}, dim={self.dim})"


_OPEN: dict[tuple[str, str], VectorStore] = {}


def open_store(store: str | os.PathLike, name_or_path: str | os.PathLike, *, verify: bool = True) -> VectorStore:
    """Open a vector store by name or folder, reusing one already open in this process.

    With ``verify`` (the default: training, serving, embedding) the files are
    checked against the manifest's sha256 on every call; after the first
    hash of a file version that is a few ``stat`` calls.

    Raises:
        NotFoundError: no such store.
        BundleError: a file is missing, corrupted or changed since import.
    """
    path = store_path(store, name_or_path)
    key = (str(path.resolve()), _manifest_stamp(path))
    cached = _OPEN.get(key)
    if cached is None:
        cached = VectorStore(path, verify=verify)
        _OPEN[key] = cached
    elif verify:
        cached.verify()
    return cached


def _manifest_stamp(path: Path) -> str:
    try:
        st = (path / MANIFEST).stat()
    except FileNotFoundError:
        return ""
    return f"{st.st_ino}:{st.st_mtime_ns}"
