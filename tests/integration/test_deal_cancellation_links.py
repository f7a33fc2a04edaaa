"""deal.cancelled records the cancellation invoice (SR) of an open invoice as a `cancellation` link.

The `cancellation` link type is shared with CRM invoices (their correcting voucher, entity_id = the
invoice id); a deal and a CRM invoice may carry the same id, and neither may then disturb the other.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer
from sevsync.sandbox.store import Account

from ..samples import crm_invoice, deal
from .harness import add_tenant, envelope, publish, running_worker, wait_for_outcomes

SHARED_ID = "4711"


async def cancellation_links(db: asyncpg.Pool) -> list[asyncpg.Record]:
    return list(await db.fetch("SELECT * FROM sevsync.entity_link WHERE entity_type = 'cancellation'"))


def open_invoice(account: Account, invoice_id: str) -> None:
    """What finalising the invoice in sevDesk does (status 200 and a number)."""
    record = account.find("Invoice", int(invoice_id))
    assert record is not None
    account.update(record, {"status": "200", "invoiceNumber": "RE-1000"})


def cancellation_invoices(account: Account) -> list[dict[str, Any]]:
    return [i for i in account.objects("Invoice") if i["invoiceType"] == "SR"]


async def cancel_a_won_deal(
    db: asyncpg.Pool, settings: Settings, account: Account, deal_id: str
) -> tuple[asyncpg.Record, asyncpg.Record]:
    """deal.won, the invoice opened in sevDesk, then deal.cancelled: the won and cancelled outcomes."""
    won = envelope("deal.won", deal(deal_id), version=1)
    cancelled = envelope("deal.cancelled", {"id": deal_id, "reason": "customer withdrew"}, version=2)
    await publish(settings, won)
    [created] = await wait_for_outcomes(db, won)
    assert created["status"] == "succeeded", created["error"]
    open_invoice(account, created["sevdesk_id"])
    await publish(settings, cancelled)
    [outcome] = await wait_for_outcomes(db, cancelled, timeout=30)
    return created, outcome


async def test_cancelling_an_open_invoice_links_the_cancellation_invoice(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    # The cancelInvoice lands but its answer is lost: the SR found afterwards is the one linked.
    sandbox.sandbox.faults.add(kind="lost_answer", method="POST", path="/cancelInvoice$")
    again = envelope("deal.cancelled", {"id": "deal-42", "reason": "customer withdrew"}, version=3)
    async with running_worker(settings):
        created, outcome = await cancel_a_won_deal(db, settings, account, "deal-42")
        await publish(settings, again)
        [repeated] = await wait_for_outcomes(db, again)

    assert outcome["status"] == "succeeded", outcome["error"]
    [sr] = cancellation_invoices(account)
    assert sr["origin"]["id"] == created["sevdesk_id"]
    [link] = await cancellation_links(db)
    assert (link["entity_id"], link["sevdesk_object"], link["sevdesk_id"], link["sevdesk_number"]) == (
        "deal-42",
        "Invoice",
        sr["id"],
        sr["invoiceNumber"],
    )
    assert (outcome["sevdesk_object"], outcome["sevdesk_id"]) == ("Invoice", sr["id"])
    # A repeated deal.cancelled changes nothing and still names the cancellation invoice.
    assert (repeated["status"], repeated["reason"]) == ("skipped", "no_change")
    assert repeated["sevdesk_id"] == sr["id"]
    assert len(cancellation_invoices(account)) == 1
    assert [dict(row) for row in await cancellation_links(db)] == [dict(link)]


async def test_a_deleted_draft_and_a_deal_without_invoice_leave_no_cancellation_link(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    won = envelope("deal.won", deal("deal-42"), version=1)
    opened = envelope("deal.opened", deal("deal-43", number="D-2026-0043"), version=1)
    cancelled = [
        envelope("deal.cancelled", {"id": deal_id, "reason": "customer withdrew"}, version=2)
        for deal_id in ("deal-42", "deal-43")
    ]
    async with running_worker(settings):
        await publish(settings, won, opened)
        await wait_for_outcomes(db, won, opened)
        await publish(settings, *cancelled)
        outcomes = await wait_for_outcomes(db, *cancelled)

    assert [o["status"] for o in outcomes] == ["succeeded", "succeeded"], [o["error"] for o in outcomes]
    assert sandbox.sandbox.account(token).objects("Invoice") == []
    assert await cancellation_links(db) == []


async def test_a_crm_invoice_with_a_cancelled_deals_id_is_still_booked_and_corrected(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    issued = envelope("invoice.issued", crm_invoice(SHARED_ID), version=1)
    corrected = envelope(
        "invoice.cancelled",
        {"id": SHARED_ID, "number": "ST-2531-1", "date": "2025-03-05", "reason": "wrong desk"},
        version=2,
    )
    async with running_worker(settings):
        _, deal_cancelled = await cancel_a_won_deal(db, settings, account, SHARED_ID)
        await publish(settings, issued)
        [booked] = await wait_for_outcomes(db, issued)
        await publish(settings, corrected)
        [correction] = await wait_for_outcomes(db, corrected)

    assert deal_cancelled["status"] == "succeeded", deal_cancelled["error"]
    # The deal's cancellation link neither makes the invoice's events stale nor passes for its correction.
    assert booked["status"] == "succeeded", (booked["reason"], booked["error"])
    assert correction["status"] == "succeeded", (correction["reason"], correction["error"])
    assert sorted(v["description"] for v in account.objects("Voucher")) == ["2531-Ljnk-278", "ST-2531-1"]
    [link] = await cancellation_links(db)
    assert (link["sevdesk_object"], link["sevdesk_number"]) == ("Voucher", "ST-2531-1")
    # The deal keeps its cancellation invoice on its invoice link.
    deal_invoice = await db.fetchrow(
        "SELECT * FROM sevsync.entity_link WHERE entity_type = 'deal_invoice' AND entity_id = $1", SHARED_ID
    )
    assert deal_invoice is not None
    assert deal_invoice["details"]["cancellation_id"] == deal_cancelled["sevdesk_id"]


async def test_a_deal_with_a_corrected_crm_invoices_id_leaves_its_link_alone(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    correction_event = {"id": SHARED_ID, "number": "ST-2531-1", "date": "2025-03-05", "reason": "wrong desk"}
    issued = envelope("invoice.issued", crm_invoice(SHARED_ID), version=1)
    corrected = envelope("invoice.cancelled", correction_event, version=2)
    corrected_again = envelope("invoice.cancelled", correction_event, version=3)
    async with running_worker(settings):
        await publish(settings, issued)
        await wait_for_outcomes(db, issued)
        await publish(settings, corrected)
        [correction] = await wait_for_outcomes(db, corrected)
        [correction_link] = await cancellation_links(db)
        _, deal_cancelled = await cancel_a_won_deal(db, settings, account, SHARED_ID)
        await publish(settings, corrected_again)
        [repeated] = await wait_for_outcomes(db, corrected_again)

    assert correction["status"] == "succeeded", correction["error"]
    assert deal_cancelled["status"] == "succeeded", deal_cancelled["error"]
    [sr] = cancellation_invoices(account)
    assert deal_cancelled["sevdesk_id"] == sr["id"]
    [link] = await cancellation_links(db)
    assert (link["sevdesk_object"], link["sevdesk_id"]) == ("Voucher", correction_link["sevdesk_id"])
    assert (repeated["status"], repeated["reason"]) == ("skipped", "no_change")
    assert len(account.objects("Voucher")) == 2
