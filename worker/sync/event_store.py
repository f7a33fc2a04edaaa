"""The store as the processor needs it: a small interface, and its Postgres implementation.

The processor reads an event's state and commits its records through an `EventSession`, a
connection that holds the entity's lock; the unit tests give it an in-memory fake instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol
from uuid import UUID

import asyncpg

from ..outcome_words import REPLAYABLE_SKIPS
from ..store.commit import commit_result
from ..store.db import Connection, mark_clean
from ..store.dead_letters import DeadLetterRow, insert_dead_letter
from ..store.event_state import EventState, read_event_state
from ..store.outbox import OutboxMessage, insert_outbox
from ..store.outcomes import OutcomeRow, next_attempt
from ..store.skipped import reopen_skipped
from ..store.tenants import TenantRepository
from .entity_store import EntityStore, PostgresEntityStore
from .recording import EventRecords


class EventSession(Protocol):
    def entity_store(self, tenant_id: str) -> EntityStore:
        """What the handler may read and write, on this session's connection."""

    async def read_state(
        self, event_id: UUID, tenant_id: str, link_types: Sequence[str], entity_id: str
    ) -> EventState:
        """The event's state; a locked session's first read takes the entity's lock with it."""

    async def reopen_skipped(self, event_id: UUID) -> int | None:
        """Take a replayable skip out of the inbox: its next attempt, or None if it is none."""

    async def record_duplicate(self, outcome: OutcomeRow) -> None:
        """Record a redelivery's outcome; like `commit`, it may end the session's lock."""

    async def commit(self, records: EventRecords) -> None:
        """Write the attempt's records; the session's last step, as it may end the entity's lock."""

    async def next_attempt(self, event_id: UUID) -> int: ...


class EventStore(Protocol):
    def locked(self, lock_key: str) -> AbstractAsyncContextManager[EventSession]:
        """A session holding the entity's lock across worker processes."""

    def session(self) -> AbstractAsyncContextManager[EventSession]: ...

    async def mark_auth_failed(self, tenant_id: str) -> None: ...

    async def insert_dead_letter(self, row: DeadLetterRow, outbox: Sequence[OutboxMessage]) -> None:
        """Write a dead letter and the messages that tell the CRM of it, at once."""


class PostgresSession:
    """A session on one pooled connection; with a lock key, the entity's lock is its first read's
    (`read_state`) and its release the commit's: two statements for an event, and no pool reset."""

    def __init__(self, conn: Connection, lock_key: str | None = None) -> None:
        self._conn = conn
        self._lock_key = lock_key
        # Not yet taken; then held until the commit released it.
        self._lock_pending = lock_key is not None
        self._released = False

    def entity_store(self, tenant_id: str) -> EntityStore:
        if self._lock_pending or self._released:
            raise RuntimeError("the entity store is the locked session's: read the event's state first")
        return PostgresEntityStore(self._conn, tenant_id)

    async def read_state(
        self, event_id: UUID, tenant_id: str, link_types: Sequence[str], entity_id: str
    ) -> EventState:
        self._check_not_released()
        lock_key = self._lock_key if self._lock_pending else None
        state = await read_event_state(
            self._conn, event_id, tenant_id, link_types, entity_id, lock_key=lock_key
        )
        self._lock_pending = False
        return state

    async def reopen_skipped(self, event_id: UUID) -> int | None:
        await self._lock()
        return await reopen_skipped(self._conn, event_id, REPLAYABLE_SKIPS)

    async def record_duplicate(self, outcome: OutcomeRow) -> None:
        await self._lock()
        self._after_commit(await commit_result(self._conn, outcome, release_locks=True))

    async def commit(self, records: EventRecords) -> None:
        await self._lock()
        released = await commit_result(
            self._conn,
            records.outcome,
            links=records.links,
            mark_processed=records.mark_processed,
            dead_letter=records.dead_letter,
            outbox=records.outbox,
            clear_intents_of=records.clear_intents_of,
            settle_intents_of=records.settle_intents_of,
            park_body=records.park_body,
            keep_skipped=records.keep_skipped,
            release_locks=True,
        )
        self._after_commit(released)

    async def next_attempt(self, event_id: UUID) -> int:
        await self._lock()
        return await next_attempt(self._conn, event_id)

    def _after_commit(self, released: bool) -> None:
        # A commit that released the session's locks left nothing for the pool's reset to end.
        if released:
            self._released = True
            mark_clean(self._conn)

    async def _lock(self) -> None:
        """Take the entity's lock if no read took it yet."""
        self._check_not_released()
        if self._lock_pending:
            await self._conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", self._lock_key)
            self._lock_pending = False

    def _check_not_released(self) -> None:
        if self._released:
            raise RuntimeError("the session's lock is released with its commit; it does nothing after")


class PostgresEventStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._tenants = TenantRepository(pool)

    @asynccontextmanager
    async def locked(self, lock_key: str) -> AsyncIterator[EventSession]:
        async with self._pool.acquire() as conn:
            # Across worker processes: the same key as a Postgres session lock on this connection,
            # taken with the session's first read. The commit releases it after its records are
            # committed; otherwise (an error, a rarer commit) the pool's reset on release does
            # (pg_advisory_unlock_all, or the connection terminated if that fails), before the
            # caller gives up its in-process lock.
            yield PostgresSession(conn, lock_key)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[EventSession]:
        async with self._pool.acquire() as conn:
            yield PostgresSession(conn)

    async def mark_auth_failed(self, tenant_id: str) -> None:
        await self._tenants.mark_auth_failed(tenant_id)

    async def insert_dead_letter(self, row: DeadLetterRow, outbox: Sequence[OutboxMessage]) -> None:
        if not outbox:
            await insert_dead_letter(self._pool, row)
            return
        async with self._pool.acquire() as conn, conn.transaction():
            await insert_dead_letter(conn, row)
            await insert_outbox(conn, outbox)
