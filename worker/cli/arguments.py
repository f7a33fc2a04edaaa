"""The parser every command shares and the types of its arguments."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import date
from typing import NoReturn, TypeAlias
from uuid import UUID

from .errors import EXIT_USAGE, CliError


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is a single line (the usage text is one `--help` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# What each command group adds its commands to.
Commands: TypeAlias = "argparse._SubParsersAction[Parser]"


def all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """`parser` and every command parser below it (each one's `prog` is its command path)."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from all_parsers(sub)


def help_when_no_command(parser: argparse.ArgumentParser) -> None:
    """A command group called without its command (`sevsync`, `sevsync tenant`) leaves
    `incomplete` set to its parser, whose help then lists the commands, instead of argparse's bare
    "the following arguments are required"."""
    for each in all_parsers(parser):
        for action in each._actions:
            if isinstance(action, argparse._SubParsersAction):
                action.required = False
                each.set_defaults(incomplete=each, run=None)


TENANT_HELP = "the tenant id, as the CRM's events carry it"

# A hundred years: the bound keeps `now() - DAYS` a valid timestamp.
MAX_RETENTION_DAYS = 36500


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return key.strip(), value.strip()


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-12-31, got {text!r}") from None


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected zero or more, got {value}")
    return value


def at_least_one(text: str) -> int:
    value = non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of days, got {text!r}") from None
    if not 1 <= value <= MAX_RETENTION_DAYS:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_RETENTION_DAYS} days, got {value}")
    return value


def event_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an event id (a UUID), got {text!r}") from None


def tenant_id(text: str) -> str:
    """A tenant argument, checked when the command runs: a bad one is an error (exit 1), not a usage
    error."""
    from ..store.tenants import is_tenant_id

    if not is_tenant_id(text):
        raise CliError(f"tenant id {text!r} must be 1-64 characters of A-Z a-z 0-9 _ . -")
    return text
