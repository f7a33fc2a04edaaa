"""One reconciliation run of a tenant: its lock, its token, each kind in turn, each cursor's step."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Final

import asyncpg

from ..imports.runs import connected_tenant
from ..sevdesk.api import SevdeskApi
from ..sevdesk.client import SevdeskClient
from ..sevdesk.errors import SevdeskError
from ..store.db import Connection
from ..store.reconcile import Cursor, finish_run, read_cursor
from ..tenants.crypto import SecretKeyError, TokenCipher
from ..tenants.service import TenantError
from .contacts import reconcile_contacts
from .documents import reconcile_documents
from .kinds import KindRun
from .parts import reconcile_parts
from .results import KINDS, KindCounts, ReconcileFailed, ReconcileKind, ReconcileRunning, ReconcileSummary
from .telling import Publish, Teller

# Every this many finished runs of a kind, the run sweeps (lists everything, finds deletions).
DEFAULT_SWEEP_EVERY: Final = 12

KindReconciler = Callable[[KindRun, Cursor], Awaitable[datetime | None]]
_RECONCILERS: dict[ReconcileKind, KindReconciler] = {
    "contacts": reconcile_contacts,
    "parts": reconcile_parts,
    "documents": reconcile_documents,
}


def _progress_of(
    kind: ReconcileKind, progress: Callable[[ReconcileKind, int], None] | None
) -> Callable[[int], None] | None:
    if progress is None:
        return None
    report = progress
    return lambda examined: report(kind, examined)


def lock_key(tenant_id: str) -> str:
    # Named like the import's keys; a tenant id holds no ':', so keys cannot collide.
    return f"sevsync:reconcile:{tenant_id}"


@asynccontextmanager
async def tenant_lock(conn: Connection, tenant_id: str) -> AsyncIterator[None]:
    """Hold the tenant's reconciliation across processes; refuse if another run holds it.

    A session lock: it ends with the connection, so a killed run never blocks the next one.
    """
    key = lock_key(tenant_id)
    if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key):
        raise ReconcileRunning(f"a reconciliation of tenant {tenant_id} is running")
    try:
        yield
    finally:
        if not conn.is_closed():
            await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", key)


async def run_reconcile(
    pool: asyncpg.Pool,
    client: SevdeskClient,
    cipher: TokenCipher,
    tenant_id: str,
    kinds: Sequence[ReconcileKind] = KINDS,
    *,
    publish: Publish | None,
    sweep: bool | None = None,
    sweep_every: int = DEFAULT_SWEEP_EVERY,
    progress: Callable[[ReconcileKind, int], None] | None = None,
) -> ReconcileSummary:
    """Reconcile these kinds of one tenant; `sweep` forces (True) or skips (False) the sweep.

    Raises `TenantError` (unknown, not connected, undecryptable token), `ReconcileRunning`
    (another run holds the tenant), `ReconcileFailed` (sevDesk failed; the told stays told).
    """
    tenant = await connected_tenant(pool, tenant_id)
    try:
        token = cipher.decrypt(tenant.token_encrypted or "")
    except SecretKeyError as exc:
        raise TenantError(f"tenant {tenant_id}: {exc}") from None
    api = SevdeskApi(client, token)
    summary = ReconcileSummary(tenant_id)
    # One connection for the whole run: it holds the lock.
    async with pool.acquire() as conn, tenant_lock(conn, tenant_id):
        for kind in kinds:
            reconciler = _RECONCILERS.get(kind)
            if reconciler is None:
                continue
            counts = summary.kinds.setdefault(kind, KindCounts())
            cursor = await read_cursor(conn, tenant_id, kind)
            sweeping = (
                sweep if sweep is not None else sweep_every > 0 and (cursor.runs + 1) % sweep_every == 0
            )
            run = KindRun(
                conn=conn,
                api=api,
                tenant=tenant,
                teller=Teller(conn, tenant_id, publish, counts),
                sweep=sweeping,
                progress=_progress_of(kind, progress),
            )
            try:
                newest = await reconciler(run, cursor)
            except SevdeskError as exc:
                await run.teller.flush()
                raise ReconcileFailed(
                    f"the reconciliation of {kind} for tenant {tenant_id} stopped: {exc.describe()}; "
                    "what was told stays told, the next run continues from the last cursor"
                ) from exc
            await finish_run(conn, tenant_id, kind, newest, swept=counts.swept)
    return summary
