"""Reconciling parts: every run pages all parts (no updateAfter on Part) and compares `update`
client-side; a person's edit is told once as part.changed, sevsync's own writes never; a deleted part
breaks its link once."""

from __future__ import annotations

import asyncpg

from sevsync.config import Settings
from sevsync.sandbox import people
from sevsync.sandbox.server import SandboxServer

from ..samples import product
from .harness import envelope, publish, running_worker, wait_for_outcomes
from .reconciling import linked_products, person_at, reconcile, told


async def test_sevsyncs_own_writes_are_not_told_back(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await linked_products(db, settings, sandbox)
    first = await reconcile(db, settings, ["parts"])
    assert first.kinds["parts"].examined == 2
    assert first.kinds["parts"].told == 0

    update = envelope("product.updated", product(net_price="99.50"), version=2)
    async with running_worker(settings):
        await publish(settings, update)
        [outcome] = await wait_for_outcomes(db, update)
    second = await reconcile(db, settings, ["parts"])

    assert outcome["status"] == "succeeded", outcome["error"]
    assert second.kinds["parts"].examined == 2
    assert second.kinds["parts"].told == 0
    assert await told(db) == []


async def test_a_persons_edit_is_told_once_in_the_product_shape(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token, ids = await linked_products(db, settings, sandbox)
    await reconcile(db, settings, ["parts"])
    person_at(sandbox, 60)
    people.edit(
        sandbox.sandbox.account(token), "Part", ids["prod-7"], {"price": "130", "name": "Senior hour"}
    )

    summary = await reconcile(db, settings, ["parts"])
    again = await reconcile(db, settings, ["parts"])

    assert (summary.kinds["parts"].told, again.kinds["parts"].told) == (1, 0)
    [event] = await told(db, "part.changed")
    assert event["version"] == 1
    assert event["data"]["id"] == "prod-7"
    assert event["data"]["sevdesk_id"] == str(ids["prod-7"])
    assert (event["data"]["name"], event["data"]["net_price"], event["data"]["unit"]) == (
        "Senior hour",
        "130",
        "hour",
    )


async def test_a_deleted_part_breaks_its_link_once(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token, ids = await linked_products(db, settings, sandbox)
    await reconcile(db, settings, ["parts"])
    people.delete(sandbox.sandbox.account(token), "Part", ids["prod-8"])

    first = await reconcile(db, settings, ["parts"])
    second = await reconcile(db, settings, ["parts"])

    assert (first.kinds["parts"].broken, second.kinds["parts"].broken) == (1, 0)
    [event] = await told(db, "link.broken")
    assert event["data"]["entity_id"] == "prod-8"
    assert event["data"]["sevdesk_object"] == "Part"
    assert event["data"]["reason"] == "deleted_in_sevdesk"
    broken = await db.fetchval("SELECT broken_reason FROM sevsync.entity_link WHERE entity_id = 'prod-8'")
    assert broken == "deleted_in_sevdesk"


async def test_an_unchanged_account_costs_the_part_pages(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await linked_products(db, settings, sandbox)
    await reconcile(db, settings, ["parts"])
    sandbox.sandbox.calls.clear()

    summary = await reconcile(db, settings, ["parts"])

    assert (summary.kinds["parts"].examined, summary.kinds["parts"].told) == (2, 0)
    assert [(c.method, c.path) for c in sandbox.sandbox.calls] == [("GET", "/Part")]
