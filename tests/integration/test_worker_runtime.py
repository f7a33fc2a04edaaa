"""The worker as a process: concurrent deliveries, health endpoints, the outbox relay."""

from __future__ import annotations

import json
import uuid

import aiohttp
import asyncpg

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer

from ..samples import product
from .harness import (
    add_tenant,
    envelope,
    outbound_listener,
    publish,
    running_worker,
    wait_for_outcomes,
    wait_until,
)


async def test_deliveries_are_processed_concurrently(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    # sevDesk holds the first creates until the test lets them go: as many as one tenant may run at
    # once must be waiting there together, which one delivery at a time never gets to. The client
    # waits for them all along (a client that gave up would leave its request held and move on).
    settings = settings.model_copy(update={"sevdesk_timeout": 120.0})
    at_once = settings.tenant_concurrency
    assert at_once > 1
    sandbox.sandbox.faults.add(kind="hold", method="POST", path="^/Part$", times=at_once)
    events = [envelope("product.created", product(f"prod-{i}", sku=f"SKU-{i}")) for i in range(8)]
    async with running_worker(settings):
        await publish(settings, *events)
        await wait_until(
            lambda: sandbox.sandbox.faults.held == at_once, message=f"{at_once} creates in sevDesk at once"
        )
        sandbox.sandbox.faults.release()
        outcomes = await wait_for_outcomes(db, *events)

    assert {o["status"] for o in outcomes} == {"succeeded"}


async def test_health_and_readiness(db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer) -> None:
    await add_tenant(db, settings, sandbox)
    event = envelope("product.created", product())
    async with running_worker(settings) as worker, aiohttp.ClientSession() as session:
        await publish(settings, event)
        await wait_for_outcomes(db, event)
        assert worker.http is not None
        base = f"http://127.0.0.1:{worker.http.port}"
        async with session.get(f"{base}/healthz") as response:
            assert response.status == 200
        async with session.get(f"{base}/readyz") as response:
            assert response.status == 200
            body = await response.json()
            assert body == {"ready": True, "checks": {"database": True, "broker": True, "consuming": True}}
        async with session.get(f"{base}/metrics") as response:
            assert response.status == 200
            text = await response.text()
    assert "sevsync_events_received_total" in text
    assert 'sevsync_outcomes_total{event_type="product.created",reason="",status="succeeded"}' in text
    assert 'sevsync_sevdesk_calls_total{endpoint="POST /Part",status="201"}' in text


async def test_outbox_relay_publishes_what_a_crash_left_behind(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    event_id = uuid.uuid4()
    body = envelope("sync.succeeded", {"left": "behind"})
    body["event_id"] = str(event_id)
    async with outbound_listener(settings) as received, running_worker(settings) as worker:
        # A row committed with its outcome whose publish never happened (the worker died in between).
        await db.execute(
            "INSERT INTO sevsync.outbox (event_id, routing_key, body, created_at) "
            "VALUES ($1, 'sync.succeeded', $2, now() - interval '1 minute')",
            event_id,
            json.dumps(body).encode(),
        )
        assert worker._outbound is not None
        assert await worker._outbound.relay_once() == 1
        await wait_until(lambda: len(received) == 1, message="the relayed event")
    assert received[0]["message_id"] == str(event_id)
    assert await db.fetchval(
        "SELECT published_at IS NOT NULL FROM sevsync.outbox WHERE event_id = $1", event_id
    )
