"""`sevsync dead list|replay|purge`: the dead letters, looked at, sent again and deleted."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from ..config import Settings
from .arguments import MAX_RETENTION_DAYS, Commands, Parser, at_least_one, days, event_id, tenant_id
from .errors import CliError
from .resources import pool

if TYPE_CHECKING:
    import asyncpg

    from ..replay import ReplayableSelection
    from ..store.dead_letters import DeadLetterFilter

DEAD_LIST_LIMIT = 50


def add_commands(commands: Commands) -> None:
    dead = commands.add_parser("dead", help="list, replay and purge dead letters")
    dead_cmds = dead.add_subparsers(dest="dead_command", required=True, metavar="ACTION", parser_class=Parser)
    _add_list(dead_cmds)
    _add_replay(dead_cmds)
    _add_purge(dead_cmds)


def _add_list(dead_cmds: Commands) -> None:
    listing = dead_cmds.add_parser(
        "list",
        help="print dead letters, newest first (never their bodies unless asked)",
        description="Print dead letters, newest first: open ones only unless --include-replayed. "
        "Message bodies may hold personal data and are printed only with --show-body.",
    )
    _add_dead_filters(listing)
    listing.add_argument(
        "--limit",
        type=at_least_one,
        default=DEAD_LIST_LIMIT,
        metavar="N",
        help=f"at most N rows [{DEAD_LIST_LIMIT}]",
    )
    listing.add_argument("--include-replayed", action="store_true", help="also those replayed already")
    listing.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    listing.add_argument(
        "--show-body", action="store_true", help="also print the raw bodies; needs exactly one --event-id"
    )
    listing.set_defaults(run=_cmd_dead_list)


def _add_replay(dead_cmds: Commands) -> None:
    replay = dead_cmds.add_parser(
        "replay",
        help="publish open dead letters again to sevsync's own work queue",
        description="Publish the open dead letters matching the filters, oldest first and unchanged, "
        "to sevsync's own work queue (never the CRM exchange), with a fresh retry ladder; each is "
        "marked replayed once the broker confirmed it. Without --tenant, --reason or --event-id "
        "it refuses unless --all is given. Events applied already are skipped by the worker as "
        "duplicates.",
    )
    _add_dead_filters(replay)
    replay.add_argument(
        "--limit", type=at_least_one, metavar="N", help="at most N dead letters, oldest first"
    )
    replay.add_argument(
        "--all",
        action="store_true",
        help="required without --tenant, --reason or --event-id: replay every open dead letter",
    )
    replay.add_argument("--dry-run", action="store_true", help="print what would be replayed; change nothing")
    replay.set_defaults(run=_cmd_dead_replay)


def _add_purge(dead_cmds: Commands) -> None:
    purge = dead_cmds.add_parser(
        "purge",
        help="delete dead letters older than a number of days (their bodies hold personal data)",
        description="Delete the dead letters that died more than DAYS days ago, open and replayed "
        "ones alike: retention is about the personal data in their bodies, which an open dead letter "
        "holds as much as a replayed one. Replay what is still needed first; deleted rows are gone.",
    )
    purge.add_argument(
        "--older-than",
        dest="older_than",
        type=days,
        required=True,
        metavar="DAYS",
        help=f"only dead letters older than DAYS days (1 to {MAX_RETENTION_DAYS})",
    )
    purge.add_argument("--tenant", metavar="TENANT", help="only this tenant's dead letters")
    purge.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    purge.set_defaults(run=_cmd_dead_purge)


def _add_dead_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tenant", metavar="TENANT", help="only this tenant's dead letters")
    p.add_argument("--reason", metavar="REASON", help="only this reason, e.g. sevdesk_rejected, malformed")
    p.add_argument(
        "--event-id",
        dest="event_ids",
        type=event_id,
        action="append",
        default=[],
        metavar="ID",
        help="only this event (repeatable)",
    )


def _dead_filter(args: argparse.Namespace, *, open_only: bool = True) -> DeadLetterFilter:
    from ..store.dead_letters import DeadLetterFilter

    return DeadLetterFilter(
        tenant_id=tenant_id(args.tenant) if args.tenant is not None else None,
        reason=args.reason,
        event_ids=tuple(dict.fromkeys(args.event_ids)),
        open_only=open_only,
    )


def _dead_letters(count: int) -> str:
    return f"{count} dead letter" + ("" if count == 1 else "s")


async def _cmd_dead_list(args: argparse.Namespace, settings: Settings) -> int:
    from ..replay import body_text, describe, table
    from ..store.dead_letters import list_dead_letters

    if args.show_body and len(set(args.event_ids)) != 1:
        raise CliError("--show-body needs exactly one --event-id (bodies may hold personal data)")
    filters = _dead_filter(args, open_only=not args.include_replayed)
    async with pool(settings) as db:
        rows = await list_dead_letters(db, filters, limit=args.limit, with_body=args.show_body)
    if args.json:
        print(json.dumps([describe(row, with_body=args.show_body) for row in rows], indent=2))
    elif not rows:
        print("no dead letters match" if args.include_replayed else "no open dead letters match")
    elif args.show_body:
        header, *lines = table(rows)
        print(header)
        for line, row in zip(lines, rows, strict=True):
            print(line)
            print(body_text(row))
    else:
        print("\n".join(table(rows)))
    return 0


async def _cmd_dead_replay(args: argparse.Namespace, settings: Settings) -> int:
    from ..replay import ReplayError, UnnarrowedReplay, preview, replay, require_narrowed, table

    asked = _dead_filter(args)
    try:
        require_narrowed(asked, everything=args.all)
    except UnnarrowedReplay:
        raise CliError(
            "replay needs --tenant, --reason or --event-id, or --all for every open dead letter"
        ) from None
    async with pool(settings) as db:
        selection = await _replayable(db, asked)
        filters, left_out = selection.filters, selection.left_out
        if left_out:
            print(f"left out {_dead_letters(left_out)} no replay can fix (malformed); they stay open")
        if args.dry_run:
            rows = await preview(db, filters, limit=args.limit, everything=args.all)
            if rows:
                print("\n".join(table(rows)))
            print(
                f"dry run: would replay {_dead_letters(len(rows))} to queue {settings.queue}; "
                "nothing was published"
            )
            return 0
        try:
            summary = await replay(
                db,
                settings.amqp_url.get_secret_value(),
                settings.queue,
                filters,
                limit=args.limit,
                everything=args.all,
            )
        except ReplayError as exc:
            raise CliError(str(exc)) from None
    print(
        f"replayed {_dead_letters(summary.replayed)} to queue {settings.queue}"
        + (f"; {summary.still_open} matching still open" if summary.still_open else "")
    )
    return 0


async def _replayable(db: asyncpg.Pool, asked: DeadLetterFilter) -> ReplayableSelection:
    """The selection without malformed letters, and how many it leaves out; naming them is refused."""
    from ..replay import UnreplayableDeadLetters, replayable_selection

    try:
        return await replayable_selection(db, asked)
    except UnreplayableDeadLetters as exc:
        raise CliError(str(exc)) from None


async def _cmd_dead_purge(args: argparse.Namespace, settings: Settings) -> int:
    from ..store.dead_letters import purge_dead_letters

    tenant = tenant_id(args.tenant) if args.tenant is not None else None
    async with pool(settings) as db:
        count = await purge_dead_letters(
            db, older_than_days=args.older_than, tenant_id=tenant, dry_run=args.dry_run
        )
    what = _dead_letters(count) + (f" of tenant {tenant}" if tenant else "")
    age = f"older than {args.older_than} day" + ("" if args.older_than == 1 else "s")
    if args.dry_run:
        print(f"dry run: would delete {what} {age}; nothing was deleted")
    else:
        print(f"deleted {what} {age}")
    return 0
