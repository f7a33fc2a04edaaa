"""A kind that fails does not stop the others; its failure is stored with its cursor for the operator
(`sevsync reconcile --status`), and a refused token marks the tenant auth_failed as the handlers do."""

from __future__ import annotations

import re
from datetime import datetime

import asyncpg
import pytest

from sevsync.config import Settings
from sevsync.reconcile import run as reconcile_run
from sevsync.reconcile.kinds import KindRun
from sevsync.reconcile.results import KINDS, ReconcileFailed
from sevsync.sandbox.server import SandboxServer
from sevsync.store.reconcile import Cursor

from ..samples import deal
from .harness import add_tenant, envelope
from .reconciling import reconcile, tenant_at_t0, through_worker
from .test_dead_letters import run_sevsync


async def _cursors(db: asyncpg.Pool) -> dict[str, asyncpg.Record]:
    rows = await db.fetch("SELECT * FROM sevsync.reconcile_cursor WHERE tenant_id = 'acme'")
    return {row["kind"]: row for row in rows}


async def test_a_failing_kind_leaves_the_others_running_and_its_failure_shown(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await tenant_at_t0(db, settings, sandbox)
    await through_worker(db, settings, envelope("deal.opened", deal()))
    sandbox.sandbox.faults.add(kind="status", method="GET", path="^/Contact$", status=400)
    with pytest.raises(ReconcileFailed) as failed:
        await reconcile(db, settings, KINDS)
    cursors = await _cursors(db)
    status = await run_sevsync(settings, "reconcile", "acme", "--status")
    contacts_only = await run_sevsync(settings, "reconcile", "acme", "--status", "--kind", "contacts")

    counts = failed.value.summary.kinds
    assert counts["contacts"].error is not None
    assert "HTTP 400" in counts["contacts"].error
    assert (counts["parts"].error, counts["documents"].error) == (None, None)
    assert counts["documents"].examined == 1
    assert (cursors["contacts"]["runs"], cursors["parts"]["runs"], cursors["documents"]["runs"]) == (0, 1, 1)
    assert "HTTP 400" in cursors["contacts"]["last_error"]
    assert cursors["documents"]["last_error"] is None
    assert status.returncode == 0, status.stderr
    [contacts_line] = [line for line in status.stdout.splitlines() if line.startswith("contacts:")]
    assert "FAILED" in contacts_line
    assert "HTTP 400" in contacts_line
    assert contacts_only.stdout.splitlines() == [contacts_line]  # --kind narrows the status
    # UTC as `dead list` prints it: `Z`, not `+00:00`
    assert "+00:00" not in status.stdout
    assert re.search(r"last sweep \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", status.stdout.splitlines()[-1])

    again = await reconcile(db, settings, KINDS)  # the fault was used up: the next run finishes
    after = (await _cursors(db))["contacts"]
    assert again.kinds["contacts"].error is None
    assert (after["runs"], after["last_error"]) == (1, None)
    assert isinstance(after["last_failed_at"], datetime)


async def test_an_exception_not_from_sevdesk_is_reported_as_the_kinds_failure(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_tenant(db, settings, sandbox)

    async def broken(run: KindRun, cursor: Cursor) -> datetime | None:
        raise RuntimeError("a bug")

    monkeypatch.setitem(reconcile_run._RECONCILERS, "parts", broken)
    with pytest.raises(ReconcileFailed, match="parts: RuntimeError: a bug") as failed:
        await reconcile(db, settings, KINDS)

    assert failed.value.summary.kinds["documents"].error is None
    assert (await _cursors(db))["parts"]["last_error"] == "RuntimeError: a bug"


async def test_a_refused_token_marks_the_tenant_auth_failed(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(kind="status", path="^/Contact$", status=401, times=None)
    with pytest.raises(ReconcileFailed, match="contacts"):
        await reconcile(db, settings, KINDS)
    status = await db.fetchval("SELECT status FROM sevsync.tenant_integration WHERE tenant_id = 'acme'")

    assert status == "auth_failed"
    assert set(await _cursors(db)) == {"contacts"}  # the other kinds were not tried with that token


async def test_status_of_an_unknown_tenant_or_with_sweep_is_refused_in_one_line(
    db: asyncpg.Pool, settings: Settings
) -> None:
    unknown = await run_sevsync(settings, "reconcile", "nobody", "--status")
    with_sweep = await run_sevsync(settings, "reconcile", "nobody", "--status", "--sweep")

    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert unknown.error_line().endswith("tenant nobody is not known")
    assert (with_sweep.returncode, with_sweep.stdout) == (1, "")
    assert with_sweep.error_line().endswith("--status runs nothing, so --sweep has no meaning with it")
