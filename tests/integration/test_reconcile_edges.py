"""Edges of reconciliation: the console's answer for an unknown tenant, an invalid part warned once,
the tenant lock's release after a failure, and the worker forgetting finished runs."""

from __future__ import annotations

import logging

import asyncpg
import pytest
from pydantic import SecretStr

from sevsync.config import Settings
from sevsync.reconcile.run import tenant_lock
from sevsync.reconcile.scheduler import Reconciler
from sevsync.sandbox import people
from sevsync.sandbox.server import SandboxServer
from sevsync.sevdesk.client import SevdeskClient
from sevsync.store.db import Connection

from .harness import add_tenant
from .reconciling import cipher_of, linked_products, person_at, reconcile
from .test_console import ADMIN_TOKEN, console, csrf_of, log_in, page, post


async def test_the_console_answers_404_for_an_unknown_tenant_as_the_api_does(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    console_settings = settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    async with console(console_settings) as session:
        await log_in(session)
        csrf = csrf_of(await page(session, "/tenants/acme"))
        status, _, _ = await post(session, "/reconcile", {"tenant": "ghost", "csrf": csrf})

    assert status == 404


async def test_an_invalid_part_is_noted_seen_and_warned_once_per_change(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    token, ids = await linked_products(db, settings, sandbox)
    await reconcile(db, settings, ["parts"])
    person_at(sandbox, 60)
    part = people.edit(
        sandbox.sandbox.account(token), "Part", ids["prod-7"], {"taxRate": "16"}
    )  # unknown rate
    with caplog.at_level(logging.WARNING, logger="sevsync.reconcile.parts"):
        first = await reconcile(db, settings, ["parts"])
        second = await reconcile(db, settings, ["parts"])
    warnings = [r for r in caplog.records if "does not fit" in r.getMessage()]
    seen = await db.fetchval("SELECT seen_update FROM sevsync.entity_link WHERE entity_id = 'prod-7'")

    assert (first.kinds["parts"].invalid, second.kinds["parts"].invalid) == (1, 1)
    assert len(warnings) == 1
    assert seen == part.updated


async def test_a_failure_inside_the_tenant_lock_is_raised_even_when_the_unlock_fails(
    db: asyncpg.Pool,
) -> None:
    async def run_whose_connection_dies(conn: Connection) -> None:
        async with tenant_lock(conn, "acme"):
            # The connection dies under the run (a restarted Postgres, a killed backend).
            await db.execute("SELECT pg_terminate_backend($1)", conn.get_server_pid())
            raise RuntimeError("the run's own error")

    async with db.acquire() as conn:
        with pytest.raises(RuntimeError, match="the run's own error"):
            await run_whose_connection_dies(conn)


async def test_the_worker_forgets_a_finished_run(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    async with SevdeskClient(settings.sevdesk_base_url) as client:
        reconciler = Reconciler(db, client, cipher_of(settings), None, sweep_every=12)
        assert reconciler.start("acme")
        await reconciler.runs["acme"]
        await reconciler.close()

    assert reconciler.runs == {}
