"""Transient failures wait in Postgres (`sevsync.retry_wait`), neither in the worker nor in the broker."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import aio_pika
import asyncpg

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer

from ..samples import product
from .harness import add_tenant, envelope, publish, running_worker, wait_for_outcomes, wait_until


async def _waiting(db: asyncpg.Pool, settings: Settings) -> int:
    return int(await db.fetchval("SELECT count(*) FROM sevsync.retry_wait WHERE queue = $1", settings.queue))


async def test_outage_longer_than_the_budget_waits_on_the_ladder_then_lands(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    settings = settings.model_copy(update={"retry_delays": (timedelta(seconds=1), timedelta(seconds=1))})
    token = await add_tenant(db, settings, sandbox)
    # More 503s than the in-process budget allows (3 attempts), fewer than the ladder covers.
    sandbox.sandbox.faults.add(kind="status", status=503, method="GET", path="^/Part$", times=4)
    event = envelope("product.created", product())
    async with running_worker(settings):
        await publish(settings, event)
        # While it waits, the event is a row in Postgres, not unacked in the worker. It gets there
        # after the in-process budget (up to 3 s of backoff) and stays 1 s: poll by deadline.
        deadline = time.monotonic() + 15
        while await _waiting(db, settings) != 1:
            if time.monotonic() > deadline:
                raise AssertionError("the event never waited in Postgres")
            await asyncio.sleep(0.02)
        [outcome] = await wait_for_outcomes(db, event)

        # Put back on the work queue and confirmed, then forgotten (the row may go just after the
        # outcome: the relay deletes it once the broker's confirm is in).
        async def forgotten() -> bool:
            return await _waiting(db, settings) == 0

        await wait_until(forgotten, message="the held copy forgotten")

    assert outcome["status"] == "succeeded", outcome["error"]
    rows = await db.fetch("SELECT status, reason, attempt, error FROM sevsync.sync_outcome ORDER BY id")
    # Three 503s spend the first delivery's in-process budget; the fourth is retried inside the second.
    assert [(r["status"], r["reason"], r["attempt"]) for r in rows] == [
        ("retrying", "sevdesk_unavailable", 1),
        ("succeeded", None, 2),
    ]
    assert "503" in rows[0]["error"]
    assert "next try in 1s" in rows[0]["error"]
    assert len(sandbox.sandbox.account(token).objects("Part")) == 1


async def test_ladder_runs_out_then_dead_letter(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(kind="status", status=502, path="^/Part", times=None)
    event = envelope("product.created", product())
    async with running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)

    assert (outcome["status"], outcome["reason"]) == ("dead", "retries_exhausted")
    rows = await db.fetch("SELECT status, attempt FROM sevsync.sync_outcome ORDER BY id")
    assert [(r["status"], r["attempt"]) for r in rows] == [("retrying", 1), ("retrying", 2), ("dead", 3)]
    dead = await db.fetchrow("SELECT reason, attempts FROM sevsync.dead_letter")
    assert dead is not None
    assert (dead["reason"], dead["attempts"]) == ("retries_exhausted", 3)


async def test_long_retry_after_picks_the_matching_step(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    settings = settings.model_copy(
        update={
            "sevdesk_retry_budget": 0.5,
            "retry_delays": (
                timedelta(milliseconds=200),
                timedelta(milliseconds=500),
                timedelta(milliseconds=1500),
            ),
        }
    )
    await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(
        kind="status", status=429, retry_after=1, method="POST", path="^/Part$", times=1
    )
    event = envelope("product.created", product())
    async with running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)

    assert outcome["status"] == "succeeded", outcome["error"]
    [retrying] = await db.fetch("SELECT reason, error FROM sevsync.sync_outcome WHERE status = 'retrying'")
    assert retrying["reason"] == "rate_limited"
    # Retry-After 1 s is longer than the 0.2 s and 0.5 s steps: the 1.5 s step is taken at once.
    assert retrying["error"].endswith("next try in 1500ms")
    posts = [c for c in sandbox.sandbox.calls if c.method == "POST" and c.path == "/Part"]
    assert [c.status for c in posts] == [429, 201]


async def test_a_retry_never_goes_through_the_crm_exchange(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(kind="status", status=503, method="GET", path="^/Part$", times=3)
    event = envelope("product.created", product())
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        async with running_worker(settings):
            # Another consumer of the CRM exchange, e.g. a second integration.
            crm = await channel.get_exchange(settings.exchange)
            spy = await channel.declare_queue(exclusive=True)
            await spy.bind(crm, routing_key="#")
            await publish(settings, event)
            [outcome] = await wait_for_outcomes(db, event)
            assert outcome["status"] == "succeeded"
            assert (
                await db.fetchval("SELECT count(*) FROM sevsync.sync_outcome WHERE status = 'retrying'") == 1
            )
            # The worker's retries went out with broker confirms before the event succeeded: had one
            # gone through the CRM exchange, the spy's queue would hold it by now.
            seen = (await channel.declare_queue(spy.name, passive=True)).declaration_result.message_count
    assert seen == 1  # the original only
