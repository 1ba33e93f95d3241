"""The package layout keeps its promises: one import name, no standard-library shadows, small modules,
settings read only at the edge."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("vecclf", "training", "service")
MAX_LINES = 500
# The edges: where the environment may be read (the CLI's main, the WSGI entry) or, for prometheus_client
# which reads nothing else, set (vecclf serve).
ENV_EDGES = {"training/cli.py", "service/wsgi.py", "service/serve.py"}


def modules():
    """Yield every Python module of the installed packages, relative to the repository root."""
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", list(modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_shadows_the_standard_library(path):
    """No module or package is named like a standard-library module (``python training/cli.py`` would break)."""
    names = {path.stem} | {part for part in path.relative_to(ROOT).parts[:-1]}
    assert not names & set(sys.stdlib_module_names) - {"__init__", "__main__"}, path


@pytest.mark.parametrize("path", list(modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_500_lines(path):
    """Every module stays small enough to read in one sitting."""
    assert len(path.read_text("utf-8").splitlines()) <= MAX_LINES, path


@pytest.mark.parametrize("path", list(modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_settings_are_read_only_at_the_edge(path):
    """Only the CLI's main and the service's entry points touch the process environment."""
    rel = str(path.relative_to(ROOT))
    if rel in ENV_EDGES:
        return
    text = path.read_text("utf-8")
    assert not re.search(r"\bos\.environ\b|\bgetenv\(", text), f"{rel} reads the environment"


def test_one_import_name():
    """The install provides vecclf.training and vecclf.service; the folder names do not import."""
    code = ("import vecclf.training, vecclf.service, vecclf.training.cli\n"
            "try:\n    import training\nexcept ImportError:\n    print('refused')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "refused", out.stderr


def test_python_dash_m_vecclf_runs_the_cli():
    """``python -m vecclf --help`` prints the CLI's usage."""
    out = subprocess.run([sys.executable, "-m", "vecclf", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("usage: vecclf")
