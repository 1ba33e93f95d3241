"""Word-vector stores: import once from any format, then open instantly with mmap."""

from vecclf.training.vectors.store import VectorStore, open_store, store_path, list_stores

__all__ = ["VectorStore", "open_store", "store_path", "list_stores"]
