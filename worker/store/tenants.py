"""Rows of `sevsync.tenant_integration`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..tenants.settings import TenantSettings

if TYPE_CHECKING:
    # Types only: pure modules (sync.recording, sync.gate) import this one without asyncpg.
    import asyncpg

    from .db import Connection

SEVDESK = "sevdesk"

# A tenant's status (the table's CHECK constraint).
STATUS_CONNECTED = "connected"
STATUS_DISCONNECTED = "disconnected"
# sevDesk refused the stored token: the tenant's events park until it is reconnected.
STATUS_AUTH_FAILED = "auth_failed"


# The same rule as the table's CHECK constraint and the events' tenant_id.
_TENANT_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def is_tenant_id(text: str) -> bool:
    return _TENANT_ID.fullmatch(text) is not None


@dataclass(frozen=True)
class TenantRecord:
    tenant_id: str
    provider: str
    status: str
    enabled: bool
    settings: TenantSettings
    token_encrypted: str | None
    connected_at: datetime | None

    @property
    def syncs_with_sevdesk(self) -> bool:
        return (
            self.provider == SEVDESK and self.status == STATUS_CONNECTED and self.token_encrypted is not None
        )


def tenant_from_row(row: asyncpg.Record) -> TenantRecord:
    return TenantRecord(
        tenant_id=row["tenant_id"],
        provider=row["provider"],
        status=row["status"],
        enabled=row["enabled"],
        settings=TenantSettings.model_validate(row["settings"] or {}),
        token_encrypted=row["token_encrypted"],
        connected_at=row["connected_at"],
    )


async def learn_settings(conn: Connection, tenant_id: str, learned: dict[str, Any]) -> None:
    """Store settings the worker found out about the tenant's account, key by key: a change an
    operator made to another setting meanwhile is kept (no read-modify-write of the whole object)."""
    await conn.execute(
        """
        UPDATE sevsync.tenant_integration
           SET settings = settings || $2::jsonb, updated_at = now()
         WHERE tenant_id = $1
        """,
        tenant_id,
        TenantSettings.model_validate(learned).model_dump(mode="json", include=set(learned)),
    )


class TenantRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, tenant_id: str) -> TenantRecord | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM sevsync.tenant_integration WHERE tenant_id = $1", tenant_id
        )
        return tenant_from_row(row) if row else None

    async def store_connection(self, tenant_id: str, token_encrypted: str) -> TenantRecord | None:
        """Make sevDesk the tenant's connected provider with this (already tested) token.

        None, and nothing written, while another provider is connected: a tenant has one accounting
        integration at a time. The condition sits in the upsert itself, so an integration that
        connected while the token was being tested is not overwritten.
        """
        row = await self._pool.fetchrow(
            """
            INSERT INTO sevsync.tenant_integration
                   (tenant_id, provider, status, token_encrypted, connected_at, updated_at)
            VALUES ($1, $2, 'connected', $3, now(), now())
            ON CONFLICT (tenant_id) DO UPDATE
               SET provider = EXCLUDED.provider, status = 'connected',
                   token_encrypted = EXCLUDED.token_encrypted, connected_at = now(), updated_at = now()
             WHERE tenant_integration.provider = EXCLUDED.provider
                OR tenant_integration.status <> 'connected'
            RETURNING *
            """,
            tenant_id,
            SEVDESK,
            token_encrypted,
        )
        return tenant_from_row(row) if row else None

    async def update_settings(
        self, tenant_id: str, settings: TenantSettings, enabled: bool | None
    ) -> TenantRecord | None:
        row = await self._pool.fetchrow(
            """
            UPDATE sevsync.tenant_integration
               SET settings = $2, enabled = COALESCE($3, enabled), updated_at = now()
             WHERE tenant_id = $1
            RETURNING *
            """,
            tenant_id,
            settings.model_dump(mode="json"),
            enabled,
        )
        return tenant_from_row(row) if row else None

    async def disconnect(self, tenant_id: str) -> TenantRecord | None:
        """Remove the token; links and settings stay."""
        row = await self._pool.fetchrow(
            """
            UPDATE sevsync.tenant_integration
               SET status = 'disconnected', token_encrypted = NULL, updated_at = now()
             WHERE tenant_id = $1 AND provider = $2
            RETURNING *
            """,
            tenant_id,
            SEVDESK,
        )
        return tenant_from_row(row) if row else None

    async def mark_auth_failed(self, tenant_id: str) -> None:
        await self._pool.execute(
            """
            UPDATE sevsync.tenant_integration SET status = 'auth_failed', updated_at = now()
             WHERE tenant_id = $1 AND provider = $2 AND status = 'connected'
            """,
            tenant_id,
            SEVDESK,
        )

    async def link_counts(self, tenant_id: str) -> dict[str, Any]:
        rows = await self._pool.fetch(
            "SELECT entity_type, count(*) AS n FROM sevsync.entity_link WHERE tenant_id = $1 GROUP BY 1",
            tenant_id,
        )
        return {row["entity_type"]: row["n"] for row in rows}
