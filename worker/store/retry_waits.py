"""Deliveries waiting to be tried again (`sevsync.retry_wait`): held, then released when due.

A wait is one row from the moment the delivery is acked until the relay has put its copy back on the
work queue and the broker has confirmed it (`broker/retry_relay.py`). Times are Postgres's own, so
workers on machines whose clocks differ agree on what is due.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

    from .db import Connection


@dataclass(frozen=True)
class RetryCopy:
    """What goes back to the work queue: the delivery's body and properties, with the copy's headers."""

    body: bytes
    headers: bytes  # an AMQP field table, encoded
    content_type: str | None
    message_id: str | None


@dataclass(frozen=True)
class DueWait:
    id: int
    copy: RetryCopy


@dataclass(frozen=True)
class WaitingSummary:
    waiting: int
    # Seconds until the earliest wait is due (negative: overdue by that much); None when none waits.
    next_due_in: float | None


async def hold(pool: asyncpg.Pool, queue: str, delay: timedelta, copy: RetryCopy) -> None:
    await pool.execute(
        """
        INSERT INTO sevsync.retry_wait (queue, due_at, body, headers, content_type, message_id)
        VALUES ($1, now() + $2::interval, $3, $4, $5, $6)
        """,
        queue,
        delay,
        copy.body,
        copy.headers,
        copy.content_type,
        copy.message_id,
    )


async def take_due(conn: Connection, queue: str, limit: int) -> list[DueWait]:
    """The due waits of `queue`, earliest first, locked for this transaction.

    SKIP LOCKED: a wait another worker's relay is putting back right now is left to it, so two relays
    never send the same copy.
    """
    rows = await conn.fetch(
        """
        SELECT id, body, headers, content_type, message_id FROM sevsync.retry_wait
         WHERE queue = $1 AND due_at <= now()
         ORDER BY due_at, id
         LIMIT $2
           FOR UPDATE SKIP LOCKED
        """,
        queue,
        limit,
    )
    return [
        DueWait(row["id"], RetryCopy(row["body"], row["headers"], row["content_type"], row["message_id"]))
        for row in rows
    ]


async def forget(conn: Connection, ids: Sequence[int]) -> None:
    if ids:
        await conn.execute("DELETE FROM sevsync.retry_wait WHERE id = ANY($1::bigint[])", list(ids))


async def waiting_summary(pool: asyncpg.Pool, queue: str) -> WaitingSummary:
    row = await pool.fetchrow(
        """
        SELECT count(*) AS waiting, extract(epoch FROM min(due_at) - now())::float8 AS next_due_in
          FROM sevsync.retry_wait WHERE queue = $1
        """,
        queue,
    )
    assert row is not None
    return WaitingSummary(row["waiting"], row["next_due_in"])
