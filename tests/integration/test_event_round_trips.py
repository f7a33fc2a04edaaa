"""An event's statements on its connection against real Postgres: the entity's lock with the state
read, the records with the lock's release, and nothing for the pool's reset when that went well."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from cryptography.fernet import Fernet

from sevsync.disposition import Disposition
from sevsync.retry_schedule import RetrySchedule
from sevsync.sandbox.server import SandboxServer
from sevsync.sevdesk.client import SevdeskClient
from sevsync.sevdesk.token import ApiToken
from sevsync.store.db import create_pool
from sevsync.store.dead_letters import DeadLetterRow
from sevsync.store.links import LinkWrite
from sevsync.store.outbox import OutboxMessage
from sevsync.store.outcomes import OutcomeRow
from sevsync.sync.event_store import PostgresEventStore
from sevsync.sync.locks import entity_lock_key
from sevsync.sync.processor import Processor
from sevsync.sync.recording import EventRecords
from sevsync.sync.throttle import Throttle
from sevsync.tenants.crypto import TokenCipher
from sevsync.tenants.service import change_settings, connect_tenant, disconnect_tenant

from ..samples import person
from .harness import envelope, wait_until

KEY = entity_lock_key("acme", "customer", "cust-1")


@pytest.fixture
async def one_connection(database_url: str, db: asyncpg.Pool) -> AsyncIterator[asyncpg.Pool]:
    """A pool of one connection (the `db` fixture has emptied the tables): every statement of an
    event processed on it is on the entity's connection."""
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        yield pool
    finally:
        await pool.close()


async def _logged(pool: asyncpg.Pool) -> list[str]:
    """The statements the pool's connection sends from now on, the pool's reset on release included."""
    statements: list[str] = []
    async with pool.acquire() as conn:
        conn.add_query_logger(lambda logged: statements.append(logged.query))
    statements.clear()  # the reset of this acquisition
    return statements


def _customer(event_type: str, version: int, customer_id: str = "cust-1") -> bytes:
    return json.dumps(envelope(event_type, person(customer_id), version=version)).encode()


async def _connect(db: asyncpg.Pool, sandbox: SandboxServer, cipher: TokenCipher) -> str:
    """Connect tenant acme to a new sandbox account, as the CLI does; the account's token."""
    token = uuid.uuid4().hex
    sandbox.sandbox.add_account(token)
    async with SevdeskClient(sandbox.base_url) as client:
        await connect_tenant(db, client, cipher, "acme", ApiToken(token))
    await change_settings(db, "acme", {}, True)
    return token


async def _processor(
    db: asyncpg.Pool, pool: asyncpg.Pool, sandbox: SandboxServer, cipher: TokenCipher | None = None
) -> Processor:
    cipher = cipher or TokenCipher(Fernet.generate_key().decode())
    await _connect(db, sandbox, cipher)

    async def flush(messages: Sequence[OutboxMessage]) -> None:
        pass

    return Processor(
        store=PostgresEventStore(pool),
        client=SevdeskClient(sandbox.base_url),
        cipher=cipher,
        flush_outbox=flush,
        max_body_bytes=100_000,
        schedule=RetrySchedule((timedelta(seconds=10),)),
        throttle=Throttle(concurrency=4, tenant_concurrency=1),
    )


async def test_an_update_of_a_linked_customer_takes_two_statements_and_leaves_its_lock_free(
    db: asyncpg.Pool, one_connection: asyncpg.Pool, sandbox: SandboxServer
) -> None:
    processor = await _processor(db, one_connection, sandbox)
    assert (await processor.process(_customer("customer.created", 1))).disposition is Disposition.ACK
    # Once, so that the statements counted below are prepared already, as in a running worker.
    await processor.process(_customer("customer.updated", 2))
    statements = await _logged(one_connection)

    await processor.process(_customer("customer.updated", 3))

    assert len(statements) == 2, statements
    assert "sevsync.event_state" in statements[0]
    assert "CALL sevsync.write_outcome_and_unlock" in statements[1]
    version = await db.fetchval("SELECT synced_version FROM sevsync.entity_link WHERE entity_id = 'cust-1'")
    assert version == 3
    assert await db.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", KEY)


async def test_a_redelivery_takes_two_statements_too(
    db: asyncpg.Pool, one_connection: asyncpg.Pool, sandbox: SandboxServer
) -> None:
    processor = await _processor(db, one_connection, sandbox)
    created = _customer("customer.created", 1)
    await processor.process(created)
    await processor.process(created)
    statements = await _logged(one_connection)

    await processor.process(created)

    assert len(statements) == 2, statements
    reasons = await db.fetch("SELECT reason FROM sevsync.sync_outcome ORDER BY id")
    assert [r["reason"] for r in reasons] == [None, "duplicate", "duplicate"]


def _outcome(event_id: uuid.UUID, status: str = "succeeded") -> OutcomeRow:
    return OutcomeRow(event_id, "acme", "customer.updated", "customer", "cust-1", status, None, 1)


def _link(version: int) -> LinkWrite:
    return LinkWrite("customer", "cust-1", "Contact", "77", "K-1", version)


# Advisory locks of this test's database (the server may hold other databases' too).
_ADVISORY = """
SELECT count(*) FROM pg_locks
 WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


async def _lock_waiting(db: asyncpg.Pool) -> bool:
    return bool(await db.fetchval(_ADVISORY + " AND NOT granted"))


async def test_the_next_holder_of_the_lock_reads_what_the_previous_one_committed(db: asyncpg.Pool) -> None:
    await _next_holder_reads_the_commit(db, db)


async def test_the_next_holder_reads_the_commit_whatever_the_databases_isolation_default(
    db: asyncpg.Pool, database_url: str
) -> None:
    # Under repeatable read the read's snapshot would be taken before the lock was granted.
    name = database_url.rsplit("/", 1)[1]
    await db.execute(f"ALTER DATABASE \"{name}\" SET default_transaction_isolation = 'repeatable read'")
    try:
        pool = await create_pool(database_url, min_size=1, max_size=2)
        try:
            await _next_holder_reads_the_commit(db, pool)
        finally:
            await pool.close()
    finally:
        await db.execute(f'ALTER DATABASE "{name}" RESET default_transaction_isolation')


async def _next_holder_reads_the_commit(db: asyncpg.Pool, pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pool)
    event_id = uuid.uuid4()
    first_read = asyncio.Event()
    commit_now = asyncio.Event()

    async def first() -> None:
        async with store.locked(KEY) as session:
            await session.read_state(event_id, "acme", ("customer",), "cust-1")
            first_read.set()
            await commit_now.wait()
            await session.commit(EventRecords(_outcome(event_id), links=[_link(4)], mark_processed=True))

    async def second() -> Any:
        await first_read.wait()
        async with store.locked(KEY) as session:
            return await session.read_state(event_id, "acme", ("customer",), "cust-1")

    holder, waiter = asyncio.create_task(first()), asyncio.create_task(second())
    await wait_until(lambda: _lock_waiting(db), message="the second session waits for the lock")
    commit_now.set()
    await holder
    state = await waiter

    assert state.attempt is None  # the first's inbox row
    assert [link.synced_version for link in state.links] == [4]


async def test_a_failed_commit_leaves_the_connection_reset_and_the_lock_free(
    db: asyncpg.Pool, one_connection: asyncpg.Pool
) -> None:
    store = PostgresEventStore(one_connection)
    statements = await _logged(one_connection)

    async def commit_a_bad_outcome() -> None:
        async with store.locked(KEY) as session:
            await session.read_state(uuid.uuid4(), "acme", ("customer",), "cust-1")
            await session.commit(EventRecords(_outcome(uuid.uuid4(), status="no such status")))

    with pytest.raises(asyncpg.CheckViolationError):
        await commit_a_bad_outcome()
    sent = list(statements)

    async with one_connection.acquire() as conn:
        reset = conn.get_reset_query()
    assert sent[-1] == reset
    assert await db.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", KEY)


async def test_other_users_of_the_pool_get_the_reset_on_release(one_connection: asyncpg.Pool) -> None:
    async with one_connection.acquire() as conn:
        await conn.execute("SET application_name = 'left behind'")
        await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", KEY)
    async with one_connection.acquire() as conn:
        assert await conn.fetchval("SHOW application_name") != "left behind"
        assert await conn.fetchval(_ADVISORY + " AND pid = pg_backend_pid()") == 0


async def test_a_tenant_connected_again_is_synced_with_its_new_token(
    db: asyncpg.Pool, sandbox: SandboxServer
) -> None:
    cipher = TokenCipher(Fernet.generate_key().decode())
    processor = await _processor(db, db, sandbox, cipher)
    await processor.process(_customer("customer.created", 1, "cust-1"))
    await disconnect_tenant(db, "acme")
    token = await _connect(db, sandbox, cipher)

    assert (
        await processor.process(_customer("customer.created", 1, "cust-2"))
    ).disposition is Disposition.ACK

    status = await db.fetchval("SELECT status FROM sevsync.sync_outcome WHERE entity_id = 'cust-2'")
    assert status == "succeeded"
    # The contact went to the account of the new token, not the old one's.
    assert len(sandbox.sandbox.account(token).objects("Contact")) == 1


async def test_a_dead_letter_commits_in_a_transaction_and_the_pool_reset_ends_the_lock(
    db: asyncpg.Pool, one_connection: asyncpg.Pool
) -> None:
    store = PostgresEventStore(one_connection)
    statements = await _logged(one_connection)
    event_id = uuid.uuid4()
    async with store.locked(KEY) as session:
        await session.read_state(event_id, "acme", ("customer",), "cust-1")
        dead = DeadLetterRow("sevdesk_rejected", "no", b"{}", event_id, "acme", "customer.updated")
        await session.commit(EventRecords(_outcome(event_id, "dead"), mark_processed=True, dead_letter=dead))
        assert not await db.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", KEY)
    sent = list(statements)

    async with one_connection.acquire() as conn:
        assert sent[-1] == conn.get_reset_query()
    assert "CALL" not in " ".join(sent)
    assert await db.fetchval("SELECT count(*) FROM sevsync.dead_letter") == 1
    assert await db.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", KEY)


async def test_a_locked_session_is_done_once_its_commit_ended_the_lock(db: asyncpg.Pool) -> None:
    store = PostgresEventStore(db)
    event_id = uuid.uuid4()
    async with store.locked(KEY) as session:
        with pytest.raises(RuntimeError, match="read the event's state first"):
            session.entity_store("acme")
        await session.read_state(event_id, "acme", ("customer",), "cust-1")
        session.entity_store("acme")
        await session.commit(EventRecords(_outcome(event_id), mark_processed=True))
        with pytest.raises(RuntimeError, match="released with its commit"):
            await session.read_state(event_id, "acme", ("customer",), "cust-1")


async def test_a_session_that_records_before_reading_takes_the_lock_first(db: asyncpg.Pool) -> None:
    store = PostgresEventStore(db)
    async with store.locked(KEY) as session:
        await session.next_attempt(uuid.uuid4())
        assert not await db.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", KEY)
