"""vecclf's offline side and shared core: vectors, tokenizing, embedding, models.

Installed as :mod:`vecclf.training` (the repository keeps it as ``training/``).
"""

if __name__ != "vecclf.training":
    # Imported by its folder name (``training/`` on sys.path, e.g. the repository root as working
    # directory): that would be a second copy of every class, invisible to bundles and the service.
    raise ImportError(f"import vecclf.training, not {__name__!r}: vecclf installs one top-level name, 'vecclf'")

from vecclf import __version__  # noqa: E402

__all__ = ["__version__"]
