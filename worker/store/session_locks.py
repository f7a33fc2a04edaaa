"""Session advisory locks that refuse instead of waiting: one run of a kind at a time, across
processes (an import, a reconciliation)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from .db import Connection


@asynccontextmanager
async def held_or_refused(
    conn: Connection, key: str, refused: Callable[[], Exception]
) -> AsyncIterator[None]:
    """Hold the lock named `key` for the block, or raise `refused()` when another session holds it.

    A session lock: it ends with the connection, so a killed run never blocks the next one.
    """
    if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key):
        raise refused()
    try:
        yield
    except BaseException:
        # The block's own error is the one to see; the pool's reset ends the lock if this fails.
        with contextlib.suppress(Exception):
            await _unlock(conn, key)
        raise
    await _unlock(conn, key)


async def _unlock(conn: Connection, key: str) -> None:
    # A broken connection has released the lock already; the pool discards it.
    if not conn.is_closed():
        await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", key)
