"""What the processor reads before it handles an event: one round trip, the entity's lock included."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from .db import Connection
from .links import Link, link_from_row
from .tenants import TenantRecord, tenant_from_row


@dataclass(frozen=True)
class EventState:
    # None if the event is in the inbox already (applied or skipped before), else this attempt's number.
    attempt: int | None
    tenant: TenantRecord | None
    # The entity's links of the handler's link types, as they stand under the entity's lock.
    links: tuple[Link, ...]


# sevsync.event_state (migration 0016): whole rows as composite values, so that the row mappers read
# them as they read a plain SELECT *; with a lock key it takes the entity's session lock first.
_READ_STATE = "SELECT * FROM sevsync.event_state($1, $2, $3, $4, $5)"


async def read_event_state(
    conn: Connection,
    event_id: UUID,
    tenant_id: str,
    link_types: Sequence[str],
    entity_id: str,
    *,
    lock_key: str | None = None,
) -> EventState:
    """The event's state; with `lock_key`, first the entity's session lock, in the same round trip.

    The read runs after the lock is granted, so it sees what the lock's previous holder committed.
    """
    row = await conn.fetchrow(_READ_STATE, event_id, tenant_id, list(link_types), entity_id, lock_key)
    assert row is not None
    return EventState(
        attempt=None if row["processed"] else int(row["previous"] or 0) + 1,
        tenant=tenant_from_row(row["tenant"]) if row["tenant"] is not None else None,
        links=tuple(link_from_row(link) for link in row["links"]),
    )
