"""A new customer's contact parts (address, e-mail, phone, contact person) are written side by side."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from sevsync.config import Settings
from sevsync.sandbox import FaultInjector
from sevsync.sandbox.server import SandboxServer
from sevsync.sevdesk.api import SevdeskApi
from sevsync.sevdesk.factory import client_from_settings
from sevsync.sevdesk.token import ApiToken
from sevsync.store.db import Connection
from sevsync.store.intents import WantedIntent
from sevsync.store.tenants import TenantRecord
from sevsync.sync.contact_mapping import communication_way_body
from sevsync.sync.context import SyncContext
from sevsync.sync.customers import apply_customer
from sevsync.sync.entity_store import EntityStore, PostgresEntityStore
from sevsync.sync.lookups import TenantLookups
from sevsync.tenants.settings import TenantSettings
from sevsync_events.payloads import Customer
from tests.unit.fakes import InMemoryEntityStore

from ..samples import company
from .harness import (
    add_tenant,
    envelope,
    publish,
    running_worker,
    wait_for_first_outcome,
    wait_for_outcomes,
    wait_until,
)

PART_INTENTS = ["CommunicationWay:EMAIL", "CommunicationWay:PHONE", "ContactAddress", "ContactPerson"]


def hold_part_creates(faults: FaultInjector, token: str) -> None:
    """Hold the creates of the four parts (not the contact's own create) until released."""
    # The first POST /Contact is the contact itself: it takes this pass-through rule.
    faults.add(kind="latency", method="POST", path="^/Contact$", times=1, token=token)
    for path, times in (("^/ContactAddress$", 1), ("^/CommunicationWay$", 2), ("^/Contact$", 1)):
        faults.add(kind="hold", method="POST", path=path, times=times, token=token, seconds=60)


async def test_the_parts_are_created_at_the_same_time(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    faults = sandbox.sandbox.faults
    hold_part_creates(faults, token)
    event = envelope("customer.created", company())
    async with running_worker(settings):
        await publish(settings, event)
        try:
            # Serially the second part's create would wait for the first one's answer: never four.
            await wait_until(lambda: faults.held == 4, message="all four parts' creates in flight at once")
            intents = await db.fetch(
                "SELECT sevdesk_object, xmin::text AS tx FROM sevsync.write_intent"
                " WHERE entity_id = 'cust-1001' ORDER BY sevdesk_object"
            )
        finally:
            faults.release()
        [outcome] = await wait_for_outcomes(db, event)

    assert outcome["status"] == "succeeded", outcome["error"]
    parts = [row for row in intents if row["sevdesk_object"] != "Contact"]
    assert [row["sevdesk_object"] for row in parts] == PART_INTENTS
    # All four intents were saved before any of their creates went out, by one statement.
    assert len({row["tx"] for row in parts}) == 1
    account = sandbox.sandbox.account(token)
    assert len(account.objects("Contact")) == 2  # the company and its contact person
    assert len(account.objects("ContactAddress")) == 1
    assert sorted(w["type"] for w in account.objects("CommunicationWay")) == ["EMAIL", "PHONE"]
    link = await db.fetchrow("SELECT details FROM sevsync.entity_link WHERE entity_id = 'cust-1001'")
    assert link is not None
    assert {"address_id", "email_id", "phone_id", "person_id"} <= set(_json(link["details"]))


async def test_the_parts_intents_are_saved_in_one_statement(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    statements: list[str] = []
    async with _context(db, settings, token) as (ctx, conn):
        conn.add_query_logger(lambda record: statements.append(record.query))
        result = await apply_customer(ctx, Customer.model_validate(company()), 1)

    assert result.status == "succeeded"
    saves = [s for s in statements if "INSERT INTO sevsync.write_intent" in s]
    # One for the contact (its parts need its id), one for all four parts.
    assert len(saves) == 2, saves
    kinds = await db.fetch("SELECT sevdesk_object FROM sevsync.write_intent WHERE entity_id = 'cust-1001'")
    assert sorted(r["sevdesk_object"] for r in kinds) == sorted(["Contact", *PART_INTENTS])


async def test_a_failing_part_lets_the_others_finish_and_the_first_in_order_fails_the_event(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    faults = sandbox.sandbox.faults
    faults.add(kind="latency", method="POST", path="^/Contact$", times=1, token=token)
    # The address (first in order) and the contact person (last) are refused; e-mail and phone land.
    faults.add(
        kind="status", status=422, method="POST", path="^/ContactAddress$", token=token, message="address"
    )
    faults.add(kind="status", status=422, method="POST", path="^/Contact$", token=token, message="person")
    event = envelope("customer.created", company())
    async with running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)

    assert outcome["status"] == "failed"
    assert "ContactAddress" in outcome["error"], outcome["error"]
    # Serially nothing after the address would have been sent; side by side the ways were created.
    account = sandbox.sandbox.account(token)
    assert sorted(w["type"] for w in account.objects("CommunicationWay")) == ["EMAIL", "PHONE"]
    assert sandbox.sandbox.count_calls("POST", "^/Contact$") == 2  # the person's create was sent too


async def test_the_first_failure_in_order_wins_over_one_that_finished_earlier(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    faults = sandbox.sandbox.faults
    faults.add(kind="latency", method="POST", path="^/Contact$", times=1, token=token)
    # The address's create gets no answer, and its look afterwards waits until the contact person
    # (last in order) has been refused: the address fails last, yet its failure is the event's.
    faults.add(kind="status", status=504, method="POST", path="^/ContactAddress$", token=token)
    faults.add(kind="hold", method="GET", path="^/ContactAddress$", token=token, seconds=60)
    faults.add(kind="status", status=422, method="POST", path="^/Contact$", token=token, message="person")
    event = envelope("customer.created", company())
    async with running_worker(settings):
        await publish(settings, event)
        try:
            await wait_until(
                lambda: faults.held == 1 and sandbox.sandbox.count_calls("POST", "^/Contact$") == 2,
                message="the address's look held after the person's create was refused",
            )
        finally:
            faults.release()
        first = await wait_for_first_outcome(db, event)

    assert first["status"] == "retrying", first["error"]
    assert "address" in first["error"], first["error"]


async def test_parts_of_an_adopted_contact_share_one_listing_and_add_no_twins(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    async with _context(db, settings, token) as (ctx, _):
        # A contact that exists in sevDesk already, with an e-mail someone entered by hand.
        existing = await ctx.api.create_contact(
            {"name": "Imported AG", "category": {"id": 3, "objectName": "Category"}}
        )
        contact_id = str(existing["id"])
        await ctx.api.create_communication_way(
            communication_way_body("EMAIL", "old@acme.example", contact_id)
        )
        sandbox.sandbox.calls.clear()
        customer = Customer.model_validate(company(sevdesk_id=contact_id, customer_number=None))
        result = await apply_customer(ctx, customer, 1)

    assert result.status == "succeeded"
    # E-mail and phone both looked for their entry: one listing of the contact's ways served both.
    assert sandbox.sandbox.count_calls("GET", "^/CommunicationWay$") == 1
    ways = sandbox.sandbox.account(token).objects("CommunicationWay")
    assert sorted((w["type"], w["value"]) for w in ways) == [
        ("EMAIL", "billing@acme.example"),  # the hand-made one, updated in place
        ("PHONE", "+49 30 1234567"),
    ]


async def test_parts_answered_503_together_settle_and_resend_in_turn(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    # Both ways' creates, sent together, are answered 503: each settles its intent and marks its
    # resend in the store, on the one connection the event holds.
    sandbox.sandbox.faults.add(kind="status", status=503, method="POST", path="^/CommunicationWay$", times=2)
    event = envelope("customer.created", company())
    async with running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)

    assert (outcome["status"], outcome["attempt"]) == ("succeeded", 1), outcome["error"]
    ways = sandbox.sandbox.account(token).objects("CommunicationWay")
    assert sorted(w["type"] for w in ways) == ["EMAIL", "PHONE"]


async def test_the_store_takes_calls_made_side_by_side_one_at_a_time(db: asyncpg.Pool) -> None:
    async with db.acquire() as conn:
        store = PostgresEntityStore(conn, "acme")
        # asyncpg refuses a second operation on a connection while one is in progress.
        await asyncio.gather(
            store.save_intent("customer", "cust-1", "CommunicationWay:EMAIL", "1"),
            store.save_intent("customer", "cust-1", "CommunicationWay:PHONE", "1"),
            store.settle_intent("customer", "cust-1", "CommunicationWay:EMAIL"),
            store.intent("customer", "cust-1", "CommunicationWay:PHONE"),
        )
        assert await store.intent("customer", "cust-1", "CommunicationWay:EMAIL") is not None


async def test_a_lock_taken_beside_other_store_calls_waits_its_turn(db: asyncpg.Pool) -> None:
    async with db.acquire() as conn:
        store = PostgresEntityStore(conn, "acme")

        async def locked() -> None:
            async with store.advisory_lock("acme/customer-number"):
                await store.intent("customer", "cust-1", "Contact")

        await asyncio.gather(
            locked(),
            store.save_intent("customer", "cust-1", "CommunicationWay:EMAIL", "1"),
            store.intent("customer", "cust-1", "CommunicationWay:PHONE"),
        )
        held = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        assert held == 0


@pytest.fixture(params=["memory", "postgres"])
async def store(request: pytest.FixtureRequest, db: asyncpg.Pool) -> AsyncIterator[EntityStore]:
    """The production store and the unit tests' fake, which must agree."""
    if request.param == "memory":
        yield InMemoryEntityStore("acme")
        return
    async with db.acquire() as conn:
        yield PostgresEntityStore(conn, "acme")


async def test_a_batch_of_intents_is_saved_only_when_no_earlier_create_of_them_may_still_land(
    store: EntityStore,
) -> None:
    await store.save_intent_unless_pending("customer", "cust-1", "ContactAddress", "12", 60.0, None)
    earlier = await store.save_intents_unless_pending(
        "customer",
        "cust-1",
        [WantedIntent("ContactAddress", "13"), WantedIntent("ContactPerson", "max", "fp-1")],
        60.0,
    )
    assert list(earlier) == ["ContactAddress"]
    assert earlier["ContactAddress"].business_key == "12"
    address = await store.intent("customer", "cust-1", "ContactAddress")
    assert address is not None
    assert address.business_key == "12"  # left as it was
    # None of the batch is sent now: no fresh intent would make the next attempt wait for it.
    assert await store.intent("customer", "cust-1", "ContactPerson") is None

    saved = await store.save_intents_unless_pending(
        "customer",
        "cust-2",
        [WantedIntent("ContactAddress", "14"), WantedIntent("ContactPerson", "max", "fp-1")],
        60.0,
    )
    assert saved == {}
    person = await store.intent("customer", "cust-2", "ContactPerson")
    assert person is not None
    assert (person.business_key, person.sent_fingerprints) == ("max", ("fp-1",))


@asynccontextmanager
async def _context(
    db: asyncpg.Pool, settings: Settings, token: str
) -> AsyncIterator[tuple[SyncContext, Connection]]:
    """A handler's context as the worker builds it, on one connection of `db`."""
    tenant = TenantRecord("acme", "sevdesk", "connected", True, TenantSettings(), "sealed", None)
    async with db.acquire() as conn, client_from_settings(settings) as client:
        store = PostgresEntityStore(conn, "acme")
        api = SevdeskApi(client, ApiToken(token))
        yield SyncContext(store=store, tenant=tenant, api=api, lookups=TenantLookups()), conn


def _json(value: object) -> dict[str, object]:
    loaded = value if isinstance(value, dict) else json.loads(str(value))
    assert isinstance(loaded, dict)
    return loaded


async def test_a_part_create_without_an_answer_outweighs_another_parts_refusal(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    faults = sandbox.sandbox.faults
    faults.add(kind="latency", method="POST", path="^/Contact$", times=1, token=token)
    # The address is refused; the e-mail's and phone's creates reach sevDesk only after the client
    # gave up waiting, so they may still land when the event's attempt ends.
    faults.add(kind="status", status=422, method="POST", path="^/ContactAddress$", times=1, token=token)
    faults.add(kind="hold", method="POST", path="^/CommunicationWay$", times=2, token=token, seconds=60)
    event = envelope("customer.created", company())
    async with running_worker(settings):
        await publish(settings, event)
        try:
            first = await wait_for_first_outcome(db, event)
        finally:
            faults.release()
        [final] = await wait_for_outcomes(db, event)

    # Failing for the address would settle the ways' intents, and the next attempt would create
    # them a second time: the attempt waits and looks again instead.
    assert first["status"] == "retrying", (first["status"], first["reason"], first["error"])
    assert final["status"] == "succeeded", final["error"]
    account = sandbox.sandbox.account(token)
    assert sorted(w["type"] for w in account.objects("CommunicationWay")) == ["EMAIL", "PHONE"]
    assert len(account.objects("ContactAddress")) == 1


async def test_a_part_failing_before_any_create_sends_no_create(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    # sevDesk knows no such country: the address fails before its create, in the first round.
    address = {"street": "Base 1", "zip": "00000", "city": "McMurdo", "country": "AQ"}
    event = envelope("customer.created", company(address=address))
    async with running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)

    assert (outcome["status"], outcome["reason"]) == ("failed", "unknown_country"), outcome["error"]
    assert sandbox.sandbox.count_calls("POST", "^/CommunicationWay$") == 0
    assert sandbox.sandbox.count_calls("POST", "^/Contact$") == 1  # the contact, not its person


async def test_the_person_of_an_adopted_contact_waits_for_the_other_parts(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    # The company's contact exists (an earlier attempt, or a person in sevDesk): it is adopted by
    # its number, and its contact person can only be found again by name.
    account.insert("Contact", {"name": "Acme GmbH", "customerNumber": "K-1001", "category": {"id": "3"}})
    sandbox.sandbox.faults.add(
        kind="status", status=422, method="POST", path="^/ContactAddress$", token=token
    )
    event = envelope("customer.created", company())
    async with running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)

    assert outcome["status"] == "failed", outcome["error"]
    # A person created now would be linked by nobody; a later version with another name would not
    # find it and create a second one.
    assert [c for c in account.objects("Contact") if c.get("parent")] == []
    assert sorted(w["type"] for w in account.objects("CommunicationWay")) == ["EMAIL", "PHONE"]
