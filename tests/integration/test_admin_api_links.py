"""The admin API's broken-link routes (CONTRACT section 10): list, relink, clear, and their refusals."""

from __future__ import annotations

import asyncpg

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer

from .harness import add_tenant
from .test_admin_api import admin_api
from .test_broken_links import break_link
from .test_cli_links import linked

LINKS = "/api/v1/tenants/acme/links"


async def test_broken_links_are_listed_relinked_and_cleared(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    other = sandbox.sandbox.account(token).insert("Part", {"name": "Made by hand", "partNumber": "HAND-1"})
    await linked(db, "product", "prod-1", "Part", "900")
    await linked(db, "product", "prod-2", "Part", "901")
    await linked(db, "customer", "cust-1", "Contact", "902")
    for entity_type, entity_id in (("product", "prod-1"), ("customer", "cust-1")):
        await break_link(db, entity_type, entity_id)
    async with admin_api(settings) as (_, api):
        listed = await api.call("GET", f"{LINKS}/broken")
        relinked = await api.call(
            "POST", f"{LINKS}/product/prod-1/relink", json={"sevdesk_id": str(other.id)}
        )
        cleared = await api.call("POST", f"{LINKS}/customer/cust-1/clear")
        after = await api.call("GET", f"{LINKS}/broken")
        tenants = await api.call("GET", "/api/v1/tenants")

    assert [(b["entity_type"], b["entity_id"], b["sevdesk_id"]) for b in listed["broken_links"]] == [
        ("product", "prod-1", "900"),
        ("customer", "cust-1", "902"),
    ]
    assert all(b["broken_reason"] == "deleted_in_sevdesk" for b in listed["broken_links"])
    assert (relinked["sevdesk_id"], relinked["sevdesk_number"], relinked["broken_at"]) == (
        str(other.id),
        "HAND-1",
        None,
    )
    assert (cleared["cleared"]["entity_id"], cleared["cleared"]["sevdesk_id"]) == ("cust-1", "902")
    assert after["broken_links"] == []
    assert await db.fetchval("SELECT sevdesk_id FROM sevsync.entity_link WHERE entity_id = 'cust-1'") is None
    [acme] = tenants["tenants"]
    assert acme["broken_links"] == 0


async def test_each_refusal_is_a_4xx_with_one_line_and_changes_nothing(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    await linked(db, "product", "prod-1", "Part", "900")
    await linked(db, "product", "prod-2", "Part", "901")
    await break_link(db, "product", "prod-1")
    before = await db.fetch("SELECT * FROM sevsync.entity_link ORDER BY entity_id")
    refusals = [
        ("GET", "/api/v1/tenants/nobody/links/broken", None, 404, "tenant nobody is not known"),
        (
            "POST",
            "/api/v1/tenants/nobody/links/product/prod-1/clear",
            None,
            404,
            "tenant nobody is not known",
        ),
        (
            "POST",
            f"{LINKS}/product/prod-404/clear",
            None,
            404,
            "tenant acme has no product link for prod-404",
        ),
        ("POST", f"{LINKS}/planet/prod-1/clear", None, 404, "no link type 'planet'"),
        ("POST", f"{LINKS}/product/prod-2/clear", None, 409, "product prod-2 is not broken"),
        ("POST", f"{LINKS}/product/prod-2/relink", {"sevdesk_id": "5"}, 409, "product prod-2 is not broken"),
        (
            "POST",
            f"{LINKS}/product/prod-1/relink",
            {"sevdesk_id": "901"},
            409,
            "already linked to product prod-2",
        ),
        ("POST", f"{LINKS}/product/prod-1/relink", {"sevdesk_id": "77777"}, 422, "sevDesk has no Part 77777"),
        (
            "POST",
            f"{LINKS}/product/prod-1/relink",
            {"sevdesk_id": "abc"},
            422,
            "sevdesk_id: String should match",
        ),
        ("POST", f"{LINKS}/product/prod-1/relink", {"sevdesk_id": 5}, 422, "sevdesk_id"),
        ("POST", f"{LINKS}/product/prod-1/relink", {}, 422, "sevdesk_id: Field required"),
    ]
    async with admin_api(settings) as (_, api):
        for method, path, body, status, words in refusals:
            answer = await api.call(method, path, json=body, expect=status)
            assert words in answer["error"], (path, answer)
            assert "\n" not in answer["error"]

    assert await db.fetch("SELECT * FROM sevsync.entity_link ORDER BY entity_id") == before
