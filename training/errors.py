"""Domain errors. Each carries the CLI exit code; only the CLI layer exits."""


class VecclfError(Exception):
    """Base class for every error vecclf reports to a user."""

    exit_code = 1


class DataError(VecclfError, ValueError):
    """Input data is unreadable, malformed or unusable for the task."""

    exit_code = 2


class VectorFormatError(DataError):
    """A word-vector file is truncated, malformed or of an unknown format."""


class NotFoundError(VecclfError, LookupError):
    """A named vector set, model or version does not exist in the store."""

    exit_code = 3


class BundleError(VecclfError):
    """A stored artifact is incomplete, corrupted or does not match its vectors."""

    exit_code = 4


class ConfigError(VecclfError, ValueError):
    """A configuration value is invalid."""

    exit_code = 2


class StorageError(VecclfError, OSError):
    """Reading or writing failed for a reason outside the data: a full disk, a database that is down."""

    exit_code = 6


class BusyError(VecclfError):
    """Another run holds a lock this one needs (a retrain of the same model)."""

    exit_code = 7
