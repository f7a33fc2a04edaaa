"""`sevsync sandbox`: the bundled sevDesk-compatible API, for trying sevsync without an account."""

from __future__ import annotations

import argparse

from ..config import Settings
from .arguments import Commands, non_negative_int


def add_commands(commands: Commands) -> None:
    sandbox = commands.add_parser("sandbox", help="run the bundled sevDesk-compatible sandbox API")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=non_negative_int, default=8090)
    sandbox.add_argument(
        "--token", action="append", default=[], help="register an account with this API token (repeatable)"
    )
    sandbox.set_defaults(run=_cmd_sandbox)


async def _cmd_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from ..sandbox.server import serve

    print(f"sevDesk sandbox on http://{args.host}:{args.port}/api/v1", flush=True)
    await serve(args.host, args.port, args.token)
    return 0
