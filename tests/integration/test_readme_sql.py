"""The SQL examples of the README and docs/ run against the real schema, and the drift query finds what
it says."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from pydantic import BaseModel

from sevsync_events.envelope import ANY_ENVELOPE
from sevsync_events.outbound import ChangedCustomer, LinkBroken
from sevsync_events.registry import CONTACT_CHANGED, LINK_BROKEN

from ..doc_pages import page_blocks

SQL_BLOCKS = [block for _, block in page_blocks("sql")]
[DRIFT_QUERY] = [block for block in SQL_BLOCKS if block.startswith("WITH told AS")]


def test_the_docs_show_sql_examples() -> None:
    assert len(SQL_BLOCKS) >= 6


async def test_every_sql_example_of_the_docs_runs(db: asyncpg.Pool) -> None:
    async with db.acquire() as conn:
        for block in SQL_BLOCKS:
            await conn.execute(block)


async def _link(db: asyncpg.Pool, entity_id: str, told_version: int, synced_ago: timedelta) -> None:
    await db.execute(
        """
        INSERT INTO sevsync.entity_link
               (tenant_id, entity_type, entity_id, sevdesk_object, sevdesk_id, synced_version, synced_at,
                told_version)
        VALUES ('acme', 'customer', $1, 'Contact', $2, 3, now() - $3::interval, $4)
        """,
        entity_id,
        entity_id.removeprefix("cust-"),
        synced_ago,
        told_version,
    )


async def _told(db: asyncpg.Pool, event_type: str, version: int, data: BaseModel, ago: timedelta) -> None:
    envelope = ANY_ENVELOPE.new(event_type=event_type, tenant_id="acme", version=version, data=data)
    await db.execute(
        "INSERT INTO sevsync.outbox (event_id, routing_key, body, created_at)"
        " VALUES ($1, $2, $3, now() - $4::interval)",
        envelope.event_id,
        event_type,
        envelope.to_json_bytes(),
        ago,
    )


def _changed(entity_id: str) -> ChangedCustomer:
    sevdesk_id = entity_id.removeprefix("cust-")
    return ChangedCustomer.model_validate(
        {"id": entity_id, "kind": "company", "company_name": "Umbenannt GmbH", "sevdesk_id": sevdesk_id}
    )


async def test_the_drift_query_lists_told_changes_the_crm_left_unanswered(db: asyncpg.Pool) -> None:
    hours, minutes = timedelta(hours=2), timedelta(minutes=10)
    # Told two hours ago, no write since: drift.
    await _link(db, "cust-1", 1, timedelta(days=1))
    await _told(db, CONTACT_CHANGED, 1, _changed("cust-1"), hours)
    # Told two hours ago, answered (written) an hour later: no drift.
    await _link(db, "cust-2", 1, timedelta(hours=1))
    await _told(db, CONTACT_CHANGED, 1, _changed("cust-2"), hours)
    # Told ten minutes ago: the CRM still has time.
    await _link(db, "cust-3", 1, timedelta(days=1))
    await _told(db, CONTACT_CHANGED, 1, _changed("cust-3"), minutes)
    # Deleted in sevDesk two and a half hours ago (version 2, after a change told as version 1): drift.
    await _link(db, "cust-4", 2, timedelta(days=1))
    await _told(db, CONTACT_CHANGED, 1, _changed("cust-4"), timedelta(hours=3))
    broken = LinkBroken(
        entity_type="customer",
        entity_id="cust-4",
        sevdesk_object="Contact",
        sevdesk_id="4",
        reason="deleted_in_sevdesk",
    )
    await _told(db, LINK_BROKEN, 2, broken, timedelta(hours=2, minutes=30))
    # Never told anything: no drift.
    await _link(db, "cust-5", 0, timedelta(days=1))

    rows = await db.fetch(DRIFT_QUERY)

    # Oldest first.
    assert [(r["entity_id"], r["told"], r["told_version"]) for r in rows] == [
        ("cust-4", LINK_BROKEN, 2),
        ("cust-1", CONTACT_CHANGED, 1),
    ]
