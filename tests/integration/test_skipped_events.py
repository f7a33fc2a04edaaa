"""What was skipped can be sent later (CONTRACT section 5), on the real worker, broker and database.

An event skipped because its tenant did not sync (`not_connected`, `disabled`, `auto_sync_off`)
keeps its body; `replay_skipped` sends the newest version of each such entity once the tenant syncs,
and the event passes the inbox once.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import aio_pika
import asyncpg
import pytest

from sevsync.broker.headers import REPLAY_HEADER
from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer
from sevsync.sevdesk.client import SevdeskClient
from sevsync.sevdesk.token import ApiToken
from sevsync.skipped import SkippedReplayFailed, SkippedReplayRefused, replay_skipped
from sevsync.store.skipped import list_waiting, lock_for_replay, mark_replayed, purge_skipped
from sevsync.tenants.crypto import TokenCipher
from sevsync.tenants.service import change_settings, connect_tenant, disconnect_tenant

from ..samples import company, crm_invoice, product
from .harness import (
    add_tenant,
    envelope,
    publish,
    running_worker,
    wait_for_first_outcome,
    wait_for_outcomes,
    wait_until,
)

pytestmark = pytest.mark.integration


async def _history(db: asyncpg.Pool, event: dict[str, Any]) -> list[tuple[str, str | None, int]]:
    rows = await db.fetch(
        "SELECT status, reason, attempt FROM sevsync.sync_outcome WHERE event_id = $1 ORDER BY id",
        uuid.UUID(event["event_id"]),
    )
    return [(r["status"], r["reason"], r["attempt"]) for r in rows]


async def _kept(db: asyncpg.Pool) -> dict[str, bytes]:
    rows = await db.fetch("SELECT event_id, body FROM sevsync.skipped_event ORDER BY id")
    return {str(r["event_id"]): bytes(r["body"]) for r in rows}


async def _replay(settings: Settings, db: asyncpg.Pool, tenant: str = "acme", **kwargs: Any) -> Any:
    return await replay_skipped(db, settings.amqp_url.get_secret_value(), settings.queue, tenant, **kwargs)


async def _send_as_replay(settings: Settings, event: dict[str, Any], *, header: bool = True) -> None:
    """Put an event's body straight onto the work queue, as a skipped replay does (or without its header)."""
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.default_exchange.publish(
            aio_pika.Message(
                json.dumps(event).encode(),
                headers={REPLAY_HEADER: "skipped"} if header else {},
                content_type="application/json",
                message_id=event["event_id"],
            ),
            routing_key=settings.queue,
        )


async def test_a_disabled_tenants_events_wait_and_the_newest_version_of_each_is_sent_once_enabled(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox, enabled=False)
    created = envelope("customer.created", company(company_name="Acme GmbH"), version=1)
    renamed = envelope("customer.updated", company(company_name="Acme AG"), version=2)
    part = envelope("product.created", product())
    async with running_worker(settings):
        await publish(settings, created, renamed, part)
        outcomes = await wait_for_outcomes(db, created, renamed, part)
        assert {(o["status"], o["reason"]) for o in outcomes} == {("skipped", "disabled")}

        # The bodies as received; the older version of the customer is not kept (never sent).
        assert await _kept(db) == {
            renamed["event_id"]: json.dumps(renamed).encode(),
            part["event_id"]: json.dumps(part).encode(),
        }
        waiting = await list_waiting(db, "acme")
        assert sorted((w.event_type, w.entity_id, w.version, w.reason) for w in waiting) == [
            ("customer.updated", "cust-1001", 2, "disabled"),
            ("product.created", "prod-7", 1, "disabled"),
        ]
        health = await db.fetchrow(
            "SELECT skipped_waiting FROM sevsync.tenant_health WHERE tenant_id = 'acme'"
        )
        assert health is not None
        assert health["skipped_waiting"] == 2
        with pytest.raises(SkippedReplayRefused, match="tenant acme is not enabled") as refused:
            await _replay(settings, db)
        assert refused.value.reason == "disabled"

        await change_settings(db, "acme", {}, True)
        summary = await _replay(settings, db)
        assert (summary.replayed, summary.held_back) == (2, {})
        await wait_for_first_outcome(db, renamed, "succeeded")
        await wait_for_first_outcome(db, part, "succeeded")

        # Nothing is left to send; a second replay sends nothing.
        assert await list_waiting(db, "acme") == []
        assert (await _replay(settings, db)).replayed == 0

    # The skip stays as history; the new attempt follows it. The older version stays skipped.
    assert await _history(db, renamed) == [("skipped", "disabled", 1), ("succeeded", None, 2)]
    assert await _history(db, part) == [("skipped", "disabled", 1), ("succeeded", None, 2)]
    assert await _history(db, created) == [("skipped", "disabled", 1)]
    account = sandbox.sandbox.account(token)
    [contact] = [c for c in account.objects("Contact") if c.get("parent") is None]
    assert contact["name"] == "Acme AG"
    assert len(account.objects("Part")) == 1
    health = await db.fetchrow("SELECT skipped_waiting FROM sevsync.tenant_health WHERE tenant_id = 'acme'")
    assert health is not None
    assert health["skipped_waiting"] == 0


async def test_a_skipped_event_sent_again_twice_runs_once(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox, enabled=False)
    part = envelope("product.created", product())
    async with running_worker(settings):
        await publish(settings, part)
        await wait_for_outcomes(db, part)
        await change_settings(db, "acme", {}, True)
        # A replay run twice (or re-sent after a crash before its commit), and the CRM's redelivery.
        await _send_as_replay(settings, part)
        await _send_as_replay(settings, part)
        await _send_as_replay(settings, part, header=False)

        async def settled() -> bool:
            return len(await _history(db, part)) == 4

        await wait_until(settled, timeout=20, message="every copy recorded")

    history = await _history(db, part)
    assert history[:2] == [("skipped", "disabled", 1), ("succeeded", None, 2)]
    assert history[2:] == [("skipped", "duplicate", 0), ("skipped", "duplicate", 0)]
    assert len(sandbox.sandbox.account(token).objects("Part")) == 1


async def test_the_header_does_not_rerun_an_event_that_was_applied(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    part = envelope("product.created", product())
    async with running_worker(settings):
        await publish(settings, part)
        await wait_for_outcomes(db, part)
        await _send_as_replay(settings, part)

        async def recorded() -> bool:
            return len(await _history(db, part)) == 2

        await wait_until(recorded, timeout=20, message="the copy recorded")

    assert await _history(db, part) == [("succeeded", None, 1), ("skipped", "duplicate", 0)]
    assert len(sandbox.sandbox.account(token).objects("Part")) == 1
    assert await _kept(db) == {}


async def test_a_replayed_event_that_waits_on_the_ladder_comes_back_and_lands(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    # Its inbox row went when it passed: the copy from the retry ladder is not a duplicate.
    token = await add_tenant(db, settings, sandbox, enabled=False)
    part = envelope("product.created", product())
    async with running_worker(settings):
        await publish(settings, part)
        await wait_for_outcomes(db, part)
        await change_settings(db, "acme", {}, True)
        # More 503s on the part lookup than the in-process budget (3 attempts) allows.
        sandbox.sandbox.faults.add(kind="status", status=503, method="GET", path="^/Part$", times=4)
        assert (await _replay(settings, db)).replayed == 1
        await wait_for_first_outcome(db, part, "succeeded", timeout=30)

    assert await _history(db, part) == [
        ("skipped", "disabled", 1),
        ("retrying", "sevdesk_unavailable", 2),
        ("succeeded", None, 3),
    ]
    assert len(sandbox.sandbox.account(token).objects("Part")) == 1


async def test_an_invoice_issued_and_then_cancelled_while_disabled_is_booked_and_cancelled(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    # Only events that state the entity's whole data (customer, product, offer) make an older
    # version needless; a cancellation without its issued invoice could only wait and die.
    token = await add_tenant(db, settings, sandbox, enabled=False)
    issued = envelope("invoice.issued", crm_invoice(), version=1)
    cancelled = envelope(
        "invoice.cancelled",
        {"id": "inv-9", "number": "ST-2531-1", "date": "2025-03-05", "reason": "wrong desk"},
        version=2,
    )
    async with running_worker(settings):
        await publish(settings, issued, cancelled)
        await wait_for_outcomes(db, issued, cancelled)
        assert sorted(w.event_type for w in await list_waiting(db, "acme")) == [
            "invoice.cancelled",
            "invoice.issued",
        ]

        await change_settings(db, "acme", {}, True)
        assert (await _replay(settings, db)).replayed == 2
        await wait_for_first_outcome(db, issued, "succeeded")
        await wait_for_first_outcome(db, cancelled, "succeeded", timeout=30)

    assert (await _history(db, issued))[-1] == ("succeeded", None, 2)
    assert (await _history(db, cancelled))[-1][:2] == ("succeeded", None)
    original, correction = sandbox.sandbox.account(token).objects("Voucher")
    assert (original["description"], correction["description"]) == ("2531-Ljnk-278", "ST-2531-1")


async def test_a_replay_the_broker_stops_keeps_what_it_sent_marked_and_the_rest_waiting(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox, enabled=False)
    parts = [envelope("product.created", product(f"prod-{n}", sku=f"SKU-{n}")) for n in range(3)]
    async with running_worker(settings):
        await publish(settings, *parts)
        await wait_for_outcomes(db, *parts)
    await change_settings(db, "acme", {}, True)
    # The order a replay sends them in: as skipped, which concurrent processing may have mixed.
    first, second, third = [str(w.event_id) for w in await list_waiting(db, "acme")]
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(settings.queue)
        with pytest.raises(SkippedReplayFailed) as missing:
            await _replay(settings, db)
        assert str(missing.value) == (
            f"queue {settings.queue} does not exist on the broker; run `sevsync topology declare` "
            "or start a worker once: either declares it"
        )
        # A queue that takes one message and refuses (nacks) the next.
        await channel.declare_queue(
            settings.queue, durable=True, arguments={"x-max-length": 1, "x-overflow": "reject-publish"}
        )
        with pytest.raises(SkippedReplayFailed) as stopped:
            await _replay(settings, db, batch_size=2)

    assert stopped.value.replayed == 1
    assert str(stopped.value).startswith(f"sent 1 skipped events, then publishing event {second} failed (")
    assert str(stopped.value).endswith("); it and the rest still wait")
    assert [str(w.event_id) for w in await list_waiting(db, "acme")] == [second, third]
    assert await db.fetchval(
        "SELECT replayed_at IS NOT NULL FROM sevsync.skipped_event WHERE event_id = $1", uuid.UUID(first)
    )


async def test_events_of_a_tenant_that_never_connected_keep_no_body(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    part = envelope("product.created", product(), tenant="nobody")
    async with running_worker(settings):
        await publish(settings, part)
        [outcome] = await wait_for_outcomes(db, part)

    assert (outcome["status"], outcome["reason"]) == ("skipped", "not_connected")
    assert await _kept(db) == {}


async def test_a_kind_switched_off_is_held_back_and_a_disconnected_tenant_is_refused(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox, auto_sync_customers=False)
    customer = envelope("customer.created", company())
    part = envelope("product.created", product(), version=1)
    async with running_worker(settings):
        await publish(settings, customer, part)
        skipped, synced = await wait_for_outcomes(db, customer, part)
        assert (skipped["reason"], synced["status"]) == ("auto_sync_off", "succeeded")
        # Only customers wait, and customers are off: nothing could be sent.
        with pytest.raises(SkippedReplayRefused, match=r"switch off \(auto_sync_customers\)"):
            await _replay(settings, db)

        await disconnect_tenant(db, "acme")
        changed = envelope("product.updated", product(name="Consulting day"), version=2)
        await publish(settings, changed)
        [outcome] = await wait_for_outcomes(db, changed)
        assert (outcome["status"], outcome["reason"]) == ("skipped", "not_connected")
        with pytest.raises(SkippedReplayRefused, match="not connected") as refused:
            await _replay(settings, db)
        assert refused.value.reason == "not_connected"

        assert settings.secret_keys is not None
        async with SevdeskClient(settings.sevdesk_base_url) as client:
            cipher = TokenCipher(settings.secret_keys.get_secret_value())
            await connect_tenant(db, client, cipher, "acme", ApiToken(token))
        # The product goes; the customer is held back while customers stay off.
        summary = await _replay(settings, db)
        assert (summary.replayed, summary.held_back) == (1, {"auto_sync_customers": 1})
        await wait_for_first_outcome(db, changed, "succeeded")

    [part_object] = sandbox.sandbox.account(token).objects("Part")
    assert part_object["name"] == "Consulting day"
    assert [w.event_id for w in await list_waiting(db, "acme")] == [uuid.UUID(customer["event_id"])]


async def test_a_skip_of_a_version_older_than_the_applied_one_keeps_no_body(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    applied = envelope("product.created", product(), version=3)
    older = envelope("product.updated", product(name="Old name"), version=2)
    newer = envelope("product.updated", product(name="New name"), version=4)
    async with running_worker(settings):
        await publish(settings, applied)
        await wait_for_outcomes(db, applied)
        await change_settings(db, "acme", {}, False)
        await publish(settings, older, newer)
        await wait_for_outcomes(db, older, newer)

    # Version 2 would only be stale when sent; version 4 waits.
    assert await _kept(db) == {newer["event_id"]: json.dumps(newer).encode()}
    assert [w.version for w in await list_waiting(db, "acme")] == [4]


async def test_the_worker_purges_bodies_past_the_retention(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox, enabled=False)
    recent, old = (
        envelope("product.created", product("prod-1")),
        envelope("product.created", product("prod-2")),
    )
    async with running_worker(settings):
        await publish(settings, recent, old)
        await wait_for_outcomes(db, recent, old)
    await db.execute(
        "UPDATE sevsync.skipped_event SET skipped_at = now() - interval '31 days' WHERE event_id = $1",
        uuid.UUID(old["event_id"]),
    )

    # At start-up, then daily, with SEVSYNC_SKIPPED_RETENTION_DAYS (30 by default).
    async with running_worker(settings):

        async def purged() -> bool:
            return list(await _kept(db)) == [recent["event_id"]]

        await wait_until(purged, timeout=10, message="the old body purged")

    # Its outcome stays.
    assert await _history(db, old) == [("skipped", "disabled", 1)]


async def test_a_purge_waits_for_a_replay_holding_an_old_body_then_deletes_it(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox, enabled=False)
    part = envelope("product.created", product())
    async with running_worker(settings):
        await publish(settings, part)
        await wait_for_outcomes(db, part)
    await db.execute("UPDATE sevsync.skipped_event SET skipped_at = now() - interval '40 days'")
    [row_id] = [r["id"] for r in await db.fetch("SELECT id FROM sevsync.skipped_event")]

    # A replay holds the row while it publishes it: the purge must not pass over a body past the
    # retention, but delete it once the replay committed.
    async with db.acquire() as conn, conn.transaction():
        [(held, _)] = await lock_for_replay(conn, [row_id])
        purge = asyncio.create_task(purge_skipped(db, older_than_days=30))
        deadline = time.monotonic() + 20
        while not await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        ):
            assert not purge.done(), f"the purge passed over the held row: {await purge} deleted"
            assert time.monotonic() < deadline, "the purge never waited for the row lock"
            await asyncio.sleep(0.05)
        await mark_replayed(conn, held.id)

    assert await purge == 1
    assert await _kept(db) == {}
