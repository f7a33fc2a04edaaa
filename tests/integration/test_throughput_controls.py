"""Issue 6 in the real worker: bursts coalesced, one slow tenant isolated, a tenant's request rate kept."""

from __future__ import annotations

from collections import Counter
from typing import Any

import asyncpg
import pytest

from sevsync.config import Settings
from sevsync.metrics import METRICS
from sevsync.sandbox.server import SandboxServer
from sevsync.store import db as store_db
from sevsync.sync.locks import entity_lock_key

from ..samples import company, product
from .harness import add_tenant, envelope, publish, running_worker, wait_for_outcomes, wait_until


def _deferrals() -> float:
    return sum(
        sample.value
        for family in METRICS.settled.collect()
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels.get("decision") == "defer"
    )


async def test_a_burst_of_updates_to_one_customer_writes_only_the_newest(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    # A held request keeps its client waiting as long as the test needs.
    settings = settings.model_copy(update={"sevdesk_timeout": 120.0})
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    created = envelope("customer.created", company(email="v1@example.org"), version=1)
    burst = [envelope("customer.updated", company(email=f"v{v}@example.org"), version=v) for v in range(2, 6)]
    lock_key = entity_lock_key("acme", "customer", "cust-1001")
    async with running_worker(settings) as worker:
        assert worker.processor is not None
        locks = worker.processor._locks
        await publish(settings, created)
        await wait_for_outcomes(db, created)
        # Version 2 is in sevDesk's hands (its first call held there) when 3, 4 and 5 arrive.
        sandbox.sandbox.faults.add(kind="hold", times=1, token=token)
        calls_before = len(account_calls(sandbox, token))
        await publish(settings, burst[0])
        await wait_until(lambda: sandbox.sandbox.faults.held == 1, message="version 2 calls sevDesk")
        await publish(settings, *burst[1:])
        await wait_until(
            lambda: locks.newer_waiting(lock_key, "customer", 2) == 5, message="version 5 waits behind 2"
        )
        sandbox.sandbox.faults.release()
        outcomes = await wait_for_outcomes(db, *burst)

    assert [(o["status"], o["reason"]) for o in outcomes] == [
        ("succeeded", None),
        ("skipped", "superseded"),
        ("skipped", "superseded"),
        ("succeeded", None),
    ]
    assert [o["api_calls"] for o in outcomes[1:3]] == [0, 0]
    [email] = [w for w in account.objects("CommunicationWay") if w["type"] == "EMAIL"]
    assert email["value"] == "v5@example.org"
    writes = [c for c in account_calls(sandbox, token)[calls_before:] if c.method != "GET"]
    # Two versions written (2 and 5), each a single change of the e-mail entry.
    assert len(writes) == 2
    assert await db.fetchval("SELECT synced_version FROM sevsync.entity_link") == 5


async def test_a_slow_busy_tenant_does_not_hold_up_the_others(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    settings = settings.model_copy(
        update={"prefetch": 8, "concurrency": 6, "tenant_concurrency": 2, "sevdesk_timeout": 120.0}
    )
    slow_token = await add_tenant(db, settings, sandbox, "slow")
    await add_tenant(db, settings, sandbox, "fast")
    # sevDesk holds every call of the slow tenant's account until the fast tenant is done.
    sandbox.sandbox.faults.add(kind="hold", times=None, token=slow_token)
    slow = [envelope("product.created", product(f"slow-{i}", sku=f"S-{i}"), tenant="slow") for i in range(24)]
    fast = [envelope("product.created", product(f"fast-{i}", sku=f"F-{i}"), tenant="fast") for i in range(12)]
    deferred_before = _deferrals()
    async with running_worker(settings):
        await publish(settings, *slow, *fast)
        await wait_for_outcomes(db, *fast)
        # The fast tenant's events, published behind all of the slow tenant's, were not held up by
        # them: the slow tenant holds its share of the worker (two events) in sevDesk, no more.
        assert await final_count(db, "slow") == 0
        assert sandbox.sandbox.faults.held == settings.tenant_concurrency
        sandbox.sandbox.faults.clear()
        sandbox.sandbox.faults.release()
        slow_outcomes = await wait_for_outcomes(db, *slow, timeout=60)

    assert {(o["status"], o["error"]) for o in slow_outcomes} == {("succeeded", None)}
    # Deferred deliveries came back without spending an attempt or a retry.
    assert {o["attempt"] for o in slow_outcomes} == {1}
    assert _deferrals() > deferred_before


async def test_a_tenants_request_rate_is_kept(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    # One request per 1,000 s: the bucket lets one call go at once, then the tenant's every call waits
    # for its pace, however many deliveries run. Seen in the pace itself, never timed.
    settings = settings.model_copy(
        update={"tenant_requests_per_second": 0.001, "tenant_concurrency": 4, "shutdown_timeout": 0.5}
    )
    token = await add_tenant(db, settings, sandbox)
    events = [envelope("product.created", product(f"p-{i}", sku=f"P-{i}")) for i in range(8)]
    before = len(account_calls(sandbox, token))  # connecting tested the token
    async with running_worker(settings) as worker:
        assert worker.processor is not None
        throttle = worker.processor._throttle
        await publish(settings, *events)
        await wait_until(lambda: throttle.held("acme") > 0, message="the tenant's deliveries running")
        pace = throttle._tenant("acme").pace
        assert pace is not None
        await wait_until(
            lambda: len(pace._waiters) == settings.tenant_concurrency,
            message="each running delivery waiting for the tenant's pace",
        )
        assert len(account_calls(sandbox, token)) - before == 1


def account_calls(sandbox: SandboxServer, token: str) -> list[Any]:
    account_id = sandbox.sandbox.account(token).id
    return [c for c in sandbox.sandbox.calls if c.account_id == account_id and c.path.startswith("/")]


async def final_count(db: asyncpg.Pool, tenant: str) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM sevsync.sync_outcome WHERE tenant_id = $1 AND status = 'succeeded'", tenant
        )
    )


def _statement_kind(query: str) -> str:
    text = " ".join(query.split())
    for prefix, kind in (
        ("SELECT * FROM sevsync.event_state(", "entity lock and state"),
        ("CALL sevsync.write_outcome_and_unlock(", "commit and unlock"),
        ("SELECT pg_advisory_unlock_all();", "pool reset"),
        ("UPDATE sevsync.outbox SET published_at", "outbox marked"),
    ):
        if text.startswith(prefix):
            return kind
    return text[:80]


async def test_an_update_that_changes_a_field_costs_two_statements(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Postgres round trips are most of the worker's own cost: a budget that a new read has to break."""
    await add_tenant(db, settings, sandbox)
    statements: list[str] = []
    init_connection = store_db._init_connection

    async def logging_init(conn: asyncpg.Connection) -> None:
        await init_connection(conn)
        conn.add_query_logger(lambda logged: statements.append(_statement_kind(logged.query)))

    monkeypatch.setattr(store_db, "_init_connection", logging_init)
    created = envelope("customer.created", company())
    updated = envelope("customer.updated", company(email="new@acme.example"), version=2)

    async def outbox_marked() -> bool:
        # The test's own pool logs nothing: polling does not add to the count.
        return not await db.fetchval("SELECT count(*) FROM sevsync.outbox WHERE published_at IS NULL")

    async with running_worker(settings):
        await publish(settings, created)
        await wait_for_outcomes(db, created)
        await wait_until(outbox_marked, message="the creation's results marked published")
        statements.clear()
        await publish(settings, updated)
        [outcome] = await wait_for_outcomes(db, updated)
        await wait_until(outbox_marked, message="the update's result marked published")

    assert (outcome["status"], outcome["api_calls"]) == ("succeeded", 1)
    counted = Counter(statements)
    # The result's outbox row is marked published in a batch, on a connection of its own.
    marks = counted.pop("outbox marked", 0)
    assert marks <= 1
    # The entity's connection goes back to the pool without a reset: the commit ended its lock.
    resets = counted.pop("pool reset", 0)
    assert resets == marks
    assert counted == {"entity lock and state": 1, "commit and unlock": 1}
