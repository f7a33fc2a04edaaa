"""An in-memory event store for the processor's unit tests (sync.event_store.EventStore)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from uuid import UUID

from sevsync.outcome_words import DUPLICATE, REPLAYABLE_SKIPS, SKIPPED
from sevsync.store.commit import KeptSkip
from sevsync.store.dead_letters import DeadLetterRow
from sevsync.store.event_state import EventState
from sevsync.store.links import Link
from sevsync.store.outbox import OutboxMessage
from sevsync.store.outcomes import OutcomeRow
from sevsync.store.tenants import TenantRecord
from sevsync.sync.entity_store import EntityStore
from sevsync.sync.event_store import EventSession
from sevsync.sync.recording import EventRecords

from .fakes import InMemoryEntityStore


@dataclass
class FakeEventStore:
    tenants: dict[str, TenantRecord] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    inbox: set[UUID] = field(default_factory=set)
    outcomes: list[OutcomeRow] = field(default_factory=list)
    dead_letters: list[DeadLetterRow] = field(default_factory=list)
    outbox: list[OutboxMessage] = field(default_factory=list)
    parked: list[bytes] = field(default_factory=list)
    kept: list[KeptSkip] = field(default_factory=list)
    locks_taken: list[str] = field(default_factory=list)

    @asynccontextmanager
    async def locked(self, lock_key: str) -> AsyncIterator[EventSession]:
        self.locks_taken.append(lock_key)
        yield FakeSession(self)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[EventSession]:
        yield FakeSession(self)

    async def mark_auth_failed(self, tenant_id: str) -> None:
        self.tenants[tenant_id] = replace(self.tenants[tenant_id], status="auth_failed")

    async def insert_dead_letter(self, row: DeadLetterRow, outbox: Sequence[OutboxMessage]) -> None:
        self.dead_letters.append(row)
        self.outbox += outbox

    def outcomes_of(self, event_id: UUID) -> list[tuple[str, str | None, int]]:
        return [(o.status, o.reason, o.attempt) for o in self.outcomes if o.event_id == event_id]

    def last_attempt(self, event_id: UUID) -> int:
        attempts = [o.attempt for o in self.outcomes if o.event_id == event_id and o.reason != DUPLICATE]
        return max(attempts, default=0)


class FakeSession:
    def __init__(self, store: FakeEventStore) -> None:
        self._store = store

    def entity_store(self, tenant_id: str) -> EntityStore:
        return InMemoryEntityStore()

    async def read_state(
        self, event_id: UUID, tenant_id: str, link_types: Sequence[str], entity_id: str
    ) -> EventState:
        store = self._store
        links = tuple(
            link
            for link in store.links
            if link.tenant_id == tenant_id and link.entity_type in link_types and link.entity_id == entity_id
        )
        attempt = None if event_id in store.inbox else store.last_attempt(event_id) + 1
        return EventState(attempt, store.tenants.get(tenant_id), links)

    async def reopen_skipped(self, event_id: UUID) -> int | None:
        newest = [o for o in self._store.outcomes if o.event_id == event_id and o.reason != DUPLICATE]
        if not newest or newest[-1].status != SKIPPED or newest[-1].reason not in REPLAYABLE_SKIPS:
            return None
        self._store.inbox.discard(event_id)
        return self._store.last_attempt(event_id) + 1

    async def record_duplicate(self, outcome: OutcomeRow) -> None:
        self._store.outcomes.append(outcome)

    async def commit(self, records: EventRecords) -> None:
        store = self._store
        store.outcomes.append(records.outcome)
        if records.mark_processed:
            store.inbox.add(records.outcome.event_id)
        if records.dead_letter is not None:
            store.dead_letters.append(records.dead_letter)
        if records.park_body is not None:
            store.parked.append(records.park_body)
        if records.keep_skipped is not None:
            store.kept.append(records.keep_skipped)
        store.outbox += records.outbox

    async def next_attempt(self, event_id: UUID) -> int:
        return self._store.last_attempt(event_id) + 1
