"""vecclf's offline side and shared core: vectors, tokenizing, embedding, models."""

__version__ = "0.1.0"
