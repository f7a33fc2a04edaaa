"""Real RabbitMQ and Postgres for the tests.

With a Docker engine, testcontainers starts both. Without one (CI here), the tests use the servers
named by SEVSYNC_TEST_AMQP_URL / SEVSYNC_TEST_DATABASE_URL. Either way each test run creates its own
database (dropped at the end) and each test its own exchange and queue names, so runs never collide.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from sevsync.config import Settings
from sevsync.sandbox.app import Sandbox
from sevsync.sandbox.server import SandboxServer
from sevsync.store.migrations import migrate

SEVSYNC_TABLES = (
    "sync_outcome",
    "entity_link",
    "inbox",
    "dead_letter",
    "outbox",
    "write_intent",
    "given_up_key",
    "parked_event",
    "tenant_integration",
    "import_run",
    "imported_record",
    "skipped_event",
    "reconcile_cursor",
    "told_version",
    "retry_wait",
)


@dataclass(frozen=True)
class Services:
    amqp_url: str
    postgres_url: str  # a server-level URL; tests create their own database on it


def _docker_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    amqp_url = os.environ.get("SEVSYNC_TEST_AMQP_URL")
    postgres_url = os.environ.get("SEVSYNC_TEST_DATABASE_URL")
    if amqp_url and postgres_url:
        yield Services(amqp_url, postgres_url)
        return
    if not _docker_available():
        pytest.fail(
            "no test services: set SEVSYNC_TEST_AMQP_URL and SEVSYNC_TEST_DATABASE_URL, "
            "or run a Docker engine for testcontainers (`make test` sets the URLs to the local servers)"
        )
    from testcontainers.postgres import PostgresContainer
    from testcontainers.rabbitmq import RabbitMqContainer

    with PostgresContainer("postgres:16", driver=None) as pg, RabbitMqContainer("rabbitmq:3.13") as mq:
        params = mq.get_connection_params()
        yield Services(
            amqp_url=f"amqp://guest:guest@{params.host}:{params.port}/",
            postgres_url=pg.get_connection_url(),
        )


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def database_url(services: Services) -> Iterator[str]:
    """A fresh, migrated database for this test run."""
    name = f"sevsync_test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(services.postgres_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        await migrate(_with_database(services.postgres_url, name))

    async def drop() -> None:
        conn = await asyncpg.connect(services.postgres_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(create())
    yield _with_database(services.postgres_url, name)
    asyncio.run(drop())


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the run's database, emptied before each test."""
    from sevsync.store.db import create_pool

    pool = await create_pool(database_url, min_size=1, max_size=4)
    await pool.execute("TRUNCATE " + ", ".join(f"sevsync.{t}" for t in SEVSYNC_TABLES) + " RESTART IDENTITY")
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def broker_names(services: Services) -> AsyncIterator[dict[str, str]]:
    """Unique exchange and queue names for one test; deleted afterwards."""
    suffix = uuid.uuid4().hex[:10]
    names = {
        "exchange": f"test.crm.events.{suffix}",
        "queue": f"test.sevdesk-sync.{suffix}",
        "out_exchange": f"test.sevsync.out.{suffix}",
    }
    yield names
    connection = await aio_pika.connect(services.amqp_url)
    try:
        channel = await connection.channel()
        from tests.integration.harness import EXTRA_QUEUES

        extra = {q for q in EXTRA_QUEUES if q.startswith(f"{names['queue']}.")}
        EXTRA_QUEUES.difference_update(extra)
        for queue in (names["queue"], f"{names['queue']}.dead", *extra):
            await channel.queue_delete(queue)
        for exchange in (names["exchange"], names["out_exchange"], f"{names['queue']}.dlx"):
            await channel.exchange_delete(exchange)
    finally:
        await connection.close()


@pytest.fixture
def secret_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(Sandbox()) as server:
        yield server


@pytest.fixture
def settings(
    services: Services,
    database_url: str,
    broker_names: dict[str, str],
    sandbox: SandboxServer,
    secret_key: str,
) -> Settings:
    return Settings(
        amqp_url=SecretStr(services.amqp_url),
        database_url=SecretStr(database_url),
        sevdesk_url=sandbox.base_url,
        secret_keys=SecretStr(secret_key),
        http_port=0,
        http_host="127.0.0.1",
        prefetch=16,
        sevdesk_timeout=2.0,
        sevdesk_retry_attempts=3,
        sevdesk_retry_budget=3.0,
        shutdown_timeout=5.0,
        # Retries after a fraction of a second instead of 10 s .. 1 h.
        retry_delays=(timedelta(milliseconds=300), timedelta(seconds=1)),
        write_settle_seconds=1.0,
        exchange=broker_names["exchange"],
        queue=broker_names["queue"],
        out_exchange=broker_names["out_exchange"],
    )
