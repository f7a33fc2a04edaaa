"""payment.received on fakes of the store and of sevDesk (sync.payments)."""

from __future__ import annotations

from typing import Any

import pytest

from sevsync.sevdesk.errors import AnsweredWriteError, PermanentError, UncertainWriteError
from sevsync.store.links import LinkWrite
from sevsync.sync.locks import entity_lock_key
from sevsync.sync.payments import book_payment
from sevsync.sync.result import HandlerResult, SyncFailure, WaitingFor
from sevsync.tenants.settings import TenantSettings
from sevsync_events.envelope import Envelope
from sevsync_events.payloads import Payment

from .. import samples
from .fakes import FakeSevdeskApi, InMemoryEntityStore, fake_context

BOOKING = ("payment", "pay-3", "Booking:Voucher:55")
CASH = TenantSettings(check_accounts={"cash": "7"})


def _event(**overrides: Any) -> Envelope[Payment]:
    data = samples.payment(**overrides)
    return Envelope[Payment].new("payment.received", "acme", 1, Payment.model_validate(data))


@pytest.fixture
def store() -> InMemoryEntityStore:
    store = InMemoryEntityStore()
    # The CRM invoice the payment is for is voucher 55 in sevDesk.
    store.write_link(LinkWrite("invoice_voucher", "inv-9", "Voucher", "55", "RE-1001", 1))
    return store


@pytest.fixture
def api() -> FakeSevdeskApi:
    api = FakeSevdeskApi()
    api.documents[("Voucher", "55")] = {
        "id": "55",
        "objectName": "Voucher",
        "status": "100",
        "description": "RE-1001",
        "sumGross": "261.80",
        "paidAmount": "0",
    }
    api.check_accounts["7"] = {"id": "7", "type": "offline"}
    return api


async def _book(store: InMemoryEntityStore, api: FakeSevdeskApi, **overrides: Any) -> HandlerResult:
    return await book_payment(fake_context(store, api, CASH), _event(**overrides))


async def test_the_open_amount_books_as_a_full_payment(
    store: InMemoryEntityStore, api: FakeSevdeskApi
) -> None:
    result = await _book(store, api)

    assert api.operations() == ["get_voucher", "get_check_account", "book_voucher"]
    [(object_name, voucher_id, body)] = api.bookings
    assert (object_name, voucher_id) == ("Voucher", "55")
    assert (body["amount"], body["type"], body["checkAccount"]["id"]) == ("261.8", "FULL_PAYMENT", 7)
    assert (result.status, result.sevdesk_object, result.sevdesk_id) == ("succeeded", "Voucher", "55")
    [link] = result.links
    assert (link.entity_type, link.entity_id, link.sevdesk_number) == ("payment", "pay-3", "RE-1001")
    assert link.details == {"check_account_id": "7", "amount": "261.80"}
    # The amount paid before the booking is its proof; bookings on one document are serialised.
    assert store.intents[BOOKING].business_key == "0"
    assert store.locks_taken == [entity_lock_key("acme", "document", "Booking:Voucher:55")]


async def test_less_than_the_open_amount_books_as_a_partial_payment(
    store: InMemoryEntityStore, api: FakeSevdeskApi
) -> None:
    await _book(store, api, amount="100.00")

    [(_, _, body)] = api.bookings
    assert (body["amount"], body["type"]) == ("100", "N")


async def test_a_booked_payment_makes_no_call(store: InMemoryEntityStore, api: FakeSevdeskApi) -> None:
    store.write_link(LinkWrite("payment", "pay-3", "Voucher", "55", "RE-1001", 1))

    result = await _book(store, api)

    assert api.calls == []
    assert (result.status, result.reason, result.sevdesk_id) == ("skipped", "no_change", "55")


async def test_more_than_the_open_amount_fails_overpaid_and_books_nothing(
    store: InMemoryEntityStore, api: FakeSevdeskApi
) -> None:
    api.pay("Voucher", "55", "200.00")

    with pytest.raises(SyncFailure) as failure:
        await _book(store, api)

    assert failure.value.reason == "overpaid"
    assert "open amount 61.80" in failure.value.message
    assert api.bookings == []
    assert store.intents == {}


async def test_a_refused_booking_ends_its_intent(store: InMemoryEntityStore, api: FakeSevdeskApi) -> None:
    api.fail_next["book_voucher"] = [
        PermanentError("refused", method="PUT", path="/Voucher/55/bookAmount", status=400)
    ]

    with pytest.raises(PermanentError):
        await _book(store, api)

    assert api.bookings == []
    # Nothing was booked, so it must not hold up the document's other payments.
    assert store.intents == {}


async def test_a_booking_answered_500_without_effect_is_looked_for_then_sent_again(
    store: InMemoryEntityStore, api: FakeSevdeskApi
) -> None:
    api.fail_next["book_voucher"] = [
        AnsweredWriteError(
            "server error", method="PUT", path="/Voucher/55/bookAmount", status=500, retry_after=0.0
        )
    ]

    result = await _book(store, api)

    assert api.operations() == [
        "get_voucher",
        "get_check_account",
        "book_voucher",
        "get_voucher",
        "book_voucher",
    ]
    assert len(api.bookings) == 1
    assert result.status == "succeeded"
    assert not store.intents[BOOKING].settled


async def test_a_booking_whose_answer_was_lost_counts_by_the_paid_amount(
    store: InMemoryEntityStore, api: FakeSevdeskApi
) -> None:
    api.lose_answer["book_voucher"] = [
        UncertainWriteError("timed out", method="PUT", path="/Voucher/55/bookAmount")
    ]

    result = await _book(store, api)

    assert api.operations() == ["get_voucher", "get_check_account", "book_voucher", "get_voucher"]
    assert len(api.bookings) == 1
    assert result.status == "succeeded"


async def test_a_booking_an_earlier_attempt_made_is_not_repeated(
    store: InMemoryEntityStore, api: FakeSevdeskApi
) -> None:
    await store.save_intent(*BOOKING, "0")
    api.pay("Voucher", "55", "261.80")

    result = await _book(store, api)

    assert api.operations() == ["get_voucher"]
    assert api.bookings == []
    assert result.status == "succeeded"


async def test_another_payments_unconfirmed_booking_on_the_document_goes_first(
    store: InMemoryEntityStore, api: FakeSevdeskApi
) -> None:
    await store.save_intent("payment", "pay-2", "Booking:Voucher:55", "0")

    with pytest.raises(UncertainWriteError, match="pay-2"):
        await _book(store, api)

    assert api.calls == []
    assert BOOKING not in store.intents


async def test_a_payment_method_without_a_check_account_fails_before_any_call(
    store: InMemoryEntityStore, api: FakeSevdeskApi
) -> None:
    with pytest.raises(SyncFailure) as failure:
        await _book(store, api, payment_method="paypal")

    assert failure.value.reason == "unknown_check_account"
    assert api.calls == []


async def test_an_online_account_books_against_the_matching_bank_transaction(
    store: InMemoryEntityStore, api: FakeSevdeskApi
) -> None:
    api.check_accounts["7"]["type"] = "online"
    purpose = "2531-Ljnk-278"  # the payment's reference
    api.transactions += [
        {"id": "901", "checkAccount": "7", "status": "100", "amount": "99.00", "paymtPurpose": purpose},
        {"id": "902", "checkAccount": "7", "status": "100", "amount": "261.80", "paymtPurpose": purpose},
    ]

    result = await _book(store, api)

    [(_, _, body)] = api.bookings
    assert body["checkAccountTransaction"] == {"id": 902, "objectName": "CheckAccountTransaction"}
    assert result.links[0].details["transaction_id"] == "902"


async def test_an_online_account_without_the_transaction_yet_waits_for_it(
    store: InMemoryEntityStore, api: FakeSevdeskApi
) -> None:
    api.check_accounts["7"]["type"] = "online"

    with pytest.raises(WaitingFor) as waiting:
        await _book(store, api)

    assert (waiting.value.reason, waiting.value.final_status) == ("unmatched", "failed")
    assert api.bookings == []


async def test_a_payment_on_a_won_deal_books_on_its_invoice(api: FakeSevdeskApi) -> None:
    store = InMemoryEntityStore()
    store.write_link(LinkWrite("deal_invoice", "deal-42", "Invoice", "31", "RE-2001", 1))
    api.documents[("Invoice", "31")] = {"id": "31", "status": "200", "sumGross": "261.80", "paidAmount": "0"}

    result = await _book(store, api, invoice_id=None, deal_id="deal-42")

    assert api.operations() == ["get_invoice", "get_check_account", "book_invoice"]
    [(object_name, invoice_id, body)] = api.bookings
    assert (object_name, invoice_id, body["type"]) == ("Invoice", "31", "FULL_PAYMENT")
    assert isinstance(body["date"], int)  # invoices take a Unix timestamp
    assert (result.sevdesk_object, result.sevdesk_id, result.sevdesk_number) == ("Invoice", "31", "RE-2001")
