"""How the worker schedules reconciliation runs: one bound for every run of the process, whoever
started it (the pool has a connection for each beyond the events' and the headroom), and a timer per
tenant, so a slow tenant delays only its own next run."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import asyncpg
import pytest

from sevsync import app
from sevsync.config import Settings
from sevsync.reconcile.scheduler import Reconciler
from sevsync.sandbox.server import SandboxServer
from sevsync.sevdesk.client import SevdeskClient

from .harness import add_tenant, wait_until
from .reconciling import cipher_of, slow_and_quick_tenants
from .test_admin_api import admin_api


async def _reconcile_locks(db: asyncpg.Pool) -> int:
    """Advisory locks held in the test's database: here, only reconciliation runs take them."""
    count: int = await db.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    return count


async def _runs_of(db: asyncpg.Pool, tenant_id: str) -> int:
    runs: int = await db.fetchval(
        "SELECT coalesce(max(runs), 0) FROM sevsync.reconcile_cursor WHERE tenant_id = $1", tenant_id
    )
    return runs


async def _has_run(db: asyncpg.Pool, tenant_id: str, times: int) -> bool:
    return await _runs_of(db, tenant_id) == times


async def test_api_starts_beyond_the_bound_wait_their_turn_and_the_pool_has_room_for_the_bound(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_tenant(db, settings, sandbox, "acme")
    await add_tenant(db, settings, sandbox, "beta")
    monkeypatch.setattr(app, "RECONCILE_CONCURRENCY", 1)
    faults = sandbox.sandbox.faults
    faults.add(kind="hold", method="GET", path="^/Contact$", times=2)  # each run's first listing
    async with admin_api(settings) as (worker, api):
        reconciler = worker.reconciler
        assert reconciler is not None
        assert worker.pool is not None
        try:
            for tenant in ("acme", "beta"):
                await api.call("POST", f"/api/v1/tenants/{tenant}/reconcile", json={}, expect=202)
            # Unbounded, both runs would wait in sevDesk, each holding its connection and lock.
            await wait_until(
                lambda: faults.held == 2 or (faults.held == 1 and reconciler.waiting == {"beta"}),
                message="acme's run waits in sevDesk, beta's for its turn",
            )
            assert (faults.held, await _reconcile_locks(db)) == (1, 1)
            faults.release()
            await wait_until(
                lambda: faults.held == 1 and not reconciler.running("acme"),
                message="beta's run waits in sevDesk after acme's",
            )
            assert (faults.held, await _reconcile_locks(db)) == (1, 1)
            faults.release()
            await wait_until(lambda: not reconciler.runs, message="both runs finished")
        finally:
            faults.release()
        max_size = worker.pool.get_max_size()

    assert [await _runs_of(db, tenant) for tenant in ("acme", "beta")] == [1, 1]
    assert max_size == settings.concurrency + 1 + app.POOL_HEADROOM


async def test_a_tenant_whose_run_is_held_does_not_stop_another_being_reconciled_the_next_round(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await slow_and_quick_tenants(db, settings, sandbox)
    rounds: asyncio.Queue[None] = asyncio.Queue()

    async def next_round(_: float) -> None:  # the interval passes when the test says so
        await rounds.get()

    async with SevdeskClient(settings.sevdesk_base_url) as client:
        reconciler = Reconciler(db, client, cipher_of(settings), None, sweep_every=12)
        timer = asyncio.create_task(reconciler.every(timedelta(minutes=5), sleep=next_round))
        try:
            rounds.put_nowait(None)
            await wait_until(lambda: sandbox.sandbox.faults.held == 1, message="a-slow waits in sevDesk")
            await wait_until(lambda: _has_run(db, "b-quick", 1), message="b-quick's first run")
            rounds.put_nowait(None)
            await wait_until(lambda: _has_run(db, "b-quick", 2), message="b-quick's run of the next round")
            slow_running = reconciler.running("a-slow")
            slow_runs = await _runs_of(db, "a-slow")
        finally:
            sandbox.sandbox.faults.release()
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
            await reconciler.close()

    assert (slow_running, slow_runs) == (True, 0)
