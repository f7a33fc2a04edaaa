"""The dashboard views: `entity_status` (kept in `entity_state` by triggers) and `tenant_health`.

What they show, that a migration brings existing outcomes in, and that the dashboards' queries are
answered from indexes rather than by reading every outcome.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from sevsync.store import migrations
from sevsync.store.db import Connection
from sevsync.store.migrations import Migration, migrate

from ..conftest import Services
from .harness import wait_until

ENTITY_STATUS_COLUMNS = [
    "tenant_id",
    "entity_type",
    "entity_id",
    "event_id",
    "event_type",
    "status",
    "reason",
    "sevdesk_object",
    "sevdesk_id",
    "error",
    "updated_at",
    "outcome_id",
]
TENANT_HEALTH_COLUMNS = [
    "tenant_id",
    "provider",
    "integration_status",
    "enabled",
    "succeeded_24h",
    "skipped_24h",
    "retrying_24h",
    "parked_24h",
    "failed_24h",
    "dead_24h",
    "last_success_at",
    "last_failure_at",
    "open_dead_letters",
    "open_failures",
    "skipped_waiting",
    "broken_links",
]

# The queries the admin API, the ops console and the examples of docs/dashboards.md run.
FAILING_QUERY = (
    "SELECT outcome_id FROM sevsync.entity_status WHERE status IN ('failed', 'dead') AND tenant_id = $1"
    " ORDER BY updated_at DESC LIMIT 20"
)
ENTITY_QUERY = (
    "SELECT * FROM sevsync.entity_status WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3"
)
HEALTH_QUERY = "SELECT * FROM sevsync.tenant_health WHERE tenant_id = $1"

# The newest outcome of each entity, duplicates aside, computed the way the first view did.
REFERENCE = """
    SELECT DISTINCT ON (o.tenant_id, o.entity_type, o.entity_id)
           o.tenant_id, o.entity_type, o.entity_id, o.event_id, o.event_type, o.status, o.reason,
           o.sevdesk_object, o.sevdesk_id, o.error, o.created_at AS updated_at, o.id AS outcome_id
      FROM sevsync.sync_outcome o
     WHERE o.reason IS DISTINCT FROM 'duplicate'
     ORDER BY o.tenant_id, o.entity_type, o.entity_id, o.id DESC
"""


async def add_outcome(
    conn: asyncpg.Pool | Connection,
    entity_id: str = "cust-1",
    status: str = "succeeded",
    reason: str | None = None,
    *,
    tenant: str = "acme",
    entity_type: str = "customer",
    error: str | None = None,
    sevdesk_id: str | None = None,
    outcome_id: int | None = None,
    age: timedelta = timedelta(0),
) -> int:
    """One sync_outcome row as the worker writes it (an explicit id only to simulate commit order)."""
    new_id: int = await conn.fetchval(
        """
        INSERT INTO sevsync.sync_outcome
               (id, event_id, tenant_id, event_type, entity_type, entity_id, status, reason,
                sevdesk_object, sevdesk_id, error, created_at)
        VALUES (COALESCE($1, nextval('sevsync.sync_outcome_id_seq')), $2, $3, $4, $5, $6, $7, $8,
                CASE WHEN $9::text IS NOT NULL THEN 'Contact' END, $9, $10, now() - $11::interval)
        RETURNING id
        """,
        outcome_id,
        uuid.uuid4(),
        tenant,
        f"{entity_type}.updated",
        entity_type,
        entity_id,
        status,
        reason,
        sevdesk_id,
        error,
        age,
    )
    return new_id


async def status_of(db: asyncpg.Pool, entity_id: str, tenant: str = "acme") -> asyncpg.Record | None:
    row: asyncpg.Record | None = await db.fetchrow(ENTITY_QUERY, tenant, "customer", entity_id)
    return row


async def add_tenant_row(db: asyncpg.Pool, tenant: str, status: str = "connected") -> None:
    await db.execute(
        "INSERT INTO sevsync.tenant_integration (tenant_id, status, enabled) VALUES ($1, $2, true)",
        tenant,
        status,
    )


async def add_dead_letter(db: asyncpg.Pool, tenant: str, reason: str, *, replayed: bool = False) -> None:
    await db.execute(
        """
        INSERT INTO sevsync.dead_letter (event_id, tenant_id, event_type, reason, body, replayed_at)
        VALUES ($1, $2, 'customer.updated', $3, '\\x7b7d', CASE WHEN $4 THEN now() END)
        """,
        uuid.uuid4(),
        tenant,
        reason,
        replayed,
    )


async def columns_of(db: asyncpg.Pool, view: str) -> list[str]:
    rows = await db.fetch(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = 'sevsync' AND table_name = $1 ORDER BY ordinal_position",
        view,
    )
    return [r["column_name"] for r in rows]


def state(row: asyncpg.Record | None) -> tuple[Any, ...]:
    assert row is not None
    return (row["status"], row["reason"], row["outcome_id"])


# --- entity_status ---------------------------------------------------------------------------------


async def test_the_views_keep_their_columns_in_order_with_the_new_ones_last(db: asyncpg.Pool) -> None:
    assert await columns_of(db, "entity_status") == ENTITY_STATUS_COLUMNS
    assert await columns_of(db, "tenant_health") == TENANT_HEALTH_COLUMNS


async def test_entity_status_shows_the_newest_outcome_that_is_not_a_duplicate(db: asyncpg.Pool) -> None:
    await add_outcome(db, "cust-1", "retrying", "sevdesk_unavailable", error="HTTP 503")
    failed = await add_outcome(db, "cust-1", "failed", "sevdesk_rejected", error="HTTP 400: name missing")
    other = await add_outcome(db, "cust-2", "succeeded", sevdesk_id="77")

    row = await status_of(db, "cust-1")
    assert row is not None
    assert state(row) == ("failed", "sevdesk_rejected", failed)
    assert row["error"] == "HTTP 400: name missing"
    linked = await status_of(db, "cust-2")
    assert state(linked) == ("succeeded", None, other)
    assert linked is not None
    assert (linked["sevdesk_object"], linked["sevdesk_id"]) == ("Contact", "77")
    outcome = await db.fetchrow("SELECT * FROM sevsync.sync_outcome WHERE id = $1", failed)
    assert outcome is not None
    assert (row["event_id"], row["event_type"], row["updated_at"]) == (
        outcome["event_id"],
        outcome["event_type"],
        outcome["created_at"],
    )

    # A redelivery of an applied event is recorded, but the entity's state stays what it was.
    await add_outcome(db, "cust-1", "skipped", "duplicate")
    assert state(await status_of(db, "cust-1")) == ("failed", "sevdesk_rejected", failed)

    # A replay that succeeds moves it on.
    replayed = await add_outcome(db, "cust-1", "succeeded", sevdesk_id="78")
    assert state(await status_of(db, "cust-1")) == ("succeeded", None, replayed)
    assert await db.fetchval("SELECT count(*) FROM sevsync.entity_status") == 2


async def waits_for_a_lock(db: asyncpg.Pool, conn: Connection) -> None:
    """Until Postgres shows `conn`'s statement waiting for a lock another transaction holds."""
    await wait_until(
        lambda: db.fetchval(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", conn.get_server_pid()
        ),
        message="the statement waiting for a lock",
    )


async def test_entity_status_never_goes_back_to_an_older_outcome(db: asyncpg.Pool) -> None:
    # An attempt took its id first but commits after a newer one: it must not win.
    early_id: int = await db.fetchval("SELECT nextval('sevsync.sync_outcome_id_seq')")
    newer = await add_outcome(db, "cust-1", "succeeded")
    await add_outcome(db, "cust-1", "failed", "sevdesk_rejected", outcome_id=early_id)
    assert newer > early_id
    assert state(await status_of(db, "cust-1")) == ("succeeded", None, newer)

    # The same with both transactions open at once: the older id waits for the newer one's row
    # lock, then finds a newer outcome there and leaves it.
    early_id = await db.fetchval("SELECT nextval('sevsync.sync_outcome_id_seq')")
    async with db.acquire() as first, db.acquire() as second:
        later = second.transaction()
        await later.start()
        newest = await add_outcome(second, "cust-1", "succeeded", sevdesk_id="9")
        earlier = first.transaction()
        await earlier.start()
        waiting = asyncio.ensure_future(
            add_outcome(first, "cust-1", "failed", "sevdesk_rejected", outcome_id=early_id)
        )
        await waits_for_a_lock(db, first)
        assert not waiting.done()  # blocked on the entity's row
        await later.commit()
        await waiting
        await earlier.commit()
    assert state(await status_of(db, "cust-1")) == ("succeeded", None, newest)

    # And the other way round: the newer id waits for the older one, then replaces it.
    async with db.acquire() as first, db.acquire() as second:
        older_tx = first.transaction()
        await older_tx.start()
        older = await add_outcome(first, "cust-1", "retrying", "rate_limited")
        newer_tx = second.transaction()
        await newer_tx.start()
        waiting = asyncio.ensure_future(add_outcome(second, "cust-1", "dead", "retries_exhausted"))
        await waits_for_a_lock(db, second)
        assert not waiting.done()
        await older_tx.commit()
        newest = await waiting
        await newer_tx.commit()
    assert newest > older
    assert state(await status_of(db, "cust-1")) == ("dead", "retries_exhausted", newest)


async def test_entity_status_of_a_rolled_back_outcome_is_unchanged(db: asyncpg.Pool) -> None:
    kept = await add_outcome(db, "cust-1", "succeeded")
    async with db.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await add_outcome(conn, "cust-1", "failed", "sevdesk_rejected")
        await tx.rollback()
    assert state(await status_of(db, "cust-1")) == ("succeeded", None, kept)


async def test_entity_status_after_deleting_outcomes_is_what_remains(db: asyncpg.Pool) -> None:
    first = await add_outcome(db, "cust-1", "failed", "sevdesk_rejected", age=timedelta(days=40))
    second = await add_outcome(db, "cust-1", "succeeded", age=timedelta(days=39))
    await add_outcome(db, "cust-1", "skipped", "duplicate")
    await add_outcome(db, "cust-2", "dead", "retries_exhausted", age=timedelta(days=40))
    kept = await add_outcome(db, "cust-3", "succeeded")

    await db.execute("DELETE FROM sevsync.sync_outcome WHERE id = $1", second)
    assert state(await status_of(db, "cust-1")) == ("failed", "sevdesk_rejected", first)

    # Retention: everything older than 30 days goes, and with it the entities it was all there was of.
    await db.execute("DELETE FROM sevsync.sync_outcome WHERE created_at < now() - interval '30 days'")
    assert await status_of(db, "cust-1") is None  # only its duplicate remains
    assert await status_of(db, "cust-2") is None
    assert state(await status_of(db, "cust-3")) == ("succeeded", None, kept)
    assert await matches_reference(db)

    await db.execute("TRUNCATE sevsync.sync_outcome RESTART IDENTITY")
    assert await db.fetchval("SELECT count(*) FROM sevsync.entity_state") == 0
    # Ids start again at 1 and still count.
    again = await add_outcome(db, "cust-3", "failed", "sevdesk_rejected")
    assert state(await status_of(db, "cust-3")) == ("failed", "sevdesk_rejected", again)


async def matches_reference(conn: asyncpg.Pool | Connection) -> bool:
    shown = await conn.fetch("SELECT * FROM sevsync.entity_status ORDER BY outcome_id")
    expected = await conn.fetch(f"SELECT * FROM ({REFERENCE}) r ORDER BY outcome_id")
    return [dict(r) for r in shown] == [dict(r) for r in expected]


async def test_many_outcomes_in_any_order_match_the_distinct_on_view(db: asyncpg.Pool) -> None:
    # 3,000 outcomes over 200 entities, some duplicates, ids not in insertion order.
    await db.execute(
        """
        INSERT INTO sevsync.sync_outcome (id, event_id, tenant_id, event_type, entity_type, entity_id, status,
                                          reason)
        SELECT g, gen_random_uuid(), 't' || (g % 3), 'customer.updated', 'customer', 'c-' || (g % 200),
               (ARRAY['succeeded', 'failed', 'dead', 'retrying'])[g % 4 + 1],
               CASE WHEN g % 7 = 0 THEN 'duplicate' END
          FROM (SELECT g FROM generate_series(1, 3000) g ORDER BY random()) shuffled
        """
    )
    assert await db.fetchval("SELECT count(*) FROM sevsync.entity_status") == 600
    assert await matches_reference(db)


# --- backfill --------------------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@pytest.fixture
async def fresh_database(services: Services) -> AsyncIterator[str]:
    """An empty database of its own (dropped afterwards)."""
    name = f"sevsync_dashtest_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(services.postgres_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield _with_database(services.postgres_url, name)
    finally:
        conn = await asyncpg.connect(services.postgres_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def test_the_migration_brings_in_the_outcomes_recorded_before_it(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    every = migrations.available_migrations

    def before_dashboards() -> list[Migration]:
        return [m for m in every() if m.version < 5]

    # The real runner, first knowing only the migrations before 0005, then all of them.
    monkeypatch.setattr(migrations, "available_migrations", before_dashboards)
    applied = await migrate(fresh_database)
    assert max(m.version for m in applied) == 4
    conn = await asyncpg.connect(fresh_database)
    try:
        await conn.execute(
            "INSERT INTO sevsync.tenant_integration (tenant_id, status, enabled)"
            " VALUES ('acme', 'connected', true)"
        )
        old_failure = await add_outcome(conn, "cust-1", "failed", "sevdesk_rejected", error="HTTP 400")
        await add_outcome(conn, "cust-1", "skipped", "duplicate")
        await add_outcome(conn, "cust-2", "succeeded", sevdesk_id="5")
        newest = await add_outcome(conn, "cust-2", "dead", "retries_exhausted")
        await add_outcome(conn, "cust-3", "skipped", "duplicate")  # nothing but a duplicate: no state
        assert "outcome_id" not in {
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'entity_status'"
            )
        }

        monkeypatch.undo()
        applied = await migrate(fresh_database)
        assert 5 in [m.version for m in applied]

        rows = await conn.fetch("SELECT * FROM sevsync.entity_status ORDER BY entity_id")
        assert [(r["entity_id"], r["status"], r["outcome_id"]) for r in rows] == [
            ("cust-1", "failed", old_failure),
            ("cust-2", "dead", newest),
        ]
        assert await matches_reference(conn)
        health = await conn.fetchrow("SELECT * FROM sevsync.tenant_health WHERE tenant_id = 'acme'")
        assert health is not None
        assert health["open_failures"] == 2

        # And from now on the trigger keeps it.
        fixed = await add_outcome(conn, "cust-1", "succeeded", sevdesk_id="6")
        row = await conn.fetchrow(ENTITY_QUERY, "acme", "customer", "cust-1")
        assert state(row) == ("succeeded", None, fixed)
    finally:
        await conn.close()


# --- tenant_health ---------------------------------------------------------------------------------


async def test_tenant_health_counts_the_last_24_hours_and_the_current_failures(db: asyncpg.Pool) -> None:
    await add_tenant_row(db, "acme")
    await add_tenant_row(db, "quiet", "auth_failed")
    for status, reason in [
        ("succeeded", None),
        ("succeeded", None),
        ("skipped", "no_change"),
        ("skipped", "duplicate"),
        ("retrying", "rate_limited"),
        ("parked", "auth_failed"),
        ("failed", "sevdesk_rejected"),
        ("dead", "retries_exhausted"),
    ]:
        await add_outcome(db, f"e-{status}-{reason}", status, reason, age=timedelta(hours=1))
    # Older than a day: not counted, but still the last failure of its kind and a current state.
    await add_outcome(db, "old-fail", "failed", "unknown_country", age=timedelta(hours=30))
    await add_outcome(db, "old-win", "succeeded", age=timedelta(hours=40))
    # An entity that failed and then succeeded is no open failure.
    await add_outcome(db, "healed", "failed", "sevdesk_rejected", age=timedelta(hours=3))
    await add_outcome(db, "healed", "succeeded", age=timedelta(hours=2))
    # Another tenant's outcomes count for that tenant only.
    await add_outcome(db, "x", "failed", "sevdesk_rejected", tenant="other")
    await add_dead_letter(db, "acme", "sevdesk_rejected")
    await add_dead_letter(db, "acme", "malformed")
    await add_dead_letter(db, "acme", "retries_exhausted", replayed=True)
    await add_dead_letter(db, "other", "sevdesk_rejected")

    rows = {r["tenant_id"]: r for r in await db.fetch("SELECT * FROM sevsync.tenant_health")}

    assert set(rows) == {"acme", "quiet"}  # one row per tenant_integration row
    acme = rows["acme"]
    assert (acme["provider"], acme["integration_status"], acme["enabled"]) == ("sevdesk", "connected", True)
    counts = {s: acme[f"{s}_24h"] for s in ("succeeded", "skipped", "retrying", "parked", "failed", "dead")}
    assert counts == {"succeeded": 3, "skipped": 2, "retrying": 1, "parked": 1, "failed": 2, "dead": 1}
    newest = await db.fetchrow(
        """
        SELECT max(created_at) FILTER (WHERE status = 'succeeded') AS success,
               max(created_at) FILTER (WHERE status IN ('failed', 'dead')) AS failure
          FROM sevsync.sync_outcome WHERE tenant_id = 'acme'
        """
    )
    assert newest is not None
    assert (acme["last_success_at"], acme["last_failure_at"]) == (newest["success"], newest["failure"])
    assert acme["open_dead_letters"] == 2
    # e-failed, e-dead, old-fail (healed succeeded at last).
    assert acme["open_failures"] == 3

    quiet = rows["quiet"]
    assert quiet["integration_status"] == "auth_failed"
    assert [quiet[c] for c in TENANT_HEALTH_COLUMNS[4:]] == [0, 0, 0, 0, 0, 0, None, None, 0, 0, 0, 0]


async def test_tenant_health_counts_the_broken_links_until_relinked_or_cleared(db: asyncpg.Pool) -> None:
    await add_tenant_row(db, "acme")
    await add_tenant_row(db, "other")
    await db.execute(
        """
        INSERT INTO sevsync.entity_link (tenant_id, entity_type, entity_id, sevdesk_object, sevdesk_id,
                                         broken_at, broken_reason)
        VALUES ('acme', 'customer', 'c-1', 'Contact', '1', now(), 'deleted_in_sevdesk'),
               ('acme', 'product', 'p-1', 'Part', '2', now(), 'deleted_in_sevdesk'),
               ('acme', 'product', 'p-2', 'Part', '3', NULL, NULL),
               ('other', 'product', 'p-1', 'Part', '4', now(), 'deleted_in_sevdesk')
        """
    )
    health = await db.fetchrow(HEALTH_QUERY, "acme")
    assert health is not None
    assert health["broken_links"] == 2

    await db.execute(
        "UPDATE sevsync.entity_link SET broken_at = NULL WHERE tenant_id = 'acme' AND entity_id = 'c-1'"
    )
    health = await db.fetchrow(HEALTH_QUERY, "acme")
    assert health is not None
    assert health["broken_links"] == 1


async def test_last_failure_is_the_newer_of_failed_and_dead(db: asyncpg.Pool) -> None:
    await add_tenant_row(db, "acme")
    await add_outcome(db, "a", "failed", "sevdesk_rejected", age=timedelta(days=3))
    await add_outcome(db, "b", "dead", "retries_exhausted", age=timedelta(days=2))
    dead_at: datetime = await db.fetchval("SELECT max(created_at) FROM sevsync.sync_outcome")
    health = await db.fetchrow(HEALTH_QUERY, "acme")
    assert health is not None
    assert (health["last_failure_at"], health["last_success_at"]) == (dead_at, None)

    await add_outcome(db, "a", "failed", "sevdesk_rejected", age=timedelta(days=1))
    failed_at: datetime = await db.fetchval("SELECT max(created_at) FROM sevsync.sync_outcome")
    health = await db.fetchrow(HEALTH_QUERY, "acme")
    assert health is not None
    assert health["last_failure_at"] == failed_at > dead_at


# --- indexes ---------------------------------------------------------------------------------------


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


async def explain(db: asyncpg.Pool, query: str, *args: object) -> list[dict[str, Any]]:
    raw = await db.fetchval(f"EXPLAIN (FORMAT JSON) {query}", *args)
    [plan] = json.loads(raw) if isinstance(raw, str) else raw
    return list(plan_nodes(plan["Plan"]))


def scans(nodes: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(node type, table, index) of every scan in a plan."""
    return {
        (n["Node Type"], n.get("Relation Name", ""), n.get("Index Name", ""))
        for n in nodes
        if "Relation Name" in n or "Index Name" in n
    }


INDEX_SCANS = ("Index Scan", "Index Only Scan", "Bitmap Index Scan")


def uses(found: set[tuple[str, str, str]], index: str) -> bool:
    return any(kind in INDEX_SCANS and name == index for kind, _, name in found)


@pytest.fixture
async def busy_database(db: asyncpg.Pool) -> asyncpg.Pool:
    """20 tenants, 5,000 entities, 20,000 outcomes over four days and 3,000 dead letters, analysed."""
    await db.execute(
        """
        INSERT INTO sevsync.tenant_integration (tenant_id, status, enabled)
        SELECT 't' || g, 'connected', true FROM generate_series(1, 20) g
        """
    )
    await db.execute(
        """
        INSERT INTO sevsync.sync_outcome (event_id, tenant_id, event_type, entity_type, entity_id, status,
                                          reason, error, created_at)
        SELECT gen_random_uuid(), 't' || (g % 20 + 1), 'customer.updated', 'customer', 'c-' || (g % 5000),
               s.status, CASE WHEN g % 13 = 0 THEN 'duplicate' END,
               CASE WHEN s.status IN ('failed', 'dead') THEN 'HTTP 400: refused' END,
               now() - (g % 2000) * interval '3 minutes'
          FROM generate_series(1, 20000) g,
               LATERAL (SELECT (ARRAY['succeeded', 'succeeded', 'succeeded', 'succeeded', 'skipped',
                                      'retrying', 'parked', 'failed', 'dead'])[g % 9 + 1] AS status) s
        """
    )
    await db.execute(
        """
        INSERT INTO sevsync.dead_letter (event_id, tenant_id, event_type, reason, body, replayed_at)
        SELECT gen_random_uuid(), 't' || (g % 20 + 1), 'customer.updated', 'sevdesk_rejected', '\\x7b7d',
               CASE WHEN g % 3 = 0 THEN now() END
          FROM generate_series(1, 3000) g
        """
    )
    # 4,000 kept skips: two kinds of event (issued, cancelled) of 2,000 invoices; a newer version of
    # every third applied since.
    await db.execute(
        """
        INSERT INTO sevsync.skipped_event (event_id, tenant_id, event_type, entity_type, entity_id, version,
                                           reason, link_types, body, replayed_at)
        SELECT gen_random_uuid(), 't' || (g % 20 + 1), (ARRAY['invoice.issued', 'invoice.cancelled'])[v],
               'invoice', 's-' || g, v, 'disabled', ARRAY['invoice_voucher', 'cancellation'], '\\x7b7d',
               CASE WHEN g % 7 = 0 THEN now() END
          FROM generate_series(1, 2000) g, generate_series(1, 2) v
        """
    )
    await db.execute(
        """
        INSERT INTO sevsync.entity_link (tenant_id, entity_type, entity_id, sevdesk_object, sevdesk_id,
                                         synced_version)
        SELECT 't' || (g % 20 + 1), 'invoice_voucher', 's-' || g, 'Voucher', g::text, 3
          FROM generate_series(3, 2000, 3) g
        """
    )
    tables = (
        "tenant_integration",
        "sync_outcome",
        "entity_state",
        "dead_letter",
        "skipped_event",
        "entity_link",
    )
    for table in tables:
        await db.execute(f"ANALYZE sevsync.{table}")
    return db


async def test_failing_entities_of_a_tenant_come_from_the_index(busy_database: asyncpg.Pool) -> None:
    nodes = await explain(busy_database, FAILING_QUERY, "t3")
    found = scans(nodes)

    assert uses(found, "entity_state_failing_idx"), found
    assert {table for _, table, _ in found} <= {"entity_state"}, found
    assert not any(kind == "Seq Scan" for kind, _, _ in found), found
    # The answer is the newest failing entities of that tenant (ties in time may come in any order).
    ids = [r["outcome_id"] for r in await busy_database.fetch(FAILING_QUERY, "t3")]
    shown = await busy_database.fetch(
        "SELECT tenant_id, status, updated_at FROM sevsync.entity_status WHERE outcome_id = ANY($1::bigint[])"
        " ORDER BY updated_at DESC",
        ids,
    )
    expected = await busy_database.fetch(
        f"SELECT updated_at FROM ({REFERENCE}) r WHERE status IN ('failed', 'dead') AND tenant_id = 't3'"
        " ORDER BY updated_at DESC LIMIT 20"
    )
    assert len(ids) == len(shown) == 20
    assert {(r["tenant_id"], r["status"] in ("failed", "dead")) for r in shown} == {("t3", True)}
    assert [r["updated_at"] for r in shown] == [r["updated_at"] for r in expected]


async def test_one_entitys_status_comes_from_the_primary_key(busy_database: asyncpg.Pool) -> None:
    found = scans(await explain(busy_database, ENTITY_QUERY, "t3", "customer", "c-42"))

    assert uses(found, "entity_state_pkey"), found
    assert not any(kind == "Seq Scan" for kind, _, _ in found), found
    row = await busy_database.fetchrow(ENTITY_QUERY, "t3", "customer", "c-42")
    expected = await busy_database.fetchrow(
        f"SELECT * FROM ({REFERENCE}) r WHERE tenant_id = 't3' AND entity_id = 'c-42'"
    )
    assert row is not None
    assert expected is not None
    assert dict(row) == dict(expected)


async def test_tenant_health_reads_only_indexes_of_the_big_tables(busy_database: asyncpg.Pool) -> None:
    found = scans(await explain(busy_database, HEALTH_QUERY, "t3"))

    seq = {table for kind, table, _ in found if kind == "Seq Scan"}
    assert seq <= {"tenant_integration"}, found  # one row per tenant: reading it whole is right
    assert uses(found, "sync_outcome_tenant_status_idx"), found  # last success, last failure
    assert uses(found, "entity_state_failing_idx"), found
    assert uses(found, "dead_letter_open_idx"), found
    assert uses(found, "skipped_event_entity_idx"), found
    assert uses(found, "entity_link_broken_idx"), found
    # Each of last success / failed / dead is one index entry (max() as an ordered LIMIT 1).
    nodes = await explain(busy_database, HEALTH_QUERY, "t3")
    limits = [n for n in nodes if n["Node Type"] == "Limit"]
    assert len(limits) == 3, [n["Node Type"] for n in nodes]

    health = await busy_database.fetchrow(HEALTH_QUERY, "t3")
    assert health is not None
    expected = await busy_database.fetchrow(
        """
        SELECT count(*) FILTER (WHERE status = 'succeeded' AND created_at > now() - interval '1 day') AS ok,
               count(*) FILTER (WHERE status = 'dead' AND created_at > now() - interval '1 day') AS dead,
               max(created_at) FILTER (WHERE status = 'succeeded') AS success,
               max(created_at) FILTER (WHERE status IN ('failed', 'dead')) AS failure
          FROM sevsync.sync_outcome WHERE tenant_id = 't3'
        """
    )
    assert expected is not None
    assert (health["succeeded_24h"], health["dead_24h"]) == (expected["ok"], expected["dead"])
    assert (health["last_success_at"], health["last_failure_at"]) == (
        expected["success"],
        expected["failure"],
    )
    assert health["open_dead_letters"] == await busy_database.fetchval(
        "SELECT count(*) FROM sevsync.dead_letter WHERE tenant_id = 't3' AND replayed_at IS NULL"
    )
    assert health["open_failures"] == await busy_database.fetchval(
        f"SELECT count(*) FROM ({REFERENCE}) r WHERE tenant_id = 't3' AND status IN ('failed', 'dead')"
    )
    # Both kept events of the invoices neither replayed nor applied (g % 7, g % 3 of `s-<g>`).
    assert health["skipped_waiting"] == sum(
        2 for g in range(1, 2001) if g % 20 + 1 == 3 and g % 7 != 0 and g % 3 != 0
    )
