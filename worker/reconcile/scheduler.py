"""Reconciliation inside the worker: every tenant that syncs, every interval, and runs on demand."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any, Final

import asyncpg
from aiolimiter import AsyncLimiter

from ..sevdesk.client import SevdeskClient
from ..store.reconcile import tenants_to_reconcile
from ..tenants.crypto import TokenCipher
from .results import KINDS, ReconcileFailed, ReconcileKind, ReconcileRunning, ReconcileSummary
from .run import run_reconcile
from .telling import Publish

log = logging.getLogger(__name__)

# Reconciliation runs of one process at once, whoever started them (the timer, the admin API, the
# console): each holds a database connection for its whole run, and the worker's pool has this many
# beyond the events' and its headroom (app.py), so reconciling never starves the rest.
RECONCILE_CONCURRENCY: Final = 4
Sleep = Callable[[float], Awaitable[None]]


class Reconciler:
    """Starts reconciliation runs in this process, at most `concurrency` at once (a run started
    beyond it waits its turn); another replica's run of a tenant is skipped."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        client: SevdeskClient,
        cipher: TokenCipher,
        publish: Publish | None,
        *,
        sweep_every: int,
        pace_of: Callable[[str], AsyncLimiter | None] = lambda _tenant: None,
        concurrency: int = RECONCILE_CONCURRENCY,
    ) -> None:
        self._pool = pool
        self._client = client
        self._cipher = cipher
        self._publish = publish
        self._sweep_every = sweep_every
        self._pace_of = pace_of
        self._bound = asyncio.Semaphore(concurrency)
        # Registered runs, also while they wait for the bound; `waiting`: those still waiting.
        self.runs: dict[str, asyncio.Task[ReconcileSummary | None]] = {}
        self.waiting: set[str] = set()

    def running(self, tenant_id: str) -> bool:
        task = self.runs.get(tenant_id)
        return task is not None and not task.done()

    def start(self, tenant_id: str, kinds: Sequence[ReconcileKind] = KINDS) -> bool:
        """Start a run of the tenant in the background; False when one runs here already."""
        if self.running(tenant_id):
            return False
        self._register(tenant_id, self.run(tenant_id, kinds))
        return True

    async def run(self, tenant_id: str, kinds: Sequence[ReconcileKind] = KINDS) -> ReconcileSummary | None:
        """One run, once the bound lets it; None when another run holds the tenant. Failures are
        logged, not raised."""
        self.waiting.add(tenant_id)
        try:
            await self._bound.acquire()
        finally:
            self.waiting.discard(tenant_id)
        try:
            return await self._run(tenant_id, kinds)
        finally:
            self._bound.release()

    async def _run(self, tenant_id: str, kinds: Sequence[ReconcileKind]) -> ReconcileSummary | None:
        try:
            summary = await run_reconcile(
                self._pool,
                self._client,
                self._cipher,
                tenant_id,
                kinds,
                publish=self._publish,
                sweep_every=self._sweep_every,
                pace=self._pace_of(tenant_id),
            )
        except ReconcileFailed as exc:
            log.warning("%s; %s", exc.summary.line(), exc, extra={"tenant_id": tenant_id})
            return exc.summary
        except ReconcileRunning:
            log.info(
                "tenant %s is reconciled by another run; skipped", tenant_id, extra={"tenant_id": tenant_id}
            )
            return None
        except Exception:
            log.exception("reconciling tenant %s failed", tenant_id, extra={"tenant_id": tenant_id})
            return None
        log.info(summary.line(), extra={"tenant_id": tenant_id})
        return summary

    async def every(self, interval: timedelta, sleep: Sleep = asyncio.sleep) -> None:
        """Reconcile every tenant that syncs (connected and enabled), each on its own timer, forever.

        Every interval, the tenants that are not running are started (within the bound); a running
        one is not waited for, so a slow tenant delays only its own next run. `sleep` waits out the
        interval (tests pass their own: no wall clock).
        """
        while True:
            await sleep(interval.total_seconds())
            try:
                tenants = await tenants_to_reconcile(self._pool)
            except Exception:
                log.warning("listing tenants to reconcile failed; trying again next interval", exc_info=True)
                continue
            for tenant_id in tenants:
                if not self.running(tenant_id):
                    self._register(tenant_id, self.run(tenant_id))

    def _register(
        self, tenant_id: str, run: Coroutine[Any, Any, ReconcileSummary | None]
    ) -> asyncio.Task[ReconcileSummary | None]:
        """Registered as soon as created (also while waiting for the bound), so an API start
        meanwhile answers "running"; forgotten when done."""
        task = asyncio.create_task(run, name=f"reconcile-{tenant_id}")
        self.runs[tenant_id] = task

        def forget(done: asyncio.Task[ReconcileSummary | None]) -> None:
            if self.runs.get(tenant_id) is done:
                del self.runs[tenant_id]

        task.add_done_callback(forget)
        return task

    async def close(self) -> None:
        """Stop the runs started here; each resumes from its cursor next time."""
        tasks = list(self.runs.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
