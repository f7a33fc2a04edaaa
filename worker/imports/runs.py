"""The import's bookkeeping: the tenant, the lock against a second run, the run row."""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from ..store.db import Connection
from ..store.session_locks import held_or_refused
from ..store.tenants import SEVDESK, TenantRecord, TenantRepository
from ..tenants.service import TenantError, TenantNotFound
from .kinds import ImportKind
from .results import ImportRunning, ImportStatus, InvalidRecord

log = logging.getLogger(__name__)

# --- tenant, lock, run row -----------------------------------------------------------------------


async def connected_tenant(pool: asyncpg.Pool, tenant_id: str) -> TenantRecord:
    tenant = await TenantRepository(pool).get(tenant_id)
    if tenant is None:
        raise TenantNotFound(f"tenant {tenant_id} is not known; connect it with `sevsync tenant connect`")
    if tenant.provider != SEVDESK:
        raise TenantError(f"tenant {tenant_id} uses {tenant.provider}, not sevDesk")
    if not tenant.syncs_with_sevdesk:
        raise TenantError(
            f"tenant {tenant_id} is not connected to sevDesk (status {tenant.status}); "
            f"connect it with `sevsync tenant connect {tenant_id}`"
        )
    return tenant


def lock_key(tenant_id: str, kind: ImportKind) -> str:
    # Named like SyncContext.tenant_lock's keys; a tenant id holds no ':', so keys cannot collide.
    return f"sevsync:import-{kind}:{tenant_id}"


def run_lock(conn: Connection, tenant_id: str, kind: ImportKind) -> AbstractAsyncContextManager[None]:
    """Hold the run of this tenant and kind for the caller, across processes; refuse if taken."""
    return held_or_refused(
        conn,
        lock_key(tenant_id, kind),
        lambda: ImportRunning(f"an import of {kind} for tenant {tenant_id} is running"),
    )


@dataclass(frozen=True)
class Run:
    next_offset: int
    imported: int
    skipped: int
    invalid: int
    total: int | None
    started_at: datetime
    resumed: bool


async def start_or_resume(conn: Connection, tenant_id: str, kind: ImportKind) -> Run:
    row = await conn.fetchrow(
        "SELECT * FROM sevsync.import_run WHERE tenant_id = $1 AND kind = $2", tenant_id, kind
    )
    resumed = row is not None and row["finished_at"] is None
    if not resumed:
        # A new run from 0. The last finished run's total stays as an estimate until this one ends.
        row = await conn.fetchrow(
            """
            INSERT INTO sevsync.import_run (tenant_id, kind) VALUES ($1, $2)
            ON CONFLICT (tenant_id, kind) DO UPDATE
               SET next_offset = 0, imported = 0, skipped = 0, invalid = 0, started_at = now(),
                   updated_at = now(), finished_at = NULL
            RETURNING *
            """,
            tenant_id,
            kind,
        )
    assert row is not None
    return Run(
        next_offset=row["next_offset"],
        imported=row["imported"],
        skipped=row["skipped"],
        invalid=row["invalid"],
        total=row["total"],
        started_at=row["started_at"],
        resumed=resumed,
    )


def log_invalid(record: InvalidRecord) -> None:
    log.warning(
        "sevDesk %s %s not imported: %s",
        record.sevdesk_object,
        record.sevdesk_id,
        record.reason,
        extra={"tenant_id": record.tenant_id},
    )


async def import_status(pool: asyncpg.Pool, tenant_id: str, kind: ImportKind) -> ImportStatus | None:
    """The latest run of this tenant and kind, or None if it was never imported."""
    row = await pool.fetchrow(
        """
        SELECT r.*, EXISTS (
                   SELECT 1 FROM pg_locks l
                    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                      -- a bigint advisory key is held as two oids: its high and its low 32 bits
                      AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended($3, 0)
               ) AS running
          FROM sevsync.import_run r
         WHERE r.tenant_id = $1 AND r.kind = $2
        """,
        tenant_id,
        kind,
        lock_key(tenant_id, kind),
    )
    if row is None:
        return None
    return ImportStatus(
        tenant_id=row["tenant_id"],
        kind=row["kind"],
        next_offset=row["next_offset"],
        imported=row["imported"],
        skipped=row["skipped"],
        invalid=row["invalid"],
        total=row["total"],
        started_at=row["started_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
        running=row["running"],
    )
