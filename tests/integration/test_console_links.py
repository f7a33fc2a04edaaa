"""The console's broken links: listed on the tenant page with relink and clear forms, counted on the
overview; the forms need the session's CSRF value and refuse with a page, never a server error."""

from __future__ import annotations

import html
import re

import asyncpg
import pytest
from pydantic import SecretStr

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer

from .harness import add_tenant
from .test_broken_links import break_link
from .test_cli_links import linked
from .test_console import ADMIN_TOKEN, console, csrf_of, log_in, page, post


@pytest.fixture
def console_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})


def _target(entity_type: str, entity_id: str, csrf: str, **extra: str) -> dict[str, str]:
    return {"csrf": csrf, "tenant": "acme", "entity_type": entity_type, "entity_id": entity_id, **extra}


def _broken_count(overview: str) -> str:
    match = re.search(r'class="num broken-links[^"]*"><a [^>]*>(\d+)</a>', overview)
    assert match is not None, "no broken-links cell"
    return match.group(1)


async def test_the_tenant_page_lists_broken_links_and_the_overview_counts_them(
    db: asyncpg.Pool, console_settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, console_settings, sandbox)
    await linked(db, "product", "prod-1", "Part", "900")
    await linked(db, "customer", "<cust>", "Contact", "902")
    await linked(db, "product", "prod-2", "Part", "901")
    await break_link(db, "product", "prod-1")
    await break_link(db, "customer", "<cust>")
    async with console(console_settings) as session:
        await log_in(session)
        overview = await page(session, "/")
        tenant = await page(session, "/tenants/acme")

    assert _broken_count(overview) == "2"
    rows = re.findall(r'<tr class="broken-link"(.*?)</tr>', tenant, re.S)
    assert len(rows) == 2
    product = next(row for row in rows if 'data-entity-id="prod-1"' in row)
    assert "Part 900" in product
    assert "deleted_in_sevdesk" in product
    assert " UTC" in product
    assert 'action="/links/relink"' in product
    assert 'action="/links/clear"' in product
    assert "&lt;cust&gt;" in tenant
    assert "<cust>" not in tenant
    assert "prod-2" not in tenant


async def test_clear_and_relink_from_the_tenant_page(
    db: asyncpg.Pool, console_settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, console_settings, sandbox)
    other = sandbox.sandbox.account(token).insert("Part", {"name": "Made by hand", "partNumber": "HAND-1"})
    await linked(db, "product", "prod-1", "Part", "900")
    await linked(db, "customer", "cust-1", "Contact", "902")
    await break_link(db, "product", "prod-1")
    await break_link(db, "customer", "cust-1")
    async with console(console_settings) as session:
        await log_in(session)
        csrf = csrf_of(await page(session, "/tenants/acme"))
        forged = await post(session, "/links/clear", _target("customer", "cust-1", "forged"))
        cleared = await post(session, "/links/clear", _target("customer", "cust-1", csrf))
        relinked = await post(
            session, "/links/relink", _target("product", "prod-1", csrf, sevdesk_id=str(other.id))
        )
        after = await page(session, "/tenants/acme")
        overview = await page(session, "/")

    assert forged[0] == 403
    assert (cleared[0], cleared[2]) == (303, "/tenants/acme#broken-links")
    assert (relinked[0], relinked[2]) == (303, "/tenants/acme#broken-links")
    assert await db.fetchval("SELECT sevdesk_id FROM sevsync.entity_link WHERE entity_id = 'cust-1'") is None
    row = await db.fetchrow(
        "SELECT sevdesk_id, broken_at FROM sevsync.entity_link WHERE entity_id = 'prod-1'"
    )
    assert row is not None
    assert (row["sevdesk_id"], row["broken_at"]) == (str(other.id), None)
    assert 'id="no-broken-links"' in after
    assert _broken_count(overview) == "0"


async def test_a_refused_decision_is_a_page_with_one_reason_and_changes_nothing(
    db: asyncpg.Pool, console_settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, console_settings, sandbox)
    await linked(db, "product", "prod-1", "Part", "900")
    await linked(db, "product", "prod-2", "Part", "901")
    await break_link(db, "product", "prod-1")
    before = await db.fetch("SELECT * FROM sevsync.entity_link ORDER BY entity_id")
    async with console(console_settings) as session:
        await log_in(session)
        csrf = csrf_of(await page(session, "/tenants/acme"))
        answers = [
            (
                await post(session, "/links/relink", _target("product", "prod-1", csrf, sevdesk_id="77777")),
                422,
            ),
            (await post(session, "/links/relink", _target("product", "prod-1", csrf, sevdesk_id="x")), 422),
            (await post(session, "/links/relink", _target("product", "prod-1", csrf)), 400),
            (await post(session, "/links/clear", _target("product", "prod-2", csrf)), 409),
            (await post(session, "/links/clear", _target("product", "prod-404", csrf)), 404),
            (await post(session, "/links/clear", _target("planet", "prod-1", csrf)), 422),
            (await post(session, "/links/clear", {"csrf": csrf}), 400),
        ]

    for (status, text, _), expected in answers:
        assert status == expected, html.unescape(text)[:300]
    assert "sevDesk has no Part 77777" in html.unescape(answers[0][0][1])
    assert await db.fetch("SELECT * FROM sevsync.entity_link ORDER BY entity_id") == before
