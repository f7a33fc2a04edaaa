"""Reconciling while a handler writes: what sevDesk shows may be its write, not committed yet. The run
neither tells it nor breaks the link; it compares the object again once the handler has committed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from sevsync.config import Settings
from sevsync.reconcile.entities import lock_key_of
from sevsync.sandbox import people
from sevsync.sandbox.server import SandboxServer
from sevsync.store import reconcile as store_reconcile
from sevsync.store.outbox import OutboxMessage
from sevsync.sync.locks import entity_lock_key
from sevsync.sync.told_events import DELETED_IN_SEVDESK

from ..samples import company, deal, product
from .harness import envelope, publish, running_worker, wait_for_outcomes
from .reconciling import (
    linked_customers,
    linked_products,
    person_at,
    reconcile,
    sevdesk_id_of,
    tenant_at_t0,
    through_worker,
    told,
)


@asynccontextmanager
async def handler_holding(db: asyncpg.Pool, entity_type: str, entity_id: str) -> AsyncIterator[None]:
    """The processor's session lock on the entity, as while one of its events is applied."""
    async with db.acquire() as conn:
        key = entity_lock_key("acme", entity_type, entity_id)
        await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", key)
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", key)


def _message(version: int) -> OutboxMessage:
    return OutboxMessage(uuid.uuid4(), "link.broken", b"{}")


async def test_a_customer_handlers_write_is_not_told_before_or_after_it_commits(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token, ids = await linked_customers(db, settings, sandbox)
    await reconcile(db, settings)
    account = sandbox.sandbox.account(token)
    person_at(sandbox, 600)
    async with handler_holding(db, "customer", "cust-1001"):
        # customer.updated v2's update_contact landed; its addresses and its commit are still to come
        people.edit(account, "Contact", ids["cust-1001"], {"name": "Acme Neu GmbH"})
        during = await reconcile(db, settings, sweep=False)
    await through_worker(
        db, settings, envelope("customer.updated", company(company_name="Acme Neu GmbH"), version=2)
    )
    after = await reconcile(db, settings, sweep=False)

    assert (during.kinds["contacts"].told, during.kinds["contacts"].busy) == (0, 1)
    assert after.kinds["contacts"].told == 0
    assert after.kinds["contacts"].examined >= 1  # the cursor stayed before the skipped contact
    assert await told(db) == []


async def test_a_persons_edit_skipped_while_a_handler_wrote_is_told_by_the_next_run(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token, ids = await linked_customers(db, settings, sandbox)
    await reconcile(db, settings)
    person_at(sandbox, 600)
    async with handler_holding(db, "customer", "cust-1001"):
        people.edit(sandbox.sandbox.account(token), "Contact", ids["cust-1001"], {"name": "Acme Holding"})
        during = await reconcile(db, settings, sweep=False)
    person_at(sandbox, 600)
    after = await reconcile(db, settings, sweep=False)

    assert (during.kinds["contacts"].told, after.kinds["contacts"].told) == (0, 1)
    assert [e["data"]["company_name"] for e in await told(db, "contact.changed")] == ["Acme Holding"]


async def test_a_link_is_not_broken_while_its_handler_writes_nor_after_sevsync_deleted_its_draft(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await tenant_at_t0(db, settings, sandbox)
    await through_worker(db, settings, envelope("deal.won", deal()))
    async with db.acquire() as conn:
        [listed] = await store_reconcile.linked_objects(conn, "acme", ["deal_invoice"], "Invoice")
        lock_key = lock_key_of("acme", listed)

        async def break_listed() -> OutboxMessage | None:
            return await store_reconcile.mark_broken(
                conn,
                "acme",
                listed.entity_type,
                listed.entity_id,
                DELETED_IN_SEVDESK,
                _message,
                sevdesk_id=listed.sevdesk_id,
                lock_key=lock_key,
            )

        async with handler_holding(db, "deal", "deal-42"):
            with pytest.raises(store_reconcile.EntityBusy):
                await break_listed()
        # deal.cancelled deletes the draft and commits after the run read the link
        await through_worker(db, settings, envelope("deal.cancelled", {"id": "deal-42"}, version=2))
        deleted_by_sevsync = await break_listed()
        # ... or the link moved on to another invoice (a relink) after the run read it
        await conn.execute(
            "UPDATE sevsync.entity_link SET sevdesk_id = '999', details = '{}'::jsonb"
            " WHERE entity_type = 'deal_invoice' AND entity_id = 'deal-42'"
        )
        moved_on = await break_listed()
        broken_at = await conn.fetchval(
            "SELECT broken_at FROM sevsync.entity_link"
            " WHERE entity_type = 'deal_invoice' AND entity_id = 'deal-42'"
        )

    assert (deleted_by_sevsync, moved_on, broken_at) == (None, None, None)
    assert await told(db, "link.broken") == []


async def test_an_entity_with_an_unsettled_write_intent_is_left_to_the_next_run(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token, ids = await linked_customers(db, settings, sandbox)
    await reconcile(db, settings)
    # a crashed attempt's contact person create may have landed; its retry commits it
    await db.execute(
        "INSERT INTO sevsync.write_intent (tenant_id, entity_type, entity_id, sevdesk_object, business_key)"
        " VALUES ('acme', 'customer', 'cust-1001', 'ContactPerson', 'K-1001')"
    )
    person_at(sandbox, 600)
    people.edit(sandbox.sandbox.account(token), "Contact", ids["cust-1001"], {"name": "Acme Holding"})
    during = await reconcile(db, settings, sweep=False)
    await db.execute("DELETE FROM sevsync.write_intent")
    after = await reconcile(db, settings, sweep=False)

    assert (during.kinds["contacts"].busy, during.kinds["contacts"].told, after.kinds["contacts"].told) == (
        1,
        0,
        1,
    )


async def test_an_offer_rejected_by_a_lost_deals_handler_is_not_told_before_or_after_it_commits(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await tenant_at_t0(db, settings, sandbox)
    await through_worker(db, settings, envelope("deal.opened", deal()))
    await reconcile(db, settings, ["documents"])
    offer_id = await sevdesk_id_of(db, "deal_order", "deal-42")
    person_at(sandbox, 600)
    async with handler_holding(db, "deal", "deal-42"):
        # deal.lost's rejection landed; the state it agrees is written only when its handler commits
        people.decide_offer(sandbox.sandbox.account(token), offer_id, accepted=False)
        during = await reconcile(db, settings, ["documents"])
    # Its retry (as after a crash before the commit) finds its own rejection and commits it agreed.
    lost = envelope("deal.lost", {"id": "deal-42"}, version=2)
    async with running_worker(settings):
        await publish(settings, lost)
        [outcome] = await wait_for_outcomes(db, lost)
    after = await reconcile(db, settings, ["documents"])

    assert (outcome["status"], outcome["reason"]) == ("skipped", "no_change")
    assert (during.kinds["documents"].told, during.kinds["documents"].busy) == (0, 1)
    assert after.kinds["documents"].told == 0
    assert await told(db) == []


async def test_a_product_handlers_write_is_not_told_before_or_after_it_commits(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token, ids = await linked_products(db, settings, sandbox)
    await reconcile(db, settings, ["parts"])
    person_at(sandbox, 600)
    async with handler_holding(db, "product", "prod-7"):
        # product.updated v2's update_part landed; its commit is still to come
        people.edit(sandbox.sandbox.account(token), "Part", ids["prod-7"], {"price": "99.5"})
        during = await reconcile(db, settings, ["parts"])
    await through_worker(db, settings, envelope("product.updated", product(net_price="99.50"), version=2))
    after = await reconcile(db, settings, ["parts"])

    assert (during.kinds["parts"].told, during.kinds["parts"].busy) == (0, 1)
    assert after.kinds["parts"].told == 0
    assert await told(db) == []


async def test_an_entity_whose_event_waits_on_the_retry_ladder_is_left_to_the_next_run(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token, ids = await linked_customers(db, settings, sandbox)
    await reconcile(db, settings)
    # customer.updated v2's update_contact got no answer (it may have landed): its retry is due later
    await db.execute(
        "INSERT INTO sevsync.sync_outcome (event_id, tenant_id, event_type, entity_type, entity_id, status)"
        " VALUES ($1, 'acme', 'customer.updated', 'customer', 'cust-1001', 'retrying')",
        uuid.uuid4(),
    )
    person_at(sandbox, 600)
    people.edit(sandbox.sandbox.account(token), "Contact", ids["cust-1001"], {"name": "Acme Neu GmbH"})
    during = await reconcile(db, settings, sweep=False)

    assert (during.kinds["contacts"].busy, during.kinds["contacts"].told) == (1, 0)
    assert await told(db) == []
