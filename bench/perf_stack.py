"""Everything one bench scenario runs against, fresh each time, and publishing events into it.

A new database (created, migrated with `sevsync migrate`, dropped after), new broker names, the
sandbox as its own process (`sevsync sandbox`, latency set through its control routes), tenants
connected to it, and worker processes started the way `make chaos` starts them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import aiohttp
import asyncpg
from cryptography.fernet import Fernet
from prometheus_client.parser import text_string_to_metric_families

from bench.chaos import RETRY_DELAYS, SEVSYNC, WorkerProcesses, _cleanup
from bench.perf_sandbox import SandboxProcess
from bench.perf_workload import Event
from sevsync.sevdesk.client import SevdeskClient
from sevsync.sevdesk.token import ApiToken
from sevsync.store.db import create_pool
from sevsync.tenants.crypto import TokenCipher
from sevsync.tenants.service import change_settings, connect_tenant

FINAL = ("succeeded", "skipped", "failed", "dead")
ROOT = Path(__file__).resolve().parent.parent
# Tenants connected at once while setting up (each connect tests the token against the sandbox).
CONNECT_CONCURRENCY = 16
# Events published before waiting for the broker's confirms; a batch never holds two events of one
# entity, so an entity's versions reach the queue in the order they were generated.
PUBLISH_BATCH = 200
# The queue bound to the results exchange (the worker's sync.* results, the baseline's): bounded, and
# drained by the bench driver as they come, so no result is returned unroutable or piles up.
RESULTS_MAX_LENGTH = 100_000


@dataclass(frozen=True)
class StackConfig:
    amqp_url: str
    postgres_url: str
    prefetch: int  # deliveries held per worker process (and by the baseline and FastStream's anchor)
    concurrency: int  # events processed at once per worker process (and by the baseline)
    tenant_concurrency: int  # events of one tenant processed at once per worker process
    log_level: str
    timeout: float  # seconds a measured batch may take


class Workers(WorkerProcesses):
    """chaos's worker processes, with the command line replaceable (a profiler in front of it)."""

    def __init__(self, env: dict[str, str], count: int, log_dir: Path, command: Sequence[str]) -> None:
        super().__init__(env, count, log_dir, command, ready_timeout=60, cwd=ROOT)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    async def counter(self, name: str, **labels: str) -> float | None:
        """The sum over all running processes of the counter `name` with `labels`, from `/metrics`.

        0 when the processes expose such a metric without a sample with these labels (a labelled
        counter shows a label set only once it counted), None when none exposes the metric at all.
        """
        total: float | None = None
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            for process in self.processes:
                if process.returncode is not None:
                    continue
                port = self.http_ports[process.pid]
                try:
                    async with session.get(f"http://127.0.0.1:{port}/metrics") as answer:
                        text = await answer.text()
                except (aiohttp.ClientError, TimeoutError):
                    continue
                for family in text_string_to_metric_families(text):
                    # The parser names a counter family without its `_total` suffix.
                    if name not in (family.name, f"{family.name}_total"):
                        continue
                    total = total or 0.0
                    for sample in family.samples:
                        if sample.name == name and labels.items() <= sample.labels.items():
                            total += sample.value
        return total

    async def stop(self) -> None:
        """SIGTERM, then wait: a worker must exit 0 (a profiler writes its file only then)."""
        await super().stop()
        codes = [p.returncode for p in self.processes]
        if any(code != 0 for code in codes):
            print(f"  ! worker exit codes after SIGTERM: {codes}; logs in {self._log_dir}", flush=True)


@dataclass
class Stack:
    config: StackConfig
    label: str
    tenants: dict[str, str]  # tenant id -> sandbox token
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    secret: str = field(default_factory=lambda: Fernet.generate_key().decode())
    log_dir: Path = ROOT / "build" / "bench-logs"
    pool: asyncpg.Pool | None = None
    sandbox: SandboxProcess | None = None
    drain: aio_pika.abc.AbstractConnection | None = None

    @property
    def database(self) -> str:
        return f"sevsync_bench_{self.suffix}"

    def _url(self, database: str) -> str:
        server = urlsplit(self.config.postgres_url)
        return urlunsplit(server._replace(path=f"/{database}"))

    @property
    def database_url(self) -> str:
        return self._url(self.database)

    @property
    def names(self) -> dict[str, str]:
        return {
            "exchange": f"bench.crm.events.{self.suffix}",
            "queue": f"bench.sevdesk-sync.{self.suffix}",
            "out_exchange": f"bench.sevsync.out.{self.suffix}",
            "baseline_exchange": f"bench.baseline.{self.suffix}",
            "baseline_queue": f"bench.baseline.{self.suffix}",
            "results_queue": f"bench.sevsync.results.{self.suffix}",
            "anchor_exchange": f"bench.faststream.{self.suffix}",
            "anchor_queue": f"bench.faststream.{self.suffix}",
            "anchor_results": f"bench.faststream.results.{self.suffix}",
        }

    def worker_env(self) -> dict[str, str]:
        assert self.sandbox is not None
        return {
            **os.environ,
            "SEVSYNC_AMQP_URL": self.config.amqp_url,
            "SEVSYNC_DATABASE_URL": self.database_url,
            "SEVSYNC_SEVDESK_URL": self.sandbox.base_url,
            "SEVSYNC_SECRET_KEYS": self.secret,
            "SEVSYNC_EXCHANGE": self.names["exchange"],
            "SEVSYNC_QUEUE": self.names["queue"],
            "SEVSYNC_OUT_EXCHANGE": self.names["out_exchange"],
            "SEVSYNC_RETRY_DELAYS": ",".join(RETRY_DELAYS),
            "SEVSYNC_PREFETCH": str(self.config.prefetch),
            "SEVSYNC_CONCURRENCY": str(self.config.concurrency),
            "SEVSYNC_TENANT_CONCURRENCY": str(self.config.tenant_concurrency),
            "SEVSYNC_LOG_LEVEL": self.config.log_level,
            "SEVSYNC_HTTP_HOST": "127.0.0.1",
        }

    def workers(self, count: int, command: Sequence[str] | None = None) -> Workers:
        return Workers(self.worker_env(), count, self.log_dir, command or (SEVSYNC, "worker"))

    async def drain_results(self) -> None:
        """A bound queue on the results exchange, consumed (no ack) by the bench driver as it fills."""
        self.drain = await aio_pika.connect(self.config.amqp_url)
        channel = await self.drain.channel()
        await channel.set_qos(prefetch_count=1000)
        exchange = await channel.declare_exchange(
            self.names["out_exchange"], aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            self.names["results_queue"], durable=True, arguments={"x-max-length": RESULTS_MAX_LENGTH}
        )
        await queue.bind(exchange, routing_key="#")

        async def drop(_: aio_pika.abc.AbstractIncomingMessage) -> None:
            return None

        await queue.consume(drop, no_ack=True)

    async def setup(self) -> None:
        # The logs of the last run of each scenario stay in build/bench-logs/<label> for inspection.
        self.log_dir = ROOT / "build" / "bench-logs" / self.label
        shutil.rmtree(self.log_dir, ignore_errors=True)
        self.log_dir.mkdir(parents=True)
        admin = await asyncpg.connect(self._url("postgres"))
        try:
            await admin.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await admin.close()
        migrate = await asyncio.create_subprocess_exec(
            SEVSYNC,
            "migrate",
            env={**os.environ, "SEVSYNC_DATABASE_URL": self.database_url},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await migrate.communicate()
        if migrate.returncode != 0:
            raise RuntimeError(f"sevsync migrate failed: {output.decode(errors='replace')}")
        self.pool = await create_pool(self.database_url, min_size=1, max_size=4)
        self.sandbox = SandboxProcess(self.log_dir / "sandbox.log")
        await self.sandbox.start()
        cipher = TokenCipher(self.secret)
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        async with SevdeskClient(self.sandbox.base_url) as client:

            async def connect(tenant: str, token: str) -> None:
                async with gate:
                    assert self.pool is not None
                    assert self.sandbox is not None
                    await self.sandbox.add_account(token)
                    await connect_tenant(self.pool, client, cipher, tenant, ApiToken(token))
                    await change_settings(self.pool, tenant, {}, True)

            await asyncio.gather(*(connect(t, k) for t, k in self.tenants.items()))
        await self.drain_results()

    async def teardown(self) -> None:
        if self.sandbox is not None:
            await self.sandbox.stop()
        if self.pool is not None:
            await self.pool.close()
        if self.drain is not None:
            await self.drain.close()
        names = {k: self.names[k] for k in ("exchange", "queue", "out_exchange")}
        connection = await aio_pika.connect(self.config.amqp_url)
        async with connection:
            channel = await connection.channel()
            for queue in ("baseline_queue", "results_queue", "anchor_queue", "anchor_results"):
                await channel.queue_delete(self.names[queue])
            for exchange in ("baseline_exchange", "anchor_exchange"):
                await channel.exchange_delete(self.names[exchange])
        await _cleanup(self.config.amqp_url, names, self._url("postgres"), self.database)

    # --- measuring ------------------------------------------------------------------------------

    async def watermark(self) -> int:
        """The newest outcome row id: rows after it belong to what is published next."""
        assert self.pool is not None
        return int(await self.pool.fetchval("SELECT coalesce(max(id), 0) FROM sevsync.sync_outcome"))

    async def final_count(self, after: int) -> int:
        assert self.pool is not None
        return int(
            await self.pool.fetchval(
                "SELECT count(DISTINCT event_id) FROM sevsync.sync_outcome "
                "WHERE id > $1 AND status = ANY($2::text[])",
                after,
                list(FINAL),
            )
        )

    async def wait_final(self, after: int, count: int, timeout: float, poll: float = 0.2) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.final_count(after) >= count:
                return True
            await asyncio.sleep(poll)
        return False

    async def outcomes(self, after: int) -> list[asyncpg.Record]:
        """The first final outcome of each event after `after`, with its DB time as epoch seconds."""
        assert self.pool is not None
        return list(
            await self.pool.fetch(
                "SELECT DISTINCT ON (event_id) event_id::text AS event_id, status, reason, api_calls, "
                "duration_ms, extract(epoch FROM created_at)::float8 AS at FROM sevsync.sync_outcome "
                "WHERE id > $1 AND status = ANY($2::text[]) ORDER BY event_id, id",
                after,
                list(FINAL),
            )
        )


@asynccontextmanager
async def fresh_stack(config: StackConfig, label: str, tenants: Sequence[str]) -> AsyncIterator[Stack]:
    stack = Stack(config, label, {t: uuid.uuid4().hex for t in tenants})
    try:
        await stack.setup()
        yield stack
    finally:
        await stack.teardown()


async def publish(
    amqp_url: str,
    exchange: str,
    events: Sequence[Event],
    sent_at: dict[str, float],
    *,
    rate: float | None = None,
) -> None:
    """Publish with confirms; `sent_at[event_id]` = wall-clock time its batch was handed to the broker.

    Without `rate` as fast as the broker confirms; with it, paced to `rate` events per second.
    """
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        target = await channel.get_exchange(exchange)
        started = time.monotonic()
        index = 0
        while index < len(events):
            limit = len(events)
            if rate is not None:
                due = int((time.monotonic() - started) * rate) + 1
                if due <= index:
                    await asyncio.sleep(min(0.02, (index + 1 - due) / rate + 0.001))
                    continue
                limit = min(limit, due)
            batch: list[Event] = []
            entities: set[tuple[str, str, str]] = set()
            while index < limit and len(batch) < PUBLISH_BATCH and events[index].entity not in entities:
                entities.add(events[index].entity)
                batch.append(events[index])
                index += 1
            now = time.time()
            for e in batch:
                sent_at[e.event_id] = now
            await asyncio.gather(
                *(
                    target.publish(
                        aio_pika.Message(
                            e.body,
                            content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            message_id=e.event_id,
                        ),
                        routing_key=e.event_type,
                    )
                    for e in batch
                )
            )
