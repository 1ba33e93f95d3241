"""The retrain job's deployment examples run what exists: valid configs, the real command, no overlap."""

import re
import shlex
from pathlib import Path

from vecclf.training.cli import build_parser
from vecclf.training.retrain_config import load_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def parses(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.command == "retrain" and args.config


def test_example_config_is_valid(tmp_path):
    """deploy/retrain.toml is a config `vecclf retrain` accepts."""
    cfg = load_config(DEPLOY / "retrain.toml")
    assert cfg.model == "sentiment" and cfg.data.include_feedback


def test_cron_and_systemd_run_vecclf_retrain():
    """The cron line and the systemd unit call `vecclf retrain --config` with flags the CLI knows."""
    cron = [line for line in (DEPLOY / "vecclf-retrain.cron").read_text().splitlines() if line[:1].isdigit()]
    assert len(cron) == 1
    words = shlex.split(cron[0].split(">>")[0])
    parses(words[words.index("retrain"):])
    unit = (DEPLOY / "vecclf-retrain@.service").read_text()
    exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1)
    parses(shlex.split(exec_start)[1:])
    timer = (DEPLOY / "vecclf-retrain@.timer").read_text()
    assert re.search(r"^OnCalendar=", timer, re.M) and "Type=oneshot" in unit


def test_cronjob_forbids_overlap_and_ships_a_valid_config(tmp_path):
    """The Kubernetes CronJob forbids concurrent runs, runs `vecclf retrain`, and its ConfigMap config loads."""
    import yaml

    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "retrain-cronjob.yaml").read_text()))
    cronjob = next(d for d in docs if d["kind"] == "CronJob")
    configmap = next(d for d in docs if d["kind"] == "ConfigMap")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    parses(container["command"][1:])
    (tmp_path / "retrain.toml").write_text(configmap["data"]["retrain.toml"])
    assert load_config(tmp_path / "retrain.toml").data.sql_url.startswith("postgresql://")


def test_the_old_script_is_gone():
    """deploy/nightly-retrain.sh is replaced, and nothing refers to it any more."""
    assert not (DEPLOY / "nightly-retrain.sh").exists()
    for path in [ROOT / "Dockerfile", ROOT / "README.md", *DEPLOY.rglob("*"), *(ROOT / "docs").glob("*.md")]:
        if path.is_file() and path.name != "retrain.md":
            assert "nightly-retrain.sh" not in path.read_text("utf-8"), path
