"""Everything a handler needs for one event, bound to the entity's locked database connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from ..sevdesk.api import SevdeskApi
from ..store import records
from ..store.db import Connection
from ..store.records import Link
from ..store.tenants import TenantRecord
from .lookups import TenantLookups
from .result import AMBIGUOUS_MATCH, SyncFailure


@dataclass
class SyncContext:
    conn: Connection
    tenant: TenantRecord
    api: SevdeskApi
    lookups: TenantLookups

    @property
    def tenant_id(self) -> str:
        return self.tenant.tenant_id

    async def link(self, entity_type: str, entity_id: str) -> Link | None:
        return await records.get_link(self.conn, self.tenant_id, entity_type, entity_id)

    async def intent(self, entity_type: str, entity_id: str, sevdesk_object: str) -> str | None:
        return await records.get_intent(self.conn, self.tenant_id, entity_type, entity_id, sevdesk_object)

    async def save_intent(
        self, entity_type: str, entity_id: str, sevdesk_object: str, business_key: str
    ) -> None:
        await records.save_intent(
            self.conn, self.tenant_id, entity_type, entity_id, sevdesk_object, business_key
        )

    async def void_intents_with_key(self, entity_id: str, sevdesk_object: str, business_key: str) -> None:
        await records.void_intents_with_key(
            self.conn, self.tenant_id, sevdesk_object, business_key, entity_id
        )

    async def ensure_unclaimed(
        self, entity_type: str, entity_id: str, sevdesk_object: str, sevdesk_id: str
    ) -> None:
        """Refuse to adopt a sevDesk object that is linked to another CRM entity already."""
        owner = await records.entity_linked_to(
            self.conn, self.tenant_id, entity_type, sevdesk_object, sevdesk_id
        )
        if owner is not None and owner != entity_id:
            raise SyncFailure(
                AMBIGUOUS_MATCH,
                f"sevDesk {sevdesk_object} {sevdesk_id} is already linked to CRM {entity_type} {owner}",
                sevdesk_object,
            )

    @asynccontextmanager
    async def tenant_lock(self, purpose: str) -> AsyncIterator[None]:
        """Serialise one kind of work per tenant across all worker processes (e.g. number allocation)."""
        key = f"sevsync:{purpose}:{self.tenant_id}"
        await self.conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", key)
        try:
            yield
        finally:
            await self.conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", key)
