"""product.* events -> sevDesk Parts."""

from __future__ import annotations

import asyncpg

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer

from ..samples import product
from .harness import add_tenant, envelope, publish, running_worker, wait_for_outcomes


async def test_product_creates_then_updates_one_part(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox, units={"hour": "2"})
    created = envelope("product.created", product(), version=3)
    updated = envelope("product.updated", product(net_price="135.50", tax_rate="7", active=False), version=4)
    async with running_worker(settings):
        await publish(settings, created)
        [first] = await wait_for_outcomes(db, created)
        await publish(settings, updated)
        [second] = await wait_for_outcomes(db, updated)

    assert first["status"] == "succeeded", first["error"]
    assert second["status"] == "succeeded", second["error"]
    [part] = sandbox.sandbox.account(token).objects("Part")
    assert part["partNumber"] == "SKU-7"
    assert part["name"] == "Consulting hour"
    assert part["unity"]["id"] == "2"  # the tenant's unit mapping
    assert str(part["status"]) == "50"  # active: false -> inactive
    assert str(part["taxRate"]) == "7"
    assert part["priceNet"] == "135.5"
    assert part["priceGross"] == "144.99"  # 135.50 * 1.07 = 144.985 -> half-up
    link = await db.fetchrow("SELECT * FROM sevsync.entity_link WHERE entity_type = 'product'")
    assert link is not None
    assert (link["sevdesk_id"], link["sevdesk_number"], link["synced_version"]) == (part["id"], "SKU-7", 4)


async def test_unchanged_update_makes_no_write(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    created = envelope("product.created", product(), version=1)
    same = envelope("product.updated", product(), version=2)
    async with running_worker(settings):
        await publish(settings, created)
        await wait_for_outcomes(db, created)
        calls_before = len(sandbox.sandbox.calls)
        await publish(settings, same)
        [outcome] = await wait_for_outcomes(db, same)

    assert (outcome["status"], outcome["reason"]) == ("skipped", "no_change")
    assert len(sandbox.sandbox.calls) == calls_before
    assert await db.fetchval("SELECT synced_version FROM sevsync.entity_link") == 2


async def test_existing_part_with_same_number_is_linked_not_duplicated(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    import aiohttp

    token = await add_tenant(db, settings, sandbox)
    body = {
        "name": "Old name",
        "partNumber": "SKU-7",
        "stock": 0,
        "unity": {"id": 1, "objectName": "Unity"},
        "taxRate": 19,
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sandbox.base_url}/Part", json=body, headers={"Authorization": token}) as response,
    ):
        assert response.status == 201
    event = envelope("product.created", product())
    async with running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)

    assert outcome["status"] == "succeeded", outcome["error"]
    [part] = sandbox.sandbox.account(token).objects("Part")
    assert part["name"] == "Consulting hour"
