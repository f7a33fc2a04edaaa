"""The README's shell and JSON examples are what the project takes.

Every `sevsync` command in a shell block (also one run through `docker compose exec`) parses, every
`make` target exists, every `curl` call is an admin API operation whose body fits its request model,
and the JSON envelope is a valid envelope. The integration tests (test_publishing.py,
test_cli_skipped.py, test_cli_tenants.py, test_admin_api.py) run such commands for real.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from sevsync.admin.api import OPERATIONS, PREFIX
from sevsync.cli import build_parser
from sevsync_events.envelope import ANY_ENVELOPE

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# Commands whose examples the README must show (the ones added with their sections).
SHOWN = ("topology", "publish", "skipped")
_BLOCK = re.compile(r"```(sh|json)\n(.*?)```", re.DOTALL)
_SEVSYNC = re.compile(r"(?:^|\s)(sevsync\s.*)$")


def _blocks(language: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(README.read_text(encoding="utf-8")) if lang == language]


def _shell_lines() -> list[str]:
    """The shell blocks' commands, a line ending in a backslash joined with the next."""
    return [
        line for block in _blocks("sh") for line in block.replace("\\\n", " ").splitlines() if line.strip()
    ]


def readme_commands() -> list[list[str]]:
    commands = []
    for line in _shell_lines():
        found = _SEVSYNC.search(line)
        if found is not None:
            commands.append(shlex.split(found.group(1), comments=True)[1:])
    return commands


def readme_make_targets() -> list[str]:
    return [shlex.split(line, comments=True)[1] for line in _shell_lines() if line.startswith("make ")]


def readme_curl_calls() -> list[list[str]]:
    return [shlex.split(line, comments=True)[1:] for line in _shell_lines() if line.startswith("curl ")]


def test_the_readme_shows_each_of_them() -> None:
    assert {command[0] for command in readme_commands()} >= set(SHOWN)


@pytest.mark.parametrize("command", readme_commands(), ids=" ".join)
def test_a_readme_example_parses(command: list[str]) -> None:
    args = build_parser().parse_args(command)  # a usage error would exit
    assert callable(args.run)


@pytest.mark.parametrize("target", readme_make_targets())
def test_a_readme_make_target_exists(target: str) -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(rf"^{re.escape(target)}:", makefile, re.MULTILINE), target


@pytest.mark.parametrize("words", readme_curl_calls(), ids=" ".join)
def test_a_readme_curl_call_is_an_api_operation_with_a_fitting_body(words: list[str]) -> None:
    method = words[words.index("-X") + 1] if "-X" in words else "GET"
    [url] = [word for word in words if word.startswith("localhost:")]
    path = "/" + url.split("/", 1)[1]
    assert url.startswith("localhost:8080/")  # HTTP_PORT's default
    matching = [
        op
        for op in OPERATIONS
        if op.method == method and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", PREFIX + op.path), path)
    ]
    assert len(matching) == 1, (method, path)
    assert "Authorization: Bearer $SEVSYNC_ADMIN_TOKEN" in words
    if "-d" in words:
        request = matching[0].request
        assert request is not None, f"{method} {path} takes no body"
        request.model_validate_json(words[words.index("-d") + 1])


def test_the_readme_envelope_is_an_envelope() -> None:
    [example] = _blocks("json")
    ANY_ENVELOPE.model_validate(json.loads(example))
