"""docs/cli.md documents every command and every flag the parser has (the docs follow the code)."""

import argparse
import re
from pathlib import Path

import pytest

from vecclf.training.cli import build_parser

CLI_MD = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
# Taken by every command and documented once, at the top of docs/cli.md.
GLOBAL = {"--help", "--store", "--verbose"}


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Yield ``(path, parser)`` for every command that runs something (the leaves of the subcommand tree)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from commands(sub, path + (name,))


def synopses(text: str) -> dict[str, str]:
    """Return each documented command line (``vecclf X Y ...`` plus its indented continuation lines) by command."""
    found: dict[str, str] = {}
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        current = None
        for line in block.splitlines():
            if line.startswith("vecclf "):
                words = [w for w in line.split()[1:] if re.fullmatch(r"[a-z][a-z0-9-]*", w)]
                current = " ".join(words)
                found[current] = found.get(current, "") + "\n" + line
            elif current is not None and line[:1].isspace():
                found[current] += "\n" + line
            else:
                current = None
    return found


def documented(command: str, docs: dict[str, str]) -> str | None:
    """Return the synopsis text of ``command`` (its words, then any positional placeholders)."""
    matches = [text for key, text in docs.items() if key == command or key.startswith(command + " ")]
    return "\n".join(matches) if matches else None


ALL = sorted(commands(build_parser()))


@pytest.mark.parametrize("path,parser", ALL, ids=[" ".join(p) for p, _ in ALL])
def test_every_command_and_flag_is_in_cli_md(path, parser):
    """Each command has a synopsis in docs/cli.md that names every one of its flags."""
    docs = synopses(CLI_MD.read_text("utf-8"))
    command = " ".join(path)
    text = documented(command, docs)
    assert text is not None, f"`vecclf {command}` has no synopsis in docs/cli.md"
    for action in parser._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if not longs or set(longs) & GLOBAL:
            continue
        assert any(re.search(rf"{re.escape(o)}(?![\w-])", text) for o in longs), \
            f"`vecclf {command}` flag {longs[0]} is missing from its synopsis in docs/cli.md"


def test_the_synopsis_parser_sees_commands():
    """The reader of docs/cli.md finds the documented commands (so the test above can fail)."""
    docs = synopses("```\nvecclf models show M [--version V]\n  [--extra]\nvecclf serve [--port P]\n```\n")
    assert set(docs) == {"models show", "serve"} and "--extra" in docs["models show"]
