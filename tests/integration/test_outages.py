"""Outages of RabbitMQ, Postgres and sevDesk while the worker runs.

The real servers are never touched: the worker reaches RabbitMQ or Postgres through a
:class:`TcpProxy` that the test cuts and restores, while the test itself (publishing, reading
outcomes, looking at queues) uses the real URLs. sevDesk outages are sandbox faults.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, TypeVar

import aio_pika
import aiohttp
import asyncpg
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from sevsync.app import Worker
from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer

from ..samples import product
from .harness import add_tenant, envelope, publish, running_worker, wait_for_outcomes
from .tcp_proxy import TcpProxy

T = TypeVar("T")

OUTAGE_SECONDS = 3.0
POLL_SECONDS = 0.1
SANDBOX_LATENCY = 0.5
ALL_READY = {"database": True, "broker": True, "consuming": True}

pytestmark = pytest.mark.timeout(60)


async def _poll(probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float, what: str) -> T:
    """Call `probe` until `done` accepts its answer; fail with the last answer after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s; last seen: {value!r}")
        await asyncio.sleep(POLL_SECONDS)


class Readyz:
    """GET /readyz of a running worker: (HTTP status, checks)."""

    def __init__(self, session: aiohttp.ClientSession, worker: Worker) -> None:
        assert worker.http is not None
        self._url = f"http://127.0.0.1:{worker.http.port}/readyz"
        self._session = session

    async def __call__(self) -> tuple[int, dict[str, bool]]:
        async with self._session.get(self._url, timeout=aiohttp.ClientTimeout(total=10)) as response:
            body: dict[str, Any] = await response.json()
            return response.status, body["checks"]


@asynccontextmanager
async def _readyz(worker: Worker) -> AsyncIterator[Readyz]:
    async with aiohttp.ClientSession() as session:
        yield Readyz(session, worker)


async def _queue_stats(settings: Settings, queue: str) -> tuple[int, int]:
    """(ready messages, consumers) of the queue, asked through the real broker URL."""
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        result = (await channel.declare_queue(queue, passive=True)).declaration_result
        return result.message_count or 0, result.consumer_count or 0


async def _outcome_rows(db: asyncpg.Pool, events: list[dict[str, Any]]) -> dict[str, list[tuple[Any, ...]]]:
    """Every outcome row of each event as (status, reason, attempt), oldest first, by event id."""
    rows = await db.fetch(
        "SELECT event_id, status, reason, attempt FROM sevsync.sync_outcome "
        "WHERE event_id = ANY($1::uuid[]) ORDER BY id",
        [uuid.UUID(e["event_id"]) for e in events],
    )
    by_event: dict[str, list[tuple[Any, ...]]] = {e["event_id"]: [] for e in events}
    for row in rows:
        by_event[str(row["event_id"])].append((row["status"], row["reason"], row["attempt"]))
    return by_event


def _part_numbers(sandbox: SandboxServer, token: str) -> list[str]:
    return sorted(str(part["partNumber"]) for part in sandbox.sandbox.account(token).objects("Part"))


async def test_broker_restart_worker_reconnects_and_consumes_again(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    real_url = settings.amqp_url.get_secret_value()
    async with TcpProxy.for_url(real_url) as proxy:
        # aio-pika reads reconnect_interval from the URL (default 5 s).
        worker_settings = settings.model_copy(
            update={"amqp_url": SecretStr(proxy.url(real_url, reconnect_interval="1"))}
        )
        async with running_worker(worker_settings) as worker, _readyz(worker) as readyz:
            assert await readyz() == (200, ALL_READY)
            before = envelope("product.created", product("prod-before", sku="SKU-BEFORE"))
            await publish(settings, before)
            [outcome] = await wait_for_outcomes(db, before)
            assert outcome["status"] == "succeeded", outcome["error"]
            connections_before = proxy.accepted

            # Two creates are waiting for sevDesk when the broker goes away.
            sandbox.sandbox.faults.add(kind="latency", seconds=1.0, method="POST", path="^/Part$", times=2)
            in_flight = [
                envelope("product.created", product(f"prod-flight-{i}", sku=f"SKU-FLIGHT-{i}"))
                for i in range(2)
            ]
            await publish(settings, *in_flight)
            await _poll(
                lambda: db.fetchval("SELECT count(*) FROM sevsync.write_intent"),
                lambda n: n == len(in_flight),
                10,
                "creates in flight",
            )
            await proxy.cut()
            outage = (503, {"database": True, "broker": False, "consuming": False})
            await _poll(readyz, lambda r: r == outage, 10, "/readyz 503, broker and consumer down")

            # Published while the broker is away from the worker: it waits in the queue.
            during = envelope("product.created", product("prod-during", sku="SKU-DURING"))
            await publish(settings, during)
            outage_ends = time.monotonic() + OUTAGE_SECONDS
            while time.monotonic() < outage_ends:
                # Readiness must not flap back to ready while the worker cannot reach its queue.
                assert await readyz() == outage
                await asyncio.sleep(0.2)
            # The deliveries in flight were not acked: the broker holds them again, with the new one.
            assert await _queue_stats(settings, settings.queue) == (len(in_flight) + 1, 0)
            assert not await db.fetchval(
                "SELECT count(*) FROM sevsync.sync_outcome WHERE event_id = $1", uuid.UUID(during["event_id"])
            )
            assert proxy.refused >= 1, "the worker never tried to reconnect during the outage"

            proxy.restore()
            await _poll(readyz, lambda r: r == (200, ALL_READY), 20, "/readyz 200 after the restore")
            assert proxy.accepted > connections_before
            # Ready means consuming, as the broker sees it, not merely connected.
            await _poll(
                lambda: _queue_stats(settings, settings.queue),
                lambda stats: stats[1] == 1,
                5,
                "one consumer on the work queue",
            )
            after = envelope("product.created", product("prod-after", sku="SKU-AFTER"))
            await publish(settings, after)
            everything = [before, *in_flight, during, after]
            outcomes = await wait_for_outcomes(db, *everything, timeout=20)
            assert [o["status"] for o in outcomes[-2:]] == ["succeeded", "succeeded"], [
                o["error"] for o in outcomes
            ]
            assert await readyz() == (200, ALL_READY)

    # Nothing was left unacked in the worker: with it gone, the queue is empty.
    assert await _queue_stats(settings, settings.queue) == (0, 0)
    for event_id, rows in (await _outcome_rows(db, everything)).items():
        # One final outcome each. The events in flight were processed again when redelivered (aio-pika
        # cancels a delivery's task when its channel dies); a run that got as far as its outcome
        # before the cut would add a `duplicate` row, which records a redelivery and is no state.
        states = [row for row in rows if row[1] != "duplicate"]
        assert states == [("succeeded", None, 1)], f"{event_id}: {rows}"
    assert _part_numbers(sandbox, token) == sorted(e["data"]["sku"] for e in everything)


async def test_postgres_restart_mid_processing_loses_and_duplicates_nothing(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    # Creates take a while in sevDesk, so the cut finds events between their intent and their outcome.
    sandbox.sandbox.faults.add(
        kind="latency", seconds=SANDBOX_LATENCY, method="POST", path="^/Part$", times=None
    )
    events = [envelope("product.created", product(f"prod-{i}", sku=f"SKU-{i}")) for i in range(12)]
    real_url = settings.database_url.get_secret_value()
    received_before, deferred_before = _received("product.created"), _deferred("product.created")
    async with TcpProxy.for_url(real_url) as proxy:
        worker_settings = settings.model_copy(
            # Were a delivery handed back during the outage instead of held, it would spin through
            # redeliveries to the queue's delivery limit and end dead.
            update={"database_url": SecretStr(proxy.url(real_url)), "requeue_delay": 0.01}
        )
        async with running_worker(worker_settings) as worker, _readyz(worker) as readyz:
            assert worker._consumer is not None
            await publish(settings, *events)
            # Write intents are committed just before their POST: creates are in flight now.
            await _poll(
                lambda: db.fetchval("SELECT count(*) FROM sevsync.write_intent"),
                lambda n: n >= 3,
                10,
                "creates in flight",
            )
            await proxy.cut()
            await _poll(readyz, lambda r: r[0] == 503, 10, "/readyz 503 after the cut")
            outage_ends = time.monotonic() + OUTAGE_SECONDS
            while time.monotonic() < outage_ends:
                status, checks = await readyz()
                assert (status, checks["database"]) == (503, False)
                await asyncio.sleep(0.2)
            # Whatever could not be recorded is held by the worker, not acked and not requeued; an
            # event deferred before the cut (its tenant held its share) waits in Postgres until then.
            unfinished = len(events) - await db.fetchval(
                "SELECT count(DISTINCT event_id) FROM sevsync.sync_outcome WHERE status = 'succeeded'"
            )
            assert unfinished > 0, "the cut came too late to hit any event in flight"
            waiting = await db.fetchval("SELECT count(*) FROM sevsync.retry_wait")
            # (An event whose outcome was committed just before the cut may be held as well.)
            assert worker._consumer.in_flight + waiting >= unfinished
            assert await _queue_stats(settings, settings.queue) == (0, 1)
            connections_before = proxy.accepted

            proxy.restore()
            await wait_for_outcomes(db, *events, timeout=30)
            await _poll(readyz, lambda r: r == (200, ALL_READY), 15, "/readyz 200 after the restore")
            assert proxy.accepted > connections_before, "the pool never opened a new connection"

            # Processing goes on for new events.
            later = envelope("product.created", product("prod-later", sku="SKU-LATER"))
            await publish(settings, later)
            [outcome] = await wait_for_outcomes(db, later)
            assert outcome["status"] == "succeeded", outcome["error"]

            async def in_flight() -> int:
                assert worker._consumer is not None
                return worker._consumer.in_flight

            await _poll(in_flight, lambda n: n == 0, 10, "no delivery left in flight")

    # The worker is gone: anything it had taken but not acked would be back in the queue now.
    assert await _queue_stats(settings, settings.queue) == (0, 0)
    assert await _queue_stats(settings, f"{settings.queue}.dead") == (0, 0)
    everything = [*events, later]
    for event_id, rows in (await _outcome_rows(db, everything)).items():
        # Exactly one final outcome per event, on the first attempt. A `duplicate` row records a
        # second run of an event whose outcome was committed before the cut; it is not a state.
        states = [row for row in rows if row[1] != "duplicate"]
        assert states == [("succeeded", None, 1)], f"{event_id}: {rows}"
        assert all(row[:2] == ("skipped", "duplicate") for row in rows if row not in states), rows
    assert await db.fetchval("SELECT count(*) FROM sevsync.dead_letter") == 0
    assert await db.fetchval("SELECT count(*) FROM sevsync.write_intent") == 0
    assert await db.fetchval("SELECT count(*) FROM sevsync.entity_link") == len(everything)
    # A held delivery, processed again after the outage, was still received once; a deferred one
    # came back as a delivery of its own. A deferral's copy whose commit answer the cut swallowed
    # is written again and arrives twice (at least once): each such extra arrival is a `duplicate`
    # outcome row. A delivery handed back during the outage would arrive again without one.
    deferred = _deferred("product.created") - deferred_before
    extra = _received("product.created") - received_before - len(everything) - deferred
    duplicates = await db.fetchval("SELECT count(*) FROM sevsync.sync_outcome WHERE reason = 'duplicate'")
    assert 0 <= extra <= duplicates, (extra, duplicates)
    # One sevDesk object per entity.
    assert _part_numbers(sandbox, token) == sorted(e["data"]["sku"] for e in everything)


async def test_sevdesk_down_longer_than_the_budget_waits_in_postgres_then_lands(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    settings = settings.model_copy(
        update={
            "sevdesk_retry_attempts": 2,
            "sevdesk_retry_budget": 1.0,
            "retry_delays": (timedelta(seconds=1), timedelta(seconds=2), timedelta(seconds=3)),
        }
    )
    tenants = ("acme", "beta", "gamma")
    tokens = {tenant: await add_tenant(db, settings, sandbox, tenant) for tenant in tenants}
    events = [
        envelope("product.created", product(f"prod-{tenant}-{i}", sku=f"SKU-{i}"), tenant=tenant)
        for tenant in tenants
        for i in range(2)
    ]

    async def retrying_rows() -> dict[str, int]:
        rows = await db.fetch(
            "SELECT event_id, count(*) AS n FROM sevsync.sync_outcome WHERE status = 'retrying' "
            "GROUP BY event_id"
        )
        return {str(row["event_id"]): row["n"] for row in rows}

    async def waiting() -> tuple[int, int]:
        """(retries waiting in Postgres, deliveries the worker holds)."""
        held = await db.fetchval("SELECT count(*) FROM sevsync.retry_wait WHERE queue = $1", settings.queue)
        assert worker._consumer is not None
        return int(held), worker._consumer.in_flight

    # Everything answers 503, for as long as the test says.
    sandbox.sandbox.faults.add(kind="status", status=503, times=None)
    async with running_worker(settings) as worker:
        await publish(settings, *events)
        # Every event waits in Postgres, none is held unacked by the worker.
        await _poll(waiting, lambda w: w == (len(events), 0), 10, "all events waiting")
        # Two failed rounds each: far beyond the in-process budget of 1 s.
        await _poll(
            retrying_rows,
            lambda counts: len(counts) == len(events) and min(counts.values()) >= 2,
            15,
            "two retrying outcomes per event",
        )
        sandbox.sandbox.faults.clear()
        outcomes = await wait_for_outcomes(db, *events, timeout=20)
        # A copy's row goes once the broker's confirm is in, which may come just after its outcome.
        await _poll(waiting, lambda w: w == (0, 0), 10, "no retry waiting")

    assert [o["status"] for o in outcomes] == ["succeeded"] * len(events), [o["error"] for o in outcomes]
    for event_id, rows in (await _outcome_rows(db, events)).items():
        # Two waits at least (an event that got ahead may have taken a third before
        # the outage ended), then landed: counted by attempts, not by the clock.
        *waits, landed = rows
        assert len(waits) >= 2, (event_id, rows)
        assert waits == [("retrying", "sevdesk_unavailable", n) for n in range(1, len(waits) + 1)], event_id
        assert landed == ("succeeded", None, len(waits) + 1), event_id
    assert await db.fetchval("SELECT count(*) FROM sevsync.dead_letter") == 0
    # No duplicates: each tenant's account holds its two parts, once.
    for tenant, token in tokens.items():
        assert _part_numbers(sandbox, token) == ["SKU-0", "SKU-1"], tenant
    assert await _queue_stats(settings, settings.queue) == (0, 0)


async def test_stopping_while_the_broker_is_away_is_prompt_and_final(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    real_url = settings.amqp_url.get_secret_value()
    async with TcpProxy.for_url(real_url) as proxy:
        worker = Worker(
            settings.model_copy(update={"amqp_url": SecretStr(proxy.url(real_url, reconnect_interval="1"))})
        )
        await worker.start()
        stopped = False
        try:
            await proxy.cut()
            # SIGTERM during the outage: stopping must not wait for a broker that may never return.
            # Returning while the broker is still away is the point; the deadline is only generous.
            await asyncio.wait_for(worker.stop(), timeout=30)
            stopped = True
        finally:
            proxy.restore()
            if not stopped:
                await asyncio.wait_for(worker.stop(), timeout=20)
        # A stopped worker stays stopped: its robust connection is closed for good (aio-pika then
        # cancels its reconnect task and never starts another), and no consumer is on the queue.
        assert worker.connection is not None
        assert worker.connection.is_closed
        assert not worker.connection.reconnecting
        assert await _queue_stats(settings, settings.queue) == (0, 0)


def _received(event_type: str) -> float:
    return REGISTRY.get_sample_value("sevsync_events_received_total", {"event_type": event_type}) or 0.0


def _deferred(event_type: str) -> float:
    labels = {"event_type": event_type, "decision": "defer"}
    return REGISTRY.get_sample_value("sevsync_deliveries_settled_total", labels) or 0.0
