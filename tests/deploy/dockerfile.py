"""Read what a Dockerfile's last stage runs, so tests follow the file instead of repeating it."""

import json
import shlex
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """Return the (INSTRUCTION, arguments) pairs of a Dockerfile: continuations joined, comments dropped."""
    out, pending = [], ""
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):  # Docker drops these, inside continuations too
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        if whole and not whole.startswith("#"):
            keyword, _, rest = whole.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def final_stage(text: str) -> dict:
    """Return what the image's last stage runs: {"env", "entrypoint", "cmd", "healthcheck", "user", "workdir"}."""
    steps = instructions(text)
    last = max(i for i, (kw, _) in enumerate(steps) if kw == "FROM")
    stage = {"env": {}, "entrypoint": [], "cmd": [], "healthcheck": None, "user": None, "workdir": "/"}
    for keyword, rest in steps[last + 1 :]:
        if keyword == "ENV":
            stage["env"].update(dict(item.split("=", 1) for item in shlex.split(rest)))
        elif keyword in ("ENTRYPOINT", "CMD"):
            stage[keyword.lower()] = json.loads(rest)  # exec form only: a shell form would not parse
        elif keyword == "HEALTHCHECK":
            stage["healthcheck"] = json.loads(rest.split(" CMD ", 1)[1])
        elif keyword in ("USER", "WORKDIR"):
            stage[keyword.lower()] = rest
    return stage
