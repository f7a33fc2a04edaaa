"""The shell examples of the README and of every page under docs/ are what the project takes.

Every `sevsync` command in a shell block (also one run through `docker compose exec`) parses, every
`make` target exists, and every `curl` call to the admin port is an admin API operation whose body
fits its request model. The integration tests (test_run_it_yourself.py, test_publishing.py,
test_cli_skipped.py, test_cli_tenants.py, test_admin_api.py) run such commands for real; the JSON
examples are checked in test_doc_examples.py.
"""

from __future__ import annotations

import re
import shlex

import pytest

from sevsync.admin.api import OPERATIONS, PREFIX
from sevsync.cli import build_parser
from tests.doc_pages import ROOT, page_blocks

# Commands whose examples the docs must show (the ones added with their sections).
SHOWN = ("topology", "publish", "skipped", "tenant", "worker", "migrate", "sandbox", "dead", "link")
_SEVSYNC = re.compile(r"(?:^|\s)(sevsync\s.*)$")
# The admin port as the examples show it (HTTP_PORT's default); the sandbox's is 8090.
_ADMIN = re.compile(r"^(?:localhost|127\.0\.0\.1):8080/")


def _shell_lines() -> list[str]:
    """The shell blocks' commands, a line ending in a backslash joined with the next."""
    return [
        line.strip()
        for _, block in page_blocks("sh")
        for line in block.replace("\\\n", " ").splitlines()
        if line.strip()
    ]


def _words(command: str) -> list[str]:
    """A simple command's words, up to the first shell operator (`&`, `|`, `;`, a redirection)."""
    # "2> file": the descriptor belongs to the redirection, not to the command's arguments.
    lexer = shlex.shlex(re.sub(r"\s\d+>", " >", command), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words = list(lexer)
    cut = next((i for i, word in enumerate(words) if set(word) <= set("();<>|&")), len(words))
    return words[:cut]


def readme_commands() -> list[list[str]]:
    commands = []
    for line in _shell_lines():
        found = _SEVSYNC.search(line)
        if found is not None:
            commands.append(_words(found.group(1))[1:])
    return commands


def readme_make_targets() -> list[str]:
    return [shlex.split(line, comments=True)[1] for line in _shell_lines() if line.startswith("make ")]


def readme_curl_calls() -> list[list[str]]:
    return [shlex.split(line, comments=True)[1:] for line in _shell_lines() if line.startswith("curl ")]


def test_the_docs_show_each_of_them() -> None:
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
    [url] = [word for word in words if _ADMIN.match(word)]
    path = "/" + url.split("/", 1)[1]
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
