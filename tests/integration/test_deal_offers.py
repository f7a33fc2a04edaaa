"""deal.opened / deal.updated / deal.lost -> a sevDesk offer (Order AN), end to end."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer
from sevsync.sandbox.store import Account

from ..samples import deal, product
from .harness import add_tenant, envelope, publish, running_worker, wait_for_outcomes


def positions_of(account: Account, object_name: str, parent_key: str, parent_id: str) -> list[dict[str, Any]]:
    found = [p for p in account.objects(object_name) if (p.get(parent_key) or {}).get("id") == parent_id]
    return sorted(found, key=lambda p: int(p.get("positionNumber") or 0))


async def test_opened_deal_becomes_a_draft_offer_with_its_customer_first(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox, units={"hour": "2"})
    linked_product = envelope("product.created", product())
    opened = envelope("deal.opened", deal(), version=3)
    async with running_worker(settings):
        await publish(settings, linked_product)
        await wait_for_outcomes(db, linked_product)
        await publish(settings, opened)
        [outcome] = await wait_for_outcomes(db, opened)

    assert (outcome["status"], outcome["entity_type"], outcome["sevdesk_object"]) == (
        "succeeded",
        "deal",
        "Order",
    ), outcome["error"]
    account = sandbox.sandbox.account(token)
    [contact] = [
        c for c in account.objects("Contact") if c.get("customerNumber") == "K-1001" and not c.get("parent")
    ]
    [order] = account.objects("Order")
    assert order["orderNumber"] == "D-2026-0042"
    assert (order["orderType"], str(order["status"])) == ("AN", "100")
    assert order["contact"]["id"] == contact["id"]
    assert order["taxRule"]["id"] == "1"
    assert "Hauptstr. 1" in order["address"]
    # 1,080.00 for the line, -54.00 for the 5 % discount, 80.00 travel: 1,106.00 net, 210.14 tax.
    assert (Decimal(order["sumNet"]), Decimal(order["sumTax"]), Decimal(order["sumGross"])) == (
        Decimal("1106.00"),
        Decimal("210.14"),
        Decimal("1316.14"),
    )
    line, discount, fee = positions_of(account, "OrderPos", "order", order["id"])
    part = account.objects("Part")[0]
    assert (line["name"], line["part"]["id"], line["unity"]["id"]) == ("Consulting hour", part["id"], "2")
    assert Decimal(str(line["discount"])) == 10
    assert Decimal(str(discount["price"])) == Decimal("-54")
    assert Decimal(str(discount["taxRate"])) == 19
    assert (fee["name"], Decimal(str(fee["price"]))) == ("Travel", Decimal("80"))

    links = {r["entity_type"]: r for r in await db.fetch("SELECT * FROM sevsync.entity_link")}
    assert links["deal_order"]["sevdesk_id"] == order["id"]
    assert links["deal_order"]["synced_version"] == 3
    # The embedded customer is linked with version 0: any customer.* event of it is newer.
    assert (links["customer"]["sevdesk_id"], links["customer"]["synced_version"]) == (contact["id"], 0)


async def test_update_replaces_positions_of_a_draft_and_skips_once_sevdesk_leads(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    opened = envelope("deal.opened", deal(), version=1)
    changed_lines = [{**deal()["lines"][0], "quantity": "12"}]
    updated = envelope("deal.updated", deal(lines=changed_lines, discount=None, fees=[]), version=2)
    same_again = envelope("deal.updated", deal(lines=changed_lines, discount=None, fees=[]), version=3)
    async with running_worker(settings):
        await publish(settings, opened)
        await wait_for_outcomes(db, opened)
        await publish(settings, updated)
        [first] = await wait_for_outcomes(db, updated)
        await publish(settings, same_again)
        [second] = await wait_for_outcomes(db, same_again)
        account = sandbox.sandbox.account(token)
        [order] = account.objects("Order")
        # Someone sends the offer from sevDesk: it is no longer a draft.
        account.update(account.find("Order", int(order["id"])), {"status": "200"})  # type: ignore[arg-type]
        late = envelope("deal.updated", deal(title="Renamed"), version=4)
        await publish(settings, late)
        [third] = await wait_for_outcomes(db, late)

    assert first["status"] == "succeeded", first["error"]
    assert (second["status"], second["reason"]) == ("skipped", "no_change")
    assert (third["status"], third["reason"]) == ("skipped", "not_draft")
    [order] = account.objects("Order")
    [only] = positions_of(account, "OrderPos", "order", order["id"])
    assert Decimal(str(only["quantity"])) == 12
    assert Decimal(order["sumNet"]) == Decimal("1296.00")  # 12 x 120 less 10 %
    assert order["header"] == "Website relaunch"  # the not_draft update changed nothing


async def test_lost_deal_rejects_the_offer(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    opened = envelope("deal.opened", deal(), version=1)
    lost = envelope("deal.lost", {"id": "deal-42", "reason": "too expensive"}, version=2)
    stale_update = envelope("deal.updated", deal(), version=1)
    async with running_worker(settings):
        await publish(settings, opened)
        await wait_for_outcomes(db, opened)
        await publish(settings, lost)
        [outcome] = await wait_for_outcomes(db, lost)
        await publish(settings, stale_update)
        [stale] = await wait_for_outcomes(db, stale_update)

    assert outcome["status"] == "succeeded", outcome["error"]
    [order] = sandbox.sandbox.account(token).objects("Order")
    assert str(order["status"]) == "300"
    assert (stale["status"], stale["reason"]) == ("skipped", "stale")


async def test_unmet_tax_needs_fail_without_retry(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    # Intra-community supply needs the customer's VAT id and an EU country other than Germany.
    opened = envelope("deal.opened", deal(tax_type="eu_intra_community"))
    async with running_worker(settings):
        await publish(settings, opened)
        [outcome] = await wait_for_outcomes(db, opened)

    assert (outcome["status"], outcome["reason"], outcome["attempt"]) == ("failed", "tax_rule_invalid", 1)
    assert "eu_intra_community" in outcome["error"]
    assert "DE" in outcome["error"]
    assert await db.fetchval("SELECT reason FROM sevsync.dead_letter") == "tax_rule_invalid"
    assert sandbox.sandbox.account(token).objects("Order") == []


async def test_intra_community_offer_is_zero_rated(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    french = {
        **deal()["customer"],
        "vat_id": "FR12345678901",
        "address": {"street": "1 rue de Rivoli", "zip": "75001", "city": "Paris", "country": "FR"},
    }
    opened = envelope("deal.opened", deal(customer=french, tax_type="eu_intra_community"))
    async with running_worker(settings):
        await publish(settings, opened)
        [outcome] = await wait_for_outcomes(db, opened)

    assert outcome["status"] == "succeeded", outcome["error"]
    account = sandbox.sandbox.account(token)
    [order] = account.objects("Order")
    assert order["taxRule"]["id"] == "3"
    assert Decimal(order["sumTax"]) == 0
    assert Decimal(order["sumGross"]) == Decimal("1106.00")
    assert {Decimal(str(p["taxRate"])) for p in positions_of(account, "OrderPos", "order", order["id"])} == {
        0
    }


async def test_small_business_uses_rule_11_only_where_the_account_allows_it(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox, small_business=True)
    allowed = envelope("deal.opened", deal())
    refused = envelope("deal.opened", deal("deal-43", number="D-2026-0043"))
    async with running_worker(settings):
        await publish(settings, allowed)
        [first] = await wait_for_outcomes(db, allowed)
        sandbox.sandbox.account(token).small_business_guidance = False
        await publish(settings, refused)
        [second] = await wait_for_outcomes(db, refused)

    assert first["status"] == "succeeded", first["error"]
    [order] = sandbox.sandbox.account(token).objects("Order")
    assert (order["taxRule"]["id"], str(order["smallSettlement"])) in (
        ("11", "1"),
        ("11", "True"),
        ("11", "true"),
    )
    assert Decimal(order["sumTax"]) == 0
    assert (second["status"], second["reason"]) == ("failed", "tax_rule_invalid")
    assert "rule 11" in second["error"]


async def test_totals_that_differ_from_sevdesks_fail_naming_both(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    # Three lines of 0.03 at 19 %: per rate group 0.09 x 19 % = 0.02 tax; per position 3 x 0.01.
    cheap = {"name": "Sticker", "quantity": "1", "unit_net_price": "0.03", "tax_rate": "19"}
    opened = envelope(
        "deal.opened",
        deal(lines=[cheap, {**cheap, "name": "Pin"}, {**cheap, "name": "Pen"}], discount=None, fees=[]),
    )
    sandbox.sandbox.account(token).tax_rounding = "per_position"
    async with running_worker(settings):
        await publish(settings, opened)
        [outcome] = await wait_for_outcomes(db, opened)

    assert (outcome["status"], outcome["reason"]) == ("failed", "totals_mismatch")
    assert "sumTax sevDesk 0.03 vs sevsync 0.02" in outcome["error"]


async def test_lost_create_answer_leaves_one_offer(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(kind="lost_answer", method="POST", path="/Order/Factory/saveOrder", times=1)
    opened = envelope("deal.opened", deal())
    async with running_worker(settings):
        await publish(settings, opened)
        [outcome] = await wait_for_outcomes(db, opened, timeout=30)

    assert outcome["status"] == "succeeded", outcome["error"]
    assert len(sandbox.sandbox.account(token).objects("Order")) == 1
