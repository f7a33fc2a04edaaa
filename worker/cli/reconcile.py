"""`sevsync reconcile`: tell the CRM now what changed or was deleted in a tenant's sevDesk."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..config import Settings
from .arguments import TENANT_HELP, Commands, tenant_id
from .errors import CliError
from .progress import progress_bar
from .resources import cipher, pool

if TYPE_CHECKING:
    import asyncpg
    from tqdm import tqdm

    from ..broker.outbound import OutboundPublisher
    from ..reconcile.results import ReconcileKind
    from ..reconcile.telling import Publish
    from ..store.outbox import OutboxMessage


def add_commands(commands: Commands) -> None:
    reconcile = commands.add_parser(
        "reconcile",
        help="tell the CRM what changed or was deleted in the tenant's sevDesk (as events)",
        description="List what changed in sevDesk since the tenant's last run (contacts, offers, invoices "
        "and vouchers by sevDesk's updateAfter; all parts, as Part has no such filter) and publish each "
        "change of a linked object once, as contact.changed, part.changed or document.status_changed; a "
        "linked object found deleted is marked broken and published as link.broken. A run that another "
        "process holds is refused. The worker runs this every SEVSYNC_RECONCILE_INTERVAL by itself.",
    )
    reconcile.add_argument("tenant", help=TENANT_HELP)
    reconcile.add_argument("--kind", choices=["contacts", "parts", "documents"], help="one kind only [all]")
    reconcile.add_argument(
        "--sweep",
        action="store_true",
        help="also list everything (deletions of contacts and documents, unmoved addresses)",
    )
    reconcile.add_argument(
        "--status",
        action="store_true",
        help="run nothing: show each kind's (or --kind's) cursor, runs, last sweep and last failure",
    )
    reconcile.set_defaults(run=_cmd_reconcile)


async def _cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from ..reconcile.results import KINDS, ReconcileFailed, ReconcileRunning
    from ..reconcile.run import run_reconcile
    from ..sevdesk.factory import client_from_settings
    from ..sync.throttle import limiter_for

    tenant = tenant_id(args.tenant)
    if getattr(args, "status", False):
        if args.sweep:
            raise CliError("--status runs nothing, so --sweep has no meaning with it")
        return await _cmd_status(tenant, args.kind, settings)
    token_cipher = cipher(settings)
    kinds: list[ReconcileKind] = [args.kind] if args.kind else list(KINDS)
    bar = progress_bar(f"reconciling {tenant}", " objects")
    try:
        async with (
            pool(settings) as db,
            client_from_settings(settings) as client,
            _outbound(settings, db) as out,
        ):
            try:
                summary = await run_reconcile(
                    db,
                    client,
                    token_cipher,
                    tenant,
                    kinds,
                    publish=_marking(out),
                    sweep=True if args.sweep else None,
                    sweep_every=settings.reconcile_sweep_every,
                    progress=_showing_on(bar),
                    pace=limiter_for(settings.tenant_requests_per_second),
                )
            finally:
                # Also after a failed run: what it published must not go out again by the relay.
                await out.mark_last()
    except ReconcileFailed as exc:
        print(exc.summary.line())  # what the other kinds did
        raise CliError(str(exc)) from None
    except ReconcileRunning as exc:
        raise CliError(str(exc)) from None
    finally:
        bar.close()
    print(summary.line())
    return 0


async def _cmd_status(tenant: str, kind: str | None, settings: Settings) -> int:
    from ..display import utc_timestamp
    from ..store.reconcile import reconcile_status
    from ..store.tenants import TenantRepository

    async with pool(settings) as db:
        if await TenantRepository(db).get(tenant) is None:
            raise CliError(f"tenant {tenant} is not known")
        async with db.acquire() as conn:
            kinds = [k for k in await reconcile_status(conn, tenant) if kind is None or k.kind == kind]
    if not kinds:
        print(f"tenant {tenant}: {f'{kind} ' if kind else ''}not reconciled yet")

    def at(moment: datetime | None) -> str:
        return utc_timestamp(moment, missing="none")

    for k in kinds:
        line = f"{k.kind}: {k.runs} runs, cursor {at(k.changed_after)}, last sweep {at(k.swept_at)}"
        if k.last_error is not None:
            line += f"; FAILED {at(k.last_failed_at)}: {k.last_error}"
        elif k.last_failed_at is not None:
            line += f"; last failure {at(k.last_failed_at)} (runs finished since)"
        print(line)
    return 0


@asynccontextmanager
async def _outbound(settings: Settings, db: asyncpg.Pool) -> AsyncIterator[OutboundPublisher]:
    """The worker's outbox publisher on its own connection (what fails to go out, the relay sends)."""
    from sevsync_events.connection import connect as connect_amqp

    from ..broker.outbound import OutboundPublisher, declare_outbound

    connection = await connect_amqp(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel(publisher_confirms=True)
        yield OutboundPublisher(await declare_outbound(channel, settings.out_exchange), db)
    finally:
        await connection.close()


def _marking(out: OutboundPublisher) -> Publish:
    """Publish, then mark published at once: a run may outlast the relay's grace, and the worker's
    relay would send again what this run published but left unmarked."""

    async def publish(messages: Sequence[OutboxMessage]) -> None:
        await out.publish(messages)
        await out.mark_published()

    return publish


def _showing_on(bar: tqdm[Any]) -> Callable[[ReconcileKind, int], None]:
    def progress(kind: ReconcileKind, examined: int) -> None:
        if bar.disable:
            return
        bar.n = examined
        bar.set_postfix(kind=kind, refresh=False)
        bar.refresh()

    return progress
