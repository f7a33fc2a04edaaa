"""The `sevsync` command line. Every error is one line on stderr and a non-zero exit status.

Each command group lives in its own module and adds its commands to the parser built here.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from pydantic import ValidationError

from .. import __version__
from ..config import Settings
from ..logs import configure_command_logging, configure_logging
from . import dead, imports, keys, links, publish, reconcile, sandbox, service, skipped, tenant, topology
from .arguments import Commands, Parser, help_when_no_command
from .errors import EXIT_FAILURE, EXIT_USAGE, CliError, describe_failure

# In the order `sevsync --help` lists them.
_COMMAND_GROUPS: tuple[Callable[[Commands], None], ...] = (
    service.add_commands,
    tenant.add_commands,
    keys.add_commands,
    publish.add_commands,
    topology.add_commands,
    imports.add_commands,
    reconcile.add_commands,
    sandbox.add_commands,
    dead.add_commands,
    skipped.add_commands,
    links.add_commands,
)

# Long-running services log JSON lines for a log collector; every other command is run by a person
# or a script, who reads what it prints (see logs.configure_command_logging).
_SERVICES = ("worker", "sandbox")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="sevsync",
        description="Keeps sevDesk in step with a CRM.",
        epilog="`sevsync COMMAND --help` explains a command. Settings come from SEVSYNC_* environment "
        "variables (SEVSYNC_AMQP_URL, SEVSYNC_DATABASE_URL, SEVSYNC_SECRET_KEYS, ...).",
    )
    parser.add_argument("--version", action="version", version=f"sevsync {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for add_commands in _COMMAND_GROUPS:
        add_commands(commands)
    help_when_no_command(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.run is None:
        # A usage error like any missing argument (status 2), but one that lists the commands.
        args.incomplete.print_help(sys.stderr)
        return EXIT_USAGE
    run: Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]] = args.run
    settings: Settings | None = None
    try:
        settings = _load_settings()
        if args.command in _SERVICES:
            configure_logging(settings.log_level)
        else:
            configure_command_logging(settings.log_level)
        return _run_loop(run(args, settings))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        print(f"sevsync: error: {describe_failure(exc, settings)}", file=sys.stderr)
        return EXIT_FAILURE


def _load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "SEVSYNC_" + str(first["loc"][0]).upper() if first["loc"] else "configuration"
        raise CliError(f"{name}: {first['msg']}") from None


def _run_loop(command: Coroutine[Any, Any, int]) -> int:
    """Run a command on uvloop where it exists: the worker spends less CPU per event on it than
    on the stock loop (sockets of Postgres, RabbitMQ and sevDesk; see docs/performance.md)."""
    try:
        import uvloop
    except ImportError:  # a platform uvloop does not support
        return asyncio.run(command)
    return uvloop.run(command)
