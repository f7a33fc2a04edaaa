"""A won deal's delivery date on sevDesk accounts that accept, or refuse, an equal invoice date.

Some accounts refuse an invoice whose deliveryDate equals its invoiceDate (422 "The invoiceDate (...)
must be before the deliveryDate (...)"). sevsync then states the date in the head text instead, and
remembers that for the tenant (`delivery_date_in_head_text`).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer
from sevsync.sandbox.store import Account
from sevsync.store.tenants import TenantRepository
from sevsync.tenants.service import change_settings

from ..samples import deal
from .harness import add_tenant, envelope, publish, running_worker, wait_for_outcomes

SAVE_INVOICE = "/Invoice/Factory/saveInvoice$"
DELIVERY_LINE = "Leistungsdatum: 20.11.2026"


def refused_saves(sandbox: SandboxServer, account: Account) -> int:
    """saveInvoice calls of the account that sevDesk answered 422."""
    return sum(
        1
        for call in sandbox.sandbox.calls
        if call.account_id == account.id
        and call.path == "/Invoice/Factory/saveInvoice"
        and call.status == 422
    )


async def learned(db: asyncpg.Pool, tenant: str = "acme") -> bool:
    """The tenant's stored setting, as `tenant show` reads it."""
    record = await TenantRepository(db).get(tenant)
    assert record is not None
    return bool(record.settings.model_dump().get("delivery_date_in_head_text"))


def invoice_of(account: Account, deal_id: str) -> dict[str, Any]:
    [invoice] = [
        i for i in account.objects("Invoice") if i["customerInternalNote"] == f"sevsync deal {deal_id}"
    ]
    return invoice


async def test_an_account_that_accepts_equal_dates_keeps_the_delivery_date(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    won = envelope("deal.won", deal())
    async with running_worker(settings):
        await publish(settings, won)
        [outcome] = await wait_for_outcomes(db, won)

    assert outcome["status"] == "succeeded", outcome["error"]
    invoice = invoice_of(account, "deal-42")
    assert invoice["deliveryDate"] is not None
    assert invoice["deliveryDate"] == invoice["invoiceDate"]
    assert DELIVERY_LINE not in (invoice["headText"] or "")
    assert not await learned(db)


async def test_a_refusing_account_gets_the_date_in_the_head_text_and_the_tenant_remembers(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    account.refuse_equal_delivery_date = True
    first = envelope("deal.won", deal(), version=1)
    second = envelope("deal.won", deal("deal-43", number="D-2026-0043"), version=1)
    unchanged = envelope("deal.won", deal(), version=2)
    async with running_worker(settings):
        await publish(settings, first)
        [won_first] = await wait_for_outcomes(db, first)
        refused_while_learning = refused_saves(sandbox, account)
        await publish(settings, second)
        [won_second] = await wait_for_outcomes(db, second)
        await publish(settings, unchanged)
        [won_again] = await wait_for_outcomes(db, unchanged)

    assert won_first["status"] == "succeeded", won_first["error"]
    assert refused_while_learning == 1
    assert await learned(db)
    invoices = account.objects("Invoice")
    assert len(invoices) == 2
    for deal_id in ("deal-42", "deal-43"):
        invoice = invoice_of(account, deal_id)
        assert invoice["deliveryDate"] is None
        assert DELIVERY_LINE in invoice["headText"]
    # The second invoice was saved without a refused first try.
    assert won_second["status"] == "succeeded", won_second["error"]
    assert refused_saves(sandbox, account) == 1
    # Once learned, the same deal again is recognised as unchanged.
    assert (won_again["status"], won_again["reason"]) == ("skipped", "no_change")


async def test_a_draft_made_before_the_account_refused_keeps_its_head_text_and_gets_the_date(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    won = envelope("deal.won", deal(), version=1)
    fewer_hours = deal()
    fewer_hours["lines"][0]["quantity"] = "8"
    won_changed = envelope("deal.won", fewer_hours, version=2)
    async with running_worker(settings):
        await publish(settings, won)
        [created] = await wait_for_outcomes(db, won)
        # Someone writes a head text in sevDesk; later the account starts refusing equal dates.
        draft = account.find("Invoice", int(created["sevdesk_id"]))
        assert draft is not None
        account.update(draft, {"headText": "<p>Vielen Dank für Ihren Auftrag.</p>"})
        account.refuse_equal_delivery_date = True
        await publish(settings, won_changed)
        [updated] = await wait_for_outcomes(db, won_changed)

    assert updated["status"] == "succeeded", updated["error"]
    [invoice] = account.objects("Invoice")
    assert invoice["id"] == created["sevdesk_id"]
    assert invoice["deliveryDate"] is None
    assert DELIVERY_LINE in invoice["headText"]
    assert "Vielen Dank für Ihren Auftrag." in invoice["headText"]
    assert refused_saves(sandbox, account) == 1
    assert await learned(db)


async def test_a_lost_answer_while_learning_leaves_one_invoice(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    account.refuse_equal_delivery_date = True
    # The first save is refused as usual; the answer to the second (the date in the head text) is lost.
    sandbox.sandbox.faults.add(kind="latency", method="POST", path=SAVE_INVOICE, seconds=0)
    sandbox.sandbox.faults.add(kind="lost_answer", method="POST", path=SAVE_INVOICE)
    won = envelope("deal.won", deal())
    async with running_worker(settings):
        await publish(settings, won)
        [outcome] = await wait_for_outcomes(db, won, timeout=30)

    assert outcome["status"] == "succeeded", outcome["error"]
    [invoice] = account.objects("Invoice")
    assert outcome["sevdesk_id"] == invoice["id"]
    assert invoice["deliveryDate"] is None
    assert DELIVERY_LINE in invoice["headText"]
    assert refused_saves(sandbox, account) == 1


async def test_another_refusal_keeps_sevdesks_message_and_teaches_nothing(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    sandbox.sandbox.faults.add(
        kind="status", method="POST", path=SAVE_INVOICE, status=422, message="contactPerson is invalid"
    )
    won = envelope("deal.won", deal())
    async with running_worker(settings):
        await publish(settings, won)
        [outcome] = await wait_for_outcomes(db, won)

    assert (outcome["status"], outcome["reason"]) == ("failed", "sevdesk_rejected")
    assert "HTTP 422" in outcome["error"]
    assert "contactPerson is invalid" in outcome["error"]
    assert account.objects("Invoice") == []
    assert not await learned(db)


async def test_switched_back_by_an_operator_the_date_returns_to_the_delivery_date_field(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox, delivery_date_in_head_text=True)
    account = sandbox.sandbox.account(token)
    won = envelope("deal.won", deal(), version=1)
    fewer_hours = deal()
    fewer_hours["lines"][0]["quantity"] = "8"
    won_changed = envelope("deal.won", fewer_hours, version=2)
    async with running_worker(settings):
        await publish(settings, won)
        [created] = await wait_for_outcomes(db, won)
        draft = account.find("Invoice", int(created["sevdesk_id"]))
        assert draft is not None
        in_head_text = draft.render()
        account.update(draft, {"headText": f"{in_head_text['headText']}\n<p>Zahlbar ohne Abzug.</p>"})
        # The account now accepts equal dates, and the operator switches the rule off.
        await change_settings(db, "acme", {"delivery_date_in_head_text": False}, None)
        await publish(settings, won_changed)
        [updated] = await wait_for_outcomes(db, won_changed)

    assert created["status"] == "succeeded", created["error"]
    assert in_head_text["deliveryDate"] is None
    assert DELIVERY_LINE in in_head_text["headText"]
    assert updated["status"] == "succeeded", updated["error"]
    [invoice] = account.objects("Invoice")
    assert invoice["deliveryDate"] == invoice["invoiceDate"]
    assert invoice["headText"] == "<p>Zahlbar ohne Abzug.</p>"
    assert refused_saves(sandbox, account) == 0


async def test_a_refusal_of_the_update_to_an_adopted_draft_keeps_it_and_makes_no_second_one(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    faults = sandbox.sandbox.faults
    # Version 1's draft is created, but the answer is lost and every look for it fails: it ends dead,
    # its intent (and what it sent) left behind, and the draft not linked.
    faults.add(kind="lost_answer", method="POST", path=SAVE_INVOICE, times=1)
    faults.add(kind="latency", seconds=0, method="GET", path="^/Invoice$", times=1)  # the search before
    faults.add(kind="status", status=503, method="GET", path="^/Invoice$", times=None)
    first = envelope("deal.won", deal(), version=1)
    fewer_hours = deal()
    fewer_hours["lines"][0]["quantity"] = "8"
    second = envelope("deal.won", fewer_hours, version=2)
    async with running_worker(settings):
        await publish(settings, first)
        [dead] = await wait_for_outcomes(db, first, timeout=30)
        faults.clear()
        # Then the account starts refusing equal dates: version 2's update of the adopted draft is refused.
        account.refuse_equal_delivery_date = True
        await publish(settings, second)
        [outcome] = await wait_for_outcomes(db, second)

    assert dead["status"] == "dead"
    assert outcome["status"] == "succeeded", outcome["error"]
    # The draft sevsync created is the one linked and updated; no second draft, no marker given up.
    [invoice] = account.objects("Invoice")
    assert invoice["customerInternalNote"] == "sevsync deal deal-42"
    assert invoice["deliveryDate"] is None
    assert DELIVERY_LINE in invoice["headText"]
    assert outcome["sevdesk_id"] == invoice["id"]
    assert await db.fetchval("SELECT count(*) FROM sevsync.given_up_key") == 0
    assert refused_saves(sandbox, account) == 1
    assert await learned(db)
