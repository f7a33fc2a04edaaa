"""What the first run (no cursor: a full listing) costs, how a tenant's request rate paces a run, and
that the worker's timer reconciles tenants side by side."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import asyncpg
from aiolimiter import AsyncLimiter

from sevsync.config import Settings
from sevsync.reconcile.scheduler import Reconciler
from sevsync.sandbox import people
from sevsync.sandbox.server import SandboxServer
from sevsync.sevdesk.client import SevdeskClient

from ..samples import deal
from .harness import envelope, wait_until
from .reconciling import (
    cipher_of,
    person_at,
    reconcile,
    sevdesk_id_of,
    slow_and_quick_tenants,
    tenant_at_t0,
    through_worker,
)

CONTACTS = 30


async def test_the_first_runs_contact_details_cost_the_accounts_pages_not_a_read_per_contact(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await tenant_at_t0(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    contact_ids = [people.create_contact(account, {"name": f"Kunde {n} GmbH"}).id for n in range(CONTACTS)]
    await db.executemany(
        "INSERT INTO sevsync.entity_link (tenant_id, entity_type, entity_id, sevdesk_object, sevdesk_id)"
        " VALUES ('acme', 'customer', $1, 'Contact', $2)",
        [(f"cust-{n}", str(c)) for n, c in enumerate(contact_ids)],
    )
    person_at(sandbox, 600)
    sandbox.sandbox.calls.clear()

    first = await reconcile(db, settings, sweep=False)  # no cursor yet: the listing is full

    assert first.kinds["contacts"].examined == CONTACTS
    per_contact = [c for c in sandbox.sandbox.calls if "contact[id]" in c.query]
    assert per_contact == []
    assert len(sandbox.sandbox.calls) < 10


async def test_a_full_listing_of_invoices_looks_up_no_cancellation_on_its_own(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await tenant_at_t0(db, settings, sandbox)
    await through_worker(db, settings, envelope("deal.won", deal()))
    person_at(sandbox, 60)
    invoice_id = await sevdesk_id_of(db, "deal_invoice", "deal-42")
    people.finalise_invoice(sandbox.sandbox.account(token), invoice_id)
    person_at(sandbox, 600)
    sandbox.sandbox.calls.clear()

    first = await reconcile(db, settings, ["documents"])

    assert first.kinds["documents"].told == 1
    lookups = [c for c in sandbox.sandbox.calls if any(k.startswith("origin") for k in c.query)]
    assert lookups == []


class _Counting(AsyncLimiter):
    def __init__(self) -> None:
        super().__init__(1000, 1.0)
        self.taken = 0

    async def acquire(self, amount: float = 1) -> None:
        self.taken += 1
        await super().acquire(amount)


async def test_a_run_takes_the_tenants_request_rate_for_every_request(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await tenant_at_t0(db, settings, sandbox)
    sandbox.sandbox.calls.clear()
    pace = _Counting()
    async with SevdeskClient(settings.sevdesk_base_url) as client:
        reconciler = Reconciler(
            db, client, cipher_of(settings), None, sweep_every=12, pace_of=lambda tenant: pace
        )
        summary = await reconciler.run("acme")

    assert summary is not None
    assert pace.taken == len(sandbox.sandbox.calls) > 0


async def test_the_timer_reconciles_a_tenant_while_another_ones_run_waits_on_sevdesk(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await slow_and_quick_tenants(db, settings, sandbox)
    async with SevdeskClient(settings.sevdesk_base_url) as client:
        reconciler = Reconciler(db, client, cipher_of(settings), None, sweep_every=12)
        timer = asyncio.create_task(reconciler.every(timedelta(0)))
        try:

            async def quick_reconciled() -> bool:
                return bool(
                    await db.fetchval(
                        "SELECT count(*) FROM sevsync.reconcile_cursor WHERE tenant_id = 'b-quick'"
                    )
                )

            await wait_until(quick_reconciled, message="the quick tenant reconciled")
            slow_done = await db.fetchval(
                "SELECT count(*) FROM sevsync.reconcile_cursor WHERE tenant_id = 'a-slow'"
            )
        finally:
            sandbox.sandbox.faults.release()
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
            await reconciler.close()

    assert slow_done == 0
