"""`sevsync skipped list|replay|purge`: events skipped while their tenant did not sync, and what every
command says about those waiting to be sent."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..outcome_words import REPLAYABLE_SKIPS
from .arguments import MAX_RETENTION_DAYS, TENANT_HELP, Commands, Parser, at_least_one, days, tenant_id
from .errors import CliError
from .resources import pool

if TYPE_CHECKING:
    # Types only: parsing arguments imports no database driver.
    from ..skipped import SkippedReplayRefused
    from ..store.skipped import SkippedEvent

SKIPPED_LIST_LIMIT = 50


def add_commands(commands: Commands) -> None:
    skipped = commands.add_parser(
        "skipped", help="list, send and purge events skipped while their tenant did not sync"
    )
    skipped_cmds = skipped.add_subparsers(
        dest="skipped_command", required=True, metavar="ACTION", parser_class=Parser
    )
    _add_list(skipped_cmds)
    _add_replay(skipped_cmds)
    _add_purge(skipped_cmds)


def _add_list(skipped_cmds: Commands) -> None:
    reasons = ", ".join(REPLAYABLE_SKIPS)
    listing = skipped_cmds.add_parser(
        "list",
        help="print the skipped events of a tenant waiting to be sent (never their bodies)",
        description="Print the events of TENANT that were skipped because the tenant did not sync "
        f"({reasons}) and wait to be sent: per entity the newest version of each kind of event, oldest "
        "skip first. Bodies (personal data) are never printed.",
    )
    listing.add_argument("tenant", help=TENANT_HELP)
    listing.add_argument("--reason", choices=REPLAYABLE_SKIPS, help="only events skipped for this reason")
    listing.add_argument(
        "--limit",
        type=at_least_one,
        default=SKIPPED_LIST_LIMIT,
        metavar="N",
        help=f"at most N rows [{SKIPPED_LIST_LIMIT}]",
    )
    listing.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    listing.set_defaults(run=_cmd_skipped_list)


def _add_replay(skipped_cmds: Commands) -> None:
    replay = skipped_cmds.add_parser(
        "replay",
        help="send a tenant's waiting skipped events to sevsync's own work queue",
        description="Send the events `sevsync skipped list` shows (per entity the newest version of each "
        "kind of event; older versions stay skipped) to sevsync's own work queue, where they run again "
        "past the inbox. Refused while the tenant would skip them again (not connected, not enabled, "
        "token refused); events of a kind the tenant's settings switch off are held back.",
    )
    replay.add_argument("tenant", help=TENANT_HELP)
    replay.add_argument("--reason", choices=REPLAYABLE_SKIPS, help="only events skipped for this reason")
    replay.set_defaults(run=_cmd_skipped_replay)


def _add_purge(skipped_cmds: Commands) -> None:
    purge = skipped_cmds.add_parser(
        "purge",
        help="delete kept bodies of skipped events older than a number of days",
        description="Delete the kept bodies of skipped events skipped more than DAYS days ago, waiting "
        "and replayed ones alike (they hold personal data); their outcome rows stay. The worker does "
        "this daily with SEVSYNC_SKIPPED_RETENTION_DAYS.",
    )
    purge.add_argument(
        "--older-than",
        dest="older_than",
        type=days,
        required=True,
        metavar="DAYS",
        help=f"only those skipped more than DAYS days ago (1 to {MAX_RETENTION_DAYS})",
    )
    purge.add_argument("--tenant", metavar="TENANT", help="only this tenant's")
    purge.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    purge.set_defaults(run=_cmd_skipped_purge)


def _skipped_events(count: int) -> str:
    return f"{count} skipped event" + ("" if count == 1 else "s")


def _flag(setting: str) -> str:
    return "--" + setting.replace("_", "-")


def _skipped_fix(tenant: str, reason: str, held_back: Sequence[str] = ()) -> str:
    """The command that lets a tenant's skipped events through, for a refusal's reason."""
    if reason == "disabled":
        return f"sevsync tenant settings {tenant} --enable"
    if reason == "auto_sync_off":
        return f"sevsync tenant settings {tenant} " + " ".join(_flag(s) for s in sorted(held_back))
    return f"sevsync tenant connect {tenant}"


def skipped_hint(tenant: str, count: int, refused: SkippedReplayRefused | None) -> str:
    """What `skipped list`, `tenant connect` and `tenant settings --enable` say about waiting events."""
    waiting = f"{_skipped_events(count)} of tenant {tenant} " + ("waits" if count == 1 else "wait")
    if refused is None:
        return f"{waiting} to be sent: sevsync skipped replay {tenant}"
    return (
        f"{waiting} to be sent once it syncs: {_skipped_fix(tenant, refused.reason)}, "
        f"then sevsync skipped replay {tenant}"
    )


async def _cmd_skipped_list(args: argparse.Namespace, settings: Settings) -> int:
    from ..skipped import refusal, tenant_record
    from ..store.skipped import count_waiting, list_waiting

    tenant = tenant_id(args.tenant)
    async with pool(settings) as db:
        record = await tenant_record(db, tenant)
        rows = await list_waiting(db, tenant, reason=args.reason, limit=args.limit)
        total = await count_waiting(db, tenant, reason=args.reason)
    if args.json:
        print(json.dumps([_skipped_view(row) for row in rows], indent=2))
        return 0
    if not rows:
        print(f"no skipped events of tenant {tenant} wait to be sent")
        return 0
    print("\n".join(_skipped_table(rows)))
    if total > len(rows):
        print(f"(the first {len(rows)} of {total}; --limit shows more)")
    print(skipped_hint(tenant, total, refusal(record)))
    return 0


def _skipped_view(row: SkippedEvent) -> dict[str, Any]:
    return {
        "event_id": str(row.event_id),
        "event_type": row.event_type,
        "entity_type": row.entity_type,
        "entity_id": row.entity_id,
        "version": row.version,
        "reason": row.reason,
        "skipped_at": row.skipped_at.isoformat(),
    }


def _skipped_table(rows: Sequence[SkippedEvent]) -> list[str]:
    from ..display import printable_cell, utc_timestamp

    header = ["SKIPPED_AT", "REASON", "EVENT_TYPE", "ENTITY", "VERSION", "EVENT_ID"]
    cells = [
        [
            utc_timestamp(row.skipped_at),
            row.reason,
            row.event_type,
            f"{row.entity_type} {printable_cell(row.entity_id)}",
            str(row.version),
            str(row.event_id),
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    return [
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *cells]
    ]


async def _cmd_skipped_replay(args: argparse.Namespace, settings: Settings) -> int:
    from ..skipped import SkippedReplayFailed, SkippedReplayRefused, replay_skipped

    tenant = tenant_id(args.tenant)
    async with pool(settings) as db:
        try:
            summary = await replay_skipped(
                db, settings.amqp_url.get_secret_value(), settings.queue, tenant, reason=args.reason
            )
        except SkippedReplayRefused as exc:
            raise CliError(f"{exc}: {_skipped_fix(tenant, exc.reason, exc.settings_off)}") from None
        except SkippedReplayFailed as exc:
            raise CliError(str(exc)) from None
    if summary.replayed:
        line = f"sent {_skipped_events(summary.replayed)} of tenant {tenant} to queue {settings.queue}"
    else:
        line = f"no skipped events of tenant {tenant} wait to be sent"
    if summary.held_back:
        count = sum(summary.held_back.values())
        settings_off = ", ".join(sorted(summary.held_back))
        line += (
            f"; held back {_skipped_events(count)} of a kind switched off ({settings_off}): "
            f"{_skipped_fix(tenant, 'auto_sync_off', list(summary.held_back))}, then run this again"
        )
    print(line)
    return 0


async def _cmd_skipped_purge(args: argparse.Namespace, settings: Settings) -> int:
    from ..store.skipped import purge_skipped

    tenant = tenant_id(args.tenant) if args.tenant is not None else None
    async with pool(settings) as db:
        count = await purge_skipped(
            db, older_than_days=args.older_than, tenant_id=tenant, dry_run=args.dry_run
        )
    what = _skipped_events(count) + (f" of tenant {tenant}" if tenant else "")
    age = f"skipped more than {args.older_than} day" + ("" if args.older_than == 1 else "s") + " ago"
    if args.dry_run:
        print(f"dry run: would delete the kept bodies of {what} {age}; nothing was deleted")
    else:
        print(f"deleted the kept bodies of {what} {age}")
    return 0
