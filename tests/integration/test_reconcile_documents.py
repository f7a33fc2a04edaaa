"""Reconciling documents: a person's answer to an offer, finalising, payments and cancellation of an
invoice, a voucher's booking, each told once as document.status_changed; sevsync's own writes (drafts,
vouchers, bookings, rejections) never; a deleted offer breaks its link once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from sevsync.config import Settings
from sevsync.reconcile import kinds as reconcile_kinds
from sevsync.reconcile.results import ReconcileFailed
from sevsync.sandbox import people
from sevsync.sandbox.server import SandboxServer
from sevsync.sevdesk.api import SevdeskApi
from sevsync.store import reconcile as store_reconcile
from sevsync.sync.agreed_state import document_state, state_hash

from ..samples import crm_invoice, deal, payment
from .harness import envelope, publish, running_worker, wait_for_outcomes
from .reconciling import T0, person_at, reconcile, sevdesk_id_of, tenant_at_t0, through_worker, told
from .test_payments import tenant_token


async def _statuses(db: asyncpg.Pool) -> list[tuple[str, str, str | None, str | None]]:
    return [
        (e["data"]["entity_type"], e["data"]["status"], e["data"]["paid_amount"], e["data"]["open_amount"])
        for e in await told(db, "document.status_changed")
    ]


async def test_an_offer_accepted_or_rejected_by_the_customer_is_told_once(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await tenant_at_t0(db, settings, sandbox)
    await through_worker(
        db,
        settings,
        envelope("deal.opened", deal()),
        envelope("deal.opened", deal("deal-43", number="D-2026-0043")),
    )
    first = await reconcile(db, settings, ["documents"])
    account = sandbox.sandbox.account(token)

    person_at(sandbox, 60)
    people.decide_offer(account, await sevdesk_id_of(db, "deal_order", "deal-42"), accepted=True)
    people.decide_offer(account, await sevdesk_id_of(db, "deal_order", "deal-43"), accepted=False)
    second = await reconcile(db, settings, ["documents"])
    third = await reconcile(db, settings, ["documents"])

    assert [s.kinds["documents"].told for s in (first, second, third)] == [0, 2, 0]
    events = {e["data"]["entity_id"]: e["data"] for e in await told(db, "document.status_changed")}
    assert events["deal-42"]["status"] == "accepted"
    assert events["deal-43"]["status"] == "rejected"
    assert events["deal-42"]["sevdesk_object"] == "Order"
    assert events["deal-42"]["paid_amount"] is None


async def test_an_invoice_finalised_partly_paid_paid_and_cancelled_is_told_at_each_step(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await tenant_at_t0(db, settings, sandbox)
    await through_worker(
        db,
        settings,
        envelope("deal.won", deal()),
        envelope("deal.won", deal("deal-43", number="D-2026-0043")),
    )
    account = sandbox.sandbox.account(token)
    paid_id, cancelled_id = (
        await sevdesk_id_of(db, "deal_invoice", "deal-42"),
        await sevdesk_id_of(db, "deal_invoice", "deal-43"),
    )
    assert (await reconcile(db, settings, ["documents"])).kinds[
        "documents"
    ].told == 0  # drafts: sevsync's own

    person_at(sandbox, 60)
    people.finalise_invoice(account, paid_id)
    people.finalise_invoice(account, cancelled_id)
    await reconcile(db, settings, ["documents"])
    person_at(sandbox, 60)
    people.book_payment(account, "Invoice", paid_id, {"amount": 100})
    people.cancel_invoice(account, cancelled_id)
    await reconcile(db, settings, ["documents"])
    person_at(sandbox, 60)
    people.book_payment(account, "Invoice", paid_id, {})
    await reconcile(db, settings, ["documents"])
    last = await reconcile(db, settings, ["documents"])

    gross = str(account.find("Invoice", paid_id).fields["sumGross"])  # type: ignore[union-attr]
    assert last.kinds["documents"].told == 0
    statuses = [(s[1], s[2]) for s in await _statuses(db)]
    assert statuses[:2] == [("open", "0.00"), ("open", "0.00")]
    assert sorted(statuses[2:4]) == [("cancelled", "0.00"), ("partially_paid", "100.00")]
    assert statuses[4][0] == "paid"
    assert float(statuses[4][1] or 0) == float(gross)
    versions = [
        e["version"] for e in await told(db, "document.status_changed") if e["data"]["entity_id"] == "deal-42"
    ]
    assert versions == [1, 2, 3]


async def test_a_voucher_booked_by_sevsync_is_not_told_but_booked_by_a_person_is(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    sandbox.sandbox.clock.set(T0)
    token = await tenant_token(db, settings, sandbox)
    await through_worker(
        db,
        settings,
        envelope("invoice.issued", crm_invoice()),
        envelope("payment.received", payment("pay-1", amount="100.00")),
    )
    own = await reconcile(db, settings, ["documents"])
    person_at(sandbox, 60)
    people.book_payment(
        sandbox.sandbox.account(token), "Voucher", await sevdesk_id_of(db, "invoice_voucher", "inv-9"), {}
    )
    theirs = await reconcile(db, settings, ["documents"])

    assert (own.kinds["documents"].examined, own.kinds["documents"].told) == (1, 0)
    assert theirs.kinds["documents"].told == 1
    assert await _statuses(db) == [("invoice_voucher", "paid", "261.80", "0.00")]


async def test_an_offer_rejected_by_sevsync_for_a_lost_deal_is_not_told(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await tenant_at_t0(db, settings, sandbox)
    lost = envelope("deal.lost", {"id": "deal-42"}, version=2)
    await through_worker(db, settings, envelope("deal.opened", deal()), lost)
    summary = await reconcile(db, settings, ["documents"])
    assert (summary.kinds["documents"].examined, summary.kinds["documents"].told) == (1, 0)


async def test_a_deleted_offer_breaks_its_link_once_on_a_sweep(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await tenant_at_t0(db, settings, sandbox)
    await through_worker(db, settings, envelope("deal.opened", deal()))
    await reconcile(db, settings, ["documents"])
    people.delete(sandbox.sandbox.account(token), "Order", await sevdesk_id_of(db, "deal_order", "deal-42"))

    quiet = await reconcile(db, settings, ["documents"], sweep=False)
    swept = await reconcile(db, settings, ["documents"], sweep=True)
    again = await reconcile(db, settings, ["documents"], sweep=True)

    assert [s.kinds["documents"].broken for s in (quiet, swept, again)] == [0, 1, 0]
    [event] = await told(db, "link.broken")
    assert (event["data"]["entity_type"], event["data"]["sevdesk_object"]) == ("deal_order", "Order")


async def test_a_deal_cancelled_by_the_crm_is_not_told_back(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await tenant_at_t0(db, settings, sandbox)
    await through_worker(
        db, settings, envelope("deal.opened", deal()), envelope("deal.won", deal(), version=2)
    )
    invoice_id = await sevdesk_id_of(db, "deal_invoice", "deal-42")
    people.finalise_invoice(sandbox.sandbox.account(token), invoice_id)
    await reconcile(db, settings, ["documents"])  # the finalising: a person's, told
    person_at(sandbox, 60)
    await through_worker(db, settings, envelope("deal.cancelled", {"id": "deal-42"}, version=3))
    summary = await reconcile(db, settings, ["documents"])

    assert summary.kinds["documents"].examined == 2
    assert summary.kinds["documents"].told == 0
    assert [s[1] for s in await _statuses(db)] == ["open"]


async def test_a_run_that_crashes_mid_page_tells_each_document_once(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await tenant_at_t0(db, settings, sandbox)
    other = deal("deal-43", number="D-2026-0043")
    await through_worker(db, settings, envelope("deal.opened", deal()), envelope("deal.opened", other))
    await reconcile(db, settings, ["documents"])
    account = sandbox.sandbox.account(token)
    person_at(sandbox, 60)
    people.decide_offer(account, await sevdesk_id_of(db, "deal_order", "deal-42"), accepted=True)
    people.decide_offer(account, await sevdesk_id_of(db, "deal_order", "deal-43"), accepted=True)

    real_tell = store_reconcile.tell_change
    calls = 0

    async def crash_on_second(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("killed mid-page")
        return await real_tell(*args, **kwargs)

    monkeypatch.setattr(store_reconcile, "tell_change", crash_on_second)
    with pytest.raises(ReconcileFailed, match="mid-page"):  # the kind's failure, reported
        await reconcile(db, settings, ["documents"])
    monkeypatch.undo()
    rerun = await reconcile(db, settings, ["documents"])

    assert rerun.kinds["documents"].told == 1
    events = await told(db, "document.status_changed")
    assert sorted((e["data"]["entity_id"], e["data"]["status"], e["version"]) for e in events) == [
        ("deal-42", "accepted", 1),
        ("deal-43", "accepted", 1),
    ]


async def test_a_change_made_between_two_list_calls_of_a_run_is_told_by_the_next_run(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await tenant_at_t0(db, settings, sandbox)
    await through_worker(
        db,
        settings,
        envelope("deal.opened", deal()),
        envelope("deal.won", deal("deal-43", number="D-2026-0043")),
    )
    account = sandbox.sandbox.account(token)
    offer_id = await sevdesk_id_of(db, "deal_order", "deal-42")
    invoice_id = await sevdesk_id_of(db, "deal_invoice", "deal-43")
    await reconcile(db, settings, ["documents"])
    person_at(sandbox, 600)
    # Our clock and sevDesk's agree here: the sandbox's.
    monkeypatch.setattr(reconcile_kinds, "wall_clock", sandbox.sandbox.clock.now)
    real_changed_after = SevdeskApi.changed_after

    def while_listing(api: SevdeskApi, object_name: str, after: int) -> Any:
        if object_name == "Invoice":  # the Order list is done: a person acts before the next call
            person_at(sandbox, 3)
            people.decide_offer(account, offer_id, accepted=True)
            person_at(sandbox, 4)
            people.finalise_invoice(account, invoice_id)
        return real_changed_after(api, object_name, after)

    monkeypatch.setattr(SevdeskApi, "changed_after", while_listing)
    during = await reconcile(db, settings, ["documents"], sweep=False)
    monkeypatch.setattr(SevdeskApi, "changed_after", real_changed_after)
    person_at(sandbox, 60)
    after = await reconcile(db, settings, ["documents"], sweep=False)

    assert [during.kinds["documents"].told, after.kinds["documents"].told] == [1, 1]
    assert sorted(s[1] for s in await _statuses(db)) == ["accepted", "open"]


async def test_a_draft_deleted_by_sevsync_for_a_cancelled_deal_is_not_a_broken_link(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await tenant_at_t0(db, settings, sandbox)
    await through_worker(
        db, settings, envelope("deal.won", deal()), envelope("deal.cancelled", {"id": "deal-42"}, version=2)
    )
    swept = await reconcile(db, settings, ["documents"], sweep=True)
    won_again = envelope("deal.won", deal(), version=3)
    async with running_worker(settings):
        await publish(settings, won_again)
        [outcome] = await wait_for_outcomes(db, won_again)

    assert swept.kinds["documents"].broken == 0
    assert await told(db, "link.broken") == []
    assert (outcome["status"], outcome["reason"]) == ("skipped", "cancelled"), outcome["error"]


async def test_a_booking_in_flight_is_not_told_before_or_after_its_handler_commits(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    sandbox.sandbox.clock.set(T0)
    token = await tenant_token(db, settings, sandbox)
    await through_worker(db, settings, envelope("invoice.issued", crm_invoice()))
    await reconcile(db, settings, ["documents"])
    voucher_id = await sevdesk_id_of(db, "invoice_voucher", "inv-9")
    # As after a crash right after bookAmount: the booking landed, its intent is still open.
    await db.execute(
        "INSERT INTO sevsync.write_intent (tenant_id, entity_type, entity_id, sevdesk_object, business_key)"
        " VALUES ('acme', 'payment', 'pay-1', $1, '0')",
        f"Booking:Voucher:{voucher_id}",
    )
    person_at(sandbox, 60)
    people.book_payment(sandbox.sandbox.account(token), "Voucher", voucher_id, {"amount": "261.80"})
    in_flight = await reconcile(db, settings, ["documents"])
    await through_worker(db, settings, envelope("payment.received", payment("pay-1", amount="261.80")))
    committed = await reconcile(db, settings, ["documents"], sweep=True)

    assert [s.kinds["documents"].told for s in (in_flight, committed)] == [0, 0]
    assert await _statuses(db) == []


@pytest.mark.parametrize("listed_in_overlap", [True, False])
async def test_a_cancellation_that_leaves_the_originals_stamp_is_told_once(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, listed_in_overlap: bool
) -> None:
    token = await tenant_at_t0(db, settings, sandbox)
    await through_worker(
        db,
        settings,
        envelope("deal.won", deal()),
        envelope("deal.won", deal("deal-43", number="D-2026-0043")),
    )
    account = sandbox.sandbox.account(token)
    invoice_id = await sevdesk_id_of(db, "deal_invoice", "deal-42")
    person_at(sandbox, 60)
    people.finalise_invoice(account, invoice_id)
    await reconcile(db, settings, ["documents"])
    if not listed_in_overlap:  # a later change moves the cursor past the original's stamp
        person_at(sandbox, 60)
        people.finalise_invoice(account, await sevdesk_id_of(db, "deal_invoice", "deal-43"))
        await reconcile(db, settings, ["documents"])

    person_at(sandbox, 60)
    original = account.find("Invoice", invoice_id)
    assert original is not None
    stamp = original.updated
    people.cancel_invoice(account, invoice_id)
    original.updated = stamp  # sevDesk may leave the original's `update`: only the SR moved
    cancelling = await reconcile(db, settings, ["documents"])
    person_at(sandbox, 120)
    again = await reconcile(db, settings, ["documents"])

    assert [s.kinds["documents"].told for s in (cancelling, again)] == [1, 0]
    deal_42 = [s[1] for s in await _statuses(db) if s[0] == "deal_invoice"]
    assert deal_42.count("cancelled") == 1


async def test_a_cancellation_in_flight_is_not_told_and_is_agreed_once_its_handler_commits(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await tenant_at_t0(db, settings, sandbox)
    await through_worker(db, settings, envelope("deal.won", deal()))
    invoice_id = await sevdesk_id_of(db, "deal_invoice", "deal-42")
    account = sandbox.sandbox.account(token)
    people.finalise_invoice(account, invoice_id)
    await reconcile(db, settings, ["documents"])  # the finalising: a person's, told
    # As after a crash right after cancelInvoice: the SR exists, the deal's intent is still open.
    await db.execute(
        "INSERT INTO sevsync.write_intent (tenant_id, entity_type, entity_id, sevdesk_object, business_key)"
        " VALUES ('acme', 'deal_invoice', 'deal-42', 'CancellationInvoice', $1)",
        str(invoice_id),
    )
    person_at(sandbox, 60)
    people.cancel_invoice(account, invoice_id)
    in_flight = await reconcile(db, settings, ["documents"])
    await through_worker(db, settings, envelope("deal.cancelled", {"id": "deal-42"}, version=2))
    committed = await reconcile(db, settings, ["documents"], sweep=True)
    person_at(sandbox, 60)
    after = await reconcile(db, settings, ["documents"], sweep=True)

    assert [s.kinds["documents"].told for s in (in_flight, committed, after)] == [0, 0, 0]
    assert [s[1] for s in await _statuses(db)] == ["open"]
    agreed = await db.fetchval(
        "SELECT agreed_hash FROM sevsync.entity_link"
        " WHERE entity_type = 'deal_invoice' AND entity_id = 'deal-42'"
    )
    assert agreed == state_hash(document_state("cancelled", Decimal("0.00"), Decimal("0.00")))


async def test_a_gross_amount_changed_in_sevdesk_is_told_with_its_open_amount_once(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await tenant_at_t0(db, settings, sandbox)
    await through_worker(db, settings, envelope("deal.won", deal()))
    account = sandbox.sandbox.account(token)
    invoice = account.find("Invoice", await sevdesk_id_of(db, "deal_invoice", "deal-42"))
    assert invoice is not None
    quiet = await reconcile(db, settings, ["documents"])  # the draft: sevsync's own
    person_at(sandbox, 60)
    account.update(invoice, {"sumGross": "238.00"})  # the person's edit, status and payments unchanged
    changed = await reconcile(db, settings, ["documents"])
    person_at(sandbox, 60)
    again = await reconcile(db, settings, ["documents"])

    assert [s.kinds["documents"].told for s in (quiet, changed, again)] == [0, 1, 0]
    assert await _statuses(db) == [("deal_invoice", "draft", "0.00", "238.00")]


async def test_a_document_agreed_before_the_open_amount_counted_is_adopted_untold(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await tenant_at_t0(db, settings, sandbox)
    await through_worker(db, settings, envelope("deal.won", deal()))
    await db.execute(  # the hash a release before this one recorded: status and paid amount only
        "UPDATE sevsync.entity_link SET agreed_hash = $1 WHERE entity_type = 'deal_invoice'",
        state_hash(document_state("draft", Decimal("0.00"))),
    )
    summary = await reconcile(db, settings, ["documents"], sweep=True)

    assert summary.kinds["documents"].told == 0
    agreed = await db.fetchval(
        "SELECT agreed_hash FROM sevsync.entity_link WHERE entity_type = 'deal_invoice'"
    )
    assert agreed != state_hash(document_state("draft", Decimal("0.00")))
