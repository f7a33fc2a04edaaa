"""The CLI explains itself: every command and every argument has help text, and a command group
called without its command lists the commands instead of a bare usage error."""

from __future__ import annotations

import argparse

import pytest

from sevsync.cli import build_parser, main
from sevsync.cli.arguments import all_parsers


def _missing_help(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    missing = []
    for each in all_parsers(parser):
        for action in each._actions:
            if isinstance(action, argparse._SubParsersAction):
                helped = {choice.dest for choice in action._choices_actions if choice.help}
                missing += [(each.prog, name) for name in action.choices if name not in helped]
            elif not action.help or not action.help.strip():
                name = action.option_strings[0] if action.option_strings else action.dest
                missing.append((each.prog, name))
    return missing


def test_every_command_and_argument_has_help() -> None:
    assert _missing_help(build_parser()) == []


def test_the_walk_reaches_every_level() -> None:
    progs = {p.prog for p in all_parsers(build_parser())}

    assert {"sevsync", "sevsync tenant", "sevsync tenant settings", "sevsync dead replay"} <= progs


def test_the_walk_finds_an_argument_without_help() -> None:
    parser = build_parser()
    [settings] = [p for p in all_parsers(parser) if p.prog == "sevsync tenant settings"]
    settings.add_argument("--undocumented")
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    commands.add_parser("hidden")

    missing = _missing_help(parser)

    assert ("sevsync tenant settings", "--undocumented") in missing
    assert ("sevsync", "hidden") in missing


@pytest.mark.parametrize(
    ("argv", "usage", "listed"),
    [
        ([], "usage: sevsync [-h] [--version] COMMAND ...", ("migrate", "worker", "tenant", "publish")),
        (["tenant"], "usage: sevsync tenant [-h] ACTION ...", ("connect", "settings", "doctor")),
        (["dead"], "usage: sevsync dead [-h] ACTION ...", ("list", "replay", "purge")),
    ],
)
def test_a_group_without_its_command_lists_the_commands(
    argv: list[str], usage: str, listed: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(usage)
    commands = {line.split()[0] for line in err.splitlines() if line.startswith("    ")}
    assert set(listed) <= commands


def test_connect_help_says_the_token_comes_from_stdin(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["tenant", "connect", "--help"])

    text = " ".join(capsys.readouterr().out.split())
    assert "API token from the first line of stdin" in text


def test_publish_help_describes_the_file_and_the_target(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["publish", "--help"])

    text = " ".join(capsys.readouterr().out.split())
    assert "JSON Lines: one inbound event per line" in text
    assert "not a JSON array" in text
    assert "exchange SEVSYNC_EXCHANGE [crm.events]" in text
    assert "routing key = the event's event_type" in text
