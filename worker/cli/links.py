"""`sevsync link show|list|relink|clear`: an operator's decision on a link whose sevDesk object was
deleted there (CONTRACT section 10; the rules are in tenants.links)."""

from __future__ import annotations

import argparse
import json

from ..config import Settings
from ..sync.broken_links import LINK_TYPES
from .arguments import Commands, Parser, tenant_id
from .resources import cipher, pool

# The relink's one GET answers in seconds: one quick retry, as `tenant doctor` does.
RELINK_ATTEMPTS = 2
RELINK_BUDGET_SECONDS = 5.0


def add_commands(commands: Commands) -> None:
    link = commands.add_parser(
        "link", help="show, relink or clear links whose sevDesk object was deleted there (broken links)"
    )
    link_cmds = link.add_subparsers(dest="link_command", required=True, metavar="ACTION", parser_class=Parser)
    show = link_cmds.add_parser("show", help="print one link as JSON", description="Print one link as JSON.")
    _add_target(show)
    show.set_defaults(run=_cmd_show)
    listing = link_cmds.add_parser(
        "list",
        help="print a tenant's broken links as JSON",
        description="Print the links of TENANT whose sevDesk object was found deleted, longest broken first.",
    )
    listing.add_argument("tenant", help="the tenant id")
    listing.add_argument("--broken", action="store_true", help="only broken links (the only kind listed)")
    listing.set_defaults(run=_cmd_list)
    relink = link_cmds.add_parser(
        "relink",
        help="point a broken link at another existing sevDesk object of its kind",
        description="Point a broken link at another sevDesk object of the same kind, checked with one GET "
        "in the tenant's account; the entity's next event (or a replay) then updates that object. "
        "A link that is not broken is refused.",
    )
    _add_target(relink)
    relink.add_argument(
        "--sevdesk-id", required=True, metavar="N", help="the id of the sevDesk object to link"
    )
    relink.set_defaults(run=_cmd_relink)
    clear = link_cmds.add_parser(
        "clear",
        help="remove a broken link, so the entity's next event creates anew",
        description="Remove a broken link and its entity's write intents; the entity's next event (or a "
        "replay) creates a new sevDesk object. A link that is not broken is refused.",
    )
    _add_target(clear)
    clear.set_defaults(run=_cmd_clear)


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tenant", help="the tenant id")
    parser.add_argument("type", metavar="TYPE", help=f"the link type: {', '.join(LINK_TYPES)}")
    parser.add_argument("id", metavar="ID", help="the CRM entity's id")


def _print(value: object) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


async def _cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from ..tenants.links import describe_link, find_link

    async with pool(settings) as db:
        _print(describe_link(await find_link(db, tenant_id(args.tenant), args.type, args.id)))
    return 0


async def _cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from ..tenants.links import describe_link, list_broken

    async with pool(settings) as db:
        _print([describe_link(link) for link in await list_broken(db, tenant_id(args.tenant))])
    return 0


async def _cmd_relink(args: argparse.Namespace, settings: Settings) -> int:
    from ..sevdesk.client import RetryPolicy
    from ..sevdesk.factory import client_from_settings
    from ..tenants.links import checked_link, describe_link, relink

    tenant = tenant_id(args.tenant)
    checked_link(args.type, args.sevdesk_id)
    retry = RetryPolicy(attempts=RELINK_ATTEMPTS, budget_seconds=RELINK_BUDGET_SECONDS)
    async with pool(settings) as db, client_from_settings(settings, retry=retry) as client:
        link = await relink(db, client, cipher(settings), tenant, (args.type, args.id), args.sevdesk_id)
    _print(describe_link(link))
    return 0


async def _cmd_clear(args: argparse.Namespace, settings: Settings) -> int:
    from ..tenants.links import clear_link

    async with pool(settings) as db:
        link = await clear_link(db, tenant_id(args.tenant), args.type, args.id)
    print(
        f"cleared {link.entity_type} {link.entity_id} (was sevDesk {link.sevdesk_object} {link.sevdesk_id}); "
        "its next event creates anew"
    )
    return 0
