"""Helpers shared by the integration tests: a running worker, tenants, events, waiting for outcomes."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg

from sevsync.app import Worker
from sevsync.config import Settings
from sevsync.outcome_words import DEAD, FAILED, PARKED, SKIPPED, SUCCEEDED
from sevsync.sandbox.server import SandboxServer
from sevsync.sevdesk.client import SevdeskClient
from sevsync.sevdesk.token import ApiToken
from sevsync.tenants.crypto import TokenCipher
from sevsync.tenants.service import change_settings, connect_tenant

from ..cli_runner import Cli, settings_env

# The outcomes a test waits for: parked counts, as the event then waits for another one.
FINAL_STATUSES = (SUCCEEDED, SKIPPED, FAILED, DEAD, PARKED)


def new_token() -> str:
    return uuid.uuid4().hex


# Queues a test made beside those of its broker_names (`<queue>.*`), deleted with them afterwards.
EXTRA_QUEUES: set[str] = set()


def settings_cli(settings: Settings) -> Cli:
    """The CLI with the names and retry delays of the `settings` fixture."""
    return Cli(settings_env(settings, SEVSYNC_RETRY_DELAYS="300ms,1s"), [])


@asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[Worker]:
    worker = Worker(settings)
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


async def add_tenant(
    db: asyncpg.Pool,
    settings: Settings,
    sandbox: SandboxServer,
    tenant_id: str = "acme",
    *,
    enabled: bool = True,
    token: str | None = None,
    **tenant_settings: Any,
) -> str:
    """Register an account in the sandbox and connect a tenant to it the way the CLI does."""
    token = token or new_token()
    sandbox.sandbox.add_account(token)
    assert settings.secret_keys is not None
    cipher = TokenCipher(settings.secret_keys.get_secret_value())
    async with SevdeskClient(settings.sevdesk_base_url) as client:
        await connect_tenant(db, client, cipher, tenant_id, ApiToken(token))
    await change_settings(db, tenant_id, tenant_settings, enabled)
    return token


def envelope(
    event_type: str, data: dict[str, Any], *, tenant: str = "acme", version: int = 1
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "tenant_id": tenant,
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "version": version,
        "data": data,
    }


async def publish(
    settings: Settings, *messages: dict[str, Any] | bytes, routing_key: str | None = None
) -> None:
    """Publish like the CRM does: to the inbound exchange, routing key = event type."""
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(settings.exchange)
        for message in messages:
            if isinstance(message, bytes):
                body, key = message, routing_key or "customer.updated"
            else:
                body, key = json.dumps(message).encode(), routing_key or str(message["event_type"])
            await exchange.publish(
                aio_pika.Message(
                    body, content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                ),
                routing_key=key,
            )
    finally:
        await connection.close()


async def wait_for_outcomes(
    db: asyncpg.Pool, *events: dict[str, Any], timeout: float = 20.0
) -> list[asyncpg.Record]:
    """Wait until every event has a final outcome; return the newest outcome row of each, in order."""
    ids = [uuid.UUID(e["event_id"]) for e in events]
    deadline = time.monotonic() + timeout
    while True:
        rows = await db.fetch(
            """
            SELECT DISTINCT ON (event_id) * FROM sevsync.sync_outcome
             WHERE event_id = ANY($1::uuid[]) AND status = ANY($2::text[])
             ORDER BY event_id, id DESC
            """,
            ids,
            list(FINAL_STATUSES),
        )
        by_id = {row["event_id"]: row for row in rows}
        if len(by_id) == len(ids):
            return [by_id[i] for i in ids]
        if time.monotonic() > deadline:
            missing = [str(i) for i in ids if i not in by_id]
            raise AssertionError(f"no final outcome within {timeout} s for {missing}")
        await asyncio.sleep(0.05)


async def wait_for_first_outcome(
    db: asyncpg.Pool, event: dict[str, Any], status: str | None = None, timeout: float = 20.0
) -> asyncpg.Record:
    """The event's first outcome row (of `status`, if given): e.g. the `retrying` of an event that waits."""
    deadline = time.monotonic() + timeout
    while True:
        row = await db.fetchrow(
            """
            SELECT * FROM sevsync.sync_outcome
             WHERE event_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY id LIMIT 1
            """,
            uuid.UUID(event["event_id"]),
            status,
        )
        if row is not None:
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"no {status or ''} outcome within {timeout} s for {event['event_id']}")
        await asyncio.sleep(0.05)


async def wait_for_dead_letters(db: asyncpg.Pool, count: int, timeout: float = 20.0) -> list[asyncpg.Record]:
    deadline = time.monotonic() + timeout
    while True:
        rows = await db.fetch("SELECT * FROM sevsync.dead_letter ORDER BY id")
        if len(rows) >= count:
            return list(rows)
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} dead letters within {timeout} s, found {len(rows)}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def consume_outbound(
    settings: Settings, handle: Callable[[aio_pika.abc.AbstractIncomingMessage], None]
) -> AsyncIterator[None]:
    """Hand every message sevsync publishes on the outbound exchange to `handle` while the block runs."""
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            settings.out_exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key="#")

        async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                handle(message)

        await queue.consume(collect)
        yield
    finally:
        await connection.close()


@asynccontextmanager
async def outbound_listener(settings: Settings) -> AsyncIterator[list[dict[str, Any]]]:
    """Collect every message sevsync publishes on the outbound exchange while the block runs."""
    received: list[dict[str, Any]] = []

    def keep(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        received.append(
            {"routing_key": message.routing_key, "message_id": message.message_id, **json.loads(message.body)}
        )

    async with consume_outbound(settings, keep):
        yield received


BARRIER_KEY = "test.barrier"


async def drained(settings: Settings, received: list[dict[str, Any]]) -> None:
    """Wait until `received` (an `outbound_listener`) holds everything published before this call.

    Instead of waiting "long enough" for a late duplicate: a marker published now queues behind
    every message the broker has confirmed so far (sevsync publishes with confirms), so once the
    marker arrives, nothing published earlier is still on its way. The marker is taken out again.
    """
    marker = str(uuid.uuid4())
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(settings.out_exchange)
        await exchange.publish(aio_pika.Message(json.dumps({"barrier": marker}).encode()), BARRIER_KEY)
    finally:
        await connection.close()
    await wait_until(lambda: any(m.get("barrier") == marker for m in received), message="the marker")
    received[:] = [m for m in received if m.get("barrier") != marker]


async def wait_until(predicate: Any, timeout: float = 10.0, message: str = "condition") -> None:
    """Poll `predicate` (a plain or an async function) until it is true."""

    async def holds() -> bool:
        result = predicate()
        # An async predicate's coroutine is always truthy: it must be awaited, not tested.
        return bool(await result if inspect.isawaitable(result) else result)

    deadline = time.monotonic() + timeout
    while not await holds():
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not met within {timeout} s")
        await asyncio.sleep(0.05)
