"""The outbox: events for the CRM, committed with the outcome that caused them, published after."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    # Types only: pure modules (sync.recording, sync.gate) import this one without asyncpg.
    import asyncpg

    from .db import Connection


@dataclass(frozen=True)
class OutboxMessage:
    event_id: UUID
    routing_key: str
    body: bytes


async def insert_outbox(conn: Connection, messages: Sequence[OutboxMessage]) -> None:
    if messages:
        await conn.executemany(
            """
            INSERT INTO sevsync.outbox (event_id, routing_key, body) VALUES ($1, $2, $3)
            ON CONFLICT (event_id) DO NOTHING
            """,
            [(m.event_id, m.routing_key, m.body) for m in messages],
        )


async def mark_published(pool: asyncpg.Pool, event_ids: Sequence[UUID]) -> None:
    if event_ids:
        await pool.execute(
            "UPDATE sevsync.outbox SET published_at = now() WHERE event_id = ANY($1::uuid[])", list(event_ids)
        )


async def unpublished(pool: asyncpg.Pool, *, older_than_seconds: float, limit: int) -> list[OutboxMessage]:
    rows = await pool.fetch(
        """
        SELECT event_id, routing_key, body FROM sevsync.outbox
         WHERE published_at IS NULL AND created_at < now() - make_interval(secs => $1)
         ORDER BY id LIMIT $2
        """,
        older_than_seconds,
        limit,
    )
    return [OutboxMessage(row["event_id"], row["routing_key"], row["body"]) for row in rows]
