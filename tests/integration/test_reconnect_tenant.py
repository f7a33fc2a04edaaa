"""A revoked sevDesk token parks a tenant's events; reconnecting the tenant resumes them.

The worker runs in-process next to the sandbox; the reconnect goes once through the service functions
and once through the real `sevsync tenant connect` as a subprocess (token on stdin). The subprocess
is awaited with `asyncio.create_subprocess_exec`, so the sandbox in this event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import aio_pika
import asyncpg
import pytest

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer
from sevsync.sandbox.store import Account
from sevsync.sevdesk.client import SevdeskClient
from sevsync.sevdesk.token import ApiToken
from sevsync.tenants.crypto import TokenCipher
from sevsync.tenants.service import connect_tenant, resume_parked

from ..cli_runner import settings_env, sevsync
from ..samples import product
from .harness import add_tenant, envelope, publish, running_worker, wait_for_outcomes

pytestmark = pytest.mark.timeout(90)

REVOKED = "acme"
HEALTHY = "beta"


async def _wait_for_statuses(
    db: asyncpg.Pool, events: list[dict[str, Any]], status: str, timeout: float = 20.0
) -> list[asyncpg.Record]:
    """Wait until the newest outcome row (duplicates aside) of every event has `status`."""
    ids = [uuid.UUID(e["event_id"]) for e in events]
    deadline = time.monotonic() + timeout
    while True:
        rows = await db.fetch(
            """
            SELECT DISTINCT ON (event_id) * FROM sevsync.sync_outcome
             WHERE event_id = ANY($1::uuid[]) AND reason IS DISTINCT FROM 'duplicate'
             ORDER BY event_id, id DESC
            """,
            ids,
        )
        newest = {row["event_id"]: row for row in rows}
        if all(i in newest and newest[i]["status"] == status for i in ids):
            return [newest[i] for i in ids]
        if time.monotonic() > deadline:
            seen = {str(i): newest[i]["status"] if i in newest else None for i in ids}
            raise AssertionError(f"not all {status} within {timeout} s: {seen}")
        await asyncio.sleep(0.05)


async def _tenant_status(db: asyncpg.Pool, tenant: str) -> str:
    status: str = await db.fetchval(
        "SELECT status FROM sevsync.tenant_integration WHERE tenant_id = $1", tenant
    )
    return status


async def _parked_ids(db: asyncpg.Pool) -> set[str]:
    rows = await db.fetch("SELECT event_id, tenant_id FROM sevsync.parked_event")
    assert {row["tenant_id"] for row in rows} <= {REVOKED}
    return {str(row["event_id"]) for row in rows}


def _part_numbers(account: Account) -> list[str]:
    return sorted(str(part["partNumber"]) for part in account.objects("Part"))


def _ids(*events: dict[str, Any]) -> set[str]:
    return {str(e["event_id"]) for e in events}


def _product(name: str, tenant: str) -> dict[str, Any]:
    return envelope("product.created", product(f"prod-{name}", sku=f"SKU-{name}"), tenant=tenant)


async def _assert_nothing_burned(db: asyncpg.Pool) -> None:
    assert await db.fetchval("SELECT count(*) FROM sevsync.dead_letter") == 0
    assert await db.fetchval("SELECT count(*) FROM sevsync.sync_outcome WHERE status = 'retrying'") == 0


async def _queue_depth(settings: Settings, queue: str) -> int:
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0


async def _cli_connect(settings: Settings, tenant: str, token: str) -> str:
    """`sevsync tenant connect TENANT` as a subprocess with the token on stdin; returns stdout."""
    result = await sevsync("tenant", "connect", tenant, env=settings_env(settings), stdin=f"{token}\n")
    assert result.returncode == 0, result.stderr
    assert token not in result.stdout + result.stderr
    return result.stdout


async def test_revoked_token_parks_events_and_a_reconnect_resumes_them(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox, REVOKED)
    healthy_token = await add_tenant(db, settings, sandbox, HEALTHY)
    assert settings.secret_keys is not None
    cipher = TokenCipher(settings.secret_keys.get_secret_value())

    async with running_worker(settings):
        working = _product("working", REVOKED)
        await publish(settings, working)
        [outcome] = await wait_for_outcomes(db, working)
        assert outcome["status"] == "succeeded", outcome["error"]

        # sevDesk stops accepting the token: the first events to meet it are parked, the other
        # tenant's events go on.
        sandbox.sandbox.remove_account(token)
        refused = [_product(f"refused-{i}", REVOKED) for i in range(2)]
        others = [_product(f"other-{i}", HEALTHY) for i in range(2)]
        await publish(settings, *refused, *others)
        outcomes = await wait_for_outcomes(db, *refused, *others)
        assert [(o["status"], o["reason"]) for o in outcomes] == [
            *[("parked", "auth_failed")] * len(refused),
            *[("succeeded", None)] * len(others),
        ], [o["error"] for o in outcomes]
        assert await _tenant_status(db, REVOKED) == "auth_failed"
        assert await _tenant_status(db, HEALTHY) == "connected"

        # Events arriving for the auth_failed tenant are parked without asking sevDesk at all.
        calls_before = len(sandbox.sandbox.calls)
        later = _product("later", REVOKED)
        await publish(settings, later)
        [parked] = await wait_for_outcomes(db, later)
        assert (parked["status"], parked["reason"], parked["api_calls"]) == ("parked", "auth_failed", 0)
        assert len(sandbox.sandbox.calls) == calls_before
        assert await _parked_ids(db) == _ids(*refused, later)
        await _assert_nothing_burned(db)
        # Parked means recorded in Postgres, not waiting in the broker.
        assert await _queue_depth(settings, settings.queue) == 0

        # The token works again; reconnecting through the service resumes what was parked.
        second_account = sandbox.sandbox.add_account(token)
        async with SevdeskClient(settings.sevdesk_base_url) as client:
            record = await connect_tenant(db, client, cipher, REVOKED, ApiToken(token))
        assert record.status == "connected"
        resumed = await resume_parked(db, settings.amqp_url.get_secret_value(), settings.queue, REVOKED)
        assert resumed == 3
        await _wait_for_statuses(db, [*refused, later], "succeeded")
        assert await _parked_ids(db) == set()
        assert await _tenant_status(db, REVOKED) == "connected"

        # Revoked once more; this time the operator reconnects with the real command line.
        sandbox.sandbox.remove_account(token)
        again = _product("again", REVOKED)
        await publish(settings, again)
        await _wait_for_statuses(db, [again], "parked")
        assert await _tenant_status(db, REVOKED) == "auth_failed"
        assert await _parked_ids(db) == _ids(again)
        third_account = sandbox.sandbox.add_account(token)
        stdout = await _cli_connect(settings, REVOKED, token)
        assert "resumed 1 parked events" in stdout
        await _wait_for_statuses(db, [again], "succeeded")
        assert await _parked_ids(db) == set()
        assert await _tenant_status(db, REVOKED) == "connected"

        # And the tenant simply syncs again.
        fresh = _product("fresh", REVOKED)
        await publish(settings, fresh)
        [outcome] = await wait_for_outcomes(db, fresh)
        assert outcome["status"] == "succeeded", outcome["error"]

    await _assert_nothing_burned(db)
    assert await db.fetchval("SELECT count(*) FROM sevsync.parked_event") == 0
    # Every resumed event was applied once: each parked attempt, then one success.
    rows = await db.fetch(
        "SELECT event_id, status, attempt FROM sevsync.sync_outcome "
        "WHERE reason IS DISTINCT FROM 'duplicate' ORDER BY id"
    )
    history: dict[str, list[tuple[str, int]]] = {}
    for row in rows:
        history.setdefault(str(row["event_id"]), []).append((row["status"], row["attempt"]))
    for event in [*refused, later, again]:
        assert history[event["event_id"]] == [("parked", 1), ("succeeded", 2)], event["event_id"]
    # The sandbox re-creates an account empty: each holds what was synced into it, once each.
    assert _part_numbers(second_account) == ["SKU-later", "SKU-refused-0", "SKU-refused-1"]
    assert _part_numbers(third_account) == ["SKU-again", "SKU-fresh"]
    assert _part_numbers(sandbox.sandbox.account(healthy_token)) == ["SKU-other-0", "SKU-other-1"]
