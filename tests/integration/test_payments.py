"""payment.received -> bookAmount on the invoice or voucher, end to end."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import aiohttp
import asyncpg

from sevsync.config import Settings
from sevsync.sandbox.banking import insert_transaction
from sevsync.sandbox.server import SandboxServer
from sevsync.sandbox.store import Account, Record

from ..samples import crm_invoice, deal, payment
from .harness import (
    add_tenant,
    envelope,
    publish,
    running_worker,
    wait_for_first_outcome,
    wait_for_outcomes,
    wait_until,
)


def check_account(account: Account, kind: str) -> Record:
    return next(r for r in account.table("CheckAccount").values() if r.fields["type"] == kind)


async def tenant_with_accounts(db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer) -> Account:
    return sandbox.sandbox.account(await tenant_token(db, settings, sandbox))


async def tenant_token(db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer) -> str:
    """A connected tenant whose payment methods `cash` and `bank` map to the register and the bank."""
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    methods = {
        "cash": str(check_account(account, "register").id),
        "bank": str(check_account(account, "online").id),
    }
    async with db.acquire() as conn:
        await conn.execute(
            "UPDATE sevsync.tenant_integration SET settings = settings || $1::jsonb",
            {"check_accounts": methods},
        )
    return token


async def person_edits(
    sandbox: SandboxServer, token: str, object_name: str, object_id: str, **fields: str
) -> None:
    """Change fields as a person in the sevDesk UI does (the sandbox's control route)."""
    url = f"{sandbox.root_url}/__sandbox__/ui/{object_name}/{object_id}"
    async with (
        aiohttp.ClientSession() as session,
        session.put(url, json=fields, headers={"Authorization": token}) as response,
    ):
        assert response.status == 200, await response.text()


def booking_types(account: Account, object_name: str) -> list[str]:
    [document] = account.table(object_name).values()
    return [booking["type"] for booking in document.meta.get("bookings", [])]


async def test_partial_payments_on_a_voucher_book_once_each(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    account = await tenant_with_accounts(db, settings, sandbox)
    issued = envelope("invoice.issued", crm_invoice())
    first = envelope("payment.received", payment("pay-1", amount="100.00"))
    first_again = envelope("payment.received", payment("pay-1", amount="100.00"), version=2)
    rest = envelope("payment.received", payment("pay-2", amount="161.80"))
    async with running_worker(settings):
        await publish(settings, issued)
        await wait_for_outcomes(db, issued)
        await publish(settings, first)
        [one] = await wait_for_outcomes(db, first)
        [voucher] = account.objects("Voucher")
        partly = (str(voucher["status"]), Decimal(str(voucher["paidAmount"])))
        await publish(settings, first_again, rest)
        again, two = await wait_for_outcomes(db, first_again, rest)

    assert one["status"] == "succeeded", one["error"]
    assert partly == ("750", Decimal("100"))
    assert (again["status"], again["reason"]) == ("skipped", "no_change")
    assert two["status"] == "succeeded", two["error"]
    [voucher] = account.objects("Voucher")
    assert (str(voucher["status"]), Decimal(str(voucher["paidAmount"]))) == ("1000", Decimal("261.8"))
    bookings = [c for c in sandbox.sandbox.calls if c.path.endswith("/bookAmount")]
    assert len(bookings) == 2
    # The first paid part of it, the second what was left: that one is the full payment.
    assert booking_types(account, "Voucher") == ["N", "FULL_PAYMENT"]


async def test_a_payment_above_the_open_amount_fails_overpaid_and_books_nothing(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    account = await tenant_with_accounts(db, settings, sandbox)
    issued = envelope("invoice.issued", crm_invoice())  # 261.80
    first = envelope("payment.received", payment("pay-1", amount="100.00"))
    too_much = envelope("payment.received", payment("pay-2", amount="200.00"))
    rest = envelope("payment.received", payment("pay-3", amount="161.80"))
    async with running_worker(settings):
        await publish(settings, issued)
        await wait_for_outcomes(db, issued)
        await publish(settings, first)
        await wait_for_outcomes(db, first)
        await publish(settings, too_much)
        [refused] = await wait_for_outcomes(db, too_much)
        await publish(settings, rest)
        [completed] = await wait_for_outcomes(db, rest)

    assert (refused["status"], refused["reason"]) == ("failed", "overpaid")
    assert refused["error"].startswith("payment pay-2 of 200.00 exceeds the open amount 161.80 of voucher ")
    assert "2531-Ljnk-278" in refused["error"]
    dead = await db.fetchrow("SELECT reason, error FROM sevsync.dead_letter")
    assert dead is not None
    assert (dead["reason"], dead["error"]) == ("overpaid", refused["error"])
    # The refused payment held nothing up: the one that fits booked after it, as the full payment.
    assert completed["status"] == "succeeded", completed["error"]
    assert booking_types(account, "Voucher") == ["N", "FULL_PAYMENT"]
    [voucher] = account.objects("Voucher")
    assert (str(voucher["status"]), Decimal(str(voucher["paidAmount"]))) == ("1000", Decimal("261.8"))


async def test_payment_on_a_voucher_reset_to_draft_waits_until_it_is_open_again(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await tenant_token(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    issued = envelope("invoice.issued", crm_invoice())
    paid = envelope("payment.received", payment())
    async with running_worker(settings):
        await publish(settings, issued)
        [created] = await wait_for_outcomes(db, issued)
        await person_edits(sandbox, token, "Voucher", created["sevdesk_id"], status="50")
        await publish(settings, paid)
        waiting = await wait_for_first_outcome(db, paid, "retrying")
        await person_edits(sandbox, token, "Voucher", created["sevdesk_id"], status="100")
        [outcome] = await wait_for_outcomes(db, paid, timeout=30)

    assert (waiting["reason"], waiting["error"].split(";")[0]) == (
        "awaiting_dependency",
        f"voucher {created['sevdesk_id']} is still a draft in sevDesk",
    )
    assert outcome["status"] == "succeeded", outcome["error"]
    [voucher] = account.objects("Voucher")
    assert str(voucher["status"]) == "1000"
    assert booking_types(account, "Voucher") == ["FULL_PAYMENT"]


async def test_payment_before_its_invoice_waits_for_it(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    account = await tenant_with_accounts(db, settings, sandbox)
    paid = envelope("payment.received", payment())
    issued = envelope("invoice.issued", crm_invoice())
    async with running_worker(settings):
        await publish(settings, paid)
        waiting = await wait_for_first_outcome(db, paid, "retrying")
        await publish(settings, issued)
        [outcome] = await wait_for_outcomes(db, paid, timeout=30)

    assert (waiting["reason"], waiting["error"].split(";")[0]) == (
        "awaiting_dependency",
        "invoice inv-9 is not in sevDesk yet",
    )
    assert outcome["status"] == "succeeded", outcome["error"]
    [voucher] = account.objects("Voucher")
    assert str(voucher["status"]) == "1000"


async def test_payment_on_a_draft_deal_invoice_waits_until_it_is_opened(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    account = await tenant_with_accounts(db, settings, sandbox)
    won = envelope("deal.won", deal())
    paid = envelope("payment.received", payment(invoice_id=None, deal_id="deal-42", amount="1316.14"))
    async with running_worker(settings):
        await publish(settings, won)
        [created] = await wait_for_outcomes(db, won)
        await publish(settings, paid)
        waiting = await wait_for_first_outcome(db, paid, "retrying")
        record = account.find("Invoice", int(created["sevdesk_id"]))
        assert record is not None
        account.update(record, {"status": "200", "invoiceNumber": "RE-1000"})  # opened in sevDesk
        [outcome] = await wait_for_outcomes(db, paid, timeout=30)

    assert (waiting["reason"], "draft" in waiting["error"]) == ("awaiting_dependency", True)
    assert outcome["status"] == "succeeded", outcome["error"]
    [invoice] = account.objects("Invoice")
    assert str(invoice["status"]) == "1000"
    [booking] = [c for c in sandbox.sandbox.calls if c.path.endswith("/bookAmount")]
    assert booking.status == 200
    # The invoice booking took a Unix timestamp: the start of 30 March 2025 in Berlin, the night
    # summer time began (02:00), so still +01:00.
    assert invoice["payDate"] == "2025-03-30T00:00:00+01:00"


async def test_bank_payment_links_the_matching_transaction_or_ends_unmatched(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    account = await tenant_with_accounts(db, settings, sandbox)
    bank = check_account(account, "online")
    issued = envelope("invoice.issued", crm_invoice())
    issued_other = envelope("invoice.issued", crm_invoice("inv-10", number="2531-Other"))
    matched = envelope("payment.received", payment(payment_method="bank"))
    unmatched = envelope(
        "payment.received",
        payment("pay-4", invoice_id="inv-10", payment_method="bank", reference="2531-Other"),
    )
    now = datetime.now(UTC)
    # Same purpose, wrong amount: not ours. Then the right one.
    insert_transaction(account, bank, amount=Decimal("200.00"), value_date=now, purpose="RE 2531-Ljnk-278")
    right = insert_transaction(
        account, bank, amount=Decimal("261.80"), value_date=now, purpose="RE 2531-Ljnk-278"
    )
    async with running_worker(settings):
        await publish(settings, issued, issued_other)
        await wait_for_outcomes(db, issued, issued_other)
        await publish(settings, matched, unmatched)
        waiting = await wait_for_first_outcome(db, unmatched, "retrying")
        one, two = await wait_for_outcomes(db, matched, unmatched, timeout=30)

    assert one["status"] == "succeeded", one["error"]
    assert str(right.fields["status"]) == "200"  # linked to the voucher
    link = await db.fetchrow("SELECT details FROM sevsync.entity_link WHERE entity_id = 'pay-3'")
    assert link is not None
    assert link["details"]["transaction_id"] == str(right.id)
    assert waiting["reason"] == "unmatched"
    assert (two["status"], two["reason"]) == ("failed", "unmatched")
    assert "2531-Other" in two["error"]


async def test_bank_payment_finds_its_transaction_on_a_later_page(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    account = await tenant_with_accounts(db, settings, sandbox)
    account.page_size = 2  # as small as live accounts answer, relative to what the bank holds
    bank = check_account(account, "online")
    issued = envelope("invoice.issued", crm_invoice())
    paid = envelope("payment.received", payment(payment_method="bank"))
    now = datetime.now(UTC)
    for amount in ("10.00", "20.00", "30.00"):  # the same purpose, other amounts: not this payment
        insert_transaction(account, bank, amount=Decimal(amount), value_date=now, purpose="RE 2531-Ljnk-278")
    right = insert_transaction(
        account, bank, amount=Decimal("261.80"), value_date=now, purpose="RE 2531-Ljnk-278"
    )
    async with running_worker(settings):
        await publish(settings, issued)
        await wait_for_outcomes(db, issued)
        sandbox.sandbox.calls.clear()
        await publish(settings, paid)
        [outcome] = await wait_for_outcomes(db, paid)

    assert outcome["status"] == "succeeded", outcome["error"]
    assert str(right.fields["status"]) == "200"
    # Two pages of two; sevDesk's total ends the paging without reading an empty third.
    assert sandbox.sandbox.count_calls("GET", "^/CheckAccountTransaction$") == 2


async def test_lost_booking_answer_books_once(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    account = await tenant_with_accounts(db, settings, sandbox)
    issued = envelope("invoice.issued", crm_invoice())
    paid = envelope("payment.received", payment(amount="100.00"))
    async with running_worker(settings):
        await publish(settings, issued)
        await wait_for_outcomes(db, issued)
        sandbox.sandbox.faults.add(kind="lost_answer", method="PUT", path="/bookAmount$")
        await publish(settings, paid)
        [outcome] = await wait_for_outcomes(db, paid, timeout=30)

    assert outcome["status"] == "succeeded", outcome["error"]
    [voucher] = account.objects("Voucher")
    assert Decimal(str(voucher["paidAmount"])) == 100


async def test_a_completing_payment_whose_answer_was_lost_counts_as_booked_not_overpaid(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    account = await tenant_with_accounts(db, settings, sandbox)
    issued = envelope("invoice.issued", crm_invoice())
    paid = envelope("payment.received", payment(amount="261.80"))
    faults = sandbox.sandbox.faults
    async with running_worker(settings):
        await publish(settings, issued)
        await wait_for_outcomes(db, issued)
        # Hold the attempt after it read the open voucher, then lose the booking's answer and fail
        # the read that would confirm it: the next attempt finds the voucher paid by its own intent.
        faults.add(kind="hold", method="GET", path=r"^/CheckAccount/\d+$")
        await publish(settings, paid)
        await wait_until(lambda: faults.held == 1, message="the booking attempt is held")
        faults.add(kind="lost_answer", method="PUT", path="/bookAmount$")
        faults.add(
            kind="status",
            status=503,
            method="GET",
            path=r"^/Voucher/\d+$",
            times=settings.sevdesk_retry_attempts,
        )
        faults.release()
        waiting = await wait_for_first_outcome(db, paid, "retrying")
        [outcome] = await wait_for_outcomes(db, paid, timeout=30)

    assert waiting["reason"] == "sevdesk_unavailable"
    assert outcome["status"] == "succeeded", outcome["error"]
    assert booking_types(account, "Voucher") == ["FULL_PAYMENT"]
    [voucher] = account.objects("Voucher")
    assert Decimal(str(voucher["paidAmount"])) == Decimal("261.8")


async def test_a_payment_found_overpaid_after_an_unconfirmed_attempt_holds_up_no_other(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await tenant_token(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    issued = envelope("invoice.issued", crm_invoice())  # 261.80
    first = envelope("payment.received", payment("pay-1", amount="200.00"))
    rest = envelope("payment.received", payment("pay-2", amount="161.80"))
    faults = sandbox.sandbox.faults
    async with running_worker(settings):
        await publish(settings, issued)
        [created] = await wait_for_outcomes(db, issued)
        # While pay-1's attempt is held, a person books 100 in sevDesk; then its booking is answered
        # 502 (not applied): unconfirmed, so it waits; later it no longer fits what is open.
        faults.add(kind="hold", method="GET", path=r"^/CheckAccount/\d+$")
        await publish(settings, first)
        await wait_until(lambda: faults.held == 1, message="the booking attempt is held")
        await person_edits(sandbox, token, "Voucher", created["sevdesk_id"], paidAmount="100", status="750")
        faults.add(kind="status", status=502, method="PUT", path="/bookAmount$")
        faults.release()
        waiting = await wait_for_first_outcome(db, first, "retrying")
        [refused] = await wait_for_outcomes(db, first, timeout=30)
        await publish(settings, rest)
        [completed] = await wait_for_outcomes(db, rest, timeout=30)

    assert waiting["reason"] == "write_unconfirmed"
    assert (refused["status"], refused["reason"]) == ("failed", "overpaid")
    assert "of 200.00 exceeds the open amount 161.80" in refused["error"]
    assert completed["status"] == "succeeded", completed["error"]
    assert booking_types(account, "Voucher") == ["FULL_PAYMENT"]


async def test_unmapped_payment_method_fails_naming_it(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await tenant_with_accounts(db, settings, sandbox)
    issued = envelope("invoice.issued", crm_invoice())
    paid = envelope("payment.received", payment(payment_method="paypal"))
    async with running_worker(settings):
        await publish(settings, issued)
        await wait_for_outcomes(db, issued)
        await publish(settings, paid)
        [outcome] = await wait_for_outcomes(db, paid)

    assert (outcome["status"], outcome["reason"]) == ("failed", "unknown_check_account")
    assert "paypal" in outcome["error"]
