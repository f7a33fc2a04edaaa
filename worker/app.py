"""The worker process: shared resources created at start, closed at shutdown (arq-style).

`Worker.start()` connects Postgres, RabbitMQ and the sevDesk client, declares the topology, starts
consuming and serves the health endpoints, entering each resource's cleanup on one exit stack;
`Worker.stop()` unwinds it: stops consuming, lets in-flight events finish within the shutdown
timeout, and closes everything in the reverse order of its start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import asyncpg
from aio_pika.abc import AbstractRobustConnection

from sevsync_events.connection import connect_robust

from .admin.http import HttpServer
from .admin.services import AdminServices
from .admin.site import worker_site
from .broker.consumer import Consumer, DeliverFn
from .broker.dead_queue import BrokerDeadLetters
from .broker.delivery import WorkQueueDelivery
from .broker.outbound import OutboundPublisher, declare_outbound
from .broker.retry_relay import RetryRelay
from .broker.topology import Topology, TopologyNames, declare
from .config import Settings
from .metrics import METRICS
from .readiness import readiness
from .reconcile.scheduler import RECONCILE_CONCURRENCY, Reconciler
from .retry_schedule import RetrySchedule
from .sevdesk.client import SevdeskClient
from .sevdesk.factory import client_from_settings
from .skipped import purge_forever
from .store.availability import PostgresAvailability
from .store.db import create_pool
from .sync.document_fetch import HttpDocumentFetcher
from .sync.event_store import PostgresEventStore
from .sync.processor import Processor
from .tenants.crypto import TokenCipher
from .wiring import processor_from_settings

log = logging.getLogger(__name__)

# Database connections beyond one per event processed and one per reconciliation run
# (RECONCILE_CONCURRENCY): for the outbox and retry relays, broker dead letters, readiness and the
# admin API.
POOL_HEADROOM = 5


class Worker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.connection: AbstractRobustConnection | None = None
        self.processor: Processor | None = None
        self.http: HttpServer | None = None
        self._consumer: Consumer | None = None
        # Read by the integration tests, which run the outbox relay once on demand.
        self._outbound: OutboundPublisher | None = None
        # Read by the integration tests, which drive its timer with their own sleep.
        self.reconciler: Reconciler | None = None
        # Each resource's cleanup, entered as it starts: `stop` runs them in reverse.
        self._stack = contextlib.AsyncExitStack()

    async def start(self) -> None:
        s, stack = self.settings, self._stack
        # First: a bad SEVSYNC_SECRET_KEYS fails the start before anything is connected.
        cipher = TokenCipher(s.secret_keys.get_secret_value() if s.secret_keys else None)
        stack.callback(_stopped)
        pool, client, connection = await self._connect()
        consume_channel = await connection.channel()
        await consume_channel.set_qos(prefetch_count=s.prefetch)
        # on_return_raises: a retry copy the broker cannot route (the work queue is gone) fails its
        # publish, so it stays held instead of being dropped. Results on the outbound exchange are
        # published without `mandatory` and never come back.
        publish_channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        outbound = self._outbound = OutboundPublisher(
            await declare_outbound(publish_channel, s.out_exchange), pool
        )
        # One schedule: the processor picks a step from it, the retry relay holds for the step's delay.
        schedule = RetrySchedule(s.retry_delays)
        fetcher = HttpDocumentFetcher(user_agent=s.user_agent)  # invoice documents, for the worker's life
        stack.push_async_callback(fetcher.close)
        processor = self.processor = processor_from_settings(
            s, PostgresEventStore(pool), client, cipher, outbound.publish, schedule, fetcher
        )
        names = TopologyNames(exchange=s.exchange, queue=s.queue, out_exchange=s.out_exchange)
        topology = await declare(consume_channel, names, processor.handled_event_types)
        retries = RetryRelay(pool, publish_channel, s.queue, schedule)
        reconciler = self.reconciler = Reconciler(
            pool,
            client,
            cipher,
            outbound.publish,
            sweep_every=s.reconcile_sweep_every,
            pace_of=processor.pace_of,
            concurrency=RECONCILE_CONCURRENCY,
        )
        stack.push_async_callback(reconciler.close)
        http = await self._serve_http(pool, cipher, client, reconciler)
        stack.push_async_callback(outbound.mark_last)
        for name, job in (
            ("outbox-relay", outbound.relay_forever()),
            ("retry-relay", retries.forever()),
            ("outbox-marker", outbound.mark_forever()),
            ("skipped-purge", purge_forever(pool, s.skipped_retention_days)),
            *([("reconcile", reconciler.every(s.reconcile_interval))] if s.reconcile_interval else []),
        ):
            stack.push_async_callback(_cancel, asyncio.create_task(job, name=name))
        database = PostgresAvailability(pool)
        deliveries = WorkQueueDelivery(processor, database, retries, requeue_delay=s.requeue_delay)
        await self._consume(topology, deliveries, BrokerDeadLetters(processor))
        # First when stopping: deliveries held while Postgres is away go back to the broker.
        stack.callback(database.stop)
        METRICS.consuming(True)
        log.info(
            "worker consuming %s (prefetch %d, concurrency %d, per tenant %d), health on port %s",
            s.queue,
            s.prefetch,
            s.concurrency,
            s.tenant_concurrency,
            http.port,
        )

    async def _consume(self, topology: Topology, deliveries: DeliverFn, dead_letters: DeliverFn) -> None:
        """Drain the broker's dead letters, then take the work queue's deliveries."""
        dead_consumer = Consumer(topology.dead_queue, dead_letters)
        await dead_consumer.start()
        self._stack.push_async_callback(dead_consumer.stop, self.settings.shutdown_timeout)
        consumer = self._consumer = Consumer(topology.queue, deliveries)
        await consumer.start()
        self._stack.push_async_callback(consumer.stop, self.settings.shutdown_timeout)

    async def _connect(self) -> tuple[asyncpg.Pool, SevdeskClient, AbstractRobustConnection]:
        s, stack = self.settings, self._stack
        # One database connection per event processed (it holds the entity's lock), one per
        # reconciliation run (it holds the tenant's lock for the run; the reconciler runs at most
        # RECONCILE_CONCURRENCY at once), and the headroom no reconciliation can take.
        pool = self.pool = await create_pool(
            s.database_url.get_secret_value(),
            min_size=2,
            max_size=s.concurrency + RECONCILE_CONCURRENCY + POOL_HEADROOM,
        )
        stack.push_async_callback(pool.close)
        client = client_from_settings(s)
        stack.push_async_callback(client.close)
        connection = self.connection = await connect_robust(s.amqp_url.get_secret_value())
        stack.push_async_callback(connection.close)
        return pool, client, connection

    async def _serve_http(
        self, pool: asyncpg.Pool, cipher: TokenCipher, client: SevdeskClient, reconciler: Reconciler
    ) -> HttpServer:
        """Serve the health endpoints and, with an admin token, the admin API and console."""
        app, admin = worker_site(self.settings, self.readiness, pool=pool, client=client, cipher=cipher)
        if admin is not None:
            admin.reconciler = reconciler
            # An import stopped here resumes from its last committed page when started again.
            self._stack.push_async_callback(_cancel_imports, admin)
        http = self.http = HttpServer(app, self.settings.http_host, self.settings.http_port)
        await http.start()
        self._stack.push_async_callback(http.stop)
        return http

    async def readiness(self) -> dict[str, bool]:
        return await readiness(self.pool, self.connection, self._consumer)

    async def stop(self) -> None:
        await self._stack.aclose()


async def _cancel(background: asyncio.Task[None]) -> None:
    background.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await background


async def _cancel_imports(admin: AdminServices) -> None:
    for task in admin.imports.values():
        task.cancel()
    await asyncio.gather(*admin.imports.values(), return_exceptions=True)


def _stopped() -> None:
    METRICS.consuming(False)
    log.info("worker stopped")


async def run_worker(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT, then shut down gracefully."""
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
