"""One reconciliation run of a tenant: its lock, its token, each kind in turn, each cursor's step."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import asyncpg
from aiolimiter import AsyncLimiter

from ..imports.runs import connected_tenant
from ..sevdesk.api import SevdeskApi
from ..sevdesk.client import SevdeskClient
from ..sevdesk.errors import AuthError, SevdeskError
from ..store.db import Connection
from ..store.reconcile import Cursor, finish_run, note_failure, read_cursor
from ..store.session_locks import held_or_refused
from ..store.tenants import TenantRecord, TenantRepository
from ..tenants.crypto import SecretKeyError, TokenCipher
from ..tenants.service import TenantError
from .contacts import reconcile_contacts
from .documents import reconcile_documents
from .kinds import KindRun
from .parts import reconcile_parts
from .results import KINDS, KindCounts, ReconcileFailed, ReconcileKind, ReconcileRunning, ReconcileSummary
from .telling import Publish, Teller

log = logging.getLogger(__name__)

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


def tenant_lock(conn: Connection, tenant_id: str) -> AbstractAsyncContextManager[None]:
    """Hold the tenant's reconciliation across processes; refuse if another run holds it."""
    return held_or_refused(
        conn,
        lock_key(tenant_id),
        lambda: ReconcileRunning(f"a reconciliation of tenant {tenant_id} is running"),
    )


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
    pace: AsyncLimiter | None = None,
) -> ReconcileSummary:
    """Reconcile these kinds of one tenant; `sweep` forces (True) or skips (False) the sweep;
    `pace`: the tenant's request rate (SEVSYNC_TENANT_REQUESTS_PER_SECOND), shared with its handlers.

    Raises `TenantError` (unknown, not connected, undecryptable token), `ReconcileRunning`
    (another run holds the tenant), `ReconcileFailed` (a kind failed: the others ran, the told stays
    told, each failure is stored with its kind's cursor).
    """
    tenant = await connected_tenant(pool, tenant_id)
    try:
        token = cipher.decrypt(tenant.token_encrypted or "")
    except SecretKeyError as exc:
        raise TenantError(f"tenant {tenant_id}: {exc}") from None
    summary = ReconcileSummary(tenant_id)
    # One connection for the whole run: it holds the lock.
    async with pool.acquire() as conn, tenant_lock(conn, tenant_id):
        run = _TenantRun(conn, SevdeskApi(client, token, pace), tenant, summary, publish, progress)
        for kind in kinds:
            reconciler = _RECONCILERS.get(kind)
            if reconciler is None:
                continue
            cursor = await read_cursor(conn, tenant_id, kind)
            sweeping = (
                sweep if sweep is not None else sweep_every > 0 and (cursor.runs + 1) % sweep_every == 0
            )
            try:
                await run.kind(kind, reconciler, cursor, sweeping=sweeping)
            except AuthError:
                # The token is refused: the other kinds would be too. Marked as the handlers do.
                await TenantRepository(pool).mark_auth_failed(tenant_id)
                break
    failed = {kind: c.error for kind, c in summary.kinds.items() if c.error is not None}
    if failed:
        raise ReconcileFailed(
            f"the reconciliation of tenant {tenant_id} failed for "
            + "; ".join(f"{kind}: {error}" for kind, error in failed.items())
            + "; what was told stays told, the next run continues from the last cursor",
            summary,
        )
    return summary


@dataclass
class _TenantRun:
    conn: Connection
    api: SevdeskApi
    tenant: TenantRecord
    summary: ReconcileSummary
    publish: Publish | None
    progress: Callable[[ReconcileKind, int], None] | None

    async def kind(
        self, kind: ReconcileKind, reconciler: KindReconciler, cursor: Cursor, *, sweeping: bool
    ) -> None:
        """Run one kind; a failure is noted (counts, cursor row, log), not raised, but for a 401."""
        tenant_id = self.tenant.tenant_id
        counts = self.summary.kinds.setdefault(kind, KindCounts())
        run = KindRun(
            conn=self.conn,
            api=self.api,
            tenant=self.tenant,
            teller=Teller(self.conn, tenant_id, self.publish, counts),
            sweep=sweeping,
            progress=_progress_of(kind, self.progress),
        )
        try:
            newest = await reconciler(run, cursor)
        except Exception as exc:
            await run.teller.flush()
            counts.error = exc.describe() if isinstance(exc, SevdeskError) else f"{type(exc).__name__}: {exc}"
            log.warning(
                "reconciling %s of tenant %s failed: %s",
                kind,
                tenant_id,
                counts.error,
                exc_info=not isinstance(exc, SevdeskError),
                extra={"tenant_id": tenant_id},
            )
            await note_failure(self.conn, tenant_id, kind, counts.error)
            if isinstance(exc, AuthError):
                raise
            return
        await finish_run(self.conn, tenant_id, kind, newest, swept=counts.swept)
