"""Ways a reconciliation starts: the CLI (one summary line), the admin API (202), the worker's own
interval; and two runs of one tenant at once, of which one is refused."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from sevsync.cli import reconcile as cli_reconcile
from sevsync.cli.errors import CliError
from sevsync.config import Settings
from sevsync.reconcile import run as reconcile_run
from sevsync.reconcile.results import ReconcileFailed, ReconcileRunning, ReconcileSummary
from sevsync.reconcile.telling import Publish
from sevsync.sandbox import people
from sevsync.sandbox.server import SandboxServer
from sevsync.store.outbox import OutboxMessage, insert_outbox

from ..cli_runner import settings_env, sevsync
from ..samples import company
from .harness import (
    add_tenant,
    envelope,
    outbound_listener,
    publish,
    running_worker,
    wait_for_outcomes,
    wait_until,
)
from .reconciling import person_at, reconcile, tenant_at_t0
from .test_admin_api import admin_api
from .test_console import ADMIN_TOKEN, console, csrf_of, log_in, page, post


async def _linked_company(db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer) -> tuple[str, int]:
    token = await tenant_at_t0(db, settings, sandbox)
    created = envelope("customer.created", company())
    async with running_worker(settings):
        await publish(settings, created)
        [outcome] = await wait_for_outcomes(db, created)
    assert outcome["status"] == "succeeded", outcome["error"]
    return token, int(outcome["sevdesk_id"])


def _rename(sandbox: SandboxServer, token: str, contact_id: int, name: str) -> None:
    person_at(sandbox, 60)
    people.edit(sandbox.sandbox.account(token), "Contact", contact_id, {"name": name})


async def test_cli_reconciles_and_prints_one_summary_line(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token, contact_id = await _linked_company(db, settings, sandbox)
    env = settings_env(settings, SEVSYNC_SEVDESK_RETRY_ATTEMPTS="1")
    first = await sevsync("reconcile", "acme", "--kind", "contacts", env=env)
    _rename(sandbox, token, contact_id, "Acme AG")
    async with outbound_listener(settings) as received:
        second = await sevsync("reconcile", "acme", env=env)
        await wait_until(lambda: len(received) >= 1, message="contact.changed")
    unknown = await sevsync("reconcile", "nobody", env=env)

    assert first.returncode == 0, first.stderr
    assert first.stderr == ""  # not a terminal: no progress bar
    assert first.stdout == "reconciled tenant acme: contacts: 0 changed, 0 deleted, 1 examined (swept)\n"
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[0].startswith("reconciled tenant acme: contacts: 1 changed, 0 deleted")
    [event] = received
    assert (event["event_type"], event["data"]["company_name"]) == ("contact.changed", "Acme AG")
    assert unknown.returncode != 0
    assert len(unknown.stderr.strip().splitlines()) == 1
    assert "nobody" in unknown.stderr


async def test_a_run_started_through_the_api_tells_the_crm(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token, contact_id = await _linked_company(db, settings, sandbox)
    await reconcile(db, settings)
    _rename(sandbox, token, contact_id, "Acme AG")
    async with admin_api(settings) as (_, api), outbound_listener(settings) as received:
        await api.call("POST", "/api/v1/tenants/nobody/reconcile", json={}, expect=404)
        await api.call("POST", "/api/v1/tenants/acme/reconcile", json={"kind": "planets"}, expect=422)
        started = await api.call(
            "POST", "/api/v1/tenants/acme/reconcile", json={"kind": "contacts"}, expect=202
        )
        await wait_until(lambda: len(received) >= 1, message="contact.changed")
    assert started == {"tenant_id": "acme", "kinds": ["contacts"], "running": True}
    assert [(m["event_type"], m["data"]["company_name"]) for m in received] == [
        ("contact.changed", "Acme AG")
    ]


async def test_the_worker_reconciles_every_interval(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token, contact_id = await _linked_company(db, settings, sandbox)
    await reconcile(db, settings)
    _rename(sandbox, token, contact_id, "Acme AG")
    often = settings.model_copy(update={"reconcile_interval": timedelta(milliseconds=200)})
    async with outbound_listener(settings) as received, running_worker(often):
        await wait_until(lambda: len(received) >= 1, message="contact.changed")
    assert [m["event_type"] for m in received] == ["contact.changed"]


async def test_two_runs_of_one_tenant_never_work_together(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await _linked_company(db, settings, sandbox)
    faults = sandbox.sandbox.faults
    faults.add(kind="hold", method="GET", path="^/Contact$", times=1)
    first = asyncio.create_task(reconcile(db, settings))
    await wait_until(lambda: faults.held == 1, message="the first run waits in sevDesk")

    with pytest.raises(ReconcileRunning):
        await reconcile(db, settings)
    faults.release()
    summary = await first

    assert summary.kinds["contacts"].examined == 1


async def test_the_console_button_starts_a_run(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token, contact_id = await _linked_company(db, settings, sandbox)
    await reconcile(db, settings)
    _rename(sandbox, token, contact_id, "Acme AG")
    console_settings = settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    async with console(console_settings) as session, outbound_listener(settings) as received:
        await log_in(session)
        tenant_page = await page(session, "/tenants/acme")
        assert 'id="run-reconcile"' in tenant_page
        refused, _, _ = await post(session, "/reconcile", {"tenant": "acme", "csrf": "wrong"})
        status, _, location = await post(
            session, "/reconcile", {"tenant": "acme", "csrf": csrf_of(tenant_page)}
        )
        await wait_until(lambda: len(received) >= 1, message="contact.changed")
        after = await page(session, location or "/")
    assert refused == 403
    assert (status, location) == (303, "/tenants/acme?reconcile=started")
    assert "Reconciliation started" in after
    assert [(m["event_type"], m["data"]["company_name"]) for m in received] == [
        ("contact.changed", "Acme AG")
    ]


async def test_what_a_failed_cli_run_published_is_marked_published(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_tenant(db, settings, sandbox)
    told = OutboxMessage(uuid.uuid4(), "contact.changed", b"{}")

    async def tells_then_fails(*_: Any, publish: Publish, **__: Any) -> None:
        async with db.acquire() as conn:
            await insert_outbox(conn, [told])
        await publish([told])
        raise ReconcileFailed("sevDesk failed mid-run", ReconcileSummary("acme"))

    monkeypatch.setattr(reconcile_run, "run_reconcile", tells_then_fails)
    args = argparse.Namespace(tenant="acme", kind=None, sweep=False)
    with pytest.raises(CliError, match="mid-run"):
        await cli_reconcile._cmd_reconcile(args, settings)

    published = await db.fetchval(
        "SELECT published_at FROM sevsync.outbox WHERE event_id = $1", told.event_id
    )
    assert published is not None  # else the relay sends it a second time


async def test_an_api_start_during_the_timers_run_answers_that_one_is_running(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await _linked_company(db, settings, sandbox)
    ticks = 0
    never = asyncio.Event()

    async def one_tick(_: float) -> None:  # the interval passes once, then never again
        nonlocal ticks
        ticks += 1
        if ticks > 1:
            await never.wait()

    faults = sandbox.sandbox.faults
    faults.add(kind="hold", method="GET", path="^/Contact$", times=1)
    async with admin_api(settings) as (worker, api):
        reconciler = worker.reconciler
        assert reconciler is not None
        timer = asyncio.create_task(reconciler.every(timedelta(hours=1), sleep=one_tick))
        try:
            await wait_until(lambda: faults.held == 1, message="the timer's run waits in sevDesk")
            refused = await api.call("POST", "/api/v1/tenants/acme/reconcile", json={}, expect=409)
            faults.release()
            await wait_until(lambda: not reconciler.running("acme"), message="the timer's run finished")
            again = await api.call("POST", "/api/v1/tenants/acme/reconcile", json={}, expect=202)
        finally:
            faults.release()
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
    assert "running already" in str(refused)
    assert again["running"] is True
