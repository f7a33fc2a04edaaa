"""`sevsync sandbox`: the bundled sevDesk-compatible API, for trying sevsync without an account."""

from __future__ import annotations

import argparse

from ..config import Settings
from .arguments import Commands, non_negative_int

# The account a sandbox started without `--token` has: a made-up token that opens nothing real, the
# same one compose.yaml and the README's "Run it yourself" use.
DEV_TOKEN = "0123456789abcdef0123456789abcdef"  # noqa: S105


def add_commands(commands: Commands) -> None:
    sandbox = commands.add_parser(
        "sandbox",
        help="run the bundled sevDesk-compatible sandbox API",
        description="Serve a sevDesk stand-in (in memory, nothing kept) until stopped. Without --token "
        f"it has one account, whose dev token {DEV_TOKEN} it prints; connect a tenant with it.",
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="interface to listen on [127.0.0.1]")
    sandbox.add_argument("--port", type=non_negative_int, default=8090, help="port to listen on [8090]")
    sandbox.add_argument(
        "--token",
        action="append",
        default=[],
        help="register an account with this API token (repeatable); none: the dev token",
    )
    sandbox.set_defaults(run=_cmd_sandbox)


async def _cmd_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from ..sandbox.server import serve

    tokens: list[str] = args.token or [DEV_TOKEN]
    print(f"sevDesk sandbox on http://{args.host}:{args.port}/api/v1", flush=True)
    if not args.token:
        print(f"dev token: {DEV_TOKEN} (an account of this sandbox only)", flush=True)
    await serve(args.host, args.port, tokens)
    return 0
