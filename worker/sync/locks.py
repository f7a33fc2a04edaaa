"""Per-entity serialisation inside one worker process.

Two deliveries for the same entity (e.g. versions 3 and 4 of one customer) must never be applied at
the same time. Inside the process an asyncio lock per key does it without touching the database;
across processes the processor adds a Postgres advisory lock on the same key.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiters: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        self._waiters[key] = self._waiters.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            # Drop the lock object with its last user, so the map does not grow with every entity.
            self._waiters[key] -= 1
            if self._waiters[key] == 0:
                del self._waiters[key]
                del self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)


def entity_lock_key(tenant_id: str, entity_type: str, entity_id: str) -> str:
    """The key that serialises work on one CRM entity, in this process and (as an advisory lock) in all."""
    return f"{tenant_id}\x1f{entity_type}\x1f{entity_id}"
