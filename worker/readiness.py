"""What `/readyz` reports: Postgres answers, the broker connection is up, the work queue is consumed."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
from aio_pika.abc import AbstractRobustConnection

from .broker.consumer import Consumer
from .metrics import METRICS


async def readiness(
    pool: asyncpg.Pool | None, connection: AbstractRobustConnection | None, consumer: Consumer | None
) -> dict[str, bool]:
    checks = {"database": False, "broker": False, "consuming": False}
    if pool is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pool.fetchval("SELECT 1"), timeout=2)
            checks["database"] = True
    # A robust connection is not "closed" while it reconnects; `connected` says whether it is up.
    checks["broker"] = connection is not None and not connection.is_closed and connection.connected.is_set()
    checks["consuming"] = bool(consumer and consumer.consuming and checks["broker"])
    METRICS.consuming(checks["consuming"])
    return checks
