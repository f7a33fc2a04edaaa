"""The store's combined statements against real Postgres: the event's state in one read, intents
saved and keys claimed in one statement each, and the links a handler is given up front."""

from __future__ import annotations

import uuid

import asyncpg

from sevsync.sevdesk.api import SevdeskApi
from sevsync.sevdesk.client import SevdeskClient
from sevsync.sevdesk.token import ApiToken
from sevsync.store.commit import commit_result
from sevsync.store.event_state import read_event_state
from sevsync.store.intents import Intent, claim_key, save_intent_unless_pending
from sevsync.store.links import LinkWrite, upsert_link
from sevsync.store.outcomes import OutcomeRow, insert_outcome
from sevsync.store.tenants import TenantRecord
from sevsync.sync.context import SyncContext
from sevsync.sync.entity_store import PostgresEntityStore
from sevsync.sync.lookups import LookupRegistry
from sevsync.tenants.settings import TenantSettings

DEAL_TYPES = ("deal_order", "deal_invoice")  # a deal's offer and invoice links


async def _add_tenant(db: asyncpg.Pool, tenant_id: str = "acme") -> None:
    await db.execute(
        "INSERT INTO sevsync.tenant_integration (tenant_id, provider, status, token_encrypted, settings) "
        "VALUES ($1, 'sevdesk', 'connected', 'sealed', $2)",
        tenant_id,
        {"small_business": True},
    )


def _link(entity_type: str, entity_id: str, sevdesk_id: str, version: int) -> LinkWrite:
    return LinkWrite(
        entity_type=entity_type,
        entity_id=entity_id,
        sevdesk_object="Order" if entity_type == "deal_order" else "Invoice",
        sevdesk_id=sevdesk_id,
        sevdesk_number=f"N-{sevdesk_id}",
        synced_version=version,
        payload_hash="h",
        details={"hashes": {"lines": "abc"}, "ä": [1, 2]},
    )


def _outcome(event_id: uuid.UUID, status: str, reason: str | None, attempt: int) -> OutcomeRow:
    return OutcomeRow(
        event_id=event_id,
        tenant_id="acme",
        event_type="deal.won",
        entity_type="deal",
        entity_id="deal-1",
        status=status,
        reason=reason,
        attempt=attempt,
    )


async def test_event_state_of_a_new_event_of_an_unknown_tenant(db: asyncpg.Pool) -> None:
    async with db.acquire() as conn:
        state = await read_event_state(conn, uuid.uuid4(), "nobody", DEAL_TYPES, "deal-1")
    assert (state.attempt, state.tenant, state.links) == (1, None, ())


async def test_event_state_carries_the_tenant_the_links_and_the_next_attempt(db: asyncpg.Pool) -> None:
    await _add_tenant(db)
    await _add_tenant(db, "other")
    event_id = uuid.uuid4()
    async with db.acquire() as conn:
        await upsert_link(conn, "acme", _link("deal_order", "deal-1", "11", 3))
        await upsert_link(conn, "acme", _link("deal_invoice", "deal-1", "12", 4))
        # Neither another entity's nor another tenant's link belongs to the event.
        await upsert_link(conn, "acme", _link("deal_order", "deal-2", "13", 1))
        await upsert_link(conn, "other", _link("deal_order", "deal-1", "14", 1))
        await insert_outcome(conn, _outcome(event_id, "retrying", "rate_limited", 1))
        await insert_outcome(conn, _outcome(event_id, "retrying", "rate_limited", 2))
        # A duplicate's row repeats an earlier attempt's number: it does not count as an attempt.
        await insert_outcome(conn, _outcome(event_id, "skipped", "duplicate", 7))

        state = await read_event_state(conn, event_id, "acme", DEAL_TYPES, "deal-1")

    assert state.attempt == 3
    assert state.tenant is not None
    assert (state.tenant.tenant_id, state.tenant.status, state.tenant.token_encrypted) == (
        "acme",
        "connected",
        "sealed",
    )
    assert state.tenant.settings.small_business is True
    by_type = {link.entity_type: link for link in state.links}
    assert sorted(by_type) == ["deal_invoice", "deal_order"]
    offer = by_type["deal_order"]
    assert (offer.sevdesk_id, offer.sevdesk_number, offer.synced_version) == ("11", "N-11", 3)
    # jsonb inside a whole-row value is decoded like a plain column.
    assert offer.details == {"hashes": {"lines": "abc"}, "ä": [1, 2]}
    assert by_type["deal_invoice"].sevdesk_id == "12"


async def test_event_state_of_an_event_in_the_inbox_has_no_attempt(db: asyncpg.Pool) -> None:
    await _add_tenant(db)
    event_id = uuid.uuid4()
    async with db.acquire() as conn:
        await commit_result(conn, _outcome(event_id, "succeeded", None, 1), mark_processed=True)
        state = await read_event_state(conn, event_id, "acme", DEAL_TYPES, "deal-1")
    assert state.attempt is None


async def _intent_rows(db: asyncpg.Pool) -> list[tuple[str, str, bool]]:
    rows = await db.fetch(
        "SELECT entity_id, business_key, settled FROM sevsync.write_intent ORDER BY entity_id"
    )
    return [(r["entity_id"], r["business_key"], r["settled"]) for r in rows]


async def _save(db: asyncpg.Pool, entity_id: str, key: str, settle: float = 60.0) -> Intent | None:
    async with db.acquire() as conn:
        return await save_intent_unless_pending(conn, "acme", "customer", entity_id, "Contact", key, settle)


async def test_an_intent_is_saved_unless_an_unsettled_young_one_may_still_land(db: asyncpg.Pool) -> None:
    assert await _save(db, "cust-1", "1000") is None
    assert await _intent_rows(db) == [("cust-1", "1000", False)]

    pending = await _save(db, "cust-1", "1001")
    assert pending is not None
    assert pending.business_key == "1000"
    assert 0 <= pending.age_seconds < 60
    assert await _intent_rows(db) == [("cust-1", "1000", False)]

    # Settled (its attempt got an answer) or older than the settle time: replaced.
    await db.execute("UPDATE sevsync.write_intent SET settled = true")
    assert await _save(db, "cust-1", "1001") is None
    assert await _intent_rows(db) == [("cust-1", "1001", False)]
    await db.execute("UPDATE sevsync.write_intent SET created_at = now() - interval '2 minutes'")
    assert await _save(db, "cust-1", "1002") is None
    assert await _intent_rows(db) == [("cust-1", "1002", False)]


async def test_claiming_a_key_voids_old_intents_of_others_and_waits_for_young_ones(db: asyncpg.Pool) -> None:
    await _save(db, "cust-1", "1000")
    await _save(db, "cust-2", "1000")
    await _save(db, "cust-3", "999")
    await db.execute("UPDATE sevsync.write_intent SET created_at = now() - interval '2 minutes'")
    # A young one of another entity with the key: it may still be created, so nothing changes.
    await _save(db, "cust-4", "1000")
    async with db.acquire() as conn:
        holders = await claim_key(conn, "acme", "Contact", "1000", "cust-1", 60.0)
    assert holders == ["cust-4"]
    assert [row[0] for row in await _intent_rows(db)] == ["cust-1", "cust-2", "cust-3", "cust-4"]

    # Once it is settled, every other entity's intent with the key goes; the claimant's own stays.
    await db.execute("UPDATE sevsync.write_intent SET settled = true WHERE entity_id = 'cust-4'")
    async with db.acquire() as conn:
        holders = await claim_key(conn, "acme", "Contact", "1000", "cust-1", 60.0)
    assert holders == []
    assert [row[:2] for row in await _intent_rows(db)] == [("cust-1", "1000"), ("cust-3", "999")]


async def test_a_context_answers_known_links_without_reading_until_it_writes_them(db: asyncpg.Pool) -> None:
    tenant = TenantRecord("acme", "sevdesk", "connected", True, TenantSettings(), "sealed", None)
    async with db.acquire() as conn, SevdeskClient("http://127.0.0.1:9") as client:
        ctx = SyncContext(
            store=PostgresEntityStore(conn, "acme"),
            tenant=tenant,
            api=SevdeskApi(client, ApiToken("unused")),
            lookups=LookupRegistry().for_tenant("acme"),
            known_links={("deal_order", "deal-1"): None, ("deal_invoice", "deal-1"): None},
        )
        # Written behind the context's back: the context still answers what the processor read.
        await upsert_link(conn, "acme", _link("deal_order", "deal-1", "11", 1))
        assert await ctx.link("deal_order", "deal-1") is None
        assert await ctx.links(DEAL_TYPES, "deal-1") == {}
        # Not among the known ones: read.
        assert await ctx.links(("deal_order",), "deal-2") == {}

        # Written through the context: read again from then on.
        await ctx.commit_links([_link("deal_order", "deal-1", "21", 2)])
        offer = await ctx.link("deal_order", "deal-1")
        assert offer is not None
        assert offer.sevdesk_id == "21"
        assert set(await ctx.links(DEAL_TYPES, "deal-1")) == {"deal_order"}
