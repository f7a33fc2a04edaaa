"""An in-memory event store for the processor's unit tests (sync.event_store.EventStore).

Links and write intents live in one `InMemoryEntityStore` per tenant: the store the handlers are
given, the links `read_state` reads and the ones `commit` writes (merged as store.links.MERGE_LINK
merges them) are the same, as they are in Postgres.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from uuid import UUID

from sevsync.outcome_words import DUPLICATE, REPLAYABLE_SKIPS, SKIPPED
from sevsync.store.commit import KeptSkip
from sevsync.store.dead_letters import DeadLetterRow
from sevsync.store.event_state import EventState
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
    entity_stores: dict[str, InMemoryEntityStore] = field(default_factory=dict)
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

    def entity_store_of(self, tenant_id: str) -> InMemoryEntityStore:
        return self.entity_stores.setdefault(tenant_id, InMemoryEntityStore())

    def outcomes_of(self, event_id: UUID) -> list[tuple[str, str | None, int]]:
        return [(o.status, o.reason, o.attempt) for o in self.outcomes if o.event_id == event_id]

    def last_attempt(self, event_id: UUID) -> int:
        attempts = [o.attempt for o in self.outcomes if o.event_id == event_id and o.reason != DUPLICATE]
        return max(attempts, default=0)


class FakeSession:
    def __init__(self, store: FakeEventStore) -> None:
        self._store = store

    def entity_store(self, tenant_id: str) -> EntityStore:
        return self._store.entity_store_of(tenant_id)

    async def read_state(
        self, event_id: UUID, tenant_id: str, link_types: Sequence[str], entity_id: str
    ) -> EventState:
        store = self._store
        stored = store.entity_store_of(tenant_id).links_by_key
        links = tuple(stored[key] for key in ((t, entity_id) for t in link_types) if key in stored)
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
        # As insert_outbox (ON CONFLICT DO NOTHING): a message queued before is not queued again.
        queued = {m.event_id for m in store.outbox}
        store.outbox += [m for m in records.outbox if m.event_id not in queued]
        self._commit_links_and_intents(records)

    def _commit_links_and_intents(self, records: EventRecords) -> None:
        """As store.commit.commit_result: links merge, finished intents go, settled ones stay."""
        outcome = records.outcome
        entities = self._store.entity_store_of(outcome.tenant_id)
        for link in records.links:
            entities.write_link(link)
        done = {(t, outcome.entity_id) for t in records.clear_intents_of}
        done |= {(link.entity_type, link.entity_id) for link in records.links}
        for key in [key for key in entities.intents if key[:2] in done]:
            del entities.intents[key]
        for (entity_type, entity_id, _), intent in entities.intents.items():
            if entity_type in records.settle_intents_of and entity_id == outcome.entity_id:
                intent.settled = True

    async def next_attempt(self, event_id: UUID) -> int:
        return self._store.last_attempt(event_id) + 1
