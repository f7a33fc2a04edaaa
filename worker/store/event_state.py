"""What the processor reads before it handles an event: one round trip once the entity is locked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from .db import Connection
from .links import Link, link_from_row
from .outcomes import LAST_ATTEMPT
from .tenants import TenantRecord, tenant_from_row


@dataclass(frozen=True)
class EventState:
    # None if the event is in the inbox already (applied or skipped before), else this attempt's number.
    attempt: int | None
    tenant: TenantRecord | None
    # The entity's links of the handler's link types, as they stand under the entity's lock.
    links: tuple[Link, ...]


# Whole rows as composite values, so the row mappers read them as they read a plain SELECT *.
_READ_STATE = f"""
SELECT EXISTS (SELECT 1 FROM sevsync.inbox WHERE event_id = $1) AS processed,
       ({LAST_ATTEMPT}) AS previous,
       (SELECT t FROM sevsync.tenant_integration t WHERE t.tenant_id = $2) AS tenant,
       ARRAY(SELECT l FROM sevsync.entity_link l
              WHERE l.tenant_id = $2 AND l.entity_type = ANY($3::text[]) AND l.entity_id = $4) AS links
"""  # noqa: S608 - constant SQL, values are parameters


async def read_event_state(
    conn: Connection, event_id: UUID, tenant_id: str, link_types: Sequence[str], entity_id: str
) -> EventState:
    row = await conn.fetchrow(_READ_STATE, event_id, tenant_id, list(link_types), entity_id)
    assert row is not None
    return EventState(
        attempt=None if row["processed"] else int(row["previous"] or 0) + 1,
        tenant=tenant_from_row(row["tenant"]) if row["tenant"] is not None else None,
        links=tuple(link_from_row(link) for link in row["links"]),
    )
