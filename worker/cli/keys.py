"""`sevsync keys rotate`: re-encrypt the stored sevDesk tokens with the newest key."""

from __future__ import annotations

import argparse

from ..config import Settings
from .arguments import Commands, Parser
from .errors import CliError
from .resources import cipher, pool


def add_commands(commands: Commands) -> None:
    keys = commands.add_parser("keys", help="manage the keys that encrypt stored API tokens")
    keys_cmds = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION", parser_class=Parser)
    rotate = keys_cmds.add_parser(
        "rotate",
        help="re-encrypt every stored sevDesk token with the first key of SEVSYNC_SECRET_KEYS",
        description="Re-encrypt every stored sevDesk API token with the first key of "
        "SEVSYNC_SECRET_KEYS; the other keys only decrypt. Put the new key first, keep the old ones "
        "after it, run this, and drop the old keys only once it exits 0. Tokens no key decrypts are "
        "left unchanged and named by tenant; the command then exits non-zero.",
    )
    rotate.set_defaults(run=_cmd_keys_rotate)


async def _cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from ..tenants.keys import rotate_tokens

    token_cipher = cipher(settings)
    async with pool(settings) as db:
        summary = await rotate_tokens(db, token_cipher)
    print(f"re-encrypted {summary.rotated} token" + ("" if summary.rotated == 1 else "s"))
    if summary.undecryptable:
        raise CliError(
            "no key in SEVSYNC_SECRET_KEYS decrypts the stored token of tenant"
            + ("s " if len(summary.undecryptable) > 1 else " ")
            + ", ".join(summary.undecryptable)
            + "; left unchanged: keep the key they were stored with, or connect them again"
        )
    return 0
