"""Outcome rows: what happened to each attempt at an event (`sevsync.sync_outcome`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ..metrics import METRICS

if TYPE_CHECKING:
    # Types only: pure modules (sync.recording, sync.gate) import this one without asyncpg.
    from .db import Connection


@dataclass(frozen=True)
class OutcomeRow:
    event_id: UUID
    tenant_id: str
    event_type: str
    entity_type: str
    entity_id: str
    status: str
    reason: str | None = None
    attempt: int = 1
    sevdesk_object: str | None = None
    sevdesk_id: str | None = None
    api_calls: int = 0
    duration_ms: int | None = None
    error: str | None = None


# The last attempt recorded for event $1; a `duplicate` row repeats an earlier attempt's number.
LAST_ATTEMPT = """
SELECT max(attempt) FROM sevsync.sync_outcome WHERE event_id = $1 AND reason IS DISTINCT FROM 'duplicate'
"""


async def next_attempt(conn: Connection, event_id: UUID) -> int:
    previous = await conn.fetchval(LAST_ATTEMPT, event_id)
    return int(previous or 0) + 1


async def insert_outcome(conn: Connection, outcome: OutcomeRow) -> None:
    await conn.execute(
        """
        INSERT INTO sevsync.sync_outcome
               (event_id, tenant_id, event_type, entity_type, entity_id, status, reason, attempt,
                sevdesk_object, sevdesk_id, api_calls, duration_ms, error)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        """,
        *outcome_values(outcome),
    )
    count(outcome)


def count(outcome: OutcomeRow) -> None:
    """Count a written outcome row in `sevsync_outcomes_total`, here where it is written, so that the
    metric and sync_outcome agree for every status and reason. Called after the row is committed: the
    callers hand in a connection outside any transaction of their own."""
    METRICS.after_outcome(outcome.event_type, outcome.status, outcome.reason)


def outcome_values(outcome: OutcomeRow) -> tuple[Any, ...]:
    """The outcome row's columns in the order both INSERTs name them."""
    return (
        outcome.event_id,
        outcome.tenant_id,
        outcome.event_type,
        outcome.entity_type,
        outcome.entity_id,
        outcome.status,
        outcome.reason,
        outcome.attempt,
        outcome.sevdesk_object,
        outcome.sevdesk_id,
        outcome.api_calls,
        outcome.duration_ms,
        outcome.error,
    )
