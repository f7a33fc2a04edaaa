"""Whether Postgres answers: the errors that mean it is away, and waiting until it is back.

The broker holds a delivery whose processing failed with one of these errors and runs it again once
`wait_until_available` returns; no outcome could be recorded, so the delivery must not be settled.
"""

from __future__ import annotations

import asyncio

import asyncpg

# Errors that mean "Postgres is not reachable right now", as opposed to a bug or bad data.
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,  # includes a connection that died under a query
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up
    # Every connection slot taken (max_connections, or a role's limit): free again once others end.
    asyncpg.exceptions.TooManyConnectionsError,
)
PROBE_FAILURES: tuple[type[BaseException], ...] = (*DATABASE_UNAVAILABLE, asyncpg.PostgresError)
PROBE_MIN_SECONDS = 0.5
PROBE_MAX_SECONDS = 5.0


class PostgresAvailability:
    unavailable = DATABASE_UNAVAILABLE

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._stopping = False

    async def wait_until_available(self) -> None:
        """Probe with backoff until Postgres answers; raises once the worker stops meanwhile."""
        delay = PROBE_MIN_SECONDS
        while not self._stopping:
            try:
                await asyncio.wait_for(self._pool.fetchval("SELECT 1"), timeout=5)
                return
            except PROBE_FAILURES:
                await asyncio.sleep(delay)
                delay = min(delay * 2, PROBE_MAX_SECONDS)
        raise RuntimeError("stopping while Postgres is unavailable; the broker will redeliver")

    def stop(self) -> None:
        """Let held deliveries go back to the broker instead of waiting on."""
        self._stopping = True
