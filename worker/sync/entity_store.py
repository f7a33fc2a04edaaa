"""What a handler may read and write in the store, for one tenant: links, write intents, locks.

Handlers reach the store only through `SyncContext`, which depends on the `EntityStore` protocol, so
they can run against an in-memory store in unit tests. `PostgresEntityStore` is the production one:
each method is one statement on the entity's locked connection, as before (no extra round trips).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from ..store import intents, links, reconcile
from ..store.db import Connection
from ..store.intents import Intent, WantedIntent
from ..store.links import Link, LinkWrite
from ..store.outbox import OutboxMessage, insert_outbox
from ..store.tenants import learn_settings
from .told_events import DELETED_IN_SEVDESK, link_broken_message


@dataclass(frozen=True)
class MarkedBroken:
    """What `mark_deleted` did: when the link was marked broken (None: not linked to an object), and
    the `link.broken` it queued, committed already (None: told before). The processor publishes that
    message with the event's own outbound messages, instead of leaving it to the relay's grace."""

    broken_at: datetime | None
    told: OutboxMessage | None = None


class EntityStore(Protocol):
    """One tenant's entity links and write intents (see store.links and store.intents)."""

    async def link(self, entity_type: str, entity_id: str) -> Link | None: ...

    async def links(self, entity_types: Sequence[str], entity_id: str) -> list[Link]: ...

    async def links_of(self, entity_type: str, entity_ids: Iterable[str]) -> list[Link]: ...

    async def entity_linked_to(
        self, entity_type: str, sevdesk_object: str, sevdesk_id: str
    ) -> str | None: ...

    async def link_unless_other_kind(self, link: LinkWrite) -> bool:
        """Write the link unless its row links another kind of sevDesk object; whether it was written."""
        ...

    async def commit_links(self, links: Sequence[LinkWrite], messages: Sequence[OutboxMessage]) -> None:
        """In one transaction: write the links, end their entities' intents, queue the messages."""
        ...

    async def mark_deleted(self, link: Link) -> MarkedBroken:
        """The link's object is gone from sevDesk: mark the link broken and queue `link.broken`, once
        (committed at once, whatever the event's outcome); when it was marked broken, and the message."""
        ...

    async def intent(self, entity_type: str, entity_id: str, sevdesk_object: str) -> Intent | None: ...

    async def save_intent(
        self, entity_type: str, entity_id: str, sevdesk_object: str, business_key: str
    ) -> None: ...

    async def save_intent_unless_pending(
        self,
        entity_type: str,
        entity_id: str,
        sevdesk_object: str,
        business_key: str,
        settle_seconds: float,
        sent_fingerprint: str | None,
    ) -> Intent | None:
        """Save the intent unless an earlier one younger than `settle_seconds` may still land; that one."""
        ...

    async def save_intents_unless_pending(
        self, entity_type: str, entity_id: str, wanted: Sequence[WantedIntent], settle_seconds: float
    ) -> dict[str, Intent]:
        """Save several intents of one entity in one statement, each unless an earlier one of its
        kind may still land; those earlier ones by kind (see save_intent_unless_pending)."""
        ...

    async def settle_intent(self, entity_type: str, entity_id: str, sevdesk_object: str) -> None: ...

    async def resend_intent(self, entity_type: str, entity_id: str, sevdesk_object: str) -> None: ...

    async def delete_intent(self, entity_type: str, entity_id: str, sevdesk_object: str) -> None: ...

    async def remember_sent(
        self, entity_type: str, entity_id: str, sevdesk_object: str, sent_fingerprint: str
    ) -> None: ...

    async def intents_of_others(self, entity_type: str, sevdesk_object: str, entity_id: str) -> list[str]:
        """The other entities of this type with an intent of this kind of object."""
        ...

    async def give_up_key(
        self, sevdesk_object: str, business_key: str, entity_type: str, entity_id: str
    ) -> None: ...

    async def given_up_among(self, sevdesk_object: str, business_keys: Sequence[str]) -> set[str]: ...

    async def claim_key(
        self, sevdesk_object: str, business_key: str, entity_id: str, younger_than: float
    ) -> list[str]:
        """Drop others' intents with the key, unless one is younger than `younger_than`: their holders."""
        ...

    async def learn_settings(self, learned: dict[str, Any]) -> None:
        """Store settings found out about the tenant's sevDesk account."""
        ...

    def advisory_lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """Hold `key` across all worker processes until the block ends."""
        ...


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _one_at_a_time(
    method: Callable[Concatenate[PostgresEntityStore, _P], Awaitable[_R]],
) -> Callable[Concatenate[PostgresEntityStore, _P], Coroutine[Any, Any, _R]]:
    """Run the store method only while no other call of the store is on the connection."""

    async def in_turn(store: PostgresEntityStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        async with store._turn:
            return await method(store, *args, **kwargs)

    return in_turn


class PostgresEntityStore:
    """The entity store on the connection that holds the event's entity lock."""

    def __init__(self, conn: Connection, tenant_id: str) -> None:
        self._conn = conn
        self._tenant_id = tenant_id
        # asyncpg runs one operation at a time on a connection; a handler may make sevDesk calls
        # side by side (a contact's parts) whose store calls must then take turns.
        self._turn = asyncio.Lock()

    @_one_at_a_time
    async def link(self, entity_type: str, entity_id: str) -> Link | None:
        return await links.get_link(self._conn, self._tenant_id, entity_type, entity_id)

    @_one_at_a_time
    async def links(self, entity_types: Sequence[str], entity_id: str) -> list[Link]:
        return await links.get_links(self._conn, self._tenant_id, entity_types, entity_id)

    @_one_at_a_time
    async def links_of(self, entity_type: str, entity_ids: Iterable[str]) -> list[Link]:
        return await links.get_links_of(self._conn, self._tenant_id, entity_type, entity_ids)

    @_one_at_a_time
    async def entity_linked_to(self, entity_type: str, sevdesk_object: str, sevdesk_id: str) -> str | None:
        return await links.entity_linked_to(
            self._conn, self._tenant_id, entity_type, sevdesk_object, sevdesk_id
        )

    @_one_at_a_time
    async def link_unless_other_kind(self, link: LinkWrite) -> bool:
        return await links.upsert_link_unless_other_kind(self._conn, self._tenant_id, link)

    @_one_at_a_time
    async def mark_deleted(self, link: Link) -> MarkedBroken:
        sevdesk_object, sevdesk_id = link.sevdesk_object, link.sevdesk_id
        if sevdesk_object is None or sevdesk_id is None:
            return MarkedBroken(None)

        def message(version: int) -> OutboxMessage:
            return link_broken_message(
                self._tenant_id, link.entity_type, link.entity_id, sevdesk_object, sevdesk_id, version
            )

        # Under the entity's lock already (the handler's): no claim; the object must still be linked.
        told = await reconcile.mark_broken(
            self._conn,
            self._tenant_id,
            link.entity_type,
            link.entity_id,
            DELETED_IN_SEVDESK,
            message,
            sevdesk_id=sevdesk_id,
        )
        broken_at: datetime | None = await self._conn.fetchval(
            "SELECT broken_at FROM sevsync.entity_link"
            " WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3",
            self._tenant_id,
            link.entity_type,
            link.entity_id,
        )
        return MarkedBroken(broken_at, told)

    @_one_at_a_time
    async def commit_links(self, written: Sequence[LinkWrite], messages: Sequence[OutboxMessage]) -> None:
        async with self._conn.transaction():
            for link in written:
                await links.upsert_link(self._conn, self._tenant_id, link)
                await intents.clear_intents(self._conn, self._tenant_id, link.entity_type, link.entity_id)
            await insert_outbox(self._conn, messages)

    @_one_at_a_time
    async def intent(self, entity_type: str, entity_id: str, sevdesk_object: str) -> Intent | None:
        return await intents.get_intent(self._conn, self._tenant_id, entity_type, entity_id, sevdesk_object)

    @_one_at_a_time
    async def save_intent(
        self, entity_type: str, entity_id: str, sevdesk_object: str, business_key: str
    ) -> None:
        await intents.save_intent(
            self._conn, self._tenant_id, entity_type, entity_id, sevdesk_object, business_key
        )

    @_one_at_a_time
    async def save_intent_unless_pending(
        self,
        entity_type: str,
        entity_id: str,
        sevdesk_object: str,
        business_key: str,
        settle_seconds: float,
        sent_fingerprint: str | None,
    ) -> Intent | None:
        return await intents.save_intent_unless_pending(
            self._conn,
            self._tenant_id,
            entity_type,
            entity_id,
            sevdesk_object,
            business_key,
            settle_seconds,
            sent_fingerprint,
        )

    @_one_at_a_time
    async def save_intents_unless_pending(
        self, entity_type: str, entity_id: str, wanted: Sequence[WantedIntent], settle_seconds: float
    ) -> dict[str, Intent]:
        return await intents.save_intents_unless_pending(
            self._conn, self._tenant_id, entity_type, entity_id, wanted, settle_seconds
        )

    @_one_at_a_time
    async def settle_intent(self, entity_type: str, entity_id: str, sevdesk_object: str) -> None:
        await intents.settle_intent(self._conn, self._tenant_id, entity_type, entity_id, sevdesk_object)

    @_one_at_a_time
    async def resend_intent(self, entity_type: str, entity_id: str, sevdesk_object: str) -> None:
        await intents.resend_intent(self._conn, self._tenant_id, entity_type, entity_id, sevdesk_object)

    @_one_at_a_time
    async def delete_intent(self, entity_type: str, entity_id: str, sevdesk_object: str) -> None:
        await intents.delete_intent(self._conn, self._tenant_id, entity_type, entity_id, sevdesk_object)

    @_one_at_a_time
    async def remember_sent(
        self, entity_type: str, entity_id: str, sevdesk_object: str, sent_fingerprint: str
    ) -> None:
        await intents.remember_sent(
            self._conn, self._tenant_id, entity_type, entity_id, sevdesk_object, sent_fingerprint
        )

    @_one_at_a_time
    async def intents_of_others(self, entity_type: str, sevdesk_object: str, entity_id: str) -> list[str]:
        return await intents.intents_of_others(
            self._conn, self._tenant_id, entity_type, sevdesk_object, entity_id
        )

    @_one_at_a_time
    async def give_up_key(
        self, sevdesk_object: str, business_key: str, entity_type: str, entity_id: str
    ) -> None:
        await intents.give_up_key(
            self._conn, self._tenant_id, sevdesk_object, business_key, entity_type, entity_id
        )

    @_one_at_a_time
    async def given_up_among(self, sevdesk_object: str, business_keys: Sequence[str]) -> set[str]:
        return await intents.given_up_among(self._conn, self._tenant_id, sevdesk_object, business_keys)

    @_one_at_a_time
    async def claim_key(
        self, sevdesk_object: str, business_key: str, entity_id: str, younger_than: float
    ) -> list[str]:
        return await intents.claim_key(
            self._conn, self._tenant_id, sevdesk_object, business_key, entity_id, younger_than
        )

    @_one_at_a_time
    async def learn_settings(self, learned: dict[str, Any]) -> None:
        await learn_settings(self._conn, self._tenant_id, learned)

    @asynccontextmanager
    async def advisory_lock(self, key: str) -> AsyncIterator[None]:
        # Each statement takes its turn on the connection; the block between them does not hold it.
        async with self._turn:
            await self._conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", key)
        try:
            yield
        finally:
            async with self._turn:
                await self._conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", key)
