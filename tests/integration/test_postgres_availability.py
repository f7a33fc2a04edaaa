"""Which Postgres errors mean "not now" (the delivery waits for Postgres) rather than a failure."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from sevsync.store.availability import DATABASE_UNAVAILABLE


async def test_no_free_connection_slot_counts_as_postgres_away(database_url: str, db: asyncpg.Pool) -> None:
    # A role allowed one connection stands for a server whose max_connections are all taken.
    role = f"sevsync_limited_{uuid.uuid4().hex[:8]}"
    await db.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 1')
    url = urlsplit(database_url)
    limited = urlunsplit(url._replace(netloc=f"{role}@{url.hostname}:{url.port or 5432}"))
    try:
        first = await asyncpg.connect(limited)
        try:
            with pytest.raises(asyncpg.PostgresError) as refused:
                await asyncpg.connect(limited)
        finally:
            await first.close()
    finally:
        await db.execute(f'DROP ROLE "{role}"')

    # Held until a slot is free, not failed ten times and dead-lettered as `delivery_limit`.
    assert isinstance(refused.value, DATABASE_UNAVAILABLE), type(refused.value)
