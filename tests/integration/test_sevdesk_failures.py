"""How sevDesk's failures end up: retried, failed with sevDesk's own words, parked, never duplicated."""

from __future__ import annotations

import logging

import asyncpg
import pytest

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer

from ..samples import company, person, product
from .harness import (
    add_tenant,
    envelope,
    outbound_listener,
    publish,
    running_worker,
    wait_for_outcomes,
    wait_until,
)


async def test_rate_limit_then_success(db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer) -> None:
    token = await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(
        kind="status", status=429, retry_after=0.2, method="POST", path="^/Part$", times=2
    )
    event = envelope("product.created", product())
    async with running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)

    assert outcome["status"] == "succeeded", outcome["error"]
    assert len(sandbox.sandbox.account(token).objects("Part")) == 1
    posts = [c for c in sandbox.sandbox.calls if c.method == "POST" and c.path == "/Part"]
    assert [c.status for c in posts] == [429, 429, 201]
    assert outcome["api_calls"] == 4  # the part-number search and three POSTs


async def test_sevdesk_refusal_is_failed_with_its_code_and_message(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(
        kind="status", status=422, code=4711, message="Kunde ist gesperrt", method="POST", path="^/Contact$"
    )
    event = envelope("customer.created", company())
    async with outbound_listener(settings) as received, running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)
        await wait_until(
            lambda: any(m["event_type"] == "sync.failed" for m in received), message="sync.failed"
        )

    assert (outcome["status"], outcome["reason"]) == ("failed", "sevdesk_rejected")
    assert "4711" in outcome["error"]
    assert "Kunde ist gesperrt" in outcome["error"]
    dead = await db.fetchrow("SELECT * FROM sevsync.dead_letter")
    assert dead is not None
    assert (dead["reason"], str(dead["event_id"])) == ("sevdesk_rejected", event["event_id"])
    assert b'"cust-1001"' in bytes(dead["body"])
    failed = next(m for m in received if m["event_type"] == "sync.failed")
    assert failed["data"]["reason"] == "sevdesk_rejected"
    assert "Kunde ist gesperrt" in failed["data"]["error"]
    # Failed events are not in the inbox: a replay after the cause is fixed applies them.
    assert await db.fetchval("SELECT count(*) FROM sevsync.inbox") == 0


async def test_outage_longer_than_the_retry_budget_is_dead_lettered(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(kind="status", status=503, path="^/Part", times=None)
    event = envelope("product.created", product())
    async with running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)

    assert (outcome["status"], outcome["reason"]) == ("dead", "retries_exhausted")
    assert "503" in outcome["error"]
    assert await db.fetchval("SELECT reason FROM sevsync.dead_letter") == "retries_exhausted"


@pytest.mark.parametrize("kind", ["lost_answer", "applied_then_error"])
async def test_create_whose_answer_is_lost_is_found_not_repeated(
    kind: str, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    # Every create of the customer loses its answer once: contact, address, e-mail, phone, person.
    for path in ("^/Contact$", "^/ContactAddress$", "^/CommunicationWay$"):
        sandbox.sandbox.faults.add(kind=kind, status=500, method="POST", path=path, times=1)
    event = envelope("customer.created", company())
    async with running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)

    assert outcome["status"] == "succeeded", outcome["error"]
    account = sandbox.sandbox.account(token)
    assert len([c for c in account.objects("Contact") if c.get("name")]) == 1
    assert len(account.objects("ContactAddress")) == 1
    assert len(account.objects("CommunicationWay")) == 2
    link = await db.fetchrow("SELECT sevdesk_id FROM sevsync.entity_link")
    assert link is not None
    [org] = [c for c in account.objects("Contact") if c.get("name")]
    assert link["sevdesk_id"] == org["id"]
    assert await db.fetchval("SELECT count(*) FROM sevsync.write_intent") == 0


async def test_lost_answer_on_a_number_allocated_create(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(kind="lost_answer", method="POST", path="^/Contact$", times=1)
    event = envelope("customer.created", person())
    async with running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)
    assert outcome["status"] == "succeeded", outcome["error"]
    [contact] = sandbox.sandbox.account(token).objects("Contact")
    assert await db.fetchval("SELECT sevdesk_number FROM sevsync.entity_link") == contact["customerNumber"]


async def test_refused_token_parks_the_tenant_and_leaks_nowhere(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    token = await add_tenant(db, settings, sandbox)
    await add_tenant(db, settings, sandbox, "other")
    sandbox.sandbox.remove_account(token)  # the token was regenerated in sevDesk
    parked = envelope("customer.created", company())
    others = envelope("customer.created", company(), tenant="other")
    caplog.set_level(logging.DEBUG)
    async with outbound_listener(settings) as received, running_worker(settings):
        await publish(settings, parked, others)
        outcomes = await wait_for_outcomes(db, parked, others)
        await wait_until(lambda: len(received) >= 2, message="outbound results")

    assert [(o["status"], o["reason"]) for o in outcomes] == [("parked", "auth_failed"), ("succeeded", None)]
    assert (
        await db.fetchval("SELECT status FROM sevsync.tenant_integration WHERE tenant_id = 'acme'")
        == "auth_failed"
    )
    assert await db.fetchval("SELECT count(*) FROM sevsync.parked_event") == 1
    assert await db.fetchval("SELECT count(*) FROM sevsync.dead_letter") == 0
    assert token not in caplog.text
    for table in ("sync_outcome", "dead_letter", "tenant_integration", "parked_event", "outbox"):
        dump = await db.fetchval(f"SELECT coalesce(string_agg(t::text, ' '), '') FROM sevsync.{table} t")
        assert token not in dump, table
    assert all(token not in str(m) for m in received)
