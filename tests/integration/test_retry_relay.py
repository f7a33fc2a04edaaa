"""Retries held in Postgres and put back on the work queue by the relay, on the real broker and database."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from prometheus_client import CollectorRegistry

from sevsync.broker.retry_relay import RetryRelay
from sevsync.config import Settings
from sevsync.metrics import WorkerMetrics
from sevsync.retry_schedule import RetrySchedule
from sevsync.sandbox.server import SandboxServer

from ..samples import product
from .harness import add_tenant, envelope, publish, running_worker, wait_for_outcomes, wait_until

pytestmark = pytest.mark.integration

NOW, LATER = 0, 1
# Step 0 is due at once, step 1 in an hour: what is due is decided by Postgres's clock, not by waiting.
SCHEDULE = RetrySchedule((timedelta(0), timedelta(hours=1)))


@dataclass
class Delivery:
    """The parts of a delivery the relay keeps."""

    body: bytes
    content_type: str | None = "application/json"
    message_id: str | None = None


def delivery(body: bytes, message_id: str | None = None) -> AbstractIncomingMessage:
    return cast(AbstractIncomingMessage, Delivery(body, message_id=message_id))


@pytest.fixture
async def connection(settings: Settings) -> AsyncIterator[AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(settings.amqp_url.get_secret_value())
    async with connection:
        yield connection


async def _relay_channel(connection: AbstractRobustConnection) -> AbstractChannel:
    # As the worker's: confirms, and a copy the broker cannot route raises instead of vanishing.
    return await connection.channel(publisher_confirms=True, on_return_raises=True)


async def _relay(
    db: asyncpg.Pool, connection: AbstractRobustConnection, queue: str, **options: Any
) -> RetryRelay:
    metrics = WorkerMetrics(CollectorRegistry())
    return RetryRelay(db, await _relay_channel(connection), queue, SCHEDULE, metrics=metrics, **options)


async def _declare_work_queue(connection: AbstractRobustConnection, queue: str) -> aio_pika.abc.AbstractQueue:
    channel = await connection.channel()
    return await channel.declare_queue(queue, durable=True)


async def _take_all(queue: aio_pika.abc.AbstractQueue) -> list[AbstractIncomingMessage]:
    taken = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        taken.append(message)
    return taken


async def _held(db: asyncpg.Pool, queue: str) -> int:
    return int(await db.fetchval("SELECT count(*) FROM sevsync.retry_wait WHERE queue = $1", queue))


def _none_held(db: asyncpg.Pool, settings: Settings) -> Callable[[], Awaitable[bool]]:
    async def none_held() -> bool:
        return await _held(db, settings.queue) == 0

    return none_held


async def test_a_due_copy_comes_back_with_its_body_headers_and_properties_and_a_later_one_waits(
    db: asyncpg.Pool, settings: Settings, connection: AbstractRobustConnection
) -> None:
    work_queue = await _declare_work_queue(connection, settings.queue)
    relay = await _relay(db, connection, settings.queue)
    headers = {
        "x-sevsync-retries": 1,
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        # As a delivery from an earlier version's retry queue carries it: dates and nested tables.
        "x-death": [{"count": 1, "reason": "expired", "time": dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)}],
        # A long string that is not UTF-8 arrives as bytes; it comes back as the same bytes.
        "x-crm-trace": b"\xff\xfe",
    }
    await relay.hold(delivery(b'{"n": 1}', "event-1"), NOW, headers)
    await relay.hold(delivery(b'{"n": 2}', "event-2"), LATER, {"x-sevsync-retries": 2})

    released = await relay.release_due()

    assert (released.sent, released.refused) == (1, 0)
    [back] = await _take_all(work_queue)
    assert back.body == b'{"n": 1}'
    assert back.headers == headers
    assert (back.content_type, back.message_id) == ("application/json", "event-1")
    assert back.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    # The hour-long wait stays, and nothing more is due.
    assert await _held(db, settings.queue) == 1
    assert (await relay.release_due()).sent == 0
    assert await _take_all(work_queue) == []


async def test_a_copy_the_broker_cannot_route_stays_held_until_it_can(
    db: asyncpg.Pool, settings: Settings, connection: AbstractRobustConnection
) -> None:
    relay = await _relay(db, connection, settings.queue)
    await relay.hold(delivery(b"{}"), NOW, {"x-sevsync-retries": 1})

    # No work queue yet: the mandatory publish comes back, so the row must stay.
    refused = await relay.release_due()
    assert (refused.sent, refused.refused) == (0, 1)
    assert await _held(db, settings.queue) == 1

    work_queue = await _declare_work_queue(connection, settings.queue)
    sent = await relay.release_due()
    assert (sent.sent, sent.refused) == (1, 0)
    assert [m.body for m in await _take_all(work_queue)] == [b"{}"]
    assert await _held(db, settings.queue) == 0


async def test_two_relays_put_each_wait_back_exactly_once(
    db: asyncpg.Pool, settings: Settings, connection: AbstractRobustConnection
) -> None:
    work_queue = await _declare_work_queue(connection, settings.queue)
    # Small batches, so that both relays take several turns side by side.
    first = await _relay(db, connection, settings.queue, batch=7)
    second = await _relay(db, connection, settings.queue, batch=7)
    bodies = {f'{{"n": {n}}}'.encode() for n in range(120)}
    for body in bodies:
        await first.hold(delivery(body), NOW, {})

    one, other = await asyncio.gather(first.release_due(), second.release_due())

    assert one.sent + other.sent == len(bodies)
    taken = [m.body for m in await _take_all(work_queue)]
    assert sorted(taken) == sorted(bodies)
    assert await _held(db, settings.queue) == 0


async def test_the_relay_wakes_for_its_own_hold_instead_of_sleeping_to_its_next_look(
    db: asyncpg.Pool, settings: Settings, connection: AbstractRobustConnection
) -> None:
    work_queue = await _declare_work_queue(connection, settings.queue)
    # Its next look is an hour away: only the wake of its own hold can bring the copy back sooner.
    registry = CollectorRegistry()
    channel = await _relay_channel(connection)
    relay = RetryRelay(
        db, channel, settings.queue, SCHEDULE, look_every=3600.0, metrics=WorkerMetrics(registry)
    )
    await relay.hold(delivery(b"later"), LATER, {})
    looking = asyncio.create_task(relay.forever())
    try:
        # Counted by its first look, which found nothing due: it is asleep now.
        await wait_until(
            lambda: registry.get_sample_value("sevsync_retries_waiting") == 1, message="the first look"
        )
        await relay.hold(delivery(b"soon"), NOW, {})

        async def arrived() -> bool:
            return await _held(db, settings.queue) == 1

        await wait_until(arrived, timeout=30, message="the held copy was put back")
        assert [m.body for m in await _take_all(work_queue)] == [b"soon"]
    finally:
        looking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await looking


async def _retry_held_by_a_stopped_worker(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> tuple[Settings, str, dict[str, Any]]:
    """A product.created whose first try failed, held for an hour by a worker that has stopped since.

    An hour's wait: the retry is still held when the worker stops, whatever the machine's speed.
    Returns the settings with that delay, the tenant's token and the event.
    """
    settings = settings.model_copy(update={"retry_delays": (timedelta(hours=1),)})
    token = await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(kind="status", status=503, method="GET", path="^/Part$", times=3)
    event = envelope("product.created", product())
    async with running_worker(settings):
        await publish(settings, event)

        async def held() -> bool:
            return await _held(db, settings.queue) == 1

        await wait_until(held, timeout=20, message="the retry was held")
    return settings, token, event


async def test_a_retry_held_when_its_worker_stops_lands_with_the_next_worker(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    settings, token, event = await _retry_held_by_a_stopped_worker(db, settings, sandbox)
    assert await _held(db, settings.queue) == 1

    # Its hour is over (the clock is Postgres's): the next worker puts it back, and it lands once.
    await db.execute("UPDATE sevsync.retry_wait SET due_at = now()")
    async with running_worker(settings):
        [outcome] = await wait_for_outcomes(db, event)
        # Forgotten once the broker's confirm is in, which may come just after the outcome.
        await wait_until(_none_held(db, settings), message="the copy forgotten")
    assert outcome["status"] == "succeeded", outcome["error"]
    assert len(sandbox.sandbox.account(token).objects("Part")) == 1
    statuses = await db.fetch(
        "SELECT status FROM sevsync.sync_outcome WHERE event_id = $1 ORDER BY id",
        uuid.UUID(event["event_id"]),
    )
    assert [row["status"] for row in statuses] == ["retrying", "succeeded"]


async def test_a_copy_put_back_twice_lands_once(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    settings, token, event = await _retry_held_by_a_stopped_worker(db, settings, sandbox)

    # As a relay that died between the broker's confirm and forgetting the row leaves it: the copy
    # is published once more by the next relay, so the work queue gets it twice.
    await db.execute(
        """
        INSERT INTO sevsync.retry_wait (queue, due_at, body, headers, content_type, message_id)
        SELECT queue, now(), body, headers, content_type, message_id FROM sevsync.retry_wait
        """
    )
    await db.execute("UPDATE sevsync.retry_wait SET due_at = now()")
    async with running_worker(settings):

        async def both_arrived() -> bool:
            count = await db.fetchval(
                "SELECT count(*) FROM sevsync.sync_outcome WHERE event_id = $1", uuid.UUID(event["event_id"])
            )
            return int(count) == 3

        await wait_until(both_arrived, timeout=30, message="both copies were processed")
        await wait_until(_none_held(db, settings), message="both copies forgotten")
    rows = await db.fetch(
        "SELECT status, reason FROM sevsync.sync_outcome WHERE event_id = $1 ORDER BY id",
        uuid.UUID(event["event_id"]),
    )
    assert [(row["status"], row["reason"]) for row in rows] == [
        ("retrying", "sevdesk_unavailable"),
        ("succeeded", None),
        ("skipped", "duplicate"),
    ]
    assert len(sandbox.sandbox.account(token).objects("Part")) == 1
