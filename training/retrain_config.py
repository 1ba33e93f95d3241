"""The retrain job's configuration: a TOML file read with :mod:`tomllib`, checked key by key.

Every key is documented in ``docs/retrain.md`` (a test holds the two in step).
A key or section that is not known here is refused, naming it and the known
ones, so a typo never silently falls back to a default. Relative paths
(``data.paths``, ``gate.suite``) are taken from the config file's folder, so a
job started by cron from any working directory reads the same files.

Minimal example::

    [model]
    name = "sentiment"
    [data]
    paths = ["data/*.csv"]
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path

from vecclf.training.data import FORMATS
from vecclf.training.errors import ConfigError
from vecclf.training.vectors.store import NAME_RE

FEATURES = ("auto", "mean", "sif", "meanmax", "dense", "hybrid", "hybrid-pos")
CLASSIFIERS = ("logreg", "svm", "mlp", "fasttext")
CLASS_WEIGHTS = ("auto", "balanced", "none")
METRICS = ("accuracy", "macro_f1")

#: Every section and its keys, in the order docs/retrain.md lists them.
KEYS = {
    "model": ("name",),
    "data": ("paths", "format", "sql_url", "sql_query", "sql_chunk_rows", "text_column", "label_column",
             "include_feedback"),
    "training": ("vectors", "features", "encoder", "tune_encoder", "classifier", "class_weight", "budget", "holdout", "seed"),
    "gate": ("metric", "min_score", "max_regression", "checks", "suite", "min_pass_rate"),
    "retention": ("keep",),
}


@dataclass(frozen=True)
class DataConfig:
    """Where the labelled rows come from (``[data]``)."""

    paths: tuple[str, ...] = ()
    format: str = "auto"
    sql_url: str | None = None
    sql_query: str | None = None
    sql_chunk_rows: int = 10_000
    text_column: str = "text"
    label_column: str = "label"
    include_feedback: bool = False


@dataclass(frozen=True)
class TrainingConfig:
    """How the candidate is trained and held out (``[training]``)."""

    vectors: str = "glove-6b-50d"
    features: str = "auto"
    encoder: str = "none"
    tune_encoder: bool = False
    classifier: str = "logreg"
    class_weight: str = "auto"
    budget: float | None = None
    holdout: float = 0.2
    seed: int = 0


@dataclass(frozen=True)
class GateConfig:
    """What the candidate must pass to be promoted (``[gate]``)."""

    metric: str = "accuracy"
    min_score: float = 0.0
    max_regression: float = 0.01
    checks: bool = True
    suite: str | None = None
    min_pass_rate: float = 0.9


@dataclass(frozen=True)
class RetrainConfig:
    """One retrain job: the model, its data, training, gate and retention."""

    path: str
    model: str
    data: DataConfig
    training: TrainingConfig
    gate: GateConfig
    keep: int = 10


class _Section:
    """Take typed values out of one TOML table, remembering which keys were used."""

    def __init__(self, path: Path, name: str, table):
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{name}] must be a table, got {type(table).__name__}")
        unknown = sorted(set(table) - set(KEYS[name]))
        if unknown:
            raise ConfigError(f"{path}: unknown key {name}.{unknown[0]} (known in [{name}]: {', '.join(KEYS[name])})")
        self.path, self.name, self.table = path, name, table

    def _fail(self, key: str, wanted: str, value) -> ConfigError:
        return ConfigError(f"{self.path}: {self.name}.{key} must be {wanted}, got {value!r}")

    def text(self, key: str, default, choices=None):
        value = self.table.get(key, default)
        if value is None and default is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self._fail(key, "a non-empty string", value)
        if choices is not None and value not in choices:
            raise self._fail(key, f"one of {', '.join(choices)}", value)
        return value

    def number(self, key: str, default, lo: float, hi: float | None = None, integer: bool = False,
               open_range: bool = False):
        value = self.table.get(key, default)
        if value is None and default is None:
            return None
        kind = int if integer else (int, float)
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        wanted = f"{'an integer' if integer else 'a number'} {('strictly ' if open_range else '') + bound}"
        if isinstance(value, bool) or not isinstance(value, kind):
            raise self._fail(key, wanted, value)
        if open_range and not (lo < value < hi):
            raise self._fail(key, wanted, value)
        if not open_range and (value < lo or (hi is not None and value > hi)):
            raise self._fail(key, wanted, value)
        return value if integer else float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false", value)
        return value

    def paths(self, key: str, base: Path) -> tuple[str, ...]:
        value = self.table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self._fail(key, "a list of file paths or glob patterns", value)
        return tuple(str(base / v) for v in value)  # an absolute v replaces base


def _anchor_sqlite(url: str, base: Path) -> str:
    """Return ``url`` with a relative SQLite file taken from ``base`` (the config's folder)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # connecting names the problem
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" or Path(database).is_absolute():
        return url
    return parsed.set(database=str(base / database)).render_as_string(hide_password=False)


def load_config(path: str | Path) -> RetrainConfig:
    """Read and check a retrain config file.

    Raises:
        ConfigError: the file is missing, not TOML, or a section, key or value is wrong (named in the message).
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown section [{unknown[0]}] (known: {', '.join(f'[{k}]' for k in KEYS)})")
    base = path.resolve().parent
    sections = {name: _Section(path, name, raw.get(name, {})) for name in KEYS}

    model = sections["model"]
    if "name" not in model.table:
        raise ConfigError(f"{path}: model.name is required (the model to retrain)")

    d = sections["data"]
    data = DataConfig(
        paths=d.paths("paths", base),
        format=d.text("format", "auto", ("auto",) + FORMATS),
        sql_url=d.text("sql_url", None),
        sql_query=d.text("sql_query", None),
        sql_chunk_rows=d.number("sql_chunk_rows", DataConfig.sql_chunk_rows, 1, integer=True),
        text_column=d.text("text_column", "text"),
        label_column=d.text("label_column", "label"),
        include_feedback=d.flag("include_feedback", False),
    )
    if data.sql_url is not None:
        data = dataclasses.replace(data, sql_url=_anchor_sqlite(data.sql_url, base))
    if (data.sql_url is None) != (data.sql_query is None):
        raise ConfigError(f"{path}: data.sql_url and data.sql_query go together (give both or neither)")
    if not data.paths and data.sql_url is None and not data.include_feedback:
        raise ConfigError(f"{path}: [data] names no labelled data: give paths, or sql_url with sql_query")

    t = sections["training"]
    training = TrainingConfig(
        vectors=t.text("vectors", TrainingConfig.vectors),
        features=t.text("features", "auto", FEATURES),
        encoder=_encoder(t.text("encoder", "none"), base),
        tune_encoder=t.flag("tune_encoder", False),
        classifier=t.text("classifier", "logreg", CLASSIFIERS),
        class_weight=t.text("class_weight", "auto", CLASS_WEIGHTS),
        budget=t.number("budget", None, 0),
        holdout=t.number("holdout", TrainingConfig.holdout, 0, 1, open_range=True),
        seed=t.number("seed", 0, 0, integer=True),
    )

    g = sections["gate"]
    suite = g.text("suite", None)
    gate = GateConfig(
        metric=g.text("metric", "accuracy", METRICS),
        min_score=g.number("min_score", GateConfig.min_score, 0, 1),
        max_regression=g.number("max_regression", GateConfig.max_regression, 0, 1),
        checks=g.flag("checks", True),
        suite=str(base / suite) if suite else None,
        min_pass_rate=g.number("min_pass_rate", GateConfig.min_pass_rate, 0, 1),
    )

    keep = sections["retention"].number("keep", RetrainConfig.keep, 0, integer=True)
    return RetrainConfig(path=str(path), model=model.text("name", None), data=data, training=training, gate=gate,
                         keep=keep)


def _encoder(spec: str, base: Path) -> str:
    """Return ``[training] encoder`` as ``--encoder`` takes it: a name, or a folder anchored at the config's folder."""
    if spec in ("none", "auto", "minilm") or not spec:
        return spec or "none"
    if NAME_RE.match(spec) and not (base / spec).exists():
        return spec  # a tuned encoder's name in the store (vecclf encoders finetune)
    return str((base / spec).resolve()) if not Path(spec).is_absolute() else spec
