"""The README's shell examples of `sevsync topology`, `publish` and `skipped` are commands the CLI takes.

The integration tests (test_publishing.py, test_cli_skipped.py) run the same commands for real.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from sevsync.cli import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"
CHECKED = ("topology", "publish", "skipped")
_SHELL_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)


def readme_commands() -> list[list[str]]:
    commands = []
    for block in _SHELL_BLOCK.findall(README.read_text(encoding="utf-8")):
        for line in block.splitlines():
            if not line.startswith("sevsync "):
                continue  # other programs' lines may continue with a backslash
            words = shlex.split(line, comments=True)
            if words[1] in CHECKED:
                commands.append(words[1:])
    return commands


def test_the_readme_shows_each_of_them() -> None:
    assert {command[0] for command in readme_commands()} == set(CHECKED)


@pytest.mark.parametrize("command", readme_commands(), ids=" ".join)
def test_a_readme_example_parses(command: list[str]) -> None:
    args = build_parser().parse_args(command)  # a usage error would exit
    assert callable(args.run)
