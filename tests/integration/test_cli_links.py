"""`sevsync link show|list|relink|clear`: what each prints, and each refusal as one line (exit 1)."""

from __future__ import annotations

import asyncpg
import pytest

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer
from sevsync.store import links as links_store
from sevsync.store.links import LinkWrite, upsert_link

from ..samples import product
from .harness import add_tenant, envelope, publish, running_worker, wait_for_outcomes
from .test_broken_links import break_link
from .test_dead_letters import run_sevsync


async def linked(
    db: asyncpg.Pool, entity_type: str, entity_id: str, sevdesk_object: str, sevdesk_id: str
) -> None:
    async with db.acquire() as conn:
        await upsert_link(
            conn, "acme", LinkWrite(entity_type, entity_id, sevdesk_object, sevdesk_id, "N-1", 3, "h")
        )


@pytest.fixture
async def token(db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer) -> str:
    """A tenant with a broken product link (part 900, gone) and a healthy one (prod-2)."""
    token = await add_tenant(db, settings, sandbox)
    await linked(db, "product", "prod-1", "Part", "900")
    await break_link(db, "product", "prod-1")
    await linked(db, "product", "prod-2", "Part", "901")
    return token


async def test_list_and_show_name_the_broken_link(token: str, settings: Settings) -> None:
    listed = await run_sevsync(settings, "link", "list", "acme", "--broken")
    shown = await run_sevsync(settings, "link", "show", "acme", "product", "prod-2")

    assert listed.returncode == 0, listed.stderr
    [broken] = listed.json()
    assert (broken["entity_id"], broken["sevdesk_object"], broken["sevdesk_id"]) == ("prod-1", "Part", "900")
    assert broken["broken_reason"] == "deleted_in_sevdesk"
    assert broken["broken_at"] is not None
    assert (shown.returncode, shown.json()["broken_at"], shown.json()["sevdesk_id"]) == (0, None, "901")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("clear", "nobody", "product", "prod-1"), "tenant nobody is not known"),
        (("clear", "acme", "product", "prod-404"), "tenant acme has no product link for prod-404"),
        (("clear", "acme", "bogus", "prod-1"), "no link type 'bogus': one of customer, product,"),
        (("clear", "acme", "product", "prod-2"), "product prod-2 is not broken"),
        (("relink", "acme", "product", "prod-2", "--sevdesk-id", "5"), "product prod-2 is not broken"),
        (
            ("relink", "acme", "product", "prod-1", "--sevdesk-id", "12x"),
            "'12x' is not a sevDesk id (a whole number from 1, up to 20 digits)",
        ),
        (
            ("relink", "acme", "product", "prod-1", "--sevdesk-id", "0"),
            "'0' is not a sevDesk id (a whole number from 1, up to 20 digits)",
        ),
        (
            ("relink", "acme", "product", "prod-1", "--sevdesk-id", "901"),
            "sevDesk Part 901 is already linked to product prod-2",
        ),
        (
            ("relink", "acme", "product", "prod-1", "--sevdesk-id", "77777"),
            "sevDesk has no Part 77777 in tenant acme's account",
        ),
        (("show", "acme", "product", "prod-404"), "tenant acme has no product link for prod-404"),
        (("list", "bad tenant!"), "tenant id 'bad tenant!' must be 1-64 characters"),
    ],
)
async def test_a_refusal_is_one_line_and_changes_nothing(
    token: str, db: asyncpg.Pool, settings: Settings, args: tuple[str, ...], line: str
) -> None:
    before = await db.fetch("SELECT * FROM sevsync.entity_link ORDER BY entity_id")
    result = await run_sevsync(settings, "link", *args)

    assert result.returncode == 1
    assert line in result.error_line()
    assert result.error_line().startswith("sevsync: error: ")
    assert await db.fetch("SELECT * FROM sevsync.entity_link ORDER BY entity_id") == before


async def test_a_relink_to_an_object_of_another_kind_is_refused(
    token: str, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    contact = sandbox.sandbox.account(token).insert("Contact", {"name": "Not a part"})
    result = await run_sevsync(
        settings, "link", "relink", "acme", "product", "prod-1", "--sevdesk-id", str(contact.id)
    )

    assert result.returncode == 1
    assert f"sevDesk has no Part {contact.id}" in result.error_line()
    assert await db.fetchval("SELECT sevdesk_id FROM sevsync.entity_link WHERE entity_id = 'prod-1'") == "900"


async def test_clear_removes_the_link_and_its_intents(
    token: str, db: asyncpg.Pool, settings: Settings
) -> None:
    await db.execute(
        "INSERT INTO sevsync.write_intent (tenant_id, entity_type, entity_id, sevdesk_object, business_key) "
        "VALUES ('acme', 'product', 'prod-1', 'Part', 'SKU-1')"
    )
    result = await run_sevsync(settings, "link", "clear", "acme", "product", "prod-1")

    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip() == "cleared product prod-1 (was sevDesk Part 900); its next event creates anew"
    )
    assert await db.fetchval("SELECT sevdesk_id FROM sevsync.entity_link WHERE entity_id = 'prod-1'") is None
    assert await db.fetchval("SELECT count(*) FROM sevsync.write_intent") == 0
    assert await db.fetchval("SELECT count(*) FROM sevsync.entity_link WHERE entity_id = 'prod-2'") == 1


async def test_relink_takes_the_new_objects_number_or_none_and_drops_the_intents(
    token: str, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    part = sandbox.sandbox.account(token).insert("Part", {"name": "No number", "partNumber": None})
    await db.execute(
        "INSERT INTO sevsync.write_intent (tenant_id, entity_type, entity_id, sevdesk_object, business_key) "
        "VALUES ('acme', 'product', 'prod-1', 'Part', 'SKU-1')"
    )
    result = await run_sevsync(
        settings, "link", "relink", "acme", "product", "prod-1", "--sevdesk-id", str(part.id)
    )

    assert result.returncode == 0, result.stderr
    row = await db.fetchrow(
        "SELECT sevdesk_id, sevdesk_number FROM sevsync.entity_link WHERE entity_id = 'prod-1'"
    )
    assert row is not None
    assert (row["sevdesk_id"], row["sevdesk_number"]) == (str(part.id), None)  # not the old object's N-1
    assert await db.fetchval("SELECT count(*) FROM sevsync.write_intent") == 0


async def test_relink_refuses_an_object_linked_meanwhile_in_its_update(token: str, db: asyncpg.Pool) -> None:
    async with db.acquire() as conn:
        relinked = await links_store.relink_broken_link(conn, "acme", "product", "prod-1", "901", None)

    assert not relinked  # prod-2 holds Part 901
    assert await db.fetchval("SELECT sevdesk_id FROM sevsync.entity_link WHERE entity_id = 'prod-1'") == "900"


async def test_a_cleared_link_keeps_its_versions_so_an_older_event_is_stale(
    token: str, db: asyncpg.Pool, settings: Settings
) -> None:
    await db.execute("UPDATE sevsync.entity_link SET told_version = 5 WHERE entity_id = 'prod-1'")
    cleared = await run_sevsync(settings, "link", "clear", "acme", "product", "prod-1")
    older = envelope("product.updated", product("prod-1"), version=2)
    newer = envelope("product.updated", product("prod-1"), version=4)
    async with running_worker(settings):
        await publish(settings, older)
        [late] = await wait_for_outcomes(db, older)
        await publish(settings, newer)
        [created] = await wait_for_outcomes(db, newer)

    assert cleared.returncode == 0, cleared.stderr
    assert (late["status"], late["reason"]) == ("skipped", "stale")
    assert created["status"] == "succeeded", created["error"]
    row = await db.fetchrow(
        "SELECT sevdesk_id, synced_version, told_version, broken_at FROM sevsync.entity_link"
        " WHERE entity_id = 'prod-1'"
    )
    assert row is not None
    assert row["sevdesk_id"] not in (None, "900")
    assert (row["synced_version"], row["told_version"], row["broken_at"]) == (4, 5, None)
