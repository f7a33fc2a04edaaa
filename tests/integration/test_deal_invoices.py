"""deal.won -> a draft sevDesk invoice; deal.cancelled -> deleted or cancelled once, end to end."""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer
from sevsync.sandbox.store import Account

from ..samples import deal
from .harness import add_tenant, envelope, publish, running_worker, wait_for_outcomes

CANCELLED = {"id": "deal-42", "reason": "customer withdrew"}


def open_invoice(account: Account, invoice_id: str, **fields: object) -> None:
    """What finalising the invoice in sevDesk does (status 200 and a number)."""
    record = account.find("Invoice", int(invoice_id))
    assert record is not None
    account.update(record, {"status": "200", "invoiceNumber": "RE-1000", **fields})


async def test_won_deal_becomes_a_draft_invoice_that_sevsync_never_finalises(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    won = envelope("deal.won", deal(), version=5)
    async with running_worker(settings):
        await publish(settings, won)
        [outcome] = await wait_for_outcomes(db, won)

    assert (outcome["status"], outcome["sevdesk_object"]) == ("succeeded", "Invoice"), outcome["error"]
    account = sandbox.sandbox.account(token)
    [invoice] = account.objects("Invoice")
    assert (invoice["invoiceType"], str(invoice["status"]), invoice["invoiceNumber"]) == ("RE", "100", None)
    assert invoice["customerInternalNote"] == "sevsync deal deal-42"
    assert (invoice["addressName"], invoice["addressCity"]) == ("Acme GmbH", "Berlin")
    assert (Decimal(invoice["sumNet"]), Decimal(invoice["sumGross"])) == (
        Decimal("1106.00"),
        Decimal("1316.14"),
    )
    # Nothing that would finalise or send it.
    finalising = [
        c for c in sandbox.sandbox.calls if "sendBy" in c.path or "getPdf" in c.path or "sendVia" in c.path
    ]
    assert finalising == []
    link = await db.fetchrow("SELECT * FROM sevsync.entity_link WHERE entity_type = 'deal_invoice'")
    assert link is not None
    assert (link["sevdesk_id"], link["synced_version"]) == (invoice["id"], 5)


async def test_lost_create_answer_leaves_one_invoice(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(kind="lost_answer", method="POST", path="/Invoice/Factory/saveInvoice")
    won = envelope("deal.won", deal())
    async with running_worker(settings):
        await publish(settings, won)
        [outcome] = await wait_for_outcomes(db, won, timeout=30)

    assert outcome["status"] == "succeeded", outcome["error"]
    assert len(sandbox.sandbox.account(token).objects("Invoice")) == 1


async def test_cancelling_deletes_a_draft_and_later_wins_are_skipped(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    won = envelope("deal.won", deal(), version=1)
    cancelled = envelope("deal.cancelled", CANCELLED, version=2)
    won_again = envelope("deal.won", deal(), version=3)
    async with running_worker(settings):
        await publish(settings, won)
        await wait_for_outcomes(db, won)
        await publish(settings, cancelled)
        [outcome] = await wait_for_outcomes(db, cancelled)
        await publish(settings, won_again)
        [late] = await wait_for_outcomes(db, won_again)

    assert outcome["status"] == "succeeded", outcome["error"]
    assert sandbox.sandbox.account(token).objects("Invoice") == []
    assert (late["status"], late["reason"]) == ("skipped", "cancelled")


async def test_an_open_invoice_is_cancelled_exactly_once(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    won = envelope("deal.won", deal(), version=1)
    cancelled = envelope("deal.cancelled", CANCELLED, version=2)
    cancelled_again = envelope("deal.cancelled", CANCELLED, version=3)
    # The first cancelInvoice lands, but its answer is lost: the retry must find it, not cancel twice.
    sandbox.sandbox.faults.add(kind="lost_answer", method="POST", path="/cancelInvoice$")
    async with running_worker(settings):
        await publish(settings, won)
        [created] = await wait_for_outcomes(db, won)
        open_invoice(account, created["sevdesk_id"])
        await publish(settings, cancelled)
        [first] = await wait_for_outcomes(db, cancelled, timeout=30)
        await publish(settings, cancelled_again)
        [second] = await wait_for_outcomes(db, cancelled_again)

    assert first["status"] == "succeeded", first["error"]
    assert (second["status"], second["reason"]) == ("skipped", "no_change")
    cancellations = [i for i in account.objects("Invoice") if i["invoiceType"] == "SR"]
    assert len(cancellations) == 1
    assert cancellations[0]["origin"]["id"] == created["sevdesk_id"]
    assert first["sevdesk_id"] == cancellations[0]["id"]
    cancel_calls = [c for c in sandbox.sandbox.calls if c.path.endswith("/cancelInvoice")]
    assert len(cancel_calls) == 1


async def test_a_partly_paid_invoice_refusal_is_recorded_with_sevdesks_code(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    won = envelope("deal.won", deal(), version=1)
    cancelled = envelope("deal.cancelled", CANCELLED, version=2)
    async with running_worker(settings):
        await publish(settings, won)
        [created] = await wait_for_outcomes(db, won)
        open_invoice(account, created["sevdesk_id"], status="750", paidAmount=100.0)
        await publish(settings, cancelled)
        [outcome] = await wait_for_outcomes(db, cancelled)

    # sevDesk answers HTTP 200 with an error body (code 390): still a refusal, not a success.
    assert (outcome["status"], outcome["reason"]) == ("failed", "sevdesk_rejected")
    assert "390" in outcome["error"]
    assert [i for i in account.objects("Invoice") if i["invoiceType"] == "SR"] == []


async def test_cancelled_deal_without_invoice_is_remembered(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    opened = envelope("deal.opened", deal(), version=1)
    cancelled = envelope("deal.cancelled", CANCELLED, version=2)
    won_later = envelope("deal.won", deal(), version=3)
    async with running_worker(settings):
        await publish(settings, opened)
        await wait_for_outcomes(db, opened)
        await publish(settings, cancelled)
        [outcome] = await wait_for_outcomes(db, cancelled)
        await publish(settings, won_later)
        [late] = await wait_for_outcomes(db, won_later)

    assert outcome["status"] == "succeeded", outcome["error"]
    [order] = sandbox.sandbox.account(token).objects("Order")
    assert str(order["status"]) == "300"  # the offer is rejected
    assert (late["status"], late["reason"]) == ("skipped", "cancelled")
    assert sandbox.sandbox.account(token).objects("Invoice") == []
