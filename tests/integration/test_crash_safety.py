"""Crashes (SIGKILL) between the sevDesk write and the Postgres commit, graceful shutdown, and
per-entity ordering across several worker processes."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
import asyncpg
import pytest

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer

from ..samples import company, person, product
from .harness import add_tenant, envelope, publish, running_worker, wait_for_outcomes
from .processes import WorkerProcess


@asynccontextmanager
async def worker_processes(settings: Settings, count: int = 1) -> AsyncIterator[list[WorkerProcess]]:
    workers = [WorkerProcess(settings) for _ in range(count)]
    try:
        await asyncio.gather(*(w.start() for w in workers))
        yield workers
    finally:
        await asyncio.gather(*(w.close() for w in workers))


async def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("make_event", "sevdesk_object", "path"),
    [
        (
            lambda: envelope("customer.created", company(first_name=None, last_name=None)),
            "Contact",
            "^/Contact$",
        ),
        (lambda: envelope("customer.created", person()), "Contact", "^/Contact$"),  # number from sevDesk
        (lambda: envelope("product.created", product()), "Part", "^/Part$"),
    ],
    ids=["contact-with-crm-number", "contact-with-sevdesk-number", "part"],
)
async def test_sigkill_between_sevdesk_write_and_commit_leaves_one_object(
    make_event: Any,
    sevdesk_object: str,
    path: str,
    db: asyncpg.Pool,
    settings: Settings,
    sandbox: SandboxServer,
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    # sevDesk applies the create at once but answers only after 30 s: the worker dies in between.
    sandbox.sandbox.faults.add(kind="slow_answer", seconds=30, method="POST", path=path, times=1)
    event = make_event()
    async with worker_processes(settings) as [worker]:
        await publish(settings, event)
        await _wait_for(lambda: len(account.objects(sevdesk_object)) == 1, 15, "the sevDesk create")
        worker.kill()
        await asyncio.wait_for(worker.process.wait(), 10)  # type: ignore[union-attr]
    assert await db.fetchval("SELECT count(*) FROM sevsync.sync_outcome") == 0
    assert await db.fetchval("SELECT count(*) FROM sevsync.write_intent") == 1

    # The unacked delivery comes back to the next worker, which finds the object instead of re-creating it.
    async with running_worker(settings):
        [outcome] = await wait_for_outcomes(db, event)

    assert outcome["status"] == "succeeded", outcome["error"]
    [created] = account.objects(sevdesk_object)
    link = await db.fetchrow("SELECT sevdesk_id, sevdesk_number FROM sevsync.entity_link")
    assert link is not None
    assert link["sevdesk_id"] == created["id"]
    assert link["sevdesk_number"] == created.get("customerNumber", created.get("partNumber"))
    assert await db.fetchval("SELECT count(*) FROM sevsync.write_intent") == 0
    # The killed create never got its answer logged; the second worker sent no create at all.
    assert sandbox.sandbox.count_calls("POST", path) == 0


async def test_sigterm_finishes_in_flight_events_and_leaves_nothing_processed_but_unacked(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    settings = settings.model_copy(update={"prefetch": 4, "shutdown_timeout": 10.0})
    token = await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(kind="latency", seconds=1.0, method="POST", path="^/Part$", times=None)
    events = [envelope("product.created", product(f"prod-{i}", sku=f"SKU-{i}")) for i in range(10)]
    async with worker_processes(settings) as [worker]:
        await publish(settings, *events)
        # Stop while the first four are in flight (each waits 1 s in sevDesk).
        await _wait_for(
            lambda: sandbox.sandbox.count_calls("GET", "^/Part$") >= 4, 10, "four deliveries in flight"
        )
        exit_code = await worker.terminate(timeout=20)
    assert exit_code == 0

    finished = {str(r["event_id"]) for r in await db.fetch("SELECT event_id FROM sevsync.sync_outcome")}
    waiting = await _drain(settings)
    # Every delivery is either finished (outcome recorded, acked) or still in the queue, never both.
    assert len(finished) >= 4
    assert finished.isdisjoint(waiting)
    assert finished | waiting == {e["event_id"] for e in events}
    assert len(sandbox.sandbox.account(token).objects("Part")) == len(finished)


async def _drain(settings: Settings) -> set[str]:
    """Take every message left in the work queue (without a worker) and return their event ids."""
    import json

    left: set[str] = set()
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(settings.queue)
        while (message := await queue.get(fail=False)) is not None:
            left.add(json.loads(message.body)["event_id"])
            await message.ack()
    return left


async def test_three_processes_never_process_one_entity_at_once(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    # Prefetch 1 spreads the deliveries over all three processes.
    settings = settings.model_copy(update={"prefetch": 1})
    token = await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(kind="latency", seconds=0.05, path="^/Part", times=None)
    versions = 6
    products = [f"prod-{i}" for i in range(5)]
    events = [
        envelope("product.updated", product(p, sku=f"SKU-{p}", name=f"{p} v{v}"), version=v)
        for p in products
        for v in range(1, versions + 1)
    ]
    random.Random(7).shuffle(events)
    async with worker_processes(settings, 3):
        await publish(settings, *events)
        outcomes = await wait_for_outcomes(db, *events, timeout=60)

    assert {o["status"] for o in outcomes} <= {"succeeded", "skipped"}
    parts = {p["partNumber"]: p for p in sandbox.sandbox.account(token).objects("Part")}
    assert len(parts) == len(products)  # one Part each, whatever the interleaving
    for p in products:
        # The newest version wins: older ones arriving later were skipped as stale.
        assert parts[f"SKU-{p}"]["name"] == f"{p} v{versions}"
    links = await db.fetch("SELECT entity_id, synced_version FROM sevsync.entity_link")
    assert {r["entity_id"]: r["synced_version"] for r in links} == dict.fromkeys(products, versions)

    rows = await db.fetch(
        "SELECT entity_id, created_at, duration_ms FROM sevsync.sync_outcome ORDER BY entity_id, created_at"
    )
    by_entity: dict[str, list[asyncpg.Record]] = {}
    for row in rows:
        by_entity.setdefault(row["entity_id"], []).append(row)
    for entity, entity_rows in by_entity.items():
        # [commit time - processing time, commit time] of two events of one entity never overlap.
        for before, after in itertools.pairwise(entity_rows):
            after_start = after["created_at"].timestamp() - after["duration_ms"] / 1000
            assert after_start >= before["created_at"].timestamp() - 0.005, entity


async def test_number_left_by_a_crashed_allocation_is_not_given_to_two_customers(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    # A worker allocated sevDesk's next number for customer A, recorded the intent, and died before
    # sending the create (a while ago): sevDesk still offers that number as the next one.
    await db.execute(
        "INSERT INTO sevsync.write_intent (tenant_id, entity_type, entity_id, sevdesk_object, business_key, "
        "created_at) VALUES ('acme', 'customer', 'cust-a', 'Contact', '1000', now() - interval '10 minutes')"
    )
    customer_b = envelope("customer.created", person("cust-b", last_name="Bauer"))
    customer_a = envelope("customer.created", person("cust-a", last_name="Adler"))
    async with running_worker(settings):
        await publish(settings, customer_b)
        await wait_for_outcomes(db, customer_b)
        await publish(settings, customer_a)
        outcomes = await wait_for_outcomes(db, customer_a)

    assert outcomes[0]["status"] == "succeeded", outcomes[0]["error"]
    contacts = {c["familyname"]: c for c in account.objects("Contact")}
    assert contacts["Bauer"]["customerNumber"] == "1000"
    assert contacts["Adler"]["customerNumber"] != "1000"
    links = {r["entity_id"]: r["sevdesk_id"] for r in await db.fetch("SELECT * FROM sevsync.entity_link")}
    assert links == {"cust-b": contacts["Bauer"]["id"], "cust-a": contacts["Adler"]["id"]}


async def test_a_contact_linked_to_one_customer_is_never_adopted_by_another(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    first = envelope("customer.created", company("cust-1", customer_number="K-7"))
    second = envelope("customer.created", company("cust-2", company_name="Other GmbH", customer_number="K-7"))
    async with running_worker(settings):
        await publish(settings, first)
        await wait_for_outcomes(db, first)
        await publish(settings, second)
        [outcome] = await wait_for_outcomes(db, second)

    assert (outcome["status"], outcome["reason"]) == ("failed", "ambiguous_match")
    assert "already linked to CRM customer cust-1" in outcome["error"]


async def test_contact_person_created_by_a_lost_attempt_is_adopted_even_after_a_rename(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    import aiohttp

    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    # An attempt for version 1 created the company and its contact person "Max", then died before
    # recording them; its write intents are all that is left of it.
    headers = {"Authorization": token}
    category = {"id": 3, "objectName": "Category"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(
            f"{sandbox.base_url}/Contact",
            json={"name": "Acme GmbH", "customerNumber": "K-1001", "category": category},
        ) as response:
            org_id = (await response.json())["objects"]["id"]
        async with session.post(
            f"{sandbox.base_url}/Contact",
            json={
                "surename": "Max",
                "familyname": "Mustermann",
                "category": category,
                "parent": {"id": int(org_id), "objectName": "Contact"},
            },
        ) as response:
            assert response.status == 201
    await db.execute(
        "INSERT INTO sevsync.write_intent (tenant_id, entity_type, entity_id, sevdesk_object, business_key) "
        "VALUES ('acme', 'customer', 'cust-1001', 'Contact', 'K-1001'), "
        """('acme', 'customer', 'cust-1001', 'ContactPerson', '["Max", "Mustermann"]')"""
    )
    # Version 2 renames the contact person before version 1 is retried.
    renamed = envelope("customer.updated", company(first_name="Moritz"), version=2)
    async with running_worker(settings):
        await publish(settings, renamed)
        [outcome] = await wait_for_outcomes(db, renamed)

    assert outcome["status"] == "succeeded", outcome["error"]
    persons = [c for c in account.objects("Contact") if c.get("parent")]
    assert [(p["surename"], p["familyname"]) for p in persons] == [("Moritz", "Mustermann")]
    assert await db.fetchval("SELECT count(*) FROM sevsync.write_intent") == 0


async def test_a_create_that_may_still_be_in_flight_is_waited_for_not_repeated(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    # A worker sent the create of part SKU-7 and was killed this instant: the request may still land.
    await db.execute(
        "INSERT INTO sevsync.write_intent (tenant_id, entity_type, entity_id, sevdesk_object, business_key) "
        "VALUES ('acme', 'product', 'prod-7', 'Part', 'SKU-7')"
    )
    event = envelope("product.created", product())
    async with running_worker(settings):
        await publish(settings, event)
        # ...and it does land, after the redelivery first looked and found nothing.
        await _wait_for_outcome_row(db, "retrying")
        await _post_part_directly(sandbox, token)
        [outcome] = await wait_for_outcomes(db, event)

    assert outcome["status"] == "succeeded", outcome["error"]
    assert len(account.objects("Part")) == 1
    [retrying] = await db.fetch("SELECT reason, error FROM sevsync.sync_outcome WHERE status = 'retrying'")
    assert retrying["reason"] == "write_unconfirmed"
    assert "may still land" in retrying["error"]


async def _wait_for_outcome_row(db: asyncpg.Pool, status: str) -> None:
    deadline = time.monotonic() + 10
    while not await db.fetchval("SELECT count(*) FROM sevsync.sync_outcome WHERE status = $1", status):
        assert time.monotonic() < deadline, f"no {status} outcome"
        await asyncio.sleep(0.02)


async def _post_part_directly(sandbox: SandboxServer, token: str) -> None:
    import aiohttp

    body = {
        "name": "Consulting hour",
        "partNumber": "SKU-7",
        "stock": 0,
        "taxRate": 19,
        "unity": {"id": 1, "objectName": "Unity"},
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sandbox.base_url}/Part", json=body, headers={"Authorization": token}) as response,
    ):
        assert response.status == 201
