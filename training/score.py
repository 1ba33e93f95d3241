"""Batch scoring on Dask: classify or embed datasets larger than memory, one partition at a time.

``vecclf score`` plans each input's partitions (:mod:`vecclf.training.partitions`)
and hands one task per partition to a ``dask.distributed`` cluster: a
LocalCluster sized to the machine (one single-threaded worker process per
core), or an existing cluster at ``--scheduler``. Every worker opens the model
and memory-maps its vectors once, when :class:`ModelPlugin` is set up on it,
and scores every partition it is given with that one copy.

Output: ``<output>/<input file name>/part-NNNNN.parquet``, one file per input
partition, one row per input row, with the id column first. Each file is
written to a hidden temporary name, flushed to disk and renamed, so a file
that exists is complete; a rerun with the same model, version, inputs and
settings (recorded in ``<output>/_vecclf_score.json``) skips those files. The
workers read the inputs, the store and write the output by path: on a real
cluster these live on a file system every worker mounts at the same path.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from pathlib import Path

from distributed import WorkerPlugin

from vecclf.training import progress
from vecclf.training.errors import ConfigError, DataError, VecclfError
from vecclf.training.partitions import DEFAULT_BLOCK_BYTES, FORMATS, Partition, plan, read_partition

log = logging.getLogger("vecclf.score")
MANIFEST = "_vecclf_score.json"
LOCK = ".vecclf-score.lock"
CONNECT_TIMEOUT = "15s"  # to reach an existing scheduler
BATCH = 4096  # texts per predict call inside a partition: bounds the feature matrices, not the partition
_EXTENSIONS = {".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".json", ".parquet", ".pq"}


def score(store: str, model: str, inputs: list[str], output: str, *, version: str | None = None, embed: bool = False,
          scheduler: str | None = None, workers: int | None = None, text_column: str = "text",
          id_column: str | None = None, fmt: str = "auto", block_bytes: int | None = None) -> dict:
    """Score ``inputs`` with ``model`` into ``output``; return the run's summary.

    Raises:
        NotFoundError: unknown model or version.
        DataError: an unreadable input, a missing column, a malformed row (naming file and line).
        ConfigError: ``workers`` given with ``scheduler``, or ``output`` holds another run's results.
        VecclfError: the scheduler cannot be reached, or a worker died.
    """
    from vecclf.training.registry import ModelRegistry

    started = time.monotonic()
    if scheduler and workers:
        raise ConfigError("--workers sizes the local cluster; with --scheduler the cluster has its own workers")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    store = os.path.abspath(store)
    block_bytes = DEFAULT_BLOCK_BYTES if block_bytes is None else block_bytes
    if block_bytes < 1:
        raise ConfigError(f"--partition-size must be positive, got {block_bytes} bytes")
    version = ModelRegistry(store).resolve(model, version)
    files = _input_files(inputs)
    parts = {name: plan(path, text_column=text_column, id_column=id_column, fmt=fmt, block_bytes=block_bytes)
             for name, path in progress.track(files.items(), "planning partitions", unit="inputs")}
    out = Path(output).resolve()
    run = {"model": model, "version": version, "mode": "embed" if embed else "predict", "text_column": text_column,
           "id_column": id_column, "format": fmt, "partition_bytes": block_bytes,
           "inputs": {name: {"path": str(path), "size": path.stat().st_size, "mtime_ns": path.stat().st_mtime_ns,
                             "partitions": len(parts[name])} for name, path in files.items()}}
    if out.is_dir() and not (out / MANIFEST).exists() and any(p.name != LOCK for p in out.iterdir()):
        raise ConfigError(f"{out} is not empty and holds no vecclf score run; choose an empty or new folder")
    with _locked(out):
        _check_or_write_manifest(out, run)
        todo, done_rows = [], {}
        for name, name_parts in parts.items():
            folder = out / name
            folder.mkdir(exist_ok=True)
            for stale in folder.glob(".part-*.tmp"):  # a killed run's unfinished file
                stale.unlink()
            for part in name_parts:
                target = folder / part_name(part)
                if target.exists():
                    done_rows[(name, part.index)] = _rows_in(target)
                else:
                    todo.append((name, part, str(target)))
        progress.step(f"{len(todo)} of {len(todo) + len(done_rows)} partitions to score with {model} {version}")
        rows, n_workers = {}, 0
        if todo:  # a rerun with every partition complete starts no cluster
            with _cluster(scheduler, workers) as client:
                n_workers = len(client.scheduler_info()["workers"])
                rows = _run(client, store, model, version, embed, todo, local=scheduler is None)
    counts = {**done_rows, **{key: r["rows"] for key, r in rows.items()}}
    per_input = [{"input": str(files[name]), "output": str(out / name), "partitions": len(parts[name]),
                  "rows": sum(n for (owner, _), n in counts.items() if owner == name)} for name in parts]
    return {"model": model, "version": version, "mode": run["mode"], "output": str(out), "workers": n_workers,
            "partitions": len(counts), "written": len(rows), "skipped": len(done_rows),
            "rows": sum(counts.values()), "rows_written": sum(r["rows"] for r in rows.values()),
            "model_loads": len({r["opened"] for r in rows.values()}),
            "seconds": round(time.monotonic() - started, 3), "inputs": per_input}


def part_name(part: Partition) -> str:
    """Return the output file name of ``part``."""
    return f"part-{part.index:05d}.parquet"


def _input_files(inputs: list[str]) -> dict[str, Path]:
    """Return {output folder name: file} for the inputs (a folder stands for its dataset files)."""
    files: dict[str, Path] = {}
    for raw in inputs:
        path = Path(raw).resolve()
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in _EXTENSIONS
                           and not p.name.startswith((".", "_")))
            if not found:
                raise DataError(f"{raw}: the folder holds no {', '.join(FORMATS)} file")
        else:
            found = [path]
        for file in found:
            if file.name in files and files[file.name] != file:
                raise DataError(f"{file}: another input is also named {file.name!r}; their outputs would collide")
            files[file.name] = file
    return files


@contextlib.contextmanager
def _locked(out: Path):
    """Hold an exclusive lock on the output folder (made if missing) while a run writes into it."""
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise VecclfError(f"{out}: another vecclf score run is writing there") from None
        yield
    finally:
        os.close(fd)


def _check_or_write_manifest(out: Path, run: dict) -> None:
    path = out / MANIFEST
    if path.exists():
        try:
            previous = json.loads(path.read_text("utf-8"))
        except ValueError:
            previous = None
        if previous != run:
            diff = sorted(k for k in run if (previous or {}).get(k) != run[k])
            raise ConfigError(f"{out} holds the results of another run (different {', '.join(diff) or 'manifest'}); "
                              "choose another --output, or remove it to start over")
        return
    tmp = out / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(run, indent=2) + "\n", "utf-8")
    os.replace(tmp, path)


def _rows_in(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(path).num_rows


@contextlib.contextmanager
def _cluster(scheduler: str | None, workers: int | None):
    """Yield a Dask client: of the cluster at ``scheduler``, or of a LocalCluster sized to the machine."""
    from distributed import Client, LocalCluster

    # Dask's own log lines (progress chatter, a worker's traceback of an error this run reports in one line
    # anyway) only with -v: errors reach the user through the tasks' results.
    level = logging.INFO if log.isEnabledFor(logging.DEBUG) else logging.CRITICAL
    logging.getLogger("distributed").setLevel(level)
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise VecclfError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
        with client:
            yield client
        return
    from dask.system import CPU_COUNT  # cores this process may use: affinity and cgroup quota included

    # One single-threaded worker process per core: scoring is Python-bound, so threads would share one GIL.
    # No dashboard; the scheduler's small HTTP server takes any free loopback port (not 8787, maybe taken).
    with LocalCluster(n_workers=workers or CPU_COUNT, threads_per_worker=1, processes=True, dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, silence_logs=level) as cluster, \
            Client(cluster) as client:
        yield client


def _run(client, store: str, model: str, version: str, embed: bool, todo: list, local: bool) -> dict:
    """Score every partition of ``todo`` on ``client``; return {(input, index): task result}."""
    from distributed import as_completed

    plugin = ModelPlugin(store, model, version, embed, one_blas_thread=local)
    with progress.timed("opening the model on every worker", workers=len(client.scheduler_info()["workers"])):
        client.register_plugin(plugin)  # a broken bundle fails here, once
    results = {}
    try:
        futures = {client.submit(score_partition, part, target, plugin.name, pure=False): (name, part)
                   for name, part, target in todo}
        with progress.bar(len(futures), "scoring", unit="partitions") as bar:
            for future in as_completed(futures):
                name, part = futures[future]
                try:
                    results[(name, part.index)] = future.result()
                except VecclfError:
                    client.cancel(list(futures))
                    raise
                except Exception as exc:  # a worker died (memory?), the scheduler went away...
                    client.cancel(list(futures))
                    raise VecclfError(f"{name} partition {part.index}: {type(exc).__name__}: {exc}") from exc
                bar.update()
    finally:
        with contextlib.suppress(Exception):
            client.unregister_worker_plugin(plugin.name)
    return results


class ModelPlugin(WorkerPlugin):
    """Open one model version on a worker when it joins; every partition that worker scores uses it."""

    def __init__(self, store: str, model: str, version: str, embed: bool, one_blas_thread: bool = False):
        self.store, self.model, self.version, self.embed = store, model, version, embed
        self.one_blas_thread = one_blas_thread
        self.name = f"vecclf-score-{model}-{version}-{uuid.uuid4().hex[:8]}"  # one per run: runs may share a cluster
        self.predictor = None
        self.opened = None

    def setup(self, worker=None):
        """Load the bundle and compile its predictor (the vectors are memory-mapped, shared by the page cache)."""
        from vecclf.training.inference import Predictor
        from vecclf.training.registry import ModelRegistry

        if self.one_blas_thread:  # a worker per core: more BLAS threads would only fight over the cores
            from threadpoolctl import threadpool_limits

            threadpool_limits(1)
        model, _ = ModelRegistry(self.store).load(self.model, self.version)
        self.predictor = Predictor(model)
        if self.embed and not self.predictor.dim:
            raise DataError(f"model {self.model!r} {self.version} has no document embedding to write (--embed)")
        self.opened = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def teardown(self, worker=None):
        """Let the worker forget the model when the run ends (a shared cluster keeps its workers)."""
        self.predictor = None


def score_partition(part: Partition, target: str, plugin_name: str) -> dict:
    """Score one partition on a Dask worker with the model its plugin opened; write ``target`` atomically."""
    from distributed import get_worker

    plugin = get_worker().plugins[plugin_name]
    started = time.monotonic()
    ids, texts = read_partition(part)
    table = prediction_table(plugin.predictor, ids, texts, plugin.embed)
    meta = {"vecclf.model": plugin.model, "vecclf.version": plugin.version, "vecclf.input": part.path,
            "vecclf.partition": json.dumps({"index": part.index, "start": part.start, "stop": part.stop,
                                            "first_row": part.first_row})}
    write_atomically(table.replace_schema_metadata(meta), Path(target))
    return {"rows": table.num_rows, "opened": plugin.opened, "seconds": time.monotonic() - started}


def prediction_table(predictor, ids, texts: list[str], embed: bool):
    """Return the output table of one partition: ``id`` then the label and scores, or the vector."""
    import numpy as np
    import pyarrow as pa

    if embed:
        dim = predictor.dim
        chunks = [predictor.embed(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)]
        matrix = np.concatenate(chunks) if chunks else np.zeros((0, dim), dtype=np.float32)
        flat = pa.array(np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1))
        return pa.table({"id": ids, "vector": pa.FixedSizeListArray.from_arrays(flat, dim)})
    classes = predictor.classes
    chunks = [predictor.predict_proba(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)]
    proba = np.concatenate(chunks) if chunks else np.zeros((0, len(classes)))
    top = np.argmax(proba, axis=1) if len(proba) else np.zeros(0, dtype=np.int64)
    columns = {"id": ids,
               "label": pa.DictionaryArray.from_arrays(pa.array(top, type=pa.int32()), pa.array(classes)),
               "confidence": pa.array(proba[np.arange(len(top)), top])}
    if predictor.multilabel:
        threshold = float(getattr(predictor.model, "threshold", 0.5))
        chosen = [[classes[j] for j in np.flatnonzero(row >= threshold)] or [classes[best]]
                  for row, best in zip(proba, top)]
        columns["labels"] = pa.array(chosen, type=pa.list_(pa.string()))
    for j, label in enumerate(classes):
        columns[f"score_{label}"] = pa.array(proba[:, j])
    return pa.table(columns)


def write_atomically(table, target: Path) -> None:
    """Write ``table`` as Parquet at ``target``: a hidden temporary file, flushed to disk, then renamed."""
    import pyarrow.parquet as pq

    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
