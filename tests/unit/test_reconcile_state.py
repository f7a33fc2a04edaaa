"""The agreed state of a linked object: what counts as a change, and the told events' ids."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sevsync.sync.agreed_state import (
    contact_state,
    document_hash,
    document_state,
    document_status,
    product_state,
    state_hash,
    unit_read_back,
)
from sevsync.sync.told_events import change_event_id
from sevsync_events.outbound import ChangedCustomer, ChangedProduct
from sevsync_events.payloads import Customer, Product

from ..samples import company, person, product


def _customer(**overrides: Any) -> Customer:
    return Customer.model_validate(company(**overrides))


def test_a_companys_contact_person_is_not_part_of_the_state() -> None:
    sent = _customer(first_name="Max", last_name="Mustermann")
    read_back = ChangedCustomer.model_validate(
        {**company(first_name=None, last_name=None), "sevdesk_id": "7"}
    )
    assert state_hash(contact_state(sent, "K-1001")) == state_hash(contact_state(read_back, "K-1001"))


def test_blank_and_missing_are_the_same_but_a_changed_field_is_a_change() -> None:
    base = state_hash(contact_state(_customer(tax_number=None), "K-1001"))
    assert state_hash(contact_state(_customer(tax_number=" "), "K-1001")) == base
    assert state_hash(contact_state(_customer(tax_number="12/345"), "K-1001")) != base
    assert state_hash(contact_state(_customer(), "K-1002")) != base
    moved = {"street": "Hauptstr. 1", "zip": "10115", "city": "Potsdam", "country": "DE"}
    assert state_hash(contact_state(_customer(address=moved), "K-1001")) != base


def test_a_persons_names_are_part_of_the_state() -> None:
    erika = Customer.model_validate(person())
    renamed = Customer.model_validate(person(last_name="Mustermann"))
    assert state_hash(contact_state(erika, None)) != state_hash(contact_state(renamed, None))


def test_prices_compare_as_numbers() -> None:
    sent = Product.model_validate(product(net_price="120.00"))
    read_back = ChangedProduct.model_validate({**product(net_price="120"), "sevdesk_id": "3"})
    assert state_hash(product_state(sent, "SKU-7", "hour")) == state_hash(
        product_state(read_back, "SKU-7", "hour")
    )
    dearer = ChangedProduct.model_validate({**product(net_price="130"), "sevdesk_id": "3"})
    assert state_hash(product_state(dearer, "SKU-7", "hour")) != state_hash(
        product_state(sent, "SKU-7", "hour")
    )


def test_a_unit_reads_back_only_when_exactly_one_crm_unit_maps_to_it() -> None:
    assert unit_read_back("9", {"hour": "9", "piece": "1"}) == "hour"
    assert unit_read_back("9", {"hour": "9", "h": "9"}) is None
    assert unit_read_back("1", {"hour": "9"}) is None
    assert unit_read_back(None, {"hour": "9"}) is None


def test_document_state_counts_paid_amounts_as_numbers() -> None:
    assert state_hash(document_state("paid", Decimal("50.00"))) == state_hash(
        document_state("paid", Decimal("50"))
    )
    assert state_hash(document_state("open", None)) != state_hash(document_state("draft", None))


def test_event_ids_repeat_for_the_same_change_only() -> None:
    one = change_event_id("acme", "Contact", "7", 1, "abc")
    assert change_event_id("acme", "Contact", "7", 1, "abc") == one
    assert (
        len(
            {
                one,
                change_event_id("acme", "Contact", "7", 2, "abc"),
                change_event_id("beta", "Contact", "7", 1, "abc"),
                change_event_id("acme", "Part", "7", 1, "abc"),
                change_event_id("acme", "Contact", "7", 1, "abd"),
            }
        )
        == 5
    )


def test_sevdesk_statuses_map_to_the_contracts_words() -> None:
    assert document_status("Order", {"status": "100"}) == ("draft", None, None)
    assert document_status("Order", {"status": "500"}) == ("accepted", None, None)
    assert document_status("Order", {"status": "300"}) == ("rejected", None, None)
    invoice = {"status": "750", "sumGross": "119.00", "paidAmount": 19}
    assert document_status("Invoice", invoice) == ("partially_paid", Decimal("19.00"), Decimal("100.00"))
    assert document_status("Invoice", {**invoice, "status": "1000", "paidAmount": "119"}) == (
        "paid",
        Decimal("119.00"),
        Decimal("0.00"),
    )
    assert document_status("Invoice", {**invoice, "status": "200", "paidAmount": 0}, cancelled=True) == (
        "cancelled",
        Decimal("0.00"),
        Decimal("0.00"),
    )
    # An expense voucher's amounts are negative in sevDesk; the CRM reads them as sizes.
    voucher = {"status": "100", "sumGross": "-50", "paidAmount": 0}
    assert document_status("Voucher", voucher) == ("open", Decimal("0.00"), Decimal("50.00"))
    assert document_status("Voucher", {**voucher, "status": "150"}) is not None


def test_statuses_the_contract_has_no_word_for_are_not_told() -> None:
    assert document_status("Invoice", {"status": "50"}) is None  # a deactivated recurring invoice
    assert document_status("Order", {"status": "999"}) is None
    assert document_hash("Invoice", {"status": "50"}) is None
    assert document_hash("Invoice", {"status": "100", "sumGross": "10"}) == state_hash(
        document_state("draft", Decimal(0), Decimal(10))
    )


def test_a_gross_amount_change_alone_is_a_change_of_the_open_amount_told() -> None:
    invoice = {"status": "200", "sumGross": "119.00", "paidAmount": "0"}
    assert document_hash("Invoice", invoice) != document_hash("Invoice", {**invoice, "sumGross": "238.00"})
    # offers carry no amounts: their state hashes as it did before the open amount was added
    assert document_hash("Order", {"status": "300"}) == state_hash({"status": "rejected", "paid": None})
