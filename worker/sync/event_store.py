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
from ..store.db import Connection
from ..store.dead_letters import DeadLetterRow, insert_dead_letter
from ..store.event_state import EventState, read_event_state
from ..store.outbox import OutboxMessage, insert_outbox
from ..store.outcomes import OutcomeRow, insert_outcome, next_attempt
from ..store.skipped import reopen_skipped
from ..store.tenants import TenantRepository
from .entity_store import EntityStore, PostgresEntityStore
from .recording import EventRecords


class EventSession(Protocol):
    def entity_store(self, tenant_id: str) -> EntityStore:
        """What the handler may read and write, on this session's connection."""

    async def read_state(
        self, event_id: UUID, tenant_id: str, link_types: Sequence[str], entity_id: str
    ) -> EventState: ...

    async def reopen_skipped(self, event_id: UUID) -> int | None:
        """Take a replayable skip out of the inbox: its next attempt, or None if it is none."""

    async def record_duplicate(self, outcome: OutcomeRow) -> None: ...

    async def commit(self, records: EventRecords) -> None: ...

    async def next_attempt(self, event_id: UUID) -> int: ...


class EventStore(Protocol):
    def locked(self, lock_key: str) -> AbstractAsyncContextManager[EventSession]:
        """A session holding the entity's lock across worker processes."""

    def session(self) -> AbstractAsyncContextManager[EventSession]: ...

    async def mark_auth_failed(self, tenant_id: str) -> None: ...

    async def insert_dead_letter(self, row: DeadLetterRow, outbox: Sequence[OutboxMessage]) -> None:
        """Write a dead letter and the messages that tell the CRM of it, at once."""


class PostgresSession:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def entity_store(self, tenant_id: str) -> EntityStore:
        return PostgresEntityStore(self._conn, tenant_id)

    async def read_state(
        self, event_id: UUID, tenant_id: str, link_types: Sequence[str], entity_id: str
    ) -> EventState:
        return await read_event_state(self._conn, event_id, tenant_id, link_types, entity_id)

    async def reopen_skipped(self, event_id: UUID) -> int | None:
        return await reopen_skipped(self._conn, event_id, REPLAYABLE_SKIPS)

    async def record_duplicate(self, outcome: OutcomeRow) -> None:
        await insert_outcome(self._conn, outcome)

    async def commit(self, records: EventRecords) -> None:
        await commit_result(
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
        )

    async def next_attempt(self, event_id: UUID) -> int:
        return await next_attempt(self._conn, event_id)


class PostgresEventStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._tenants = TenantRepository(pool)

    @asynccontextmanager
    async def locked(self, lock_key: str) -> AsyncIterator[EventSession]:
        async with self._pool.acquire() as conn:
            # Across worker processes: the same key as a Postgres session lock on this connection.
            # The pool's reset on release (pg_advisory_unlock_all, or the connection terminated if
            # that fails) ends it, before the caller gives up its in-process lock.
            await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", lock_key)
            yield PostgresSession(conn)

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
