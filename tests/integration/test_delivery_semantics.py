"""Duplicates, stale versions, gates (connected, enabled, auto-sync) and malformed input."""

from __future__ import annotations

import asyncpg

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer

from ..samples import company, product
from .harness import (
    add_tenant,
    envelope,
    outbound_listener,
    publish,
    running_worker,
    wait_for_dead_letters,
    wait_for_outcomes,
    wait_until,
)


async def test_same_event_twice_has_one_effect(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    event = envelope("customer.created", company())
    async with running_worker(settings):
        await publish(settings, event)
        await wait_for_outcomes(db, event)
        await publish(settings, event)
        await wait_until_rows(db, "SELECT count(*) FROM sevsync.sync_outcome", 2)

    rows = await db.fetch("SELECT status, reason FROM sevsync.sync_outcome ORDER BY id")
    assert [(r["status"], r["reason"]) for r in rows] == [("succeeded", None), ("skipped", "duplicate")]
    assert len([c for c in sandbox.sandbox.account(token).objects("Contact") if c.get("name")]) == 1
    # The dashboard view keeps the real state of the entity.
    status = await db.fetchval("SELECT status FROM sevsync.entity_status WHERE entity_id = 'cust-1001'")
    assert status == "succeeded"


async def test_older_version_is_skipped_as_stale(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    newer = envelope("product.updated", product(name="New name"), version=5)
    older = envelope("product.updated", product(name="Old name"), version=4)
    async with running_worker(settings):
        await publish(settings, newer)
        await wait_for_outcomes(db, newer)
        await publish(settings, older)
        [outcome] = await wait_for_outcomes(db, older)

    assert (outcome["status"], outcome["reason"]) == ("skipped", "stale")
    [part] = sandbox.sandbox.account(token).objects("Part")
    assert part["name"] == "New name"
    assert await db.fetchval("SELECT synced_version FROM sevsync.entity_link") == 5


async def test_events_of_unconnected_disabled_or_opted_out_tenants_are_skipped(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox, "off", enabled=False)
    await add_tenant(db, settings, sandbox, "noprod", auto_sync_products=False)
    unknown = envelope("customer.created", company(), tenant="nobody")
    disabled = envelope("customer.created", company(), tenant="off")
    opted_out = envelope("product.created", product(), tenant="noprod")
    async with outbound_listener(settings) as received, running_worker(settings):
        await publish(settings, unknown, disabled, opted_out)
        outcomes = await wait_for_outcomes(db, unknown, disabled, opted_out)
        await wait_until(lambda: len(received) >= 3, message="three sync.skipped events")

    assert [(o["status"], o["reason"]) for o in outcomes] == [
        ("skipped", "not_connected"),
        ("skipped", "disabled"),
        ("skipped", "auto_sync_off"),
    ]
    assert {m["event_type"] for m in received} == {"sync.skipped"}
    assert sandbox.sandbox.calls == [
        c for c in sandbox.sandbox.calls if c.path == "/Tools/bookkeepingSystemVersion"
    ]


async def test_disconnected_tenant_is_skipped(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    from sevsync.tenants.service import disconnect_tenant

    await add_tenant(db, settings, sandbox)
    await disconnect_tenant(db, "acme")
    event = envelope("customer.created", company())
    async with running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)
    assert (outcome["status"], outcome["reason"]) == ("skipped", "not_connected")


async def test_malformed_messages_are_dead_lettered_and_the_queue_keeps_flowing(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    float_money = envelope("product.created", {**product(), "net_price": 120.0})
    good = envelope("customer.created", company())
    async with running_worker(settings):
        await publish(settings, b"this is not json {", routing_key="customer.created")
        await publish(settings, b"\xff\xfe not utf-8", routing_key="customer.created")
        await publish(settings, float_money)
        await publish(settings, good)
        [outcome] = await wait_for_outcomes(db, good)
        dead = await wait_for_dead_letters(db, 3)

    assert outcome["status"] == "succeeded"
    by_body = {bytes(d["body"]): d for d in dead}
    not_json = by_body[b"this is not json {"]
    assert not_json["reason"] == "malformed"
    assert "not JSON" in not_json["error"] or "JSON" in not_json["error"]
    assert by_body[b"\xff\xfe not utf-8"]["reason"] == "malformed"
    money = next(d for d in dead if d["event_type"] == "product.created")
    assert money["reason"] == "malformed"
    assert "net_price" in money["error"]
    assert str(money["event_id"]) == float_money["event_id"]
    assert money["tenant_id"] == "acme"


async def test_unknown_event_type_is_dead_lettered(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    odd = envelope("customer.merged", {"id": "x"})
    async with running_worker(settings):
        # Published to the work queue directly: the exchange would not route an unbound type.
        import json

        import aio_pika

        connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
        async with connection:
            channel = await connection.channel()
            await channel.default_exchange.publish(
                aio_pika.Message(json.dumps(odd).encode()), routing_key=settings.queue
            )
        [dead] = await wait_for_dead_letters(db, 1)
    assert dead["reason"] == "unknown_event_type"
    assert dead["event_type"] == "customer.merged"


async def wait_until_rows(db: asyncpg.Pool, query: str, count: int) -> None:
    import asyncio
    import time

    deadline = time.monotonic() + 20
    while await db.fetchval(query) < count:
        assert time.monotonic() < deadline, f"{query} did not reach {count}"
        await asyncio.sleep(0.05)


async def test_dead_lettered_message_with_a_readable_tenant_is_reported_to_the_crm(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    bad = envelope("product.created", {**product(), "tax_rate": "20"})
    async with outbound_listener(settings) as received, running_worker(settings):
        await publish(settings, bad)
        await wait_for_dead_letters(db, 1)
        await wait_until(lambda: len(received) == 1, message="sync.failed")

    [failed] = received
    assert (failed["event_type"], failed["tenant_id"]) == ("sync.failed", "acme")
    assert failed["data"]["source_event_id"] == bad["event_id"]
    assert (failed["data"]["status"], failed["data"]["reason"]) == ("dead", "malformed")
    assert "tax_rate" in failed["data"]["error"]
