"""The ``vecclf models`` commands and ``vecclf retrain``: the versions of each model, their reports, the nightly job.

Like every command of :mod:`vecclf.training.cli`, each is ``cmd_x(args, settings)`` and prints JSON on stdout.
"""

from __future__ import annotations

import sys

from vecclf.training import progress
from vecclf.training.cli_flags import emit


def cmd_models_list(args, settings) -> int:
    from vecclf.training.registry import ModelRegistry

    reg = ModelRegistry(settings.store)
    emit({"models": [reg.summary(m) for m in reg.models()]})
    return 0


def cmd_models_show(args, settings) -> int:
    from vecclf.training.registry import ModelRegistry
    from vecclf.training.report import report_index

    reg = ModelRegistry(settings.store)
    version = reg.resolve(args.name, args.version)
    page = report_index(reg.model_dir(args.name) / version)
    emit({**reg.manifest(args.name, version), "current": reg.current(args.name), "versions": reg.versions(args.name),
           "report": str(page.resolve()) if page else None})
    return 0


def cmd_models_report(args, settings) -> int:
    from vecclf.training.registry import ModelRegistry
    from vecclf.training.report import ensure_report, open_in_browser

    reg = ModelRegistry(settings.store)
    version = reg.resolve(args.name, args.version)
    page, written = ensure_report(reg.model_dir(args.name) / version, reg.manifest(args.name, version))
    emit({"model": args.name, "version": version, "report": str(page.resolve()), "written": written,
           "opened": open_in_browser(page) if args.open else False})
    return 0


def cmd_retrain(args, settings) -> int:
    from vecclf.training.retrain import retrain
    from vecclf.training.retrain_config import load_config

    cfg = load_config(args.config)
    if settings.progress == "auto" and progress.mode() == "lines":
        progress.configure(sys.stderr, "json")  # off a terminal the job's log is for collectors: JSON per step
    emit(retrain(cfg, store=settings.store, wait=args.wait, database=settings.database_url))
    return 0


def cmd_models_promote(args, settings) -> int:
    from vecclf.training.registry import ModelRegistry

    reg = ModelRegistry(settings.store)
    if args.check:
        reg.load(args.name, args.version)  # refuses a corrupt bundle before it is served
    emit(reg.promote(args.name, args.version))
    return 0


def cmd_models_rollback(args, settings) -> int:
    from vecclf.training.registry import ModelRegistry

    emit(ModelRegistry(settings.store).rollback(args.name))
    return 0


def add_models_commands(sub, common) -> None:
    """Add ``models list|show|promote|rollback|report`` and ``retrain`` to the subcommands ``sub``."""
    mod = sub.add_parser("models", help="list, show, promote and roll back models", parents=[common])
    msub = mod.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    p = msub.add_parser("list", help="every model, its current version and its versions", parents=[common])
    p.set_defaults(func=cmd_models_list)
    p = msub.add_parser("show", help="the manifest of a version (default: current)", parents=[common])
    p.add_argument("name")
    p.add_argument("--version", default=None)
    p.set_defaults(func=cmd_models_show)
    p = msub.add_parser("promote", help="make a version current (checked by loading it first)", parents=[common])
    p.add_argument("name")
    p.add_argument("version")
    p.add_argument("--no-check", dest="check", action="store_false", help="skip loading the bundle first")
    p.set_defaults(func=cmd_models_promote)
    p = msub.add_parser("rollback", help="make the previously promoted version current again", parents=[common])
    p.add_argument("name")
    p.set_defaults(func=cmd_models_rollback)
    p = msub.add_parser("report", help="a version's HTML report (written first if it has none)", parents=[common])
    p.add_argument("name")
    p.add_argument("version", nargs="?", default=None, help="default: the current version")
    p.add_argument("--open", action="store_true", help="open the report in a web browser")
    p.set_defaults(func=cmd_models_report)

    p = sub.add_parser("retrain", help="the nightly job: train, compare with current, promote if better",
                       parents=[common])
    p.add_argument("--config", required=True, help="the job's TOML file (docs/retrain.md)")
    p.add_argument("--wait", type=float, default=0.0,
                   help="seconds to wait for another retrain of the model to finish (default 0: fail at once)")
    p.set_defaults(func=cmd_retrain)
