"""invoice.issued -> a revenue voucher; invoice.cancelled -> one correcting voucher, end to end."""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer

from ..samples import company, crm_invoice
from .harness import add_tenant, envelope, publish, running_worker, wait_for_first_outcome, wait_for_outcomes

CANCELLATION = {"id": "inv-9", "number": "ST-2531-1", "date": "2025-03-05", "reason": "wrong desk"}


async def test_issued_invoice_becomes_an_open_revenue_voucher_on_the_contact(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox, voucher_due_days=30)
    account = sandbox.sandbox.account(token)
    cost_centre = account.objects("CostCentre")[0]["id"]
    async with db.acquire() as conn:
        await conn.execute(
            "UPDATE sevsync.tenant_integration SET settings = settings || $1::jsonb",
            {"cost_centre_id": cost_centre},
        )
    customer = envelope("customer.created", company())
    issued = envelope(
        "invoice.issued",
        crm_invoice(
            lines=[
                {"name": "Fixed desk", "net_amount": "220.00", "tax_rate": "19", "accounting_code": "8400"},
                {"name": "Coffee", "net_amount": "10.55", "tax_rate": "7", "accounting_code": "8300"},
            ]
        ),
        version=2,
    )
    async with running_worker(settings):
        await publish(settings, customer)
        [made] = await wait_for_outcomes(db, customer)
        await publish(settings, issued)
        [outcome] = await wait_for_outcomes(db, issued)

    assert (outcome["status"], outcome["entity_type"], outcome["sevdesk_object"]) == (
        "succeeded",
        "invoice",
        "Voucher",
    ), outcome["error"]
    [voucher] = account.objects("Voucher")
    assert (voucher["creditDebit"], str(voucher["status"]), voucher["description"]) == (
        "D",
        "100",
        "2531-Ljnk-278",
    )
    assert voucher["supplier"]["id"] == made["sevdesk_id"]
    assert voucher["costCentre"]["id"] == cost_centre
    assert voucher["taxRule"]["id"] == "1"
    assert voucher["paymentDeadline"].startswith("2025-03-30")  # 28 Feb + 30 days
    # 220.00 at 19 % (41.80) and 10.55 at 7 % (0.7385 -> 0.74).
    assert (Decimal(voucher["sumNet"]), Decimal(voucher["sumTax"]), Decimal(voucher["sumGross"])) == (
        Decimal("230.55"),
        Decimal("42.54"),
        Decimal("273.09"),
    )
    positions = [p for p in account.objects("VoucherPos") if p["voucher"]["id"] == voucher["id"]]
    guidance_ids = {p["accountDatev"]["id"] for p in positions}
    assert len(guidance_ids) == 2
    assert all(int(i) >= 5000 for i in guidance_ids)  # sevDesk's internal ids, not the SKR numbers
    assert account.objects("TagRelation") == []  # the customer was found: no mismatch tag
    link = await db.fetchrow("SELECT * FROM sevsync.entity_link WHERE entity_type = 'invoice_voucher'")
    assert link is not None
    assert (link["sevdesk_id"], link["sevdesk_number"], link["synced_version"]) == (
        voucher["id"],
        "2531-Ljnk-278",
        2,
    )


async def test_unknown_customer_number_still_books_the_voucher_tagged_mismatch(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    issued = envelope("invoice.issued", crm_invoice(customer_number="K-404"))
    async with running_worker(settings):
        await publish(settings, issued)
        [outcome] = await wait_for_outcomes(db, issued)

    assert outcome["status"] == "succeeded", outcome["error"]
    account = sandbox.sandbox.account(token)
    [voucher] = account.objects("Voucher")
    assert (voucher.get("supplier"), voucher["supplierName"]) == (None, "XYZ Design")
    [tag] = account.objects("Tag")
    [relation] = account.objects("TagRelation")
    assert tag["name"] == "mismatch"
    assert (relation["tag"]["id"], relation["object"]) == (
        tag["id"],
        {"id": voucher["id"], "objectName": "Voucher"},
    )


async def test_accounting_codes_map_to_booking_accounts_or_fail_naming_the_code(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox, booking_accounts={"DESK": "8400"})
    mapped = envelope(
        "invoice.issued",
        crm_invoice(
            lines=[{"name": "Desk", "net_amount": "100.00", "tax_rate": "19", "accounting_code": "DESK"}]
        ),
    )
    unknown = envelope(
        "invoice.issued",
        crm_invoice(
            "inv-10",
            number="2531-X",
            lines=[{"name": "Desk", "net_amount": "100.00", "tax_rate": "19", "accounting_code": "9999"}],
        ),
    )
    async with running_worker(settings):
        await publish(settings, mapped, unknown)
        first, second = await wait_for_outcomes(db, mapped, unknown)

    assert first["status"] == "succeeded", first["error"]
    assert (second["status"], second["reason"], second["attempt"]) == ("failed", "unknown_booking_account", 1)
    assert "9999" in second["error"]
    assert [v["description"] for v in sandbox.sandbox.account(token).objects("Voucher")] == ["2531-Ljnk-278"]
    assert await db.fetchval("SELECT reason FROM sevsync.dead_letter") == "unknown_booking_account"


async def test_lost_answer_leaves_one_voucher(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(kind="lost_answer", method="POST", path="/Voucher/Factory/saveVoucher")
    issued = envelope("invoice.issued", crm_invoice())
    async with running_worker(settings):
        await publish(settings, issued)
        [outcome] = await wait_for_outcomes(db, issued, timeout=30)

    assert outcome["status"] == "succeeded", outcome["error"]
    assert len(sandbox.sandbox.account(token).objects("Voucher")) == 1


async def test_cancellation_books_one_negative_voucher_and_blocks_a_later_issue(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    issued = envelope("invoice.issued", crm_invoice(), version=1)
    cancelled = envelope("invoice.cancelled", CANCELLATION, version=2)
    again = envelope("invoice.cancelled", CANCELLATION, version=3)
    reissued = envelope("invoice.issued", crm_invoice(), version=4)
    async with running_worker(settings):
        await publish(settings, issued)
        await wait_for_outcomes(db, issued)
        await publish(settings, cancelled)
        [first] = await wait_for_outcomes(db, cancelled)
        await publish(settings, again)
        [second] = await wait_for_outcomes(db, again)
        await publish(settings, reissued)
        [third] = await wait_for_outcomes(db, reissued)

    assert first["status"] == "succeeded", first["error"]
    assert (second["status"], second["reason"]) == ("skipped", "no_change")
    assert (third["status"], third["reason"]) == ("skipped", "cancelled")
    original, correction = sandbox.sandbox.account(token).objects("Voucher")
    assert correction["description"] == "ST-2531-1"
    assert (Decimal(correction["sumNet"]), Decimal(correction["sumGross"])) == (
        Decimal("-220"),
        Decimal("-261.80"),
    )
    assert Decimal(original["sumGross"]) == Decimal("261.80")


async def test_cancellation_before_its_invoice_waits_then_applies(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    cancelled = envelope("invoice.cancelled", CANCELLATION, version=2)
    issued = envelope("invoice.issued", crm_invoice(), version=1)
    async with running_worker(settings):
        await publish(settings, cancelled)
        waiting = await wait_for_first_outcome(db, cancelled)
        await publish(settings, issued)
        [outcome] = await wait_for_outcomes(db, cancelled, timeout=30)

    assert (waiting["status"], waiting["reason"]) == ("retrying", "awaiting_dependency")
    assert "inv-9" in waiting["error"]
    assert outcome["status"] == "succeeded", outcome["error"]
    assert len(sandbox.sandbox.account(token).objects("Voucher")) == 2


async def test_waiting_ends_dead_when_the_invoice_never_comes(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    cancelled = envelope("invoice.cancelled", CANCELLATION)
    async with running_worker(settings):
        await publish(settings, cancelled)
        [outcome] = await wait_for_outcomes(db, cancelled, timeout=30)

    assert (outcome["status"], outcome["reason"]) == ("dead", "awaiting_dependency")
    assert await db.fetchval("SELECT reason FROM sevsync.dead_letter") == "awaiting_dependency"
