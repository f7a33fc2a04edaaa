"""Dead letters: written by the worker, selected by operators' filters, marked when replayed.

The worker writes them (`insert_dead_letter`, usually through `commit.commit_result`). The raw
`body` may hold personal data, so it is read only where it is needed: for publishing it again, or
when an operator asks for it explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from ..outcome_words import MALFORMED
from .retention import purge_older_than

if TYPE_CHECKING:
    # Types only: pure modules (sync.recording, sync.gate) import this one without asyncpg.
    import asyncpg

    from .db import Connection

# Letters a replay cannot fix: sevsync's own parser refused the message as it was sent, and a replay
# sends the same bytes again. Only a corrected event from the sender helps.
UNREPLAYABLE_REASONS: tuple[str, ...] = (MALFORMED,)

_COLUMNS = "id, dead_at, tenant_id, event_type, event_id, reason, attempts, replayed_at, error"


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead letters an operator means; every field given narrows the selection."""

    tenant_id: str | None = None
    reason: str | None = None
    event_ids: tuple[UUID, ...] = ()
    open_only: bool = True  # not replayed yet
    up_to_id: int | None = None  # rows that existed at some moment (ids only grow)
    replayable_only: bool = False  # leave out UNREPLAYABLE_REASONS

    @property
    def narrows(self) -> bool:
        """Whether anything but the open/replayed state restricts the selection."""
        return self.tenant_id is not None or self.reason is not None or bool(self.event_ids)

    def where(self, first_param: int = 1) -> tuple[str, list[object]]:
        """A SQL condition and its parameters, numbered from `first_param` (`TRUE` selects all)."""
        conditions: list[str] = []
        params: list[object] = []

        def param(value: object) -> str:
            params.append(value)
            return f"${first_param + len(params) - 1}"

        if self.open_only:
            conditions.append("replayed_at IS NULL")
        if self.tenant_id is not None:
            conditions.append(f"tenant_id = {param(self.tenant_id)}")
        if self.reason is not None:
            conditions.append(f"reason = {param(self.reason)}")
        if self.event_ids:
            conditions.append(f"event_id = ANY({param(list(self.event_ids))}::uuid[])")
        if self.up_to_id is not None:
            conditions.append(f"id <= {param(self.up_to_id)}")
        if self.replayable_only:
            conditions.append(f"reason <> ALL({param(list(UNREPLAYABLE_REASONS))}::text[])")
        return (" AND ".join(conditions) or "TRUE"), params


@dataclass(frozen=True)
class DeadLetter:
    id: int
    dead_at: datetime
    tenant_id: str | None
    event_type: str | None
    event_id: UUID | None
    reason: str
    attempts: int
    replayed_at: datetime | None
    error: str | None
    body: bytes | None = None  # only when asked for


def _dead_letter(row: asyncpg.Record) -> DeadLetter:
    body = row.get("body")
    return DeadLetter(
        id=row["id"],
        dead_at=row["dead_at"],
        tenant_id=row["tenant_id"],
        event_type=row["event_type"],
        event_id=row["event_id"],
        reason=row["reason"],
        attempts=row["attempts"],
        replayed_at=row["replayed_at"],
        error=row["error"],
        body=bytes(body) if body is not None else None,
    )


async def list_dead_letters(
    conn: Connection | asyncpg.Pool,
    filters: DeadLetterFilter,
    *,
    limit: int | None,
    newest_first: bool = True,
    with_body: bool = False,
) -> list[DeadLetter]:
    where, params = filters.where()
    # By id, the insertion order: it agrees with `dead_at`, breaks its ties, and is the order a
    # replay takes the rows in, so a dry run lists them as the replay would send them.
    order = "DESC" if newest_first else "ASC"
    sql = (
        f"SELECT {_COLUMNS}{', body' if with_body else ''} FROM sevsync.dead_letter"  # noqa: S608 - values are parameters
        f" WHERE {where} ORDER BY id {order} LIMIT ${len(params) + 1}"
    )
    rows = await conn.fetch(sql, *params, limit)
    return [_dead_letter(row) for row in rows]


async def highest_id(conn: Connection | asyncpg.Pool) -> int:
    return int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM sevsync.dead_letter"))


async def lock_open_batch(conn: Connection, filters: DeadLetterFilter, *, limit: int) -> list[DeadLetter]:
    """Lock up to `limit` open dead letters, oldest first, with their bodies.

    Must run inside a transaction, which holds the row locks until it ends. `SKIP LOCKED` passes over
    rows another replay holds, so two replays at once never take the same row. Oldest first, so that
    the versions of one entity arrive in the order they were sent.
    """
    where, params = replace(filters, open_only=True).where()
    sql = (
        f"SELECT {_COLUMNS}, body FROM sevsync.dead_letter WHERE {where}"  # noqa: S608 - values are parameters
        f" ORDER BY id LIMIT ${len(params) + 1} FOR UPDATE SKIP LOCKED"
    )
    rows = await conn.fetch(sql, *params, limit)
    return [_dead_letter(row) for row in rows]


async def mark_replayed(conn: Connection, dead_letter_id: int) -> None:
    await conn.execute("UPDATE sevsync.dead_letter SET replayed_at = now() WHERE id = $1", dead_letter_id)


async def count_dead_letters(conn: Connection | asyncpg.Pool, filters: DeadLetterFilter) -> int:
    where, params = filters.where()
    sql = f"SELECT count(*) FROM sevsync.dead_letter WHERE {where}"  # noqa: S608 - values are parameters
    return int(await conn.fetchval(sql, *params))


async def purge_dead_letters(
    pool: asyncpg.Pool, *, older_than_days: int, tenant_id: str | None = None, dry_run: bool = False
) -> int:
    """Delete (or with `dry_run` only count) dead letters older than the given number of days.

    Replayed and open rows alike: retention is about the personal data in the bodies, which an
    open row holds as much as a replayed one. The index dead_letter_dead_at_idx (migration 0004)
    finds the old rows.
    """
    return await purge_older_than(
        pool, "dead_letter", older_than_days=older_than_days, tenant_id=tenant_id, dry_run=dry_run
    )


@dataclass(frozen=True)
class DeadLetterRow:
    reason: str
    error: str | None
    body: bytes
    event_id: UUID | None = None
    tenant_id: str | None = None
    event_type: str | None = None
    attempts: int = 1


async def insert_dead_letter(conn: Connection | asyncpg.Pool, row: DeadLetterRow) -> None:
    await conn.execute(
        """
        INSERT INTO sevsync.dead_letter (event_id, tenant_id, event_type, reason, error, attempts, body)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        """,
        row.event_id,
        row.tenant_id,
        row.event_type,
        row.reason,
        row.error,
        row.attempts,
        row.body,
    )
