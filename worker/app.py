"""The worker process: shared resources created at start, closed at shutdown (arq-style).

`Worker.start()` connects Postgres, RabbitMQ and the sevDesk client, declares the topology, starts
consuming and serves the health endpoints; `Worker.stop()` stops consuming, lets in-flight events
finish within the shutdown timeout, and closes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from aiohttp import web

from . import metrics
from .admin.api import api_routes
from .admin.auth import AdminToken
from .admin.console import console_routes
from .admin.edge import refuse_unstorable
from .admin.http import HttpServer, health_routes
from .admin.services import ADMIN_SERVICES, AdminServices
from .broker.consumer import Consumer
from .broker.ladder import DEFERRALS_HEADER, RETRIES_HEADER, RetryLadder, deferrals_so_far, retries_so_far
from .broker.outbound import OutboundPublisher
from .broker.topology import DELIVERY_LIMIT, Topology, TopologyNames, declare
from .config import Settings
from .sevdesk.client import RetryPolicy, SevdeskClient
from .skipped import asks_skipped_replay, purge_forever
from .store.db import create_pool
from .sync.processor import ACK, Decision, Disposition, Processor
from .sync.throttle import Throttle
from .tenants.crypto import TokenCipher

log = logging.getLogger(__name__)

# Errors that mean "Postgres is not reachable right now", as opposed to a bug or bad data.
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,  # includes a connection that died under a query
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up
)
PROBE_FAILURES: tuple[type[BaseException], ...] = (*DATABASE_UNAVAILABLE, asyncpg.PostgresError)
DATABASE_PROBE_MIN_SECONDS = 0.5
DATABASE_PROBE_MAX_SECONDS = 5.0
# Database connections beyond one per event processed.
POOL_HEADROOM = 4


class Worker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.connection: AbstractRobustConnection | None = None
        self.topology: Topology | None = None
        self.processor: Processor | None = None
        self.http: HttpServer | None = None
        self._client: SevdeskClient | None = None
        self._consumer: Consumer | None = None
        self._dead_consumer: Consumer | None = None
        self._outbound: OutboundPublisher | None = None
        self._relay: asyncio.Task[None] | None = None
        self._marker: asyncio.Task[None] | None = None
        self._skipped_purge: asyncio.Task[None] | None = None
        self._publish_channel: AbstractChannel | None = None
        self._admin: AdminServices | None = None
        self.ladder = RetryLadder(settings.queue, settings.retry_delays)
        self._stopping = False

    async def start(self) -> None:
        s = self.settings
        cipher = TokenCipher(s.secret_keys.get_secret_value() if s.secret_keys else None)
        # One database connection per event processed (it holds the entity's lock), plus headroom for
        # the outbox relay, broker dead letters and the admin API.
        self.pool = await create_pool(
            s.database_url.get_secret_value(), min_size=2, max_size=s.concurrency + POOL_HEADROOM
        )
        self._client = SevdeskClient(
            s.sevdesk_base_url,
            timeout=s.sevdesk_timeout,
            retry=RetryPolicy(attempts=s.sevdesk_retry_attempts, budget_seconds=s.sevdesk_retry_budget),
            user_agent=s.user_agent,
        )
        self.connection = await aio_pika.connect_robust(s.amqp_url.get_secret_value())
        consume_channel = await self.connection.channel()
        await consume_channel.set_qos(prefetch_count=s.prefetch)
        # on_return_raises: a retry copy the broker cannot route (its ladder queue is gone) fails its
        # publish, so the delivery goes back to the queue instead of being acked and lost. Results on
        # the outbound exchange are published without `mandatory` and never come back.
        publish_channel = self._publish_channel = await self.connection.channel(
            publisher_confirms=True, on_return_raises=True
        )

        names = TopologyNames(exchange=s.exchange, queue=s.queue, out_exchange=s.out_exchange)
        self._outbound = OutboundPublisher(
            await publish_channel.declare_exchange(s.out_exchange, aio_pika.ExchangeType.TOPIC, durable=True),
            self.pool,
        )
        self.processor = Processor(
            pool=self.pool,
            client=self._client,
            cipher=cipher,
            flush_outbox=self._outbound.publish,
            max_body_bytes=s.max_body_bytes,
            ladder=self.ladder,
            settle_seconds=s.write_settle_seconds,
            throttle=Throttle(
                concurrency=s.concurrency,
                tenant_concurrency=s.tenant_concurrency,
                tenant_requests_per_second=s.tenant_requests_per_second,
            ),
        )
        self.topology = await declare(consume_channel, names, self.processor.handled_event_types, self.ladder)
        self._consumer = Consumer(
            self.topology.queue,
            self._handle,
            schedule_retry=self._schedule_retry,
            requeue_delay=s.requeue_delay,
            on_settled=_count_settled,
        )
        self._dead_consumer = Consumer(self.topology.dead_queue, self._handle_broker_dead_letter)

        app = web.Application()
        app.add_routes(health_routes(self.readiness))
        if s.admin_token is not None:
            # Without a token there is no admin surface at all, not an open one.
            app[ADMIN_SERVICES] = self._admin = AdminServices(
                pool=self.pool,
                settings=s,
                token=AdminToken(s.admin_token.get_secret_value()),
                client=self._client,
                cipher=cipher,
            )
            app.add_routes(api_routes())
            app.add_routes(console_routes())
            app.middlewares.append(refuse_unstorable)
        self.http = HttpServer(app, s.http_host, s.http_port)
        await self.http.start()

        await self._dead_consumer.start()
        await self._consumer.start()
        self._relay = asyncio.create_task(self._outbound.relay_forever(), name="outbox-relay")
        self._marker = asyncio.create_task(self._outbound.mark_forever(), name="outbox-marker")
        self._skipped_purge = asyncio.create_task(
            purge_forever(self.pool, s.skipped_retention_days), name="skipped-purge"
        )
        metrics.CONSUMER_CONNECTED.set(1)
        log.info(
            "worker consuming %s (prefetch %d, concurrency %d, per tenant %d), health on port %s",
            s.queue,
            s.prefetch,
            s.concurrency,
            s.tenant_concurrency,
            self.http.port,
        )

    async def _handle(self, message: AbstractIncomingMessage) -> Decision:
        assert self.processor is not None
        metrics.IN_FLIGHT.inc()
        started = time.monotonic()
        try:
            while True:
                try:
                    decision = await self.processor.process(
                        message.body,
                        retries_so_far(message.headers),
                        deferrals_so_far(message.headers),
                        skipped_replay=asks_skipped_replay(message.headers),
                    )
                    break
                except DATABASE_UNAVAILABLE as exc:
                    # No outcome can be recorded, so the delivery must not be acked. Handing it back
                    # would spin it through redeliveries towards the queue's delivery limit; instead
                    # hold it (prefetch bounds how many) and process it again once Postgres answers.
                    # Intents and the inbox make the second run safe.
                    log.warning(
                        "Postgres unavailable (%s); holding the delivery until it answers", type(exc).__name__
                    )
                    await self._wait_for_database()
        finally:
            metrics.IN_FLIGHT.dec()
        # Counted here, once per delivery, not per run of `process` while Postgres was away.
        metrics.EVENTS_RECEIVED.labels(decision.event_type).inc()
        metrics.HANDLER_SECONDS.labels(decision.event_type).observe(time.monotonic() - started)
        return decision

    async def _schedule_retry(self, message: AbstractIncomingMessage, step: int, why: Disposition) -> None:
        """Copy the delivery onto a ladder step with its retry or deferral count (default exchange)."""
        assert self._publish_channel is not None
        headers = dict(message.headers or {})
        if why is Disposition.DEFER:
            headers[DEFERRALS_HEADER] = deferrals_so_far(headers) + 1
        else:
            # Waiting on step N spends steps 0..N (a long Retry-After may skip some).
            headers[RETRIES_HEADER] = step + 1
        await self._publish_channel.default_exchange.publish(
            aio_pika.Message(
                message.body,
                headers=headers,
                content_type=message.content_type or "application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message.message_id,
            ),
            routing_key=self.ladder.queue_name(step),
            mandatory=True,
        )

    async def _handle_broker_dead_letter(self, message: AbstractIncomingMessage) -> Decision:
        assert self.processor is not None
        deliveries = _delivery_count(message.headers)
        await self.processor.record_delivery_limit(message.body, deliveries)
        return ACK

    async def _wait_for_database(self) -> None:
        assert self.pool is not None
        delay = DATABASE_PROBE_MIN_SECONDS
        while not self._stopping:
            try:
                await asyncio.wait_for(self.pool.fetchval("SELECT 1"), timeout=5)
                return
            except PROBE_FAILURES:
                await asyncio.sleep(delay)
                delay = min(delay * 2, DATABASE_PROBE_MAX_SECONDS)
        raise RuntimeError("stopping while Postgres is unavailable; the broker will redeliver")

    async def readiness(self) -> dict[str, bool]:
        checks = {"database": False, "broker": False, "consuming": False}
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pool.fetchval("SELECT 1"), timeout=2)
                checks["database"] = True
        # A robust connection is not "closed" while it reconnects; `connected` says whether it is up.
        checks["broker"] = (
            self.connection is not None
            and not self.connection.is_closed
            and self.connection.connected.is_set()
        )
        checks["consuming"] = bool(self._consumer and self._consumer.consuming and checks["broker"])
        metrics.CONSUMER_CONNECTED.set(1 if checks["consuming"] else 0)
        return checks

    async def stop(self) -> None:
        timeout = self.settings.shutdown_timeout
        self._stopping = True
        if self._consumer is not None:
            await self._consumer.stop(timeout)
        if self._dead_consumer is not None:
            await self._dead_consumer.stop(timeout)
        for background in (self._relay, self._marker, self._skipped_purge):
            if background is not None:
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await background
        if self._outbound is not None:
            try:
                await self._outbound.mark_published()
            except Exception:  # the relay publishes those rows again after a restart
                log.warning("could not mark the last published outbox rows", exc_info=True)
        if self.http is not None:
            await self.http.stop()
        if self._admin is not None:
            # An import stopped here resumes from its last committed page when started again.
            for task in self._admin.imports.values():
                task.cancel()
            await asyncio.gather(*self._admin.imports.values(), return_exceptions=True)
        if self.connection is not None:
            await self.connection.close()
        if self._client is not None:
            await self._client.close()
        if self.pool is not None:
            await self.pool.close()
        metrics.CONSUMER_CONNECTED.set(0)
        log.info("worker stopped")


def _delivery_count(headers: dict[str, Any] | None) -> int | None:
    """How often the broker delivered a message before dead-lettering it, when it says so.

    A quorum queue dead-letters with reason `delivery_limit` once a message was returned more often
    than the limit allows; its `x-death` entry then counts dead-letterings, not deliveries.
    """
    if not headers:
        return None
    count = headers.get("x-delivery-count")
    if isinstance(count, int):
        return count + 1
    deaths = headers.get("x-death")
    if (
        isinstance(deaths, list)
        and deaths
        and isinstance(deaths[0], dict)
        and deaths[0].get("reason") in ("delivery_limit", b"delivery_limit")
    ):
        return DELIVERY_LIMIT + 1
    return None


async def run_worker(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT, then shut down gracefully."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(settings)
    try:
        await worker.start()
        await stop.wait()
        log.info("shutting down: finishing in-flight events (up to %.0f s)", settings.shutdown_timeout)
    finally:
        await worker.stop()


def _count_settled(decision: Decision) -> None:
    # The work queue's deliveries only: the broker's dead-letter queue carries no events of its own.
    metrics.DECISIONS.labels(decision.event_type, decision.disposition.value).inc()
