"""Links: which sevDesk object stands for which CRM entity (`sevsync.entity_link`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Types only: the link dataclasses are pure, so handlers' results import them without asyncpg.
    import asyncpg

    from .db import Connection


@dataclass(frozen=True)
class Link:
    tenant_id: str
    entity_type: str
    entity_id: str
    # None for an entity sevsync knows without a sevDesk object (e.g. a deal cancelled before it was won).
    sevdesk_object: str | None
    sevdesk_id: str | None
    sevdesk_number: str | None
    synced_version: int | None
    payload_hash: str | None
    details: dict[str, Any]
    cancelled: bool = False
    # Set (by the reconciler) when the linked object was found deleted in sevDesk: see sync.broken_links.
    broken_at: datetime | None = None
    broken_reason: str | None = None

    @property
    def object_id(self) -> str:
        """The linked sevDesk object's id, for link types that always have one (customer, product)."""
        if self.sevdesk_id is None:
            raise LookupError(f"{self.entity_type} {self.entity_id} is linked to no sevDesk object")
        return self.sevdesk_id


@dataclass(frozen=True)
class LinkWrite:
    """A link to create or replace; `synced_version` never moves backwards."""

    entity_type: str
    entity_id: str
    sevdesk_object: str | None
    sevdesk_id: str | None
    sevdesk_number: str | None
    synced_version: int | None
    payload_hash: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # Marks the CRM entity cancelled; a link never becomes un-cancelled.
    cancelled: bool = False
    # The state now agreed with the CRM (sevsync.sync.agreed_state); None keeps the stored one.
    agreed_hash: str | None = None


def link_from_row(row: asyncpg.Record) -> Link:
    return Link(
        tenant_id=row["tenant_id"],
        entity_type=row["entity_type"],
        entity_id=row["entity_id"],
        sevdesk_object=row["sevdesk_object"],
        sevdesk_id=row["sevdesk_id"],
        sevdesk_number=row["sevdesk_number"],
        synced_version=row["synced_version"],
        payload_hash=row["payload_hash"],
        details=row["details"] or {},
        cancelled=row["cancelled_at"] is not None,
        broken_at=row["broken_at"],
        broken_reason=row["broken_reason"],
    )


async def get_link(conn: Connection, tenant_id: str, entity_type: str, entity_id: str) -> Link | None:
    row = await conn.fetchrow(
        "SELECT * FROM sevsync.entity_link WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3",
        tenant_id,
        entity_type,
        entity_id,
    )
    return link_from_row(row) if row else None


async def get_links(
    conn: Connection, tenant_id: str, entity_types: Sequence[str], entity_id: str
) -> list[Link]:
    """The links of one CRM entity that is represented by several sevDesk objects (a deal)."""
    rows = await conn.fetch(
        """
        SELECT * FROM sevsync.entity_link
         WHERE tenant_id = $1 AND entity_type = ANY($2::text[]) AND entity_id = $3
        """,
        tenant_id,
        list(entity_types),
        entity_id,
    )
    return [link_from_row(row) for row in rows]


async def get_links_of(
    conn: Connection, tenant_id: str, entity_type: str, entity_ids: Iterable[str]
) -> list[Link]:
    """The links of several CRM entities of one type (the products on a deal's lines)."""
    rows = await conn.fetch(
        """
        SELECT * FROM sevsync.entity_link
         WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = ANY($3::text[])
        """,
        tenant_id,
        entity_type,
        list(entity_ids),
    )
    return [link_from_row(row) for row in rows]


async def entity_linked_to(
    conn: Connection, tenant_id: str, entity_type: str, sevdesk_object: str, sevdesk_id: str
) -> str | None:
    """The CRM entity already linked to this sevDesk object, if any."""
    value = await conn.fetchval(
        """
        SELECT entity_id FROM sevsync.entity_link
         WHERE tenant_id = $1 AND sevdesk_object = $2 AND sevdesk_id = $3 AND entity_type = $4
        """,
        tenant_id,
        sevdesk_object,
        sevdesk_id,
        entity_type,
    )
    return str(value) if value is not None else None


# How a written link merges into the stored one: the number, hash and cancellation are kept when the
# new link has none, and the applied version never moves backwards. The link writes here and the
# outcome commit (commit.py) use it.
MERGE_LINK = """
ON CONFLICT (tenant_id, entity_type, entity_id) DO UPDATE
   SET sevdesk_object = EXCLUDED.sevdesk_object,
       sevdesk_id = EXCLUDED.sevdesk_id,
       cancelled_at = COALESCE(sevsync.entity_link.cancelled_at, EXCLUDED.cancelled_at),
       sevdesk_number = COALESCE(EXCLUDED.sevdesk_number, sevsync.entity_link.sevdesk_number),
       synced_version = GREATEST(EXCLUDED.synced_version, sevsync.entity_link.synced_version),
       synced_at = now(),
       payload_hash = COALESCE(EXCLUDED.payload_hash, sevsync.entity_link.payload_hash),
       agreed_hash = COALESCE(EXCLUDED.agreed_hash, sevsync.entity_link.agreed_hash),
       details = EXCLUDED.details
"""


# One link row, written or merged onto the existing one (MERGE_LINK); $1..$11 from _link_values.
_UPSERT_LINK = (
    """
INSERT INTO sevsync.entity_link
       (tenant_id, entity_type, entity_id, sevdesk_object, sevdesk_id, sevdesk_number,
        synced_version, synced_at, payload_hash, details, cancelled_at, agreed_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, now(), $8, $9, CASE WHEN $10 THEN now() END, $11)
"""
    + MERGE_LINK
)


def _link_values(tenant_id: str, link: LinkWrite) -> tuple[Any, ...]:
    return (
        tenant_id,
        link.entity_type,
        link.entity_id,
        link.sevdesk_object,
        link.sevdesk_id,
        link.sevdesk_number,
        link.synced_version,
        link.payload_hash,
        link.details,
        link.cancelled,
        link.agreed_hash,
    )


async def upsert_link(conn: Connection, tenant_id: str, link: LinkWrite) -> None:
    await conn.execute(_UPSERT_LINK, *_link_values(tenant_id, link))


async def upsert_link_unless_other_kind(conn: Connection, tenant_id: str, link: LinkWrite) -> bool:
    """Write the link unless its row links another kind of sevDesk object; whether it was written.

    For a link type two kinds of CRM entity share (`cancellation`: a deal's cancellation invoice and
    a CRM invoice's correcting voucher), whose ids may be equal.
    """
    written = await conn.fetchval(
        _UPSERT_LINK
        + """
         WHERE sevsync.entity_link.sevdesk_object IS NULL
            OR sevsync.entity_link.sevdesk_object = EXCLUDED.sevdesk_object
        RETURNING true
        """,
        *_link_values(tenant_id, link),
    )
    return bool(written)


# --- broken links: what an operator sees and decides (tenants.links) ---------------------------------


async def broken_links(conn: Connection | asyncpg.Pool, tenant_id: str, limit: int = 500) -> list[Link]:
    """The tenant's broken links, longest broken first."""
    rows = await conn.fetch(
        """
        SELECT * FROM sevsync.entity_link
         WHERE tenant_id = $1 AND broken_at IS NOT NULL
         ORDER BY broken_at, entity_type, entity_id
         LIMIT $2
        """,
        tenant_id,
        limit,
    )
    return [link_from_row(row) for row in rows]


async def clear_broken_link(conn: Connection, tenant_id: str, entity_type: str, entity_id: str) -> bool:
    """Unlink a broken link and drop its entity's write intents, so the entity's next event creates anew.

    Only while it is still broken: a link an event or a relink has just mended stays. The row stays
    without an object: its synced version (a late older event is stale), told version (the CRM drops
    versions it has seen) and cancellation (a replayed deal.won stays skipped) must survive. The
    outcome rows keep which object the link pointed at.
    """
    async with conn.transaction():
        removed = await conn.fetchval(
            """
            UPDATE sevsync.entity_link
               SET sevdesk_object = NULL, sevdesk_id = NULL, sevdesk_number = NULL, payload_hash = NULL,
                   details = '{}'::jsonb,
                   broken_at = NULL, broken_reason = NULL, agreed_hash = NULL, seen_update = NULL,
                   synced_at = now()
             WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3 AND broken_at IS NOT NULL
            RETURNING true
            """,
            tenant_id,
            entity_type,
            entity_id,
        )
        if removed:
            await _drop_intents(conn, tenant_id, entity_type, entity_id)
    return bool(removed)


async def relink_broken_link(
    conn: Connection,
    tenant_id: str,
    entity_type: str,
    entity_id: str,
    sevdesk_id: str,
    sevdesk_number: str | None,
) -> bool:
    """Point a broken link at another object of its kind and mend it; whether it was still broken
    and the object not linked to another entity of its type (checked in the same statement).

    The hash and details described the old object, so they go: the next event writes the whole
    entity onto the new one instead of finding nothing changed. So does the state agreed with the
    CRM: the reconciler adopts the new object's state untold until the next event writes it. The
    number is the new object's (or none), and the intents of the old object's writes go, as on clear.
    """
    async with conn.transaction():
        relinked = await conn.fetchval(
            """
            UPDATE sevsync.entity_link l
               SET sevdesk_id = $4, sevdesk_number = $5, payload_hash = NULL,
                   details = '{}'::jsonb, broken_at = NULL, broken_reason = NULL, synced_at = now(),
                   agreed_hash = NULL, seen_update = NULL
             WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3 AND broken_at IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM sevsync.entity_link o
                                WHERE o.tenant_id = $1 AND o.entity_type = $2 AND o.entity_id <> $3
                                  AND o.sevdesk_object = l.sevdesk_object AND o.sevdesk_id = $4)
            RETURNING true
            """,
            tenant_id,
            entity_type,
            entity_id,
            sevdesk_id,
            sevdesk_number,
        )
        if relinked:
            await _drop_intents(conn, tenant_id, entity_type, entity_id)
    return bool(relinked)


async def _drop_intents(conn: Connection, tenant_id: str, entity_type: str, entity_id: str) -> None:
    await conn.execute(
        "DELETE FROM sevsync.write_intent WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3",
        tenant_id,
        entity_type,
        entity_id,
    )
