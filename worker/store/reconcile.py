"""Reconciliation's rows: the cursor per tenant and kind, the links' agreed state, told changes.

A told change writes its outbox row and the link's new agreed state in one transaction, so a
crash leaves both or neither: a re-run then finds the state agreed and tells nothing again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from .db import Connection
from .intents import booking_kind
from .outbox import OutboxMessage, insert_outbox

if TYPE_CHECKING:
    import asyncpg


@dataclass(frozen=True)
class Cursor:
    changed_after: datetime | None  # the newest stamp listed, at most the run's start less a margin
    runs: int


@dataclass(frozen=True)
class LinkedObject:
    entity_type: str
    entity_id: str
    sevdesk_object: str
    sevdesk_id: str
    sevdesk_number: str | None
    agreed_hash: str | None
    seen_update: str | None
    cancelled: bool  # sevsync cancelled the CRM entity (deal.cancelled / invoice.cancelled)


# Link type -> the CRM entity it belongs to (the handlers' entity type, sync/handlers.py): a deal's
# offer and invoice are one entity to the CRM, whose events count one `version`.
CRM_ENTITY_TYPES: Final = {
    "customer": "customer",
    "product": "product",
    "deal_order": "deal",
    "deal_invoice": "deal",
    "invoice_voucher": "invoice",
}


def crm_entity_type(link_type: str) -> str:
    return CRM_ENTITY_TYPES.get(link_type, link_type)


class EntityBusy(Exception):
    """A handler of the entity is writing (holds its lock, or left an unsettled write intent): what
    sevDesk shows may be its write, not committed yet. Nothing is written; the next run looks again."""


async def read_cursor(conn: Connection, tenant_id: str, kind: str) -> Cursor:
    row = await conn.fetchrow(
        "SELECT changed_after, runs FROM sevsync.reconcile_cursor WHERE tenant_id = $1 AND kind = $2",
        tenant_id,
        kind,
    )
    return Cursor(row["changed_after"], row["runs"]) if row else Cursor(None, 0)


async def finish_run(
    conn: Connection, tenant_id: str, kind: str, changed_after: datetime | None, *, swept: bool
) -> None:
    """Step the cursor at the end of a run; the cursor never moves backwards."""
    await conn.execute(
        """
        INSERT INTO sevsync.reconcile_cursor AS c (tenant_id, kind, changed_after, runs, swept_at)
        VALUES ($1, $2, $3, 1, CASE WHEN $4 THEN now() END)
        ON CONFLICT (tenant_id, kind) DO UPDATE
           SET changed_after = GREATEST(c.changed_after, EXCLUDED.changed_after),
               runs = c.runs + 1,
               swept_at = COALESCE(EXCLUDED.swept_at, c.swept_at),
               last_error = NULL,
               updated_at = now()
        """,
        tenant_id,
        kind,
        changed_after,
        swept,
    )


async def note_failure(conn: Connection, tenant_id: str, kind: str, error: str) -> None:
    """Remember why the kind's run stopped; its cursor stays where it was."""
    await conn.execute(
        """
        INSERT INTO sevsync.reconcile_cursor AS c (tenant_id, kind, last_error, last_failed_at)
        VALUES ($1, $2, $3, now())
        ON CONFLICT (tenant_id, kind) DO UPDATE
           SET last_error = EXCLUDED.last_error, last_failed_at = EXCLUDED.last_failed_at
        """,
        tenant_id,
        kind,
        error,
    )


@dataclass(frozen=True)
class KindStatus:
    kind: str
    changed_after: datetime | None
    runs: int
    swept_at: datetime | None
    updated_at: datetime
    last_error: str | None
    last_failed_at: datetime | None


async def reconcile_status(conn: Connection, tenant_id: str) -> list[KindStatus]:
    rows = await conn.fetch(
        """
        SELECT kind, changed_after, runs, swept_at, updated_at, last_error, last_failed_at
          FROM sevsync.reconcile_cursor WHERE tenant_id = $1 ORDER BY kind
        """,
        tenant_id,
    )
    return [KindStatus(**dict(row)) for row in rows]


_LINKED_OBJECTS: Final = """
    SELECT entity_type, entity_id, sevdesk_object, sevdesk_id, sevdesk_number, agreed_hash, seen_update,
           cancelled_at IS NOT NULL AS cancelled
      FROM sevsync.entity_link
     WHERE tenant_id = $1 AND entity_type = ANY($2::text[]) AND sevdesk_object = $3
       AND sevdesk_id IS NOT NULL AND broken_at IS NULL
       -- a draft sevsync deleted itself (deal.cancelled) is gone by design, not deleted by a person
       AND NOT COALESCE((details ->> 'deleted')::boolean, false)
"""


async def linked_objects(
    conn: Connection,
    tenant_id: str,
    entity_types: Sequence[str],
    sevdesk_object: str,
    sevdesk_ids: Sequence[str] | None = None,
) -> list[LinkedObject]:
    """The unbroken links to these sevDesk objects (all of the kind when `sevdesk_ids` is None),
    without those whose object sevsync deleted itself."""
    # Two statements rather than "$4 IS NULL OR sevdesk_id = ANY($4)": a prepared statement's
    # generic plan cannot use the index on sevdesk_id for either branch of such an OR.
    if sevdesk_ids is None:
        rows = await conn.fetch(_LINKED_OBJECTS, tenant_id, list(entity_types), sevdesk_object)
    else:
        rows = await conn.fetch(
            _LINKED_OBJECTS + " AND sevdesk_id = ANY($4::text[])",
            tenant_id,
            list(entity_types),
            sevdesk_object,
            list(sevdesk_ids),
        )
    return [LinkedObject(**dict(row)) for row in rows]


MessageOf = Callable[[int], OutboxMessage]  # the event to tell, given the link's new version


async def _claim(conn: Connection, tenant_id: str, link_type: str, entity_id: str, lock_key: str) -> None:
    """Hold the entity's handler lock to the end of this transaction, or raise `EntityBusy`."""
    if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", lock_key):
        raise EntityBusy(lock_key)
    # A crashed handler's create or cancellation that may have landed, or an event of the entity that
    # waits on the retry ladder (its write may have landed, uncertain): its retry commits it.
    if await conn.fetchval(
        """
        SELECT EXISTS (SELECT 1 FROM sevsync.write_intent
                        WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3 AND NOT settled)
            OR EXISTS (SELECT 1 FROM sevsync.entity_state
                        WHERE tenant_id = $1 AND entity_type = $4 AND entity_id = $3 AND status = 'retrying')
        """,
        tenant_id,
        link_type,
        entity_id,
        crm_entity_type(link_type),
    ):
        raise EntityBusy(lock_key)


async def _next_version(
    conn: Connection, tenant_id: str, link_type: str, entity_id: str, link_version: int
) -> int:
    """Step the entity's counter (never below what its link told before) and write it to the link."""
    version: int = await conn.fetchval(
        """
        INSERT INTO sevsync.told_version AS t (tenant_id, entity_type, entity_id, version)
        VALUES ($1, $2, $3, $4::bigint + 1)
        ON CONFLICT (tenant_id, entity_type, entity_id)
        DO UPDATE SET version = GREATEST(t.version, $4::bigint) + 1
        RETURNING version
        """,
        tenant_id,
        crm_entity_type(link_type),
        entity_id,
        link_version,
    )
    await conn.execute(
        """
        UPDATE sevsync.entity_link SET told_version = $4
         WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3
        """,
        tenant_id,
        link_type,
        entity_id,
        version,
    )
    return version


async def _agree_told(
    conn: Connection,
    tenant_id: str,
    link: LinkedObject,
    new_hash: str,
    seen_update: str | None,
    *,
    forget_written: bool,
) -> None:
    """Agree on the told state. The CRM applies it next, so with `forget_written` the fingerprints of
    sevsync's last write go: the CRM's next event is written even when it sets back that value."""
    await conn.execute(
        """
        UPDATE sevsync.entity_link
           SET agreed_hash = $4, seen_update = COALESCE($5, seen_update),
               payload_hash = CASE WHEN $6 THEN NULL ELSE payload_hash END,
               details = CASE WHEN $6 THEN details - 'hashes' ELSE details END
         WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3
        """,
        tenant_id,
        link.entity_type,
        link.entity_id,
        new_hash,
        seen_update,
        forget_written,
    )


async def tell_change(
    conn: Connection,
    tenant_id: str,
    link: LinkedObject,
    lock_key: str,
    new_hash: str,
    seen_update: str | None,
    message: MessageOf,
    *,
    forget_written: bool,
) -> OutboxMessage | None:
    """Agree on `new_hash` and write its event, unless it is agreed already; the event or None.

    `forget_written`: the told state replaces what sevsync wrote last (payload_hash, details.hashes).
    Nothing at all while a handler of the entity writes (`EntityBusy`).

    Nothing is written either when the link's agreed state is no longer `link.agreed_hash` (read with
    the listing): a handler wrote meanwhile.

    A link without an agreed state yet (linked before reconciliation existed) adopts sevDesk's
    state untold: there is no telling what the CRM holds, and telling every link at once would
    flood it.
    """
    async with conn.transaction():
        await _claim(conn, tenant_id, link.entity_type, link.entity_id, lock_key)
        # Locked first: a handler committing a write meanwhile decides what "agreed before" was.
        before = await conn.fetchrow(
            """
            SELECT agreed_hash, told_version FROM sevsync.entity_link
             WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3 AND broken_at IS NULL
               FOR UPDATE
            """,
            tenant_id,
            link.entity_type,
            link.entity_id,
        )
        # A handler's write since the listing was read: this listing may show the state before it,
        # and the handler's agreed state is the newer one. The next run looks again.
        if before is None or before["agreed_hash"] != link.agreed_hash or before["agreed_hash"] == new_hash:
            return None
        if before["agreed_hash"] is None:
            await adopt(conn, tenant_id, link, new_hash, seen_update)
            return None
        await _agree_told(conn, tenant_id, link, new_hash, seen_update, forget_written=forget_written)
        told = message(
            await _next_version(conn, tenant_id, link.entity_type, link.entity_id, before["told_version"])
        )
        await insert_outbox(conn, [told])
        return told


async def adopt(
    conn: Connection, tenant_id: str, link: LinkedObject, new_hash: str, seen_update: str | None
) -> bool:
    """Agree on sevDesk's state without telling it: it is what sevsync's own write left.

    Like `tell_change`, nothing is written when the link's agreed state is no longer the one read
    with the listing: a handler committed a newer one meanwhile. Whether it was adopted.
    """
    status = await conn.execute(
        """
        UPDATE sevsync.entity_link SET agreed_hash = $4, seen_update = COALESCE($5, seen_update)
         WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3 AND broken_at IS NULL
           AND agreed_hash IS NOT DISTINCT FROM $6
        """,
        tenant_id,
        link.entity_type,
        link.entity_id,
        new_hash,
        seen_update,
        link.agreed_hash,
    )
    return str(status) == "UPDATE 1"


async def booked_amounts(
    conn: Connection, tenant_id: str, sevdesk_object: str, sevdesk_ids: Sequence[str]
) -> dict[str, Decimal]:
    """What sevsync's own payment.received events booked on each of these documents, in total."""
    rows = await conn.fetch(
        """
        SELECT sevdesk_id, sum(abs((details->>'amount')::numeric)) AS booked
          FROM sevsync.entity_link
         WHERE tenant_id = $1 AND entity_type = 'payment' AND sevdesk_object = $2
           AND sevdesk_id = ANY($3::text[]) AND details ? 'amount'
         GROUP BY sevdesk_id
        """,
        tenant_id,
        sevdesk_object,
        list(sevdesk_ids),
    )
    return {row["sevdesk_id"]: row["booked"] for row in rows}


async def note_seen(conn: Connection, tenant_id: str, link: LinkedObject, seen_update: str) -> None:
    """Remember the `update` stamp examined, when the state it shows was agreed already.

    Not after a handler's write since the listing was read: the next run must examine it again.
    """
    await conn.execute(
        """
        UPDATE sevsync.entity_link SET seen_update = $4
         WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3
           AND agreed_hash IS NOT DISTINCT FROM $5
        """,
        tenant_id,
        link.entity_type,
        link.entity_id,
        seen_update,
        link.agreed_hash,
    )


async def mark_broken(
    conn: Connection,
    tenant_id: str,
    entity_type: str,
    entity_id: str,
    reason: str,
    message: MessageOf,
    *,
    sevdesk_id: str | None,
    lock_key: str | None = None,
) -> OutboxMessage | None:
    """Mark the link broken for `reason` and write `link.broken`, once; the event or None.

    The reconciler's sweep and a handler whose read or write of the linked object got 404 both call
    this: whichever comes first tells, the other finds the link broken already. Not when the link
    moved on from `sevdesk_id`, nor when sevsync deleted the object itself (deal.cancelled's draft,
    committed after the listing was read). `lock_key`: the reconciler's, which leaves an entity whose
    handler writes (`EntityBusy`); a handler holds that lock itself.
    """
    async with conn.transaction():
        if lock_key is not None:
            await _claim(conn, tenant_id, entity_type, entity_id, lock_key)
        told_before = await conn.fetchval(
            """
            UPDATE sevsync.entity_link
               SET broken_at = now(), broken_reason = $4
             WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3 AND broken_at IS NULL
               AND sevdesk_id IS NOT DISTINCT FROM COALESCE($5, sevdesk_id)
               AND NOT COALESCE((details ->> 'deleted')::boolean, false)
         RETURNING told_version
            """,
            tenant_id,
            entity_type,
            entity_id,
            reason,
            sevdesk_id,
        )
        if told_before is None:
            return None
        told = message(await _next_version(conn, tenant_id, entity_type, entity_id, told_before))
        await insert_outbox(conn, [told])
        return told


async def tenants_to_reconcile(pool: asyncpg.Pool) -> list[str]:
    """Tenants that sync with sevDesk: connected, with a token, and enabled."""
    rows = await pool.fetch(
        """
        SELECT tenant_id FROM sevsync.tenant_integration
         WHERE provider = 'sevdesk' AND status = 'connected' AND enabled AND token_encrypted IS NOT NULL
         ORDER BY tenant_id
        """
    )
    return [row["tenant_id"] for row in rows]


async def writes_in_flight(
    conn: Connection, tenant_id: str, sevdesk_object: str, sevdesk_ids: Sequence[str]
) -> set[str]:
    """Those of these documents with an open intent of sevsync's own payment booking or cancellation.

    Its write may have landed while its handler has not committed (or crashed and waits on the
    ladder), so the state it left is not yet recognisable as sevsync's own by the committed links.
    """
    bookings = {booking_kind(sevdesk_object, i): i for i in sevdesk_ids}
    rows = await conn.fetch(
        """
        SELECT sevdesk_object AS kind FROM sevsync.write_intent
         WHERE tenant_id = $1 AND entity_type = 'payment' AND sevdesk_object = ANY($4::text[])
        UNION
        SELECT business_key    -- sync/invoices.py: a deal's cancellation, keyed by the invoice id
          FROM sevsync.write_intent
         WHERE tenant_id = $1 AND sevdesk_object = 'CancellationInvoice' AND $2 = 'Invoice'
           AND business_key = ANY($3::text[])
        """,
        tenant_id,
        sevdesk_object,
        list(sevdesk_ids),
        list(bookings),
    )
    return {bookings.get(row["kind"], row["kind"]) for row in rows}
