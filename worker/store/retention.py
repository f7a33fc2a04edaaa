"""Deleting stored bodies past their retention (dead letters, skipped events): they hold personal data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    # Types only: pure modules (sync.recording, sync.gate) import this one without asyncpg.
    import asyncpg


# Rows deleted per statement: each batch commits on its own, so a purge of a large backlog holds
# few locks at a time and never one long transaction (replays and the worker's inserts go on).
PURGE_BATCH = 1000

# The tables with a retention, and the column that says how old a row is (each has an index).
Retained = Literal["dead_letter", "skipped_event"]
_AGE_COLUMN: dict[Retained, str] = {"dead_letter": "dead_at", "skipped_event": "skipped_at"}


async def purge_older_than(
    pool: asyncpg.Pool,
    table: Retained,
    *,
    older_than_days: int,
    tenant_id: str | None = None,
    dry_run: bool = False,
) -> int:
    """Delete (or with `dry_run` only count) the rows of `table` older than the given number of days.

    The cut-off is taken once, from the database clock that also wrote the rows' age, so every batch
    means the same rows.
    """
    cutoff = await pool.fetchval("SELECT now() - make_interval(days => $1)", older_than_days)
    condition = f"{_AGE_COLUMN[table]} < $1 AND ($2::text IS NULL OR tenant_id = $2)"
    if dry_run:
        counting = f"SELECT count(*) FROM sevsync.{table} WHERE {condition}"  # noqa: S608 - constant SQL
        return int(await pool.fetchval(counting, cutoff, tenant_id))
    delete = (
        f"DELETE FROM sevsync.{table} WHERE id IN ("  # noqa: S608 - constant SQL, values are parameters
        f"SELECT id FROM sevsync.{table} WHERE {condition} LIMIT $3 FOR UPDATE)"
    )
    deleted = 0
    while True:
        # FOR UPDATE waits for a replay holding a row, then deletes it once the replay committed.
        status = await pool.execute(delete, cutoff, tenant_id, PURGE_BATCH)
        count = int(status.split()[-1])  # "DELETE n"
        deleted += count
        if count < PURGE_BATCH:
            return deleted
