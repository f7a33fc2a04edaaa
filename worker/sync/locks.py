"""Per-entity serialisation inside one worker process, and what it allows: coalescing bursts.

Two deliveries for the same entity (e.g. versions 3 and 4 of one customer) must never be applied at
the same time. Inside the process an asyncio lock per key does it without touching the database;
across processes the processor adds a Postgres advisory lock on the same key.

Because every delivery of an entity queues on its key, the lock also knows which versions wait: a
delivery whose handler writes the entity's whole state can see that a newer version of the same kind
waits behind it, and leave the write to that one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # (coalescing group, version) of every delivery holding or waiting for the lock.
    tickets: list[tuple[str | None, int]] = field(default_factory=list)


class KeyedLocks:
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    @asynccontextmanager
    async def hold(self, key: str, version: int = 0, group: str | None = None) -> AsyncIterator[None]:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        ticket = (group, version)
        entry.tickets.append(ticket)
        try:
            async with entry.lock:
                yield
        finally:
            entry.tickets.remove(ticket)
            # Drop the entry with its last user, so the map does not grow with every entity.
            if not entry.tickets:
                del self._entries[key]

    def newer_waiting(self, key: str, group: str | None, version: int) -> int | None:
        """The newest version of `group` waiting for `key`, if it is newer than `version`."""
        entry = self._entries.get(key)
        if group is None or entry is None:
            return None
        newer = [v for g, v in entry.tickets if g == group and v > version]
        return max(newer, default=None)

    def __len__(self) -> int:
        return len(self._entries)


def entity_lock_key(tenant_id: str, entity_type: str, entity_id: str) -> str:
    """The key that serialises work on one CRM entity, in this process and (as an advisory lock) in all."""
    return f"{tenant_id}\x1f{entity_type}\x1f{entity_id}"
