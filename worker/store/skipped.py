"""Skipped events kept to be sent later (CONTRACT section 5): reading, marking, retention.

The processor writes them (`commit.commit_result`, `keep_skipped`); `sevsync.skipped_waiting`
(migrations 0007, 0010) says which of them wait: those not replayed yet and not overtaken by a newer
version of their entity applied since (the processor keeps per entity only the newest version of
each kind of event). Bodies hold personal data: they are read only to be
published again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from .db import Connection
from .outcomes import LAST_ATTEMPT
from .retention import purge_older_than

_COLUMNS = "id, event_id, tenant_id, event_type, entity_type, entity_id, version, reason, skipped_at"


@dataclass(frozen=True)
class SkippedEvent:
    id: int
    event_id: UUID
    tenant_id: str
    event_type: str
    entity_type: str
    entity_id: str
    version: int
    reason: str
    skipped_at: datetime


def _skipped(row: asyncpg.Record) -> SkippedEvent:
    return SkippedEvent(**{name: row[name] for name in SkippedEvent.__dataclass_fields__})


async def list_waiting(
    conn: Connection | asyncpg.Pool, tenant_id: str, *, reason: str | None = None, limit: int | None = None
) -> list[SkippedEvent]:
    """The events waiting to be sent, in the order they were skipped."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM sevsync.skipped_waiting"  # noqa: S608 - constant columns
        " WHERE tenant_id = $1 AND ($2::text IS NULL OR reason = $2) ORDER BY id LIMIT $3",
        tenant_id,
        reason,
        limit,
    )
    return [_skipped(row) for row in rows]


async def count_waiting(conn: Connection | asyncpg.Pool, tenant_id: str, *, reason: str | None = None) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM sevsync.skipped_waiting"
            " WHERE tenant_id = $1 AND ($2::text IS NULL OR reason = $2)",
            tenant_id,
            reason,
        )
    )


async def lock_for_replay(conn: Connection, ids: Sequence[int]) -> list[tuple[SkippedEvent, bytes]]:
    """Lock the rows of these ids that are not replayed yet, with their bodies, oldest first.

    Must run inside a transaction. `SKIP LOCKED` passes over rows another replay holds, and a row
    replayed meanwhile no longer matches, so two replays at once never send the same event.
    """
    rows = await conn.fetch(
        f"SELECT {_COLUMNS}, body FROM sevsync.skipped_event"  # noqa: S608 - constant columns
        " WHERE id = ANY($1::bigint[]) AND replayed_at IS NULL ORDER BY id FOR UPDATE SKIP LOCKED",
        list(ids),
    )
    return [(_skipped(row), bytes(row["body"])) for row in rows]


async def mark_replayed(conn: Connection, skipped_id: int) -> None:
    await conn.execute("UPDATE sevsync.skipped_event SET replayed_at = now() WHERE id = $1", skipped_id)


async def purge_skipped(
    pool: asyncpg.Pool, *, older_than_days: int, tenant_id: str | None = None, dry_run: bool = False
) -> int:
    """Delete (or with `dry_run` only count) kept skipped events older than the given number of days.

    Waiting and replayed ones alike: retention is about the personal data in the bodies. The
    outcome rows of those events stay.
    """
    return await purge_older_than(
        pool, "skipped_event", older_than_days=older_than_days, tenant_id=tenant_id, dry_run=dry_run
    )


# An event in the inbox passes it again only when its newest outcome is a skip that depends on the
# tenant alone ($2), i.e. when an operator sends a skipped event on purpose. Its inbox row goes,
# so that the new attempt, its retries and a replay of its dead letter run like any event; a final
# skipped or succeeded outcome puts the row back. Runs under the entity's lock: of two copies of a
# replay, the second finds the first one's outcome and is a duplicate.
_REOPEN_SKIPPED = f"""
WITH newest AS (
    SELECT status, reason FROM sevsync.sync_outcome
     WHERE event_id = $1 AND reason IS DISTINCT FROM 'duplicate'
     ORDER BY id DESC LIMIT 1
), reopened AS (
    DELETE FROM sevsync.inbox
     WHERE event_id = $1
       AND EXISTS (SELECT 1 FROM newest WHERE status = 'skipped' AND reason = ANY($2::text[]))
    RETURNING event_id
)
SELECT coalesce(({LAST_ATTEMPT}), 0) + 1 FROM reopened
"""  # noqa: S608 - constant SQL, values are parameters


async def reopen_skipped(conn: Connection, event_id: UUID, replayable: Sequence[str]) -> int | None:
    """Take a skipped event out of the inbox to run it again: its next attempt, or None (a duplicate)."""
    attempt = await conn.fetchval(_REOPEN_SKIPPED, event_id, list(replayable))
    return int(attempt) if attempt is not None else None
